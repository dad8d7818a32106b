"""Micro-benchmarks of the per-tick core: parse, quality gate, best price, serialization.

Run them with ``pytest tests/benchmarks --benchmark-enable``. The default
configuration passes ``--benchmark-disable``, so in the normal suite each one
runs its target once and only its assertions count.

Inputs are real: an OANDA v20 stream line recorded from the live API, and the
EUR/USD quotes OANDA published for May 2014 (``../shared/data``), rewritten as
v20 stream lines where a whole stream is needed. Benchmarks that process a batch
per round divide by the batch size; the per-tick figures are printed after the
benchmark table and kept in ``extra_info`` (see ``conftest.py``).

Target of the project: parse + gate + aggregate + serialize <= 5 us per tick
(``test_full_path_parse_gate_aggregate_serialize``).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest
import uvloop

from collectors.base import MAX_EVENTS_PER_SUBMIT
from collectors.oanda.parsing import parse_stream_line
from collectors.recorded import quote_files, read_lines
from collectors.recorded_parsing import RecordedQuote, parse_quote_line
from gateway.aggregator import BestPriceAggregator, BestQuote
from gateway.clock import format_time_ns, now_ns
from gateway.cycle import CycleBuilder
from gateway.events import Event, Quote
from gateway.pipeline import Pipeline
from gateway.prices import format_price
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate, QualityPolicy
from gateway.schema.market.v1.market_pb2 import MarketDataStream
from gateway.wire import TickRecordEncoder
from tests.support import RecordingNatsClient, compact_json

if TYPE_CHECKING:
    from tests.benchmarks.conftest import PerTick

pytestmark = pytest.mark.benchmark


INSTRUMENT: Final = "EUR_USD"
SOURCE: Final = "oanda-bench"
OTHER_SOURCE: Final = "replay-bench"
PIPETTE_PX: Final = 10_000  # 0.00001 in 1e-9 units
LIQUIDITY: Final = 10_000_000
STREAM_LINES: Final = 10_000
TICK_SPACING_NS: Final = 100_000  # 10,000 ticks/s: the stream's times span the second before "now"
SERIALIZED_BATCH: Final = 512  # gateway.publisher.DEFAULT_MAX_BATCH_TICKS


# -- inputs ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded_price_line(shared_data: Path) -> bytes:
    """The recorded EUR_USD price line of the live v20 stream (the other instrument is EUR_JPY)."""
    lines = (shared_data / "oanda-v20" / "hootnot_pricing_stream_response.jsonl").read_bytes().splitlines()
    return next(line for line in lines if b'"instrument": "EUR_USD"' in line)


@pytest.fixture(scope="module")
def eurusd_quotes(shared_data: Path) -> list[RecordedQuote]:
    """The first STREAM_LINES real OANDA EUR/USD quotes of 1 May 2014."""
    path, day_start_ns = quote_files(shared_data / "oanda-eurusd-ticks")[0]
    # The generator is dropped (and so closes its zip) as soon as islice has taken its lines.
    quotes = [parse_quote_line(line, day_start_ns) for line in islice(read_lines(path), STREAM_LINES)]
    assert len(quotes) == STREAM_LINES
    return quotes


def _event_times(count: int) -> list[int]:
    """Strictly increasing times ending now, TICK_SPACING_NS apart."""
    start_ns = now_ns() - count * TICK_SPACING_NS
    return [start_ns + i * TICK_SPACING_NS for i in range(count)]


def _v20_price_line(quote: RecordedQuote, ts_ns: int) -> bytes:
    """A quote in the shape of a live v20 PRICE line: two levels a side, closeouts, status."""
    bid, ask = quote.bid_px, quote.ask_px
    return compact_json(
        {
            "type": "PRICE",
            "time": format_time_ns(ts_ns),
            "bids": [
                {"price": format_price(bid), "liquidity": LIQUIDITY},
                {"price": format_price(bid - 2 * PIPETTE_PX), "liquidity": LIQUIDITY},
            ],
            "asks": [
                {"price": format_price(ask), "liquidity": LIQUIDITY},
                {"price": format_price(ask + 2 * PIPETTE_PX), "liquidity": LIQUIDITY},
            ],
            "closeoutBid": format_price(bid - 4 * PIPETTE_PX),
            "closeoutAsk": format_price(ask + 4 * PIPETTE_PX),
            "status": "tradeable",
            "tradeable": True,
            "instrument": INSTRUMENT,
        }
    )


def _tick(quote: RecordedQuote, source: str, ts_ns: int, bid_shift_px: int = 0, ask_shift_px: int = 0) -> Quote:
    return Quote(
        instrument=INSTRUMENT,
        source=source,
        bid_px=quote.bid_px + bid_shift_px,
        ask_px=quote.ask_px + ask_shift_px,
        bid_liquidity=LIQUIDITY,
        ask_liquidity=LIQUIDITY,
        ts_event_ns=ts_ns,
        ts_recv_ns=ts_ns,
        tradeable=True,
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    return (items[start : start + size] for start in range(0, len(items), size))


# -- (a) parse -----------------------------------------------------------------------------------------------


def test_parse_recorded_oanda_price_line(benchmark: Any, per_tick: PerTick, recorded_price_line: bytes) -> None:
    """One real v20 PRICE line -> Quote: msgspec, decimal prices to 1e-9 ints, RFC 3339 time to ns."""
    tick = benchmark(parse_stream_line, recorded_price_line, SOURCE, 1_477_557_525_700_000_000)

    assert isinstance(tick, Quote)
    assert (tick.instrument, tick.bid_px, tick.ask_px) == (INSTRUMENT, 1_091_770_000, 1_091_880_000)
    assert (tick.bid_liquidity, tick.ts_event_ns, tick.tradeable) == (LIQUIDITY, 1_477_557_525_664_613_867, True)
    per_tick(1, unit="line")


# -- (b) quality gate ----------------------------------------------------------------------------------------


def test_quality_gate_accepts_real_quotes(
    benchmark: Any, per_tick: PerTick, eurusd_quotes: list[RecordedQuote]
) -> None:
    """QualityGate.check over real EUR/USD quotes with increasing times; every one passes every check."""
    ticks = [
        _tick(quote, SOURCE, ts) for quote, ts in zip(eurusd_quotes, _event_times(len(eurusd_quotes)), strict=True)
    ]

    def fresh_gate() -> tuple[tuple[QualityGate], dict[str, Any]]:
        # Each round replays the same stream, so it needs a gate that has not seen it.
        return (QualityGate(QualityPolicy()),), {}

    def check_all(gate: QualityGate) -> int:
        check = gate.check
        rejected = 0
        for tick in ticks:
            if check(tick) is not None:
                rejected += 1
        return rejected

    rejected = benchmark.pedantic(check_all, setup=fresh_gate, rounds=30, warmup_rounds=2)

    assert rejected == 0
    per_tick(len(ticks))


# -- (c) best price ------------------------------------------------------------------------------------------


def test_best_price_update_with_two_sources(
    benchmark: Any, per_tick: PerTick, eurusd_quotes: list[RecordedQuote]
) -> None:
    """BestPriceAggregator.update then changes() after every quote (a quiet stream's worst case).

    Two brokers quote the same real market with different spreads. Under load the
    pipeline calls changes() once per batch, which costs less per quote.
    """
    times = _event_times(2 * len(eurusd_quotes))
    ticks = []
    for i, quote in enumerate(eurusd_quotes):
        # The second broker is a pipette better or worse on each side in turn, so the best source changes.
        shift = (i % 3 - 1) * PIPETTE_PX
        ticks.append(_tick(quote, SOURCE, times[2 * i]))
        ticks.append(_tick(quote, OTHER_SOURCE, times[2 * i + 1], bid_shift_px=shift, ask_shift_px=-shift))

    def fresh_aggregator() -> tuple[tuple[BestPriceAggregator], dict[str, Any]]:
        return (BestPriceAggregator({SOURCE: 1, OTHER_SOURCE: 0}),), {}

    def update_all(aggregator: BestPriceAggregator) -> tuple[int, BestQuote | None]:
        update = aggregator.update
        take_changes = aggregator.changes
        changes = 0
        for tick in ticks:
            update(tick)
            changes += len(take_changes())
        return changes, aggregator.current().get(INSTRUMENT)

    changes, best = benchmark.pedantic(update_all, setup=fresh_aggregator, rounds=30, warmup_rounds=2)

    last = eurusd_quotes[-1]
    last_shift = ((len(eurusd_quotes) - 1) % 3 - 1) * PIPETTE_PX
    assert best is not None and best.live_sources == 2 and best.tradeable
    assert best.bid_px == last.bid_px + max(last_shift, 0)
    assert best.ask_px == last.ask_px - max(last_shift, 0)
    assert 0 < changes <= len(ticks)
    benchmark.extra_info["best_price_changes_per_update"] = changes / len(ticks)
    per_tick(len(ticks), unit="update")


# -- (d) serialization ---------------------------------------------------------------------------------------


def test_serialize_512_tick_batch(benchmark: Any, per_tick: PerTick, eurusd_quotes: list[RecordedQuote]) -> None:
    """Write 512 accepted quotes into one MarketDataStream and serialize it: encode, CycleBuilder, publish."""
    quotes = [
        _tick(quote, SOURCE, ts)
        for quote, ts in zip(eurusd_quotes[:SERIALIZED_BATCH], _event_times(SERIALIZED_BATCH), strict=True)
    ]
    loop = uvloop.new_event_loop()

    def fresh_publisher() -> tuple[tuple[CycleBuilder, NatsPublisher, RecordingNatsClient], dict[str, Any]]:
        client = RecordingNatsClient()
        return (CycleBuilder(session_id=1, max_batch_ticks=SERIALIZED_BATCH), NatsPublisher(client), client), {}

    def serialize(cycles: CycleBuilder, publisher: NatsPublisher, client: RecordingNatsClient) -> bytes:
        add_tick, encode = cycles.add_tick, TickRecordEncoder().encode
        for seq, quote in enumerate(quotes, 1):
            add_tick(quote.source, quote.instrument, encode(quote, seq))
        loop.run_until_complete(publisher.publish(cycles.take(0)))
        return client.published[0][1]

    try:
        payload = benchmark.pedantic(serialize, setup=fresh_publisher, rounds=2_000, warmup_rounds=50)
    finally:
        loop.close()

    decoded = MarketDataStream.FromString(payload)
    assert len(decoded.ticks) == SERIALIZED_BATCH
    assert decoded.ticks[-1] == quotes[-1].to_tick(seq=SERIALIZED_BATCH)
    benchmark.extra_info["payload_bytes"] = len(payload)
    benchmark.extra_info["bytes_per_tick"] = len(payload) / SERIALIZED_BATCH
    per_tick(SERIALIZED_BATCH)


# -- (e) the whole per-tick path -----------------------------------------------------------------------------


def test_full_path_parse_gate_aggregate_serialize(
    benchmark: Any, per_tick: PerTick, eurusd_quotes: list[RecordedQuote]
) -> None:
    """10,000 v20 lines through parse -> Pipeline.submit (gate, best price, NatsPublisher); NATS socket stubbed.

    Lines are handed over in collector-sized batches; ts_recv_ns is the line's own
    time, so the gate's staleness check sees fresh quotes. A round is the whole
    stream through a fresh pipeline; the figure of interest is us per tick.
    """
    times = _event_times(len(eurusd_quotes))
    lines = [(_v20_price_line(quote, ts), ts) for quote, ts in zip(eurusd_quotes, times, strict=True)]
    batches = list(_chunks(lines, MAX_EVENTS_PER_SUBMIT))
    loop = uvloop.new_event_loop()

    async def process(pipeline: Pipeline) -> None:
        submit = pipeline.submit
        for batch in batches:
            events: list[Event] = []
            for line, recv_ns in batch:
                event = parse_stream_line(line, SOURCE, recv_ns)
                if type(event) is Quote:  # a collector keeps heartbeats for its watchdog
                    events.append(event)
            await submit(events)

    def fresh_pipeline() -> tuple[tuple[Pipeline, RecordingNatsClient], dict[str, Any]]:
        client = RecordingNatsClient()
        pipeline = Pipeline(QualityGate(QualityPolicy()), BestPriceAggregator({SOURCE: 0}), NatsPublisher(client))
        return (pipeline, client), {}

    def run(pipeline: Pipeline, client: RecordingNatsClient) -> tuple[Pipeline, RecordingNatsClient]:
        loop.run_until_complete(process(pipeline))
        return pipeline, client

    try:
        pipeline, client = benchmark.pedantic(run, setup=fresh_pipeline, rounds=15, warmup_rounds=1)
    finally:
        loop.close()

    stats = pipeline.sources[SOURCE]
    assert (stats.accepted, stats.rejected_total) == (len(lines), 0)
    publish_stats = pipeline.publisher.stats
    assert publish_stats.ticks == len(lines) and publish_stats.ticks_dropped == 0
    delivered = client.ticks_by_subject()
    assert delivered[f"market.{SOURCE}.ticks"] == len(lines)
    assert delivered["market.best.ticks"] == publish_stats.best_prices > 0
    benchmark.extra_info["messages_per_round"] = publish_stats.messages
    benchmark.extra_info["best_prices_per_tick"] = publish_stats.best_prices / len(lines)
    per_tick(len(lines))


# -- (f) what one hand-over costs whatever its size ---------------------------------------------------------------


def test_submit_of_single_tick_batches(benchmark: Any, per_tick: PerTick, eurusd_quotes: list[RecordedQuote]) -> None:
    """Pipeline.submit of one parsed tick at a time: the fixed cost a quiet stream pays per tick.

    Each submit builds and serializes two MarketDataStream messages (the tick, the
    best price) and hands them to the (stubbed) NATS client; the batch benchmark
    above spreads that over up to 512 ticks. A round is 500 submits in a row.
    """
    singles = 500
    times = _event_times(len(eurusd_quotes))
    quotes = list(zip(eurusd_quotes[:singles], times[:singles], strict=True))
    loop = uvloop.new_event_loop()

    async def submit_one_by_one(pipeline: Pipeline, batches: list[list[Event]]) -> None:
        for batch in batches:
            await pipeline.submit(batch)

    def fresh_pipeline() -> tuple[tuple[Pipeline, list[list[Event]], RecordingNatsClient], dict[str, Any]]:
        client = RecordingNatsClient()
        pipeline = Pipeline(QualityGate(QualityPolicy()), BestPriceAggregator({SOURCE: 0}), NatsPublisher(client))
        batches: list[list[Event]] = [[_tick(quote, SOURCE, ts)] for quote, ts in quotes]  # submit sets seq
        return (pipeline, batches, client), {}

    def run(
        pipeline: Pipeline, batches: list[list[Event]], client: RecordingNatsClient
    ) -> tuple[Pipeline, RecordingNatsClient]:
        loop.run_until_complete(submit_one_by_one(pipeline, batches))
        return pipeline, client

    try:
        pipeline, client = benchmark.pedantic(run, setup=fresh_pipeline, rounds=40, warmup_rounds=2)
    finally:
        loop.close()

    stats = pipeline.sources[SOURCE]
    assert (stats.accepted, stats.rejected_total) == (singles, 0)
    assert pipeline.publisher.stats.messages == len(client.published)
    published = client.ticks_by_subject()
    assert published[f"market.{SOURCE}.ticks"] == singles
    assert 0 < published["market.best.ticks"] <= singles  # a repeated quote leaves the best price as it was
    benchmark.extra_info["messages_per_submit"] = len(client.published) / singles
    per_tick(singles, unit="submit")
