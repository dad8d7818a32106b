"""Benchmarks of ``fxgw replay`` (gateway.kafka.replay): decoding Kafka record values and republishing to NATS.

Run them with ``pytest tests/benchmarks/test_replay_benchmarks.py --benchmark-enable``.
Records are what the gateway writes to its ticks topic: MarketDataStream values of
512 real OANDA EUR/USD quotes of May 2014 (``../shared/data``), the largest batch
it publishes. Targets: >= 1,000,000 ticks/s decoded (the struct fast path; the
protobuf library's figure and the fallback's, on the same records with the
header after the ticks, are measured beside it) and >= 300,000 ticks/s
republished to a real nats-server. The merge's worst case, two sources
alternating tick by tick in one partition, is measured beside. Per-tick figures
are printed after the benchmark table; ``extra_info`` also holds ticks/s at the
median round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import nats
import pytest
import uvloop
from aiokafka import AIOKafkaProducer

from collectors.recorded import quote_files, read_lines
from collectors.recorded_parsing import RecordedQuote, parse_quote_line
from gateway.events import Quote
from gateway.kafka.replay.merge import TickMerge
from gateway.kafka.replay.outputs import NatsTickSink
from gateway.kafka.replay.request import OutputFormat, ReplayRequest
from gateway.kafka.replay.run import run_replay
from gateway.kafka.replay.selection import TickSelector
from gateway.nats_server import NatsServer
from gateway.schema.market.v1.market_pb2 import MarketDataStream
from gateway.wire import STREAM_CONTENT_TYPE, TickRecordEncoder, TickRun, decode_fixed_layout, decode_ticks
from tests.servers.tansu import TansuBroker

if TYPE_CHECKING:
    from tests.benchmarks.conftest import PerTick

pytestmark = pytest.mark.benchmark

SOURCE: Final = "oanda-bench"
SESSION_ID: Final = 1_795_000_000_000_000_000
TICKS_PER_RECORD: Final = 512
RECORDS: Final = 200  # 102,400 ticks a round
END_TO_END_RECORDS: Final = 100


def _ticks_per_s(benchmark: Any, ticks_per_round: int) -> None:
    if benchmark.stats is not None:
        benchmark.extra_info["ticks_per_s"] = ticks_per_round / benchmark.stats.stats.median


@pytest.fixture(scope="module")
def recorded(shared_data: Path) -> list[RecordedQuote]:
    """RECORDS * TICKS_PER_RECORD real EUR/USD quotes of May 2014."""
    days = quote_files(shared_data / "oanda-eurusd-ticks")
    lines = ((line, day_start_ns) for path, day_start_ns in days for line in read_lines(path))
    return [parse_quote_line(line, day_start_ns) for line, day_start_ns in islice(lines, RECORDS * TICKS_PER_RECORD)]


@pytest.fixture(scope="module")
def record_parts(recorded: list[RecordedQuote]) -> list[tuple[bytes, bytes]]:
    """RECORDS (header, ticks) pairs of TICKS_PER_RECORD real EUR/USD quotes each, as the gateway writes them."""
    encoder = TickRecordEncoder()
    parts = []
    for start in range(0, len(recorded), TICKS_PER_RECORD):
        header = MarketDataStream(source=SOURCE, batch_time_ns=SESSION_ID, batch_seq=start + 1, session_id=SESSION_ID)
        entries = (
            encoder.encode(Quote("EUR_USD", SOURCE, q.bid_px, q.ask_px, 10**6, 10**6, q.ts_ns, q.ts_ns + 5), seq)
            for seq, q in enumerate(recorded[start : start + TICKS_PER_RECORD], start + 1)
        )
        parts.append((header.SerializeToString(), b"".join(entries)))
    assert len(parts) == RECORDS
    return parts


@pytest.fixture(scope="module")
def record_values(record_parts: list[tuple[bytes, bytes]]) -> list[bytes]:
    """The records as the gateway writes them: the header, then the ticks."""
    return [header + ticks for header, ticks in record_parts]


@pytest.fixture(scope="module")
def fallback_values(record_parts: list[tuple[bytes, bytes]]) -> list[bytes]:
    """The same records with the header after the ticks: valid protobuf, but not the layout of the fast path."""
    return [ticks + header for header, ticks in record_parts]


def _ticks(runs: Iterator[list[TickRun]]) -> int:
    return sum(len(run.rows) for batch in runs for run in batch)


def test_decode_record_values_fast_path(
    benchmark: Any, per_tick: PerTick, record_values: list[bytes], fallback_values: list[bytes]
) -> None:
    """decode_ticks over 200 records of 512 ticks: header varints, one regex check, one struct per tick."""
    assert all(decode_fixed_layout(value) is not None for value in record_values), "expected the fast path"

    decoded = benchmark.pedantic(lambda: [decode_ticks(value) for value in record_values], rounds=20, warmup_rounds=2)

    assert _ticks(iter(decoded)) == RECORDS * TICKS_PER_RECORD
    assert decoded[-1] == decode_ticks(fallback_values[-1])
    per_tick(RECORDS * TICKS_PER_RECORD)
    _ticks_per_s(benchmark, RECORDS * TICKS_PER_RECORD)


def test_read_record_values_with_the_protobuf_library(
    benchmark: Any, per_tick: PerTick, record_values: list[bytes]
) -> None:
    """The alternative to the fast path: MarketDataStream.FromString and a read of each Tick's fields."""

    def read(value: bytes) -> list[tuple[int, ...]]:
        return [
            (t.bid_px, t.ask_px, t.bid_liquidity, t.ask_liquidity, t.ts_event_ns, t.ts_recv_ns, t.seq, t.tradeable)
            for t in MarketDataStream.FromString(value).ticks
        ]

    rows = benchmark.pedantic(lambda: [read(value) for value in record_values], rounds=10, warmup_rounds=1)

    assert sum(map(len, rows)) == RECORDS * TICKS_PER_RECORD
    per_tick(RECORDS * TICKS_PER_RECORD)
    _ticks_per_s(benchmark, RECORDS * TICKS_PER_RECORD)


def test_decode_record_values_protobuf_fallback(
    benchmark: Any, per_tick: PerTick, fallback_values: list[bytes]
) -> None:
    """decode_ticks falling back on the same records: the library's read, then each tick re-encoded for republishing."""
    assert all(decode_fixed_layout(value) is None for value in fallback_values), "expected the protobuf fallback"

    decoded = benchmark.pedantic(lambda: [decode_ticks(value) for value in fallback_values], rounds=5, warmup_rounds=1)

    assert _ticks(iter(decoded)) == RECORDS * TICKS_PER_RECORD
    per_tick(RECORDS * TICKS_PER_RECORD)
    _ticks_per_s(benchmark, RECORDS * TICKS_PER_RECORD)


def test_decode_one_tick_record_values(benchmark: Any, per_tick: PerTick, record_values: list[bytes]) -> None:
    """A quiet stream's records hold one tick: the fixed cost per record of the fast path."""
    header_end = record_values[0].index(b"\x2a")
    tick_size = (len(record_values[0]) - header_end) // TICKS_PER_RECORD
    singles = [record_values[0][: header_end + tick_size]] * 10_000

    decoded = benchmark.pedantic(lambda: [decode_ticks(value) for value in singles], rounds=20, warmup_rounds=2)

    assert _ticks(iter(decoded)) == len(singles)
    per_tick(len(singles), unit="record")


def test_select_record_values(benchmark: Any, per_tick: PerTick, record_values: list[bytes]) -> None:
    """TickSelector.select: decode, fxgw-id check, window and seq mark, every tick kept (a fresh selector a round)."""
    ids = [f"bench:1:{number}".encode() for number in range(len(record_values))]

    def select_all(selector: TickSelector) -> TickSelector:
        select = selector.select
        for value, record_id in zip(record_values, ids, strict=True):
            select(value, record_id)
        return selector

    selector = benchmark.pedantic(
        select_all, setup=lambda: ((TickSelector(0, 2**63 - 1),), {}), rounds=20, warmup_rounds=2
    )

    assert selector.stats.ticks_in_window == RECORDS * TICKS_PER_RECORD and selector.stats.duplicate_ticks == 0
    per_tick(RECORDS * TICKS_PER_RECORD)
    _ticks_per_s(benchmark, RECORDS * TICKS_PER_RECORD)


@pytest.fixture(scope="module")
def interleaved_runs(recorded: list[RecordedQuote]) -> list[TickRun]:
    """The quotes dealt alternately to two sources, in records of 256 ticks per source, as one partition holds them.

    The worst case of the merge: the sources' records overlap, tick for tick.
    """
    encoder = TickRecordEncoder()
    runs = []
    for start in range(0, len(recorded), TICKS_PER_RECORD):
        for parity, source in enumerate(("oanda-a", "oanda-b")):
            quotes = recorded[start + parity : start + TICKS_PER_RECORD : 2]
            entries = b"".join(
                encoder.encode(Quote("EUR_USD", source, q.bid_px, q.ask_px, 10**6, 10**6, q.ts_ns, q.ts_ns + 5), seq)
                for seq, q in enumerate(quotes, start // 2 + 1)
            )
            header = MarketDataStream(source=source, batch_time_ns=SESSION_ID, session_id=SESSION_ID)
            runs += decode_ticks(header.SerializeToString() + entries)
    return runs


def test_merge_interleaved_sources(benchmark: Any, per_tick: PerTick, interleaved_runs: list[TickRun]) -> None:
    """TickMerge of two sources alternating tick by tick in one partition: every slice released is one tick."""

    def merge_all() -> int:
        merge = TickMerge([0])
        for run in interleaved_runs:
            merge.add(0, run, range(len(run.rows)))
        merge.close(0)
        released = 0
        while (item := merge.pop()) is not None:
            released += len(item[1])
        return released

    released = benchmark.pedantic(merge_all, rounds=5, warmup_rounds=1)

    assert released == RECORDS * TICKS_PER_RECORD
    per_tick(RECORDS * TICKS_PER_RECORD)
    _ticks_per_s(benchmark, RECORDS * TICKS_PER_RECORD)


def test_republish_to_nats(
    benchmark: Any, per_tick: PerTick, record_values: list[bytes], nats_server: NatsServer
) -> None:
    """NatsTickSink: 200 decoded records into 512-tick messages, published to a real nats-server and flushed."""
    runs = [decode_ticks(value)[0] for value in record_values]
    loop = uvloop.new_event_loop()
    client = loop.run_until_complete(nats.connect(nats_server.url))
    received = [0]

    async def count(message: Any) -> None:
        received[0] += 1

    loop.run_until_complete(client.subscribe("replay.>", cb=count))

    async def republish() -> int:
        sink = NatsTickSink(client)
        for run in runs:
            await sink.write(run, range(len(run.rows)))
        await sink.flush()
        await client.flush(timeout=10)
        return sink.messages

    try:
        messages = benchmark.pedantic(lambda: loop.run_until_complete(republish()), rounds=10, warmup_rounds=1)
        loop.run_until_complete(client.flush(timeout=10))
        loop.run_until_complete(asyncio.sleep(0.1))
    finally:
        loop.run_until_complete(client.close())
        loop.close()

    assert messages == RECORDS and received[0] % RECORDS == 0 and received[0] > 0
    per_tick(RECORDS * TICKS_PER_RECORD)
    _ticks_per_s(benchmark, RECORDS * TICKS_PER_RECORD)


@pytest.fixture(scope="module")
def kafka_topic(record_values: list[bytes]) -> Iterator[tuple[str, str]]:
    """A tansu broker holding END_TO_END_RECORDS of the records on a 3-partition topic, lz4 as the writer sends."""
    with TansuBroker() as broker:
        broker.create_topic("market-data-stream", 3)

        async def produce() -> None:
            producer = AIOKafkaProducer(
                bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=False, compression_type="lz4"
            )
            await producer.start()
            try:
                headers = [("content-type", STREAM_CONTENT_TYPE.encode())]
                for value in record_values[:END_TO_END_RECORDS]:
                    await producer.send_and_wait("market-data-stream", value, key=b"EUR_USD", headers=headers)
            finally:
                await producer.stop()

        asyncio.run(produce())
        yield broker.bootstrap, "market-data-stream"


def test_replay_from_kafka_to_nats(
    benchmark: Any, per_tick: PerTick, kafka_topic: tuple[str, str], nats_server: NatsServer
) -> None:
    """The whole ``fxgw replay --to nats --speed max``: fetch from tansu, decompress, decode, select, republish."""
    bootstrap, topic = kafka_topic
    request = ReplayRequest(
        since_ns=0,
        until_ns=2**63 - 1,
        bootstrap_servers=bootstrap,
        topic=topic,
        output=OutputFormat.NATS,
        nats_url=nats_server.url,
    )
    loop = uvloop.new_event_loop()
    try:
        stats = benchmark.pedantic(lambda: loop.run_until_complete(run_replay(request)), rounds=5, warmup_rounds=1)
    finally:
        loop.close()

    assert stats.ticks_output == END_TO_END_RECORDS * TICKS_PER_RECORD
    per_tick(END_TO_END_RECORDS * TICKS_PER_RECORD)
    _ticks_per_s(benchmark, END_TO_END_RECORDS * TICKS_PER_RECORD)
