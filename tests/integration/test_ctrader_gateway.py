"""Two brokers of different protocols through the gateway into nats-server: OANDA v20 and cTrader Open API.

A local OANDA v20 server (HTTP, JSON lines) and a local cTrader Open API server (TLS, Protocol Buffers frames)
both serve the recorded EUR/USD quotes; the real gateway runs one collector of each kind and a subscriber on
a real nats-server sees everything published: the best price across both, each source's ticks exactly once
and in sequence, a stalled cTrader stream leaving the best price and coming back with its gap reported, and
a refused cTrader token named by its variable, never by its value.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.app import CollectorState, Gateway
from gateway.config import parse_config
from gateway.schema.market.v1.market_pb2 import BestPrice, SourceStatus, Tick
from tests.servers.ctrader import CtraderServer, SpotFeed
from tests.servers.oanda_v20 import OandaV20Server, PriceFeed
from tests.support import Recorder

OANDA_ACCOUNT = "101-004-7654321-001"
OANDA_TOKEN = "tok-oanda-0b7e4c2a9f1d"
CT_ACCOUNT = 3_100_456
CT_CLIENT_ID = "4242_gatewayTestClient"
CT_SECRET = "sec-gw-5d0a7c3e9b"
CT_TOKEN = "tok-gw-ctrader-81f2e6"
ENV = {"FXGW_GW_OANDA": OANDA_TOKEN, "FXGW_GW_CT_ID": CT_CLIENT_ID, "FXGW_GW_CT_SECRET": CT_SECRET}
CT_TOKEN_ENV = "FXGW_GW_CT_TOKEN"
FEED_QUOTES = 2000
RATE = 300.0
HEARTBEAT_TIMEOUT_S = 0.5

CONNECTED = SourceStatus.STATE_CONNECTED
DISCONNECTED = SourceStatus.STATE_DISCONNECTED
RECONNECTED = SourceStatus.STATE_RECONNECTED
UNAUTHORIZED = SourceStatus.STATE_UNAUTHORIZED


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(CT_TOKEN_ENV, CT_TOKEN)


@asynccontextmanager
async def servers(shared_data: Path, cert_dir: Path) -> AsyncIterator[tuple[OandaV20Server, CtraderServer]]:
    quotes = shared_data / "oanda-eurusd-ticks" / "20140501_quote.zip"
    oanda_feed = PriceFeed.from_quote_files(quotes, limit=FEED_QUOTES, rate=RATE)
    ctrader_feed = SpotFeed.from_quote_files(quotes, account_id=CT_ACCOUNT, limit=FEED_QUOTES)
    oanda = OandaV20Server(accounts={OANDA_ACCOUNT: OANDA_TOKEN}, feed=oanda_feed, heartbeat_interval_s=0.05)
    ctrader = CtraderServer(
        client_id=CT_CLIENT_ID,
        client_secret=CT_SECRET,
        accounts={CT_ACCOUNT: CT_TOKEN},
        feed=ctrader_feed,
        cert_dir=cert_dir,
        rate=RATE,
        heartbeat_interval_s=0.1,
    )
    async with oanda, ctrader:
        yield oanda, ctrader


def brokers(oanda: OandaV20Server, ctrader: CtraderServer) -> list[dict[str, Any]]:
    timing = {"heartbeat_timeout_s": HEARTBEAT_TIMEOUT_S, "reconnect_min_s": 0.05, "reconnect_max_s": 0.3}
    return [
        {
            "id": "oanda",
            "kind": "oanda",
            "account_id": OANDA_ACCOUNT,
            "token_env": "FXGW_GW_OANDA",
            "rest_url": oanda.rest_url,
            "stream_url": oanda.stream_url,
            "priority": 1,
            **timing,
        },
        {
            "id": "icmarkets",
            "kind": "ctrader",
            "account_id": CT_ACCOUNT,
            "client_id_env": "FXGW_GW_CT_ID",
            "client_secret_env": "FXGW_GW_CT_SECRET",
            "access_token_env": CT_TOKEN_ENV,
            "host": "127.0.0.1",
            "port": ctrader.port,
            "ca_file": str(ctrader.ca_file),
            "priority": 2,
            "heartbeat_interval_s": 0.1,
            "refused_retry_s": 0.5,
            **timing,
        },
    ]


@asynccontextmanager
async def running(nats_url: str, entries: list[dict[str, Any]]) -> AsyncIterator[tuple[Gateway, Recorder]]:
    recorder = await Recorder().start(nats_url)
    gateway = Gateway(
        parse_config({"nats": {"url": nats_url, "linger_ms": 0}, "http": {"port": 0}, "brokers": entries})
    )
    try:
        await gateway.start()
        yield gateway, recorder
    finally:
        await gateway.stop()
        await recorder.stop()


def rfc3339_ns(text: str) -> int:
    seconds, _, fraction = text.removesuffix("Z").partition(".")
    return calendar.timegm(time.strptime(seconds, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(fraction.ljust(9, "0"))


def oanda_sent(server: OandaV20Server) -> list[tuple[int, int, int]]:
    """(time, bid, ask) of every price line the OANDA server completed, read with the standard library."""
    sent = []
    for line in server.stats.sent_prices[0]:
        message = json.loads(line)
        bid, ask = Decimal(message["bids"][0]["price"]), Decimal(message["asks"][0]["price"])
        sent.append((rfc3339_ns(message["time"]), int(bid * 10**9), int(ask * 10**9)))
    return sent


def ctrader_sent(server: CtraderServer, connection: int) -> list[tuple[int, int]]:
    """(bid, ask) in 1e-9 units of every spot event the cTrader server sent on a subscribed connection, whole."""
    subscribed = [stats for stats in server.stats.connections if stats.subscribed]
    return [(bid * 10_000, ask * 10_000) for _, bid, ask in (server.feed.full[i] for i in subscribed[connection].sent)]


def states(recorder: Recorder, source: str) -> list[SourceStatus.State]:
    return [status.state for status in recorder.statuses[source]]


def status_of(recorder: Recorder, source: str, state: SourceStatus.State) -> SourceStatus:
    return next(status for status in recorder.statuses[source] if status.state == state)


def saw(source: str, state: SourceStatus.State) -> Callable[[Recorder], bool]:
    return lambda recorder: state in states(recorder, source)


def ticks_at_least(source: str, count: int) -> Callable[[Recorder], bool]:
    return lambda recorder: len(recorder.ticks(source)) >= count


def both_live_with(source: str) -> Callable[[Recorder], bool]:
    return lambda r: any(b.live_sources == 2 and source in (b.bid_source, b.ask_source) for b in r.best_prices())


def only(best: BestPrice, source: str) -> bool:
    return best.live_sources == 1 and best.bid_source == best.ask_source == source


def assert_running(gateway: Gateway) -> None:
    for collector in gateway.collectors.values():
        assert (collector.state, collector.restarts, collector.last_error) == (CollectorState.RUNNING, 0, "")


def key(tick: Tick) -> tuple[int, int]:
    return tick.bid_px, tick.ask_px


async def test_the_best_price_crosses_an_oanda_and_a_ctrader_broker_each_tick_once(
    nats_url: str, shared_data: Path, tmp_path: Path
) -> None:
    async with servers(shared_data, tmp_path) as (oanda, ctrader), running(nats_url, brokers(oanda, ctrader)) as run:
        gateway, recorder = run
        for source in ("oanda", "icmarkets"):
            await recorder.wait_for(ticks_at_least(source, 200))
            await recorder.wait_for(both_live_with(source))
        received_oanda = recorder.ticks("oanda")
        assert [(t.ts_event_ns, t.bid_px, t.ask_px) for t in received_oanda] == oanda_sent(oanda)[: len(received_oanda)]
        received_ct = recorder.ticks("icmarkets")
        assert [key(t) for t in received_ct] == ctrader_sent(ctrader, 0)[: len(received_ct)]
        for source, received in (("oanda", received_oanda), ("icmarkets", received_ct)):
            assert [t.seq for t in received] == list(range(1, len(received) + 1))  # exactly once, in order
            assert {(t.source, t.instrument, t.tradeable) for t in received} == {(source, "EUR_USD", True)}
            assert states(recorder, source) == [CONNECTED]
        assert recorder.rejections == []
        two_live = [b for b in recorder.best_prices() if b.live_sources == 2]
        assert {b.bid_source for b in two_live} | {b.ask_source for b in two_live} == {"oanda", "icmarkets"}
        assert any(b.bid_source != b.ask_source for b in two_live)  # bid from one broker, ask from the other
        assert_running(gateway)


async def test_a_stalled_ctrader_stream_leaves_the_best_price_and_returns_with_its_gap(
    nats_url: str, shared_data: Path, tmp_path: Path
) -> None:
    async with servers(shared_data, tmp_path) as (oanda, ctrader), running(nats_url, brokers(oanda, ctrader)) as run:
        gateway, recorder = run
        await recorder.wait_for(both_live_with("icmarkets"))
        before_stall = len(recorder.best_prices())
        ctrader.stall()
        await recorder.wait_for(saw("icmarkets", DISCONNECTED))
        assert "not even a heartbeat" in status_of(recorder, "icmarkets", DISCONNECTED).detail
        await recorder.wait_for(lambda r: any(only(b, "oanda") for b in r.best_prices()[before_stall:]))
        ticks_oanda = len(recorder.ticks("oanda"))
        await recorder.wait_for(ticks_at_least("oanda", ticks_oanda + 30))  # OANDA streams on meanwhile
        before_resume = len(recorder.best_prices())
        ctrader.resume()
        await recorder.wait_for(saw("icmarkets", RECONNECTED))
        await recorder.wait_for(lambda r: any(b.live_sources == 2 for b in r.best_prices()[before_resume:]))
        reconnected = status_of(recorder, "icmarkets", RECONNECTED)
        assert states(recorder, "icmarkets") == [CONNECTED, DISCONNECTED, RECONNECTED]
        assert reconnected.gap_ns >= HEARTBEAT_TIMEOUT_S * 1e9 and reconnected.snapshot
        received = recorder.ticks("icmarkets")
        assert [t.seq for t in received] == list(range(1, len(received) + 1))
        assert [key(t) for t in received] == (ctrader_sent(ctrader, 0) + ctrader_sent(ctrader, 1))[: len(received)]
        assert states(recorder, "oanda") == [CONNECTED]
        assert_running(gateway)


async def test_a_refused_ctrader_token_is_named_by_its_variable_and_oanda_streams_on(
    nats_url: str, shared_data: Path, tmp_path: Path
) -> None:
    async with servers(shared_data, tmp_path) as (oanda, ctrader):
        ctrader.refuse("account", "CH_ACCESS_TOKEN_INVALID")
        async with running(nats_url, brokers(oanda, ctrader)) as (gateway, recorder):
            await recorder.wait_for(saw("icmarkets", UNAUTHORIZED))
            await recorder.wait_for(ticks_at_least("oanda", 50))
            refused = status_of(recorder, "icmarkets", UNAUTHORIZED)
            assert f"${CT_TOKEN_ENV}" in refused.detail and "CH_ACCESS_TOKEN_INVALID" in refused.detail
            assert CT_TOKEN not in refused.detail and CT_SECRET not in refused.detail
            assert all(b.bid_source == b.ask_source == "oanda" for b in recorder.best_prices())
            assert recorder.ticks("icmarkets") == []
            assert_running(gateway)
