"""Benchmarks of the OANDA collector's per-line work, beside OANDA's own ``v20`` stream parser.

Run them with ``pytest tests/benchmarks/test_oanda_benchmarks.py --benchmark-enable``. With the default
``--benchmark-disable`` each runs its target once and only the assertions count: both parsers must read
the same prices from every line.

Inputs are real: the pricing-stream lines recorded from the live v20 API (``../shared/data/oanda-v20``:
both PRICE shapes, two instruments, heartbeats) and the first ``EURUSD_LINES`` EUR/USD quotes OANDA
published for May 2014, rendered byte for byte as the local OANDA server (``tests.servers.oanda_v20``)
sends them. v20's parser is the one ``v20.pricing.EntitySpec.stream`` builds for its streaming Request
(JSON to ``ClientPrice``/``PricingHeartbeat`` objects, prices as floats), taken without network I/O.

Per-line figures are printed after the benchmark table (see ``conftest.py``). ``scripts/bench_oanda.py``
measures the same path end to end, with HTTP and NATS.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest
import uvloop

from collectors.oanda.collector import OandaCollector
from collectors.oanda.config import OandaConfig
from collectors.oanda.parsing import Heartbeat, parse_stream_line
from gateway.aggregator import BestPriceAggregator
from gateway.clock import parse_time_ns
from gateway.events import Quote
from gateway.pipeline import Pipeline
from gateway.prices import PRICE_SCALE
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate, QualityPolicy
from tests.servers.oanda_v20 import (
    MAX_BATCH_LINES,
    PriceFeed,
    TimeStamper,
    V20LineParser,
    render_lines,
    v20_stream_line_parser,
)
from tests.support import RecordingNatsClient

if TYPE_CHECKING:
    from tests.benchmarks.conftest import PerTick

pytestmark = pytest.mark.benchmark

SOURCE: Final = "oanda-bench"
ACCOUNT: Final = "101-004-1234567-001"
TOKEN_ENV: Final = "FXGW_BENCH_OANDA_TOKEN"
RECV_NS: Final = 1_700_000_000_000_000_000
EURUSD_LINES: Final = 10_000
RAW_READ_BYTES: Final = 64 * 1024
"""What one ``aiter_raw`` step hands the collector at most: httpcore reads the socket 64 KiB at a time."""

Parsed = tuple[str, str, int, int, int, int, int, bool]
"""(kind, instrument, best bid, best ask, their liquidity, time in ns, tradeable); a heartbeat has kind and time."""


def ours_as_tuple(parsed: Quote | Heartbeat) -> Parsed:
    if isinstance(parsed, Heartbeat):
        return ("heartbeat", "", 0, 0, 0, 0, parsed.ts_event_ns, False)
    return (
        "price",
        parsed.instrument,
        parsed.bid_px,
        parsed.ask_px,
        parsed.bid_liquidity,
        parsed.ask_liquidity,
        parsed.ts_event_ns,
        parsed.tradeable,
    )


def v20_as_tuple(parsed: tuple[str, Any]) -> Parsed:
    """v20's objects in the same terms; a price without ``tradeable`` (the older shape) goes by ``status``."""
    kind, message = parsed
    if kind == "pricing.PricingHeartbeat":
        return ("heartbeat", "", 0, 0, 0, 0, parse_time_ns(message.time), False)
    assert kind == "pricing.ClientPrice", kind
    bid, ask = message.bids[0], message.asks[0]
    tradeable = message.tradeable if message.tradeable is not None else message.status == "tradeable"
    return (
        "price",
        message.instrument,
        round(bid.price * PRICE_SCALE),
        round(ask.price * PRICE_SCALE),
        int(bid.liquidity),
        int(ask.liquidity),
        parse_time_ns(message.time),
        tradeable,
    )


def parse_ours(lines: list[bytes]) -> list[Quote | Heartbeat]:
    return [parse_stream_line(line, SOURCE, RECV_NS) for line in lines]


def parse_v20(parser: V20LineParser, lines: list[bytes]) -> list[tuple[str, Any]]:
    return [parser(line) for line in lines]


def count_prices_ours(lines: list[bytes]) -> int:
    """Parse every line and keep nothing but the number of prices: holding the results would time the GC too."""
    prices = 0
    for line in lines:
        if type(parse_stream_line(line, SOURCE, RECV_NS)) is Quote:
            prices += 1
    return prices


def count_prices_v20(parser: V20LineParser, lines: list[bytes]) -> int:
    prices = 0
    for line in lines:
        if parser(line)[0] == "pricing.ClientPrice":
            prices += 1
    return prices


def assert_parsers_agree(lines: list[bytes], v20_parser: V20LineParser) -> list[Parsed]:
    ours = [ours_as_tuple(parsed) for parsed in parse_ours(lines)]
    assert ours == [v20_as_tuple(parsed) for parsed in parse_v20(v20_parser, lines)]
    return ours


# -- inputs ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def v20_parser() -> V20LineParser:
    return v20_stream_line_parser()


@pytest.fixture(scope="module")
def recorded_lines(shared_data: Path) -> list[bytes]:
    """Every line of the recorded live v20 streams: prices of EUR_USD and EUR_JPY in both shapes, heartbeats."""
    lines = [
        line
        for path in sorted((shared_data / "oanda-v20").glob("*.jsonl"))
        for line in path.read_bytes().splitlines()
        if line.strip()
    ]
    kinds = {json.loads(line).get("type") for line in lines}
    assert {"PRICE", "HEARTBEAT"} <= kinds
    return lines


@pytest.fixture(scope="module")
def eurusd_feed(shared_data: Path) -> PriceFeed:
    """The first EURUSD_LINES real quotes of May 2014 as the local OANDA server renders them."""
    return PriceFeed.from_quote_files(shared_data / "oanda-eurusd-ticks", limit=EURUSD_LINES, rate="max")


def rendered_stream(feed: PriceFeed) -> bytes:
    """The feed's lines as one stream body, timed now, in the server's batches (strictly increasing times)."""
    stamper = TimeStamper()
    tails = feed.tails
    return b"".join(
        render_lines(stamper.stamp(), tails[start : start + MAX_BATCH_LINES])
        for start in range(0, len(tails), MAX_BATCH_LINES)
    )


@pytest.fixture(scope="module")
def eurusd_lines(eurusd_feed: PriceFeed) -> list[bytes]:
    return rendered_stream(eurusd_feed).splitlines()


# -- parsing: ours and v20's on the same lines ---------------------------------------------------------------


@pytest.mark.parametrize("parser", ["ours", "v20"])
def test_parse_recorded_v20_lines(
    benchmark: Any, per_tick: PerTick, recorded_lines: list[bytes], v20_parser: V20LineParser, parser: str
) -> None:
    """The recorded live lines, one call per line; both parsers read the same kind, prices, sizes and times."""
    benchmark.group = "parse recorded v20 stream lines"
    if parser == "ours":
        prices = benchmark(count_prices_ours, recorded_lines)
    else:
        prices = benchmark(count_prices_v20, v20_parser, recorded_lines)

    parsed = assert_parsers_agree(recorded_lines, v20_parser)
    assert prices == sum(p[0] == "price" for p in parsed) < len(parsed)  # the rest are heartbeats
    assert {p[1] for p in parsed if p[0] == "price"} == {"EUR_USD", "EUR_JPY"}
    per_tick(len(recorded_lines), unit="line")


@pytest.mark.parametrize("parser", ["ours", "v20"])
def test_parse_rendered_eurusd_lines(
    benchmark: Any, per_tick: PerTick, eurusd_lines: list[bytes], v20_parser: V20LineParser, parser: str
) -> None:
    """10,000 real EUR/USD quotes as the local server streams them; a round parses them all."""
    benchmark.group = "parse EUR/USD stream lines"
    if parser == "ours":
        prices = benchmark.pedantic(count_prices_ours, (eurusd_lines,), rounds=10, warmup_rounds=1)
    else:
        prices = benchmark.pedantic(count_prices_v20, (v20_parser, eurusd_lines), rounds=5, warmup_rounds=1)

    parsed = assert_parsers_agree(eurusd_lines, v20_parser)
    assert prices == len(parsed) == EURUSD_LINES
    assert all(p[:2] == ("price", "EUR_USD") and p[7] for p in parsed)
    times = [p[6] for p in parsed]
    assert times == sorted(set(times))
    per_tick(len(eurusd_lines), unit="line")


# -- the collector's stream path: raw reads -> lines -> parse -> pipeline ------------------------------------


async def _raw_reads(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), RAW_READ_BYTES):
        yield body[start : start + RAW_READ_BYTES]


def test_collector_stream_path_to_stubbed_nats(
    benchmark: Any, per_tick: PerTick, eurusd_feed: PriceFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OandaCollector's stream reader over 10,000 rendered lines, NATS stubbed.

    The body arrives in 64 KiB raw reads that split lines, as from httpx; the collector joins and splits
    them, parses each line and submits batches to a real Pipeline (quality gate, best price, publisher).
    No socket: the response is an ``httpx.Response`` over the bytes. A round is a fresh collector, pipeline
    and body (timed just before the round, so that the gate finds the quotes fresh).
    """
    monkeypatch.setenv(TOKEN_ENV, "unused")
    config = OandaConfig(
        id=SOURCE,
        account_id=ACCOUNT,
        token_env=TOKEN_ENV,
        rest_url="http://127.0.0.1:9",
        stream_url="http://127.0.0.1:9",
    )
    loop = uvloop.new_event_loop()

    def fresh() -> tuple[tuple[OandaCollector, httpx.Response, RecordingNatsClient], dict[str, Any]]:
        client = RecordingNatsClient()
        pipeline = Pipeline(QualityGate(QualityPolicy()), BestPriceAggregator({SOURCE: 0}), NatsPublisher(client))
        response = httpx.Response(200, content=_raw_reads(rendered_stream(eurusd_feed)))
        return (OandaCollector(config, pipeline), response, client), {}

    def run(
        collector: OandaCollector, response: httpx.Response, client: RecordingNatsClient
    ) -> tuple[OandaCollector, RecordingNatsClient]:
        loop.run_until_complete(collector.deliver(response.aiter_raw(), collector.new_framing()))
        return collector, client

    try:
        collector, client = benchmark.pedantic(run, setup=fresh, rounds=10, warmup_rounds=1)
    finally:
        loop.close()

    assert (collector.stats.messages, collector.stats.prices, collector.stats.malformed) == (EURUSD_LINES,) * 2 + (0,)
    assert isinstance(collector.sink, Pipeline)
    stats = collector.sink.sources[SOURCE]
    assert (stats.accepted, stats.rejected_total) == (EURUSD_LINES, 0)
    assert client.ticks_by_subject()[f"market.{SOURCE}.ticks"] == EURUSD_LINES
    per_tick(EURUSD_LINES, unit="line")
