"""Collectors running against a sink that records what they hand over (no network)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from pathlib import Path

from collectors.replay import ReplayCollector, ReplayConfig
from collectors.simulated import SimulatedCollector, SimulatedConfig
from gateway.events import BadInput, Event, Quote
from gateway.schema.market.v1.market_pb2 import RejectionReason


class RecordingSink:
    """Keeps every event; ``enough`` is set once ``wanted`` events have arrived."""

    def __init__(self, wanted: int = 0) -> None:
        self.events: list[Event] = []
        self.batches = 0
        self.wanted = wanted
        self.enough = asyncio.Event()

    async def submit(self, events: Sequence[Event]) -> None:
        self.events.extend(events)
        self.batches += 1
        if self.wanted and len(self.events) >= self.wanted:
            self.enough.set()


async def test_replay_reports_bad_lines_and_unreadable_files_and_plays_the_rest(tmp_path: Path) -> None:
    (tmp_path / "20140505_quote.csv").write_bytes(b"23668,1.38710,1.38726\nnot,a,quote\n25634,1.38709,1.38727\n")
    (tmp_path / "20140506_quote.zip").write_bytes(b"this is not a zip archive")
    (tmp_path / "20140507_quote.csv").write_bytes(b"100,1.38800,1.38810\n")
    sink = RecordingSink()
    config = ReplayConfig(id="rp", kind="replay", path=tmp_path, instruments=("EUR_USD",), speed="max")

    await ReplayCollector(config, sink).run()

    quotes = [e for e in sink.events if isinstance(e, Quote)]
    bad = [e for e in sink.events if isinstance(e, BadInput)]
    assert [(q.bid_px, q.ask_px) for q in quotes] == [
        (1_387_100_000, 1_387_260_000),
        (1_387_090_000, 1_387_270_000),
        (1_388_000_000, 1_388_100_000),
    ]
    assert all(q.source == "rp" and q.instrument == "EUR_USD" and q.ts_event_ns == q.ts_recv_ns for q in quotes)
    assert [b.reason for b in bad] == [RejectionReason.REJECTION_REASON_MALFORMED] * 2
    assert bad[0].raw == b"not,a,quote" and "20140505_quote.csv" in bad[0].detail
    assert "20140506_quote.zip: cannot be read" in bad[1].detail


async def test_replay_at_ten_times_recorded_speed_keeps_the_recorded_spacing(tmp_path: Path) -> None:
    (tmp_path / "20140505_quote.csv").write_bytes(b"0,1.38710,1.38726\n300,1.38711,1.38726\n600,1.38712,1.38726\n")
    sink = RecordingSink()
    config = ReplayConfig(id="rp", kind="replay", path=tmp_path, instruments=("EUR_USD",), speed=10)

    await ReplayCollector(config, sink).run()

    times = [e.ts_recv_ns for e in sink.events if isinstance(e, Quote)]
    gaps_ms = [(later - earlier) / 1e6 for earlier, later in itertools.pairwise(times)]
    assert len(times) == 3 and all(gap >= 29 for gap in gaps_ms)  # 300 ms recorded / 10, never early


async def test_simulated_broker_emits_its_instruments_at_its_rate_in_bursts() -> None:
    sink = RecordingSink(wanted=300)
    config = SimulatedConfig(id="sim", kind="simulated", instruments=("EUR_USD", "USD_JPY"), ticks_per_second=5000)
    task = asyncio.create_task(SimulatedCollector(config, sink).run(), name="simulated")
    try:
        await asyncio.wait_for(sink.enough.wait(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    quotes = [e for e in sink.events if isinstance(e, Quote)]
    assert {q.instrument for q in quotes} == {"EUR_USD", "USD_JPY"}
    assert sink.batches < len(quotes)  # at 5,000/s several quotes share a hand-over
    event_times = [q.ts_event_ns for q in quotes]
    assert event_times == sorted(event_times) and len(set(event_times)) == len(event_times)
