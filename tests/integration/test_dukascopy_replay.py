"""``kind: dukascopy`` through the whole gateway into a real nats-server."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from collectors.dukascopy.files import read_window
from gateway.app import CollectorState, Gateway
from gateway.clock import parse_time_ns
from gateway.config import parse_config
from tests.support import Recorder

DAY = parse_time_ns("2019-02-04T00:00:00Z")
DAY_NS = 86_400 * 10**9


def _one_day(shared_data: Path, tmp_path: Path) -> Path:
    """A directory holding only 2019-02-04 (24 files), linked to the shared data."""
    day = tmp_path / "EURUSD/2019/01/04"
    day.parent.mkdir(parents=True)
    day.symlink_to(shared_data / "dukascopy/EURUSD/2019/01/04", target_is_directory=True)
    return tmp_path


async def test_replay_delivers_every_tick_of_a_day_exactly_once(
    nats_url: str, shared_data: Path, tmp_path: Path
) -> None:
    directory = _one_day(shared_data, tmp_path)
    expected = read_window(directory, "EUR_USD", DAY, DAY + DAY_NS)
    assert expected.hours == 24 and not expected.missing_hours
    broker = {"id": "duka", "kind": "dukascopy", "path": str(directory), "instruments": ["EUR_USD"], "speed": "max"}
    recorder = await Recorder().start(nats_url)
    gateway = Gateway(parse_config({"brokers": [broker], "http": {"port": 0}}), nats_url)
    await gateway.start()
    pipeline = gateway.pipeline
    assert pipeline is not None

    def everything_arrived(r: Recorder) -> bool:
        stats = pipeline.sources.get("duka")
        if stats is None or stats.accepted + stats.rejected_total != len(expected.series):
            return False
        return len(r.ticks("duka")) == stats.accepted and len(r.rejections) == stats.rejected_total

    await recorder.wait_for(everything_arrived, timeout_s=60)
    await gateway.stop()
    await recorder.stop()

    ticks = recorder.ticks("duka")
    assert [tick.seq for tick in ticks] == list(range(1, len(ticks) + 1))
    delivered = Counter((t.bid_px, t.ask_px) for t in ticks) + Counter(
        (r.tick.bid_px, r.tick.ask_px) for r in recorder.rejections
    )
    series = expected.series
    assert delivered == Counter(zip(series.bid_px.tolist(), series.ask_px.tolist(), strict=True))
    assert len(ticks) > 0.99 * len(series), "the gate rejected more than 1% of a real day"
    assert gateway.collectors["duka"].state is CollectorState.FINISHED
