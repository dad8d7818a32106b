"""The OANDA collector end to end: local OANDA v20 servers -> gateway -> real nats-server -> a subscriber.

Real HTTP on loopback (``tests/servers/oanda_v20.py``), faults injected at byte level by the server, every
result observed on NATS. Prices are checked against the lines each server wrote, parsed here with the
standard library rather than the collector's parser. The collector paces new connections to a host at
2 per second, so every start and every reconnection takes about half a second.
"""

from __future__ import annotations

import asyncio
import calendar
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import requests

from collectors.oanda import collector as oanda_collector_module
from collectors.oanda.collector import OandaCollector
from gateway import secrets
from gateway.app import CollectorState, Gateway
from gateway.config import parse_config
from gateway.ops.activity import RecentActivity
from gateway.ops.health import assess
from gateway.schema.market.v1.market_pb2 import BestPrice, RejectionReason, SourceStatus, Tick
from tests.servers.oanda_v20 import MSG_BAD_INSTRUMENTS, OandaV20Server, PriceFeed, RecordedPrice
from tests.support import Recorder

ACCOUNT_A = "101-004-1234567-001"
ACCOUNT_B = "101-004-1234567-002"
TOKEN_A = "tok-a-3f9c2e71d8b54a06"
TOKEN_B = "tok-b-91d0c4a7e25f3b68"
WRONG_TOKEN = "tok-wrong-5e8a1f0c73d24b9e"
TOKEN_ENV_A = "FXGW_TEST_TOKEN_A"
TOKEN_ENV_B = "FXGW_TEST_TOKEN_B"
FEED_LINES = 2000
RATE = 300.0
"""Price lines per second of each server."""
HEARTBEAT_S = 0.05
HEARTBEAT_TIMEOUT_S = 0.5
PRICE_SCALE = 10**9
NS_PER_S = 10**9
CLOCK_SLACK_S = 0.02
"""Allowance between the collector's sleep and the server's request log (two readings of the clock)."""

CONNECTED = SourceStatus.STATE_CONNECTED
DISCONNECTED = SourceStatus.STATE_DISCONNECTED
RECONNECTED = SourceStatus.STATE_RECONNECTED
UNAUTHORIZED = SourceStatus.STATE_UNAUTHORIZED
REJECTED = SourceStatus.STATE_REJECTED

PriceKey = tuple[int, int, int]
"""(broker time in ns, bid, ask in 1e-9 units): unique per line, since a server never repeats a time."""


# --- what the servers sent, read independently of the collector ---------------------------------------


def rfc3339_ns(text: str) -> int:
    """``2024-05-01T12:00:00.123456789Z`` as ns since the epoch."""
    seconds, _, fraction = text.removesuffix("Z").partition(".")
    return calendar.timegm(time.strptime(seconds, "%Y-%m-%dT%H:%M:%S")) * NS_PER_S + int(fraction.ljust(9, "0"))


def sent_key(line: bytes) -> PriceKey:
    message = json.loads(line)
    bid, ask = message["bids"][0]["price"], message["asks"][0]["price"]
    return rfc3339_ns(message["time"]), int(Decimal(bid) * PRICE_SCALE), int(Decimal(ask) * PRICE_SCALE)


def tick_key(tick: Tick) -> PriceKey:
    return tick.ts_event_ns, tick.bid_px, tick.ask_px


def sent_keys(server: OandaV20Server, stream: int) -> list[PriceKey]:
    """The price lines the server completed on its ``stream``-th accepted stream (from 0)."""
    return [sent_key(line) for line in server.stats.sent_prices[stream]]


# --- conditions on what the subscriber received ---------------------------------------------------------


def states(recorder: Recorder, source: str) -> list[SourceStatus.State]:
    return [status.state for status in recorder.statuses[source]]


def status_of(recorder: Recorder, source: str, state: SourceStatus.State) -> SourceStatus:
    return next(status for status in recorder.statuses[source] if status.state == state)


def saw_status(source: str, state: SourceStatus.State) -> Callable[[Recorder], bool]:
    return lambda recorder: state in states(recorder, source)


def tick_count_at_least(source: str, count: int) -> Callable[[Recorder], bool]:
    return lambda recorder: len(recorder.ticks(source)) >= count


def best_after(recorder: Recorder, start: int) -> list[BestPrice]:
    return recorder.best_prices()[start:]


def only_source(best: BestPrice, source: str, live_sources: int = 1) -> bool:
    return best.live_sources == live_sources and best.bid_source == best.ask_source == source and best.tradeable


def stream_requests(server: OandaV20Server) -> list[tuple[int, float]]:
    """(HTTP status, time answered) of each pricing-stream request."""
    return [(request.status, request.at_s) for request in server.stats.requests if request.path.endswith("/stream")]


async def until(condition: Callable[[], bool], timeout_s: float) -> None:
    """Wait for a condition on a server's state, which has no event to await: checked every 10 ms."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


def gaps_s(times: Sequence[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


# --- servers and gateway ----------------------------------------------------------------------------------


def eurusd_feed(shared_data: Path) -> PriceFeed:
    return PriceFeed.from_quote_files(shared_data / "oanda-eurusd-ticks", limit=FEED_LINES, rate=RATE)


def oanda_server(account: str, token: str, feed: PriceFeed | None) -> OandaV20Server:
    return OandaV20Server(accounts={account: token}, feed=feed, heartbeat_interval_s=HEARTBEAT_S)


def broker(
    source: str, server: OandaV20Server, *, account: str = ACCOUNT_A, token_env: str = TOKEN_ENV_A, **overrides: Any
) -> dict[str, Any]:
    return {
        "id": source,
        "kind": "oanda",
        "account_id": account,
        "token_env": token_env,
        "rest_url": server.rest_url,
        "stream_url": server.stream_url,
        "instruments": ["EUR_USD"],
        "priority": 2,
        "heartbeat_timeout_s": HEARTBEAT_TIMEOUT_S,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.5,
        "refused_retry_s": 1.0,
        **overrides,
    }


@asynccontextmanager
async def running(nats_url: str, brokers: list[dict[str, Any]]) -> AsyncIterator[tuple[Gateway, Recorder]]:
    """A started gateway for ``brokers`` and a subscriber to everything it publishes; both stopped after."""
    recorder = await Recorder().start(nats_url)
    gateway = Gateway(
        parse_config({"nats": {"url": nats_url, "linger_ms": 0}, "http": {"port": 0}, "brokers": brokers})
    )
    try:
        await gateway.start()
        yield gateway, recorder
    finally:
        await gateway.stop()
        await recorder.stop()


@asynccontextmanager
async def serving(*servers: OandaV20Server) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for server in servers:
            await stack.enter_async_context(server)
        yield


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV_A, TOKEN_A)
    monkeypatch.setenv(TOKEN_ENV_B, TOKEN_B)


def assert_no_crash(gateway: Gateway) -> None:
    for status in gateway.collectors.values():
        assert (status.state, status.restarts, status.last_error) == (CollectorState.RUNNING, 0, "")


# --- the tests --------------------------------------------------------------------------------------------


async def test_two_brokers_stream_the_servers_prices_in_sequence_into_the_best_price(
    nats_url: str, shared_data: Path
) -> None:
    server_a = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    server_b = oanda_server(ACCOUNT_B, TOKEN_B, eurusd_feed(shared_data))
    async with serving(server_a, server_b):
        brokers = [
            broker("oanda-a", server_a, priority=2),
            broker("oanda-b", server_b, account=ACCOUNT_B, token_env=TOKEN_ENV_B, priority=1),
        ]
        async with running(nats_url, brokers) as (gateway, recorder):

            def best_from(source: str) -> Callable[[Recorder], bool]:
                return lambda r: any(
                    b.live_sources == 2 and source in (b.bid_source, b.ask_source) for b in r.best_prices()
                )

            for source in ("oanda-a", "oanda-b"):
                await recorder.wait_for(tick_count_at_least(source, 300))
                await recorder.wait_for(best_from(source))  # the two feeds run independently, so each leads

            for source, server in (("oanda-a", server_a), ("oanda-b", server_b)):
                received = recorder.ticks(source)
                assert server.stats.connections == 1
                sent = sent_keys(server, 0)
                assert [tick_key(t) for t in received] == sent[: len(received)]  # nothing lost, changed, added
                assert [t.seq for t in received] == list(range(1, len(received) + 1))
                assert [t.snapshot for t in received[:2]] == [True, False]
                assert not any(t.snapshot for t in received[1:])
                assert {(t.source, t.instrument, t.tradeable) for t in received} == {(source, "EUR_USD", True)}
                [connected] = recorder.statuses[source]
                assert (connected.state, connected.seq, connected.session_id) == (CONNECTED, 1, gateway.started_ns)
                assert connected.snapshot
            assert recorder.rejections == []
            two_live = [b for b in recorder.best_prices() if b.live_sources == 2]
            # The two feeds are a few lines apart, so across brokers a bid may for a moment top an ask.
            assert all(b.tradeable == (not b.crossed) and b.instrument == "EUR_USD" for b in two_live)
            assert {b.bid_source for b in two_live} | {b.ask_source for b in two_live} == {"oanda-a", "oanda-b"}
            assert_no_crash(gateway)


async def test_pip_size_comes_from_the_servers_pip_location(nats_url: str) -> None:
    """XAU_USD has no pip by convention and none is configured; the server's pipLocation -2 makes it 0.01."""

    def gold(bid: str, ask: str) -> RecordedPrice:
        return RecordedPrice("XAU_USD", ((bid, 100),), ((ask, 100),), bid, ask)

    feed = PriceFeed([gold("2345.10", "2345.25"), gold("2345.12", "2345.42")], rate=50)  # spreads 15, 30 pips
    server = oanda_server(ACCOUNT_A, TOKEN_A, feed)
    async with serving(server), running(nats_url, [broker("oanda-a", server, instruments=["XAU_USD"])]) as run:
        gateway, recorder = run
        await recorder.wait_for(lambda r: len(r.ticks("oanda-a")) >= 3 and len(r.rejections) >= 2)
        accepted = recorder.ticks("oanda-a")
        assert {(t.instrument, t.bid_px, t.ask_px) for t in accepted} == {
            ("XAU_USD", 2345_100_000_000, 2345_250_000_000)
        }
        reasons = {(r.reason, r.detail) for r in recorder.rejections}
        assert reasons == {
            (RejectionReason.REJECTION_REASON_SPREAD_TOO_WIDE, "XAU_USD: spread 30.0 pips above the limit 20")
        }
        assert_no_crash(gateway)


async def test_a_stalled_broker_leaves_the_best_price_and_returns_with_a_reported_gap(
    nats_url: str, shared_data: Path
) -> None:
    server_a = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    server_b = oanda_server(ACCOUNT_B, TOKEN_B, eurusd_feed(shared_data))
    async with serving(server_a, server_b):
        brokers = [
            broker("oanda-a", server_a, priority=2),
            broker("oanda-b", server_b, account=ACCOUNT_B, token_env=TOKEN_ENV_B, priority=1),
        ]
        async with running(nats_url, brokers) as (gateway, recorder):
            await recorder.wait_for(lambda r: any(b.live_sources == 2 for b in r.best_prices()))
            before_stall = len(recorder.best_prices())

            server_a.stall()
            await recorder.wait_for(saw_status("oanda-a", DISCONNECTED))
            disconnected = status_of(recorder, "oanda-a", DISCONNECTED)
            assert "not even a heartbeat" in disconnected.detail and "0.5 s" in disconnected.detail
            await recorder.wait_for(lambda r: any(only_source(b, "oanda-b") for b in best_after(r, before_stall)))
            ticks_b = len(recorder.ticks("oanda-b"))
            await recorder.wait_for(tick_count_at_least("oanda-b", ticks_b + 30))  # b streams on meanwhile
            before_resume = len(recorder.best_prices())

            server_a.resume()
            await recorder.wait_for(saw_status("oanda-a", RECONNECTED))
            await recorder.wait_for(lambda r: sum(t.snapshot for t in r.ticks("oanda-a")) == 2)
            await recorder.wait_for(lambda r: any(b.live_sources == 2 for b in best_after(r, before_resume)))

            reconnected = status_of(recorder, "oanda-a", RECONNECTED)
            assert states(recorder, "oanda-a") == [CONNECTED, DISCONNECTED, RECONNECTED]
            assert [s.seq for s in recorder.statuses["oanda-a"]] == [1, 2, 3]
            assert reconnected.gap_ns > 0 and reconnected.attempt >= 1 and reconnected.snapshot
            assert "reopened after" in reconnected.detail
            assert server_a.stats.connections >= 2
            ticks_a = recorder.ticks("oanda-a")
            assert [t.seq for t in ticks_a] == list(range(1, len(ticks_a) + 1))
            second_snapshot = [t for t in ticks_a if t.snapshot][1]
            assert tick_key(second_snapshot) == sent_keys(server_a, -1)[0]  # the new stream's first line
            assert states(recorder, "oanda-b") == [CONNECTED]
            assert_no_crash(gateway)


async def test_a_stream_request_left_unanswered_is_abandoned_and_retried(nats_url: str, shared_data: Path) -> None:
    """A stream whose response never starts is as silent as a stalled one; it must not hang the broker for good.

    The server accepts the request and then sends nothing, not even the response head, while stalled.
    """
    server = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    async with serving(server), running(nats_url, [broker("oanda-a", server, connect_timeout_s=0.5)]) as run:
        gateway, recorder = run
        await recorder.wait_for(tick_count_at_least("oanda-a", 30))
        server.stall()
        await recorder.wait_for(saw_status("oanda-a", DISCONNECTED))
        await until(lambda: len(stream_requests(server)) >= 2, timeout_s=5.0)  # the first reconnection, unanswered
        try:
            # Each attempt takes at most 0.5 s of silence, then 0.05-0.1 s of backoff and the 0.5 s pacing.
            await until(lambda: len(stream_requests(server)) >= 3, timeout_s=3.0)
        except TimeoutError:
            pytest.fail(
                f"the collector still waits for the response to its reconnection after 3 s of silence "
                f"(heartbeat_timeout_s {HEARTBEAT_TIMEOUT_S}, connect_timeout_s 0.5): "
                f"{len(stream_requests(server))} stream requests in all"
            )
        finally:
            server.resume()
        await recorder.wait_for(saw_status("oanda-a", RECONNECTED))
        assert_no_crash(gateway)


async def test_a_refused_token_is_reported_by_variable_name_and_retried_slowly(
    nats_url: str, shared_data: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(TOKEN_ENV_B, WRONG_TOKEN)
    server_a = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    server_b = oanda_server(ACCOUNT_B, TOKEN_B, eurusd_feed(shared_data))
    async with serving(server_a, server_b):
        brokers = [
            broker("oanda-a", server_a, priority=2),
            broker("oanda-b", server_b, account=ACCOUNT_B, token_env=TOKEN_ENV_B, priority=1, refused_retry_s=1.0),
        ]
        async with running(nats_url, brokers) as (gateway, recorder):
            await recorder.wait_for(saw_status("oanda-b", UNAUTHORIZED))
            ticks_a = len(recorder.ticks("oanda-a"))
            await asyncio.sleep(1.5)  # an observation window: how often b retries meanwhile
            await recorder.wait_for(tick_count_at_least("oanda-a", ticks_a + 100))  # a streamed on

            [unauthorized] = recorder.statuses["oanda-b"]  # reported once, not on every retry
            assert unauthorized.state == UNAUTHORIZED
            assert "oanda-b" in unauthorized.detail and f"${TOKEN_ENV_B}" in unauthorized.detail
            assert "HTTP 401" in unauthorized.detail
            requests = list(server_b.stats.requests)
            assert 2 <= len(requests) <= 3
            assert {request.status for request in requests} == {401}
            assert all(gap >= 1.0 - CLOCK_SLACK_S for gap in gaps_s([request.at_s for request in requests]))
            assert server_b.stats.connections == 0 and recorder.ticks("oanda-b") == []
            connection = gateway.collector_instances["oanda-b"].connection  # what /health reads
            assert connection is not None and connection.unauthorized and connection.last_error == unauthorized.detail
            assert states(recorder, "oanda-a") == [CONNECTED]
            assert all(only_source(b, "oanda-a") for b in recorder.best_prices())
            assert_no_crash(gateway)
        statuses = [status for source_statuses in recorder.statuses.values() for status in source_statuses]
    formatter = logging.Formatter()
    logged = [formatter.format(record) for record in caplog.records]
    assert any(TOKEN_ENV_B in line for line in logged)
    for token in (WRONG_TOKEN, TOKEN_A, TOKEN_B):
        assert not any(token in status.detail for status in statuses)
        assert not any(token in line for line in logged)


async def test_an_instrument_the_account_lacks_is_rejected_by_name_and_the_others_stream(
    nats_url: str, shared_data: Path
) -> None:
    server = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    async with (
        serving(server),
        running(nats_url, [broker("oanda-a", server, instruments=["EUR_USD", "FOO_BAR"])]) as run,
    ):
        gateway, recorder = run
        await recorder.wait_for(saw_status("oanda-a", CONNECTED))
        await recorder.wait_for(tick_count_at_least("oanda-a", 50))

        assert states(recorder, "oanda-a") == [REJECTED, CONNECTED]
        rejected = recorder.statuses["oanda-a"][0]
        assert "oanda-a" in rejected.detail and "FOO_BAR" in rejected.detail and "EUR_USD" not in rejected.detail
        assert [stream.instruments for stream in server.stats.streams] == [("EUR_USD",)]
        assert {t.instrument for t in recorder.ticks("oanda-a")} == {"EUR_USD"}
        connection = gateway.collector_instances["oanda-a"].connection  # what /health reads
        assert connection is not None and connection.unavailable_instruments == ("FOO_BAR",)
        assert recorder.rejections == []
        assert_no_crash(gateway)


async def test_a_stream_refused_with_400_is_rejected_with_oandas_message_and_retried_slowly(
    nats_url: str, shared_data: Path
) -> None:
    server = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    server.refuse(400, paths="stream")
    async with serving(server), running(nats_url, [broker("oanda-a", server, refused_retry_s=0.5)]) as run:
        gateway, recorder = run
        await recorder.wait_for(saw_status("oanda-a", CONNECTED))
        await recorder.wait_for(tick_count_at_least("oanda-a", 20))

        assert states(recorder, "oanda-a") == [REJECTED, CONNECTED]
        rejected = recorder.statuses["oanda-a"][0]
        assert MSG_BAD_INSTRUMENTS in rejected.detail and "HTTP 400" in rejected.detail
        assert "oanda-a" in rejected.detail
        [(refused, refused_at), (accepted, accepted_at)] = stream_requests(server)
        assert (refused, accepted) == (400, 200)
        assert accepted_at - refused_at >= 0.5 - CLOCK_SLACK_S
        assert recorder.ticks("oanda-a")[0].snapshot
        assert_no_crash(gateway)


async def test_a_stream_refused_with_400_is_reported_even_after_an_instrument_was_rejected(
    nats_url: str, shared_data: Path
) -> None:
    """The refusal of the stream is news after "cannot stream FOO_BAR; streaming the others": it must be told."""
    server = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    server.refuse(400, paths="stream")
    instruments = ["EUR_USD", "FOO_BAR"]
    async with (
        serving(server),
        running(nats_url, [broker("oanda-a", server, instruments=instruments, refused_retry_s=0.5)]) as run,
    ):
        gateway, recorder = run
        await recorder.wait_for(saw_status("oanda-a", CONNECTED))
        await recorder.wait_for(tick_count_at_least("oanda-a", 20))

        assert [status for status, _ in stream_requests(server)] == [400, 200]
        details = [status.detail for status in recorder.statuses["oanda-a"] if status.state == REJECTED]
        assert "FOO_BAR" in details[0]
        assert any(MSG_BAD_INSTRUMENTS in detail for detail in details), details
        assert_no_crash(gateway)


async def test_rate_limited_stream_requests_wait_for_retry_after_then_stream(
    nats_url: str, shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    server.refuse(429, count=3, retry_after_s=1, paths="stream")
    async with serving(server), running(nats_url, [broker("oanda-a", server)]) as (gateway, recorder):
        await recorder.wait_for(saw_status("oanda-a", CONNECTED))
        await recorder.wait_for(tick_count_at_least("oanda-a", 50))

        requests = stream_requests(server)
        assert [status for status, _ in requests] == [429, 429, 429, 200]
        assert all(gap >= 1.0 - CLOCK_SLACK_S for gap in gaps_s([at_s for _, at_s in requests]))
        assert states(recorder, "oanda-a") == [CONNECTED]
        ticks = recorder.ticks("oanda-a")
        assert [t.seq for t in ticks] == list(range(1, len(ticks) + 1)) and ticks[0].snapshot
        assert_no_crash(gateway)
        assert gateway.pipeline is not None and gateway.pipeline.sources["oanda-a"].accepted >= 50
    rate_limited = [r for r in caplog.records if r.levelno == logging.WARNING and "HTTP 429" in r.getMessage()]
    assert len(rate_limited) == 3 and all("oanda-a" in r.getMessage() for r in rate_limited)


@pytest.mark.parametrize("mid_line", [True, False], ids=["mid-line", "clean"])
async def test_a_cut_stream_delivers_every_complete_line_and_reconnects(
    nats_url: str, shared_data: Path, mid_line: bool
) -> None:
    server = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    async with serving(server), running(nats_url, [broker("oanda-a", server)]) as (gateway, recorder):
        await recorder.wait_for(tick_count_at_least("oanda-a", 30))
        server.disconnect(after_lines=40, mid_line=mid_line)
        await recorder.wait_for(saw_status("oanda-a", RECONNECTED))
        # The collector submits what it read before reporting the cut, so the first stream's ticks are in.
        first_stream = sent_keys(server, 0)
        await recorder.wait_for(tick_count_at_least("oanda-a", len(first_stream) + 30))  # streaming goes on

        ticks = recorder.ticks("oanda-a")
        assert [tick_key(t) for t in ticks[: len(first_stream)]] == first_stream  # not one complete line lost
        assert [tick_key(t) for t in ticks[len(first_stream) :]] == sent_keys(server, 1)[
            : len(ticks) - len(first_stream)
        ]
        assert [t.seq for t in ticks] == list(range(1, len(ticks) + 1))
        assert [i for i, t in enumerate(ticks) if t.snapshot] == [0, len(first_stream)]
        assert states(recorder, "oanda-a") == [CONNECTED, DISCONNECTED, RECONNECTED]
        assert status_of(recorder, "oanda-a", RECONNECTED).gap_ns > 0
        if mid_line:
            [partial] = recorder.rejections
            assert partial.reason == RejectionReason.REJECTION_REASON_MALFORMED
            assert partial.tick.source == "oanda-a" and "middle of a line" in partial.detail
            assert partial.raw.startswith(b'{"type":"PRICE","time":"') and b"\n" not in partial.raw
            assert f"({len(partial.raw)} bytes received)" in partial.detail
        else:
            assert recorder.rejections == []
        assert server.stats.connections == 2
        assert_no_crash(gateway)


async def test_a_closed_market_sends_non_tradeable_prices_then_heartbeats_without_a_reconnect(
    nats_url: str, shared_data: Path
) -> None:
    server = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    async with serving(server), running(nats_url, [broker("oanda-a", server)]) as (gateway, recorder):
        await recorder.wait_for(tick_count_at_least("oanda-a", 30))
        connections = server.stats.connections
        server.set_market_open(False)
        await recorder.wait_for(lambda r: any(not t.tradeable for t in r.ticks("oanda-a")))
        await recorder.wait_for(lambda r: r.best_prices()[-1].live_sources == 0)
        closed_at = len(recorder.ticks("oanda-a"))
        heartbeats = server.stats.streams[-1].heartbeats_sent
        await asyncio.sleep(3 * HEARTBEAT_TIMEOUT_S)  # an observation window: heartbeats only, no prices

        assert server.stats.streams[-1].heartbeats_sent >= heartbeats + 5
        assert len(recorder.ticks("oanda-a")) == closed_at
        assert server.stats.connections == connections
        assert states(recorder, "oanda-a") == [CONNECTED]
        last = recorder.ticks("oanda-a")[-1]
        assert not last.tradeable and tick_key(last) == sent_keys(server, 0)[-1]
        best = recorder.best_prices()[-1]
        assert (best.live_sources, best.tradeable, best.bid_source, best.ask_source) == (0, False, "", "")

        server.set_market_open(True)
        await recorder.wait_for(lambda r: only_source(r.best_prices()[-1], "oanda-a"))
        assert recorder.ticks("oanda-a")[-1].tradeable
        assert server.stats.connections == connections
        assert_no_crash(gateway)


async def test_a_server_restart_is_reported_as_a_gap_and_streaming_resumes(nats_url: str, shared_data: Path) -> None:
    server = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    async with serving(server), running(nats_url, [broker("oanda-a", server)]) as (gateway, recorder):
        await recorder.wait_for(tick_count_at_least("oanda-a", 30))
        await server.restart()
        await recorder.wait_for(saw_status("oanda-a", RECONNECTED))
        before = len(recorder.ticks("oanda-a"))
        await recorder.wait_for(tick_count_at_least("oanda-a", before + 30))

        assert states(recorder, "oanda-a") == [CONNECTED, DISCONNECTED, RECONNECTED]
        disconnected = status_of(recorder, "oanda-a", DISCONNECTED)
        reconnected = status_of(recorder, "oanda-a", RECONNECTED)
        assert reconnected.gap_ns > 0 and reconnected.attempt >= 1 and "reopened after" in reconnected.detail
        assert reconnected.ts_ns > disconnected.ts_ns
        assert server.stats.connections == 2
        ticks = recorder.ticks("oanda-a")
        assert [t.seq for t in ticks] == list(range(1, len(ticks) + 1))
        assert sum(t.snapshot for t in ticks) == 2
        assert [b.live_sources for b in recorder.best_prices()].count(0) >= 1  # it left while disconnected
        assert recorder.best_prices()[-1].live_sources == 1
        assert_no_crash(gateway)


# --- hostile input and secrets ----------------------------------------------------------------------------------

MALFORMED = RejectionReason.REJECTION_REASON_MALFORMED
BAD_VALUE = RejectionReason.REJECTION_REASON_BAD_VALUE
FUTURE_TIME = RejectionReason.REJECTION_REASON_FUTURE_TIME
LAST_SECOND = "2262-04-11T23:47:16"
"""The last second int64 nanoseconds reach (up to .854775807)."""


def hostile_price(time_text: str, bid: str = "1.09177", ask: str = "1.09188") -> bytes:
    return (
        b'{"type":"PRICE","time":"%s","bids":[{"price":"%s","liquidity":1000000}],'
        b'"asks":[{"price":"%s","liquidity":1000000}],"instrument":"EUR_USD","tradeable":true}\n'
        % (time_text.encode(), bid.encode(), ask.encode())
    )


async def test_hostile_lines_among_valid_ones_are_counted_rejections_and_every_valid_tick_arrives(
    nats_url: str, shared_data: Path
) -> None:
    """A line nested 1,000 deep (2 KB), a price of 5,000 digits, a time that overflows int64 right after a valid
    time of the same second, and a line of 32 MiB, each between batches of real prices: one counted rejection
    each on market.rejected, not one valid tick lost, no disconnect, no restart."""
    server = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    deep = b'{"type":"PRICE","x":' + b"[" * 1000 + b"]" * 1000 + b"}\n"
    huge_price = hostile_price(time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()), bid="9" * 5000)
    valid_in_last_second = hostile_price(f"{LAST_SECOND}.000000000Z")  # parses; the gate finds it in the future
    overflowing = hostile_price(f"{LAST_SECOND}.999999999Z")
    huge_line = b'{"type":"PRICE","x":"' + b"a" * (32 * 1024 * 1024) + b'"}\n'
    async with serving(server), running(nats_url, [broker("oanda-a", server)]) as (gateway, recorder):
        await recorder.wait_for(tick_count_at_least("oanda-a", 30))
        for line in (deep, huge_price, valid_in_last_second, overflowing, huge_line):
            assert await server.inject(line) == 1
            await recorder.wait_for(tick_count_at_least("oanda-a", len(recorder.ticks("oanda-a")) + 5))
        await recorder.wait_for(lambda r: len(r.rejections) == 5)

        ticks = recorder.ticks("oanda-a")
        sent = sent_keys(server, 0)
        assert [tick_key(t) for t in ticks] == sent[: len(ticks)]  # every valid line, in order, nothing lost
        assert len(ticks) >= 55 and [t.seq for t in ticks] == list(range(1, len(ticks) + 1))
        reasons = [(r.reason, r.tick.instrument) for r in recorder.rejections]
        assert reasons == [
            (MALFORMED, ""),
            (BAD_VALUE, "EUR_USD"),
            (FUTURE_TIME, "EUR_USD"),
            (BAD_VALUE, "EUR_USD"),
            (MALFORMED, ""),
        ]
        nested, price, _, overflow, long_line = recorder.rejections
        assert nested.detail.startswith("JSON nested too deeply to read") and nested.raw.startswith(
            b'{"type":"PRICE","x":[[['
        )
        assert "is too long: 5,000 characters" in price.detail and len(price.raw) == 512
        assert f"{LAST_SECOND}.999999999Z" in overflow.detail and "outside 1970-2262" in overflow.detail
        assert "max_line_bytes (65,536)" in long_line.detail and long_line.raw == huge_line[:512]
        assert all(len(r.SerializeToString()) < 4096 for r in recorder.rejections)
        assert states(recorder, "oanda-a") == [CONNECTED]
        assert server.stats.connections == 1
        collector = gateway.collector_instances["oanda-a"]
        assert (
            isinstance(collector, OandaCollector) and collector.stats.malformed == 4
        )  # the collector's own rejections; the fifth is the gate's
        assert gateway.pipeline is not None
        assert gateway.pipeline.sources["oanda-a"].rejected == {
            "REJECTION_REASON_MALFORMED": 2,
            "REJECTION_REASON_BAD_VALUE": 2,
            "REJECTION_REASON_FUTURE_TIME": 1,
        }
        assert_no_crash(gateway)


async def test_a_token_with_a_crlf_streams_and_errors_quoting_its_header_never_show_it(
    nats_url: str, shared_data: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The token comes from a CRLF file; the instruments request fails once with requests' text quoting the
    header, opening the stream once with h11's, and the stream once with a read error quoting the request.
    No log line (no redacting log filter installed here), no status and no /health text carries the token."""
    monkeypatch.setattr(secrets, "_forms", set())
    monkeypatch.setenv(TOKEN_ENV_A, TOKEN_A + "\r\n")
    caplog.set_level(logging.DEBUG)
    rest_context = oanda_collector_module._rest_context
    rest_calls = stream_calls = 0

    class FailingAccount:
        def instruments(self, account_id: str) -> None:
            raise requests.exceptions.InvalidHeader(
                "Invalid leading whitespace, reserved character(s), or return character(s) in header value: "
                f"'Bearer {TOKEN_A}\\r\\n'"
            )

    def failing_once(rest_url: str, token: str, timeout_s: float) -> Any:
        nonlocal rest_calls
        rest_calls += 1
        if rest_calls == 1:
            return SimpleNamespace(account=FailingAccount())
        return rest_context(rest_url, token, timeout_s)

    async def cut_after(chunks: AsyncIterator[bytes], count: int) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            yield chunk
            count -= 1
            if count == 0:
                raise httpx.ReadError(f"connection reset; request headers: {{'Authorization': 'Bearer {TOKEN_A}'}}")

    open_stream = OandaCollector.open_stream

    @asynccontextmanager
    async def failing_stream(self: OandaCollector) -> AsyncIterator[AsyncIterator[bytes]]:
        nonlocal stream_calls
        stream_calls += 1
        if stream_calls == 1:
            raise httpx.LocalProtocolError(f"Illegal header value b'Bearer {TOKEN_A}\\r\\n'")
        async with open_stream(self) as chunks:
            yield cut_after(chunks, 20) if stream_calls == 2 else chunks

    monkeypatch.setattr(oanda_collector_module, "_rest_context", failing_once)
    monkeypatch.setattr(OandaCollector, "open_stream", failing_stream)
    server = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    async with serving(server), running(nats_url, [broker("oanda-a", server)]) as (gateway, recorder):
        await recorder.wait_for(saw_status("oanda-a", RECONNECTED))
        await recorder.wait_for(tick_count_at_least("oanda-a", len(recorder.ticks("oanda-a")) + 10))
        health = assess(gateway.snapshot(), RecentActivity()).document
        connection = gateway.collector_instances["oanda-a"].connection
        assert connection is not None and connection.last_error.startswith("ReadError: connection reset")

    assert (rest_calls, stream_calls) == (2, 3)
    assert states(recorder, "oanda-a") == [CONNECTED, DISCONNECTED, RECONNECTED]
    disconnected = status_of(recorder, "oanda-a", DISCONNECTED)
    assert "'Authorization': 'Bearer ***'" in disconnected.detail
    shown = {
        "log": caplog.text,
        "health": json.dumps(health),
        "statuses": " ".join(status.detail for status in recorder.statuses["oanda-a"]),
        "last_error": connection.last_error,
    }
    assert {name: TOKEN_A in text for name, text in shown.items()} == dict.fromkeys(shown, False)
    assert "Bearer ***" in caplog.text and "Bearer ***" in shown["health"]
    assert "instruments request" in caplog.text and "Illegal header value" in caplog.text


async def test_a_collector_restarted_after_an_unexpected_failure_reports_the_gap_like_a_disconnect(
    nats_url: str, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (an exception the collector does not expect) ends the first stream: the gateway's supervisor restarts
    the collector, and consumers see DISCONNECTED naming the failure, then RECONNECTED with the whole gap."""
    stream_calls = 0
    open_stream = OandaCollector.open_stream

    async def fail_after(chunks: AsyncIterator[bytes], count: int) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            yield chunk
            count -= 1
            if count == 0:
                raise RuntimeError("a bug")

    @asynccontextmanager
    async def failing_once(self: OandaCollector) -> AsyncIterator[AsyncIterator[bytes]]:
        nonlocal stream_calls
        stream_calls += 1
        async with open_stream(self) as chunks:
            yield fail_after(chunks, 20) if stream_calls == 1 else chunks

    monkeypatch.setattr(OandaCollector, "open_stream", failing_once)
    server = oanda_server(ACCOUNT_A, TOKEN_A, eurusd_feed(shared_data))
    async with serving(server), running(nats_url, [broker("oanda-a", server)]) as (gateway, recorder):
        await recorder.wait_for(saw_status("oanda-a", RECONNECTED))
        await recorder.wait_for(tick_count_at_least("oanda-a", len(recorder.ticks("oanda-a")) + 10))

        assert states(recorder, "oanda-a") == [CONNECTED, DISCONNECTED, RECONNECTED]
        disconnected = status_of(recorder, "oanda-a", DISCONNECTED)
        reconnected = status_of(recorder, "oanda-a", RECONNECTED)
        assert disconnected.detail == "collector failed: RuntimeError: a bug"
        assert reconnected.gap_ns >= 0.5 * NS_PER_S  # at least the supervisor's restart delay, 1 s less jitter
        assert reconnected.snapshot and "reopened after" in reconnected.detail
        status = gateway.collectors["oanda-a"]
        assert (status.state, status.restarts) == (CollectorState.RUNNING, 1)
        ticks = recorder.ticks("oanda-a")
        first, second = sent_keys(server, 0), sent_keys(server, 1)
        assert [t.seq for t in ticks] == list(range(1, len(ticks) + 1))
        split = next(i for i, t in enumerate(ticks) if t.snapshot and i > 0)
        assert [tick_key(t) for t in ticks[:split]] == first[:split]  # what was read of the first stream, in order
        assert [tick_key(t) for t in ticks[split:]] == second[: len(ticks) - split]
