"""Micro-benchmarks of the Kafka path's hot part: what a publish cycle costs before anything reaches Kafka.

Run them with ``pytest tests/benchmarks/test_kafka_benchmarks.py --benchmark-enable``.
Each publish the pipeline adds every accepted tick, already encoded, to its
:class:`gateway.cycle.CycleBuilder` (``add_tick``) and takes the cycle;
``KafkaBackup.commit`` turns it into records (:func:`gateway.kafka.records.cycle_records`:
one MarketDataStream per source and instrument) and appends them to the spool with one
write, before the cycle is published on NATS. Cycles here are 512 ticks (the cycle's
``DEFAULT_MAX_BATCH_TICKS``) of one source over one or three instruments, and 1,000
ticks of one instrument (a full submit of ``collectors.base.MAX_EVENTS_PER_SUBMIT``,
what a saturated replay produces). The spool lives in pytest's ``tmp_path``. Figures
are per tick, printed after the benchmark table (see ``conftest.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from gateway.cycle import CycleBuilder
from gateway.events import Quote
from gateway.kafka.records import KafkaRecord, KafkaTopics, cycle_records
from gateway.kafka.spool import Spool, SpoolReader
from gateway.prices import PRICE_SCALE
from gateway.schema.market.v1.market_pb2 import MarketDataStream
from gateway.wire import STREAM_CONTENT_TYPE, TickRecordEncoder

if TYPE_CHECKING:
    from tests.benchmarks.conftest import PerTick

pytestmark = pytest.mark.benchmark

SOURCE: Final = "oanda-bench"
SESSION_ID: Final = 1_795_000_000_000_000_000
FIRST_NS: Final = 1_795_000_000_000_000_000
TICK_SPACING_NS: Final = 5_000  # 200,000 ticks/s
MID_PX: Final = {  # about where they traded in May 2014
    "EUR_USD": 1_38700 * PRICE_SCALE // 100_000,
    "USD_JPY": 102_300 * PRICE_SCALE // 1_000,
    "GBP_USD": 1_68500 * PRICE_SCALE // 100_000,
}
HALF_SPREAD_PX: Final = 7 * PRICE_SCALE // 1_000_000  # 0.7 pips of EUR/USD
SPOOL_ROUNDS: Final = 1_000
SEGMENT_BYTES: Final = 8 * 1024 * 1024
MAX_BYTES: Final = 1024**3

CYCLES: Final = [
    pytest.param(512, ("EUR_USD",), id="512-ticks-1-instrument"),
    pytest.param(512, ("EUR_USD", "USD_JPY", "GBP_USD"), id="512-ticks-3-instruments"),
    pytest.param(1_000, ("EUR_USD",), id="1000-ticks-1-instrument"),
]


def encoded_cycle(ticks: int, instruments: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """``(instrument, tick record)`` of one cycle, round robin over ``instruments``, as NatsPublisher.add_tick
    returns them: seqs from 1, prices moving by a pipette."""
    encoder = TickRecordEncoder()
    cycle = []
    for seq in range(1, ticks + 1):
        instrument = instruments[seq % len(instruments)]
        mid_px = MID_PX[instrument] + (seq % 17 - 8) * PRICE_SCALE // 100_000
        received_ns = FIRST_NS + seq * TICK_SPACING_NS
        bid_px, ask_px = mid_px - HALF_SPREAD_PX, mid_px + HALF_SPREAD_PX
        quote = Quote(instrument, SOURCE, bid_px, ask_px, 0, 0, received_ns, received_ns)
        cycle.append((instrument, encoder.encode(quote, seq)))
    return cycle


def fill(builder: CycleBuilder, cycle: list[tuple[str, bytes]]) -> None:
    add_tick = builder.add_tick
    for instrument, record in cycle:
        add_tick(SOURCE, instrument, record)


def take_records(builder: CycleBuilder, topics: KafkaTopics) -> tuple[list[KafkaRecord], int]:
    """What KafkaBackup.commit builds from the pipeline's cycle: its records and its tick count."""
    cycle = builder.take(FIRST_NS)
    return cycle_records(cycle, topics), cycle.tick_count


def assert_records_hold(records: list[Any], cycle: list[tuple[str, bytes]], topics: KafkaTopics) -> None:
    """Ticks-topic records keyed by instrument (one per batch of the cycle and instrument), in cycle order."""
    held: dict[bytes, list[int]] = {}
    for record in records:
        assert (record.topic, record.content_type) == (topics.ticks, STREAM_CONTENT_TYPE)
        stream = MarketDataStream.FromString(record.value)
        assert (stream.source, stream.session_id) == (SOURCE, SESSION_ID)
        assert {tick.instrument for tick in stream.ticks} == {record.key.decode()}
        held.setdefault(record.key, []).extend(tick.seq for tick in stream.ticks)
    expected: dict[bytes, list[int]] = {}
    for seq, (instrument, _) in enumerate(cycle, 1):
        expected.setdefault(instrument.encode(), []).append(seq)
    assert held == expected
    assert list(held) == list(expected)  # instruments in the order of their first tick


@pytest.mark.parametrize(("ticks", "instruments"), CYCLES)
def test_take_builds_one_record_per_batch_and_instrument(
    benchmark: Any, per_tick: PerTick, ticks: int, instruments: tuple[str, ...]
) -> None:
    """Take a filled cycle and build its records: a MarketDataStream header per instrument + join of its ticks."""
    topics = KafkaTopics()
    builder = CycleBuilder(SESSION_ID)
    cycle = encoded_cycle(ticks, instruments)

    def filled() -> None:
        fill(builder, cycle)

    records, taken_ticks = benchmark.pedantic(
        take_records, args=(builder, topics), setup=filled, rounds=2_000, warmup_rounds=20
    )

    assert taken_ticks == ticks
    assert_records_hold(records, cycle, topics)
    assert take_records(builder, topics) == ([], 0)
    per_tick(ticks)


def test_add_tick_and_take_a_cycle(benchmark: Any, per_tick: PerTick) -> None:
    """What a cycle costs on the Kafka side: add_tick for each of 512 ticks over 3 instruments, take, records."""
    topics = KafkaTopics()
    builder = CycleBuilder(SESSION_ID)
    cycle = encoded_cycle(512, ("EUR_USD", "USD_JPY", "GBP_USD"))

    def one_cycle() -> tuple[list[Any], int]:
        fill(builder, cycle)
        return take_records(builder, topics)

    records, taken_ticks = benchmark.pedantic(one_cycle, rounds=2_000, warmup_rounds=20)

    assert taken_ticks == len(cycle)
    assert_records_hold(records, cycle, topics)
    per_tick(len(cycle))


@pytest.mark.parametrize("fsync", ["never", "interval"])
@pytest.mark.parametrize(("ticks", "instruments"), CYCLES)
def test_spool_append_of_a_cycles_records(
    benchmark: Any, per_tick: PerTick, tmp_path: Path, fsync: str, ticks: int, instruments: tuple[str, ...]
) -> None:
    """Spool.append of one cycle's records, as KafkaBackup.commit hands them over: encode, CRC, one write."""
    builder = CycleBuilder(SESSION_ID)
    fill(builder, encoded_cycle(ticks, instruments))
    records, _ = take_records(builder, KafkaTopics())
    record_bytes = sum(len(r.value) for r in records)

    with Spool(tmp_path, max_bytes=MAX_BYTES, segment_bytes=SEGMENT_BYTES, fsync=fsync) as spool:  # type: ignore[arg-type]
        benchmark.pedantic(spool.append, args=(records,), rounds=SPOOL_ROUNDS, warmup_rounds=10)

        appended = spool.stats.appended_records
        assert appended >= len(records) and appended % len(records) == 0
        assert spool.pending_records == appended
        reader = SpoolReader(spool.layout())
        first_cycle = reader.read(max_records=len(records), max_bytes=MAX_BYTES)
        reader.close()
    assert [r.record for r in first_cycle] == records
    benchmark.extra_info["record_bytes_per_tick"] = record_bytes / ticks
    per_tick(ticks)
