"""The cTrader collector against the local Open API server: TLS, real framing, official messages, faults.

Every test runs the real :class:`CtraderCollector` into a recording sink against ``tests/servers/ctrader.py``
serving the recorded OANDA EUR/USD quotes as spot events. Quotes are checked against what the server says it
sent (indexes into its feed), not against the collector's own parsing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.ctrader.collector import CtraderCollector
from collectors.ctrader.config import CtraderConfig
from gateway.events import BadInput, Quote, StatusChange
from gateway.schema.market.v1.market_pb2 import RejectionReason, SourceStatus
from tests.servers.ctrader import CtraderServer, SpotFeed
from tests.support import RecordingSink, wait_until

ACCOUNT = 2_000_123
OTHER_ACCOUNT = 2_000_999
CLIENT_ID = "3517_fxgwTestClientIdAbCdEf"
CLIENT_SECRET = "sec-8f2b9d4e71c04a5b"
TOKEN = "tok-ctrader-6c1e0f9a2d7b"
ENV = {"FXGW_CT_ID": CLIENT_ID, "FXGW_CT_SECRET": CLIENT_SECRET, "FXGW_CT_TOKEN": TOKEN}
SECRETS = (CLIENT_SECRET, TOKEN)
FEED_QUOTES = 3000
HEARTBEAT_TIMEOUT_S = 0.6

CONNECTED = SourceStatus.STATE_CONNECTED
DISCONNECTED = SourceStatus.STATE_DISCONNECTED
RECONNECTED = SourceStatus.STATE_RECONNECTED
UNAUTHORIZED = SourceStatus.STATE_UNAUTHORIZED
REJECTED = SourceStatus.STATE_REJECTED


@pytest.fixture(scope="module")
def feed(shared_data: Path) -> SpotFeed:
    return SpotFeed.from_quote_files(
        shared_data / "oanda-eurusd-ticks" / "20140501_quote.zip", account_id=ACCOUNT, limit=FEED_QUOTES
    )


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
async def server(feed: SpotFeed, tmp_path: Path) -> AsyncIterator[CtraderServer]:
    async with CtraderServer(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        accounts={ACCOUNT: TOKEN, OTHER_ACCOUNT: "tok-other-0000"},
        feed=feed,
        cert_dir=tmp_path,
        rate=400.0,
        heartbeat_interval_s=0.1,
    ) as running:
        yield running


def settings(server: CtraderServer, **fields: Any) -> CtraderConfig:
    base: dict[str, Any] = {
        "id": "ctrader-test",
        "account_id": ACCOUNT,
        "client_id_env": "FXGW_CT_ID",
        "client_secret_env": "FXGW_CT_SECRET",
        "access_token_env": "FXGW_CT_TOKEN",
        "host": "127.0.0.1",
        "port": server.port,
        "ca_file": server.ca_file,
        "heartbeat_timeout_s": HEARTBEAT_TIMEOUT_S,
        "heartbeat_interval_s": 0.1,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
        "refused_retry_s": 0.3,
    }
    return CtraderConfig.model_validate(base | fields)


@contextlib.asynccontextmanager
async def running(collector: CtraderCollector) -> AsyncIterator[CtraderCollector]:
    task = asyncio.create_task(collector.run(), name="collector")
    try:
        yield collector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def quotes(sink: RecordingSink) -> list[Quote]:
    return [event for event in sink.events if isinstance(event, Quote)]


def rejections(sink: RecordingSink) -> list[BadInput]:
    return [event for event in sink.events if isinstance(event, BadInput)]


def states(sink: RecordingSink) -> list[SourceStatus.State]:
    return [status.state for status in sink.statuses]


def status(sink: RecordingSink, state: SourceStatus.State) -> StatusChange:
    return next(change for change in sink.statuses if change.state == state)


def texts(sink: RecordingSink, collector: CtraderCollector) -> Iterator[str]:
    yield collector.connection.last_error
    for change in sink.statuses:
        yield change.detail
    for event in rejections(sink):
        yield event.detail


def sent_quotes(server: CtraderServer, connection: int) -> list[tuple[int, int]]:
    """(bid, ask) in 1e-9 units of each spot event the server sent on a connection, whole."""
    return [
        (bid * 10_000, ask * 10_000)
        for _, bid, ask in (server.feed.full[i] for i in server.stats.connections[connection].sent)
    ]


def subscribed_connections(server: CtraderServer) -> list[int]:
    return [index for index, connection in enumerate(server.stats.connections) if connection.subscribed]


@pytest.mark.usefixtures("credentials")
async def test_authenticates_subscribes_and_delivers_every_recorded_quote_exactly(server: CtraderServer) -> None:
    sink = RecordingSink()
    collector = CtraderCollector(settings(server), sink)
    async with running(collector):
        await wait_until(lambda: len(quotes(sink)) >= 200 and server.stats.heartbeats_received >= 2, "quotes")
        await wait_until(lambda: collector.stats.heartbeats >= 1, "a heartbeat from the server")
    assert states(sink) == [CONNECTED]
    assert sink.heartbeats == []  # cTrader heartbeats carry no broker time: no heartbeat age is observed
    assert sink.pip_sizes == {"EUR_USD": 100_000}
    [connection] = subscribed_connections(server)
    requests = server.stats.connections[connection].requests
    assert requests[:5] == [2100, 2102, 2114, 2116, 2127]  # app auth, account auth, symbols, details, subscribe
    got = [(quote.bid_px, quote.ask_px) for quote in quotes(sink)]
    assert got == sent_quotes(server, connection)[: len(got)]
    assert all(quote.instrument == "EUR_USD" and quote.source == "ctrader-test" for quote in quotes(sink))
    assert all(quote.ts_event_ns <= quote.ts_recv_ns + 10**9 for quote in quotes(sink))
    assert quotes(sink)[0].snapshot and not any(quote.snapshot for quote in quotes(sink)[1:])
    assert rejections(sink) == [] and collector.stats.malformed == 0


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize(
    ("step", "code", "named"),
    [
        ("application", "CH_CLIENT_AUTH_FAILURE", "$FXGW_CT_ID and $FXGW_CT_SECRET"),
        ("account", "CH_ACCESS_TOKEN_INVALID", "$FXGW_CT_TOKEN for account 2000123"),
        ("account", "OA_AUTH_TOKEN_EXPIRED", "$FXGW_CT_TOKEN for account 2000123"),
    ],
)
async def test_refused_credentials_are_unauthorized_naming_the_variable_never_its_value(
    server: CtraderServer, step: str, code: str, named: str
) -> None:
    server.refuse(step, code)
    sink = RecordingSink()
    collector = CtraderCollector(settings(server), sink)
    async with running(collector):
        await wait_until(lambda: UNAUTHORIZED in states(sink), "unauthorized")
        assert collector.connection.unauthorized
        server.clear_faults()
        await wait_until(lambda: CONNECTED in states(sink) and len(quotes(sink)) >= 5, "connected after the fix")
    detail = status(sink, UNAUTHORIZED).detail
    assert named in detail and code in detail
    assert not collector.connection.unauthorized
    for text in texts(sink, collector):
        assert all(secret not in text for secret in SECRETS)


@pytest.mark.usefixtures("credentials")
async def test_a_token_invalidated_mid_stream_ends_it_as_unauthorized(server: CtraderServer) -> None:
    sink = RecordingSink()
    collector = CtraderCollector(settings(server), sink)
    async with running(collector):
        await wait_until(lambda: len(quotes(sink)) >= 20, "quotes")
        server.invalidate_token(ACCOUNT)
        await wait_until(lambda: UNAUTHORIZED in states(sink), "unauthorized")
    assert states(sink)[:3] == [CONNECTED, DISCONNECTED, UNAUTHORIZED]
    assert "ACCOUNTS_TOKEN_INVALIDATED" in status(sink, DISCONNECTED).detail
    assert "$FXGW_CT_TOKEN" in status(sink, UNAUTHORIZED).detail
    assert all(TOKEN not in text for text in texts(sink, collector))


@pytest.mark.usefixtures("credentials")
async def test_a_silent_server_is_left_and_the_reconnection_reports_the_gap(server: CtraderServer) -> None:
    sink = RecordingSink()
    collector = CtraderCollector(settings(server), sink)
    async with running(collector):
        await wait_until(lambda: len(quotes(sink)) >= 20, "quotes")
        server.stall()
        await wait_until(lambda: DISCONNECTED in states(sink), "disconnected", timeout_s=5)
        server.resume()
        await wait_until(lambda: RECONNECTED in states(sink) and len(subscribed_connections(server)) == 2, "back")
        count = len(quotes(sink))
        await wait_until(lambda: len(quotes(sink)) >= count + 20, "quotes again")
    assert f"no data, not even a heartbeat, for {HEARTBEAT_TIMEOUT_S:g} s" in status(sink, DISCONNECTED).detail
    assert status(sink, RECONNECTED).gap_ns >= HEARTBEAT_TIMEOUT_S * 1e9


@pytest.mark.usefixtures("credentials")
async def test_a_cut_mid_frame_is_one_malformed_rejection_then_a_reconnection(server: CtraderServer) -> None:
    sink = RecordingSink()
    collector = CtraderCollector(settings(server), sink)
    async with running(collector):
        await wait_until(lambda: len(quotes(sink)) >= 20, "quotes")
        server.disconnect(mid_frame=True)
        await wait_until(lambda: RECONNECTED in states(sink), "reconnected")
        await wait_until(lambda: len(subscribed_connections(server)) == 2, "resubscribed")
    [cut] = rejections(sink)
    assert cut.reason == RejectionReason.REJECTION_REASON_MALFORMED and "stream ended in the middle" in cut.detail
    first, second = subscribed_connections(server)
    got = [(quote.bid_px, quote.ask_px) for quote in quotes(sink)]
    sent = sent_quotes(server, first) + sent_quotes(server, second)
    assert len(got) > len(sent_quotes(server, first))
    assert got == sent[: len(got)]  # every quote of both connections once, the half frame in neither


@pytest.mark.usefixtures("credentials")
async def test_a_huge_length_prefix_is_rejected_without_reading_it_and_the_stream_reopened(
    server: CtraderServer,
) -> None:
    sink = RecordingSink()
    collector = CtraderCollector(settings(server), sink)
    async with running(collector):
        await wait_until(lambda: len(quotes(sink)) >= 20, "quotes")
        server.inject(b"\x7f\xff\xff\xff" + b"\0" * 1000)
        await wait_until(lambda: RECONNECTED in states(sink), "reconnected")
        count = len(quotes(sink))
        await wait_until(lambda: len(quotes(sink)) >= count + 10, "quotes again")
    [huge] = rejections(sink)
    assert "2,147,483,647 bytes is above max_frame_bytes" in huge.detail and len(huge.raw) <= 512
    assert "above max_frame_bytes" in status(sink, DISCONNECTED).detail


@pytest.mark.usefixtures("credentials")
async def test_a_server_restart_is_a_reconnection_with_its_gap(server: CtraderServer) -> None:
    sink = RecordingSink()
    collector = CtraderCollector(settings(server), sink)
    async with running(collector):
        await wait_until(lambda: len(quotes(sink)) >= 20, "quotes")
        await server.stop()
        await asyncio.sleep(0.3)
        await server.start()
        await wait_until(lambda: RECONNECTED in states(sink), "reconnected")
    assert states(sink)[:3] == [CONNECTED, DISCONNECTED, RECONNECTED]
    assert status(sink, RECONNECTED).gap_ns >= 0.3e9


@pytest.mark.usefixtures("credentials")
async def test_instruments_the_account_does_not_list_are_named_and_left_out(server: CtraderServer) -> None:
    sink = RecordingSink()
    config = settings(server, instruments=["EUR_USD", "USD_CHF", "USD_TRY"], symbols={"USD_CHF": "USDCHF.x"})
    collector = CtraderCollector(config, sink)
    async with running(collector):
        await wait_until(lambda: len(quotes(sink)) >= 5, "quotes")
    assert states(sink)[:2] == [REJECTED, CONNECTED]
    assert (
        "USD_CHF, USD_TRY" in status(sink, REJECTED).detail and "USDCHF.x for USD_CHF" in status(sink, REJECTED).detail
    )
    assert collector.connection.unavailable_instruments == ("USD_CHF", "USD_TRY")
    assert collector.instruments == ("EUR_USD",)


@pytest.mark.usefixtures("credentials")
async def test_an_unknown_account_is_rejected(server: CtraderServer) -> None:
    sink = RecordingSink()
    collector = CtraderCollector(settings(server, account_id=555), sink)
    async with running(collector):
        await wait_until(lambda: REJECTED in states(sink), "rejected")
    assert "CH_CTID_TRADER_ACCOUNT_NOT_FOUND" in status(sink, REJECTED).detail
    assert not collector.connection.unauthorized


@pytest.mark.usefixtures("credentials")
async def test_a_rate_limit_waits_for_the_servers_retry_after(server: CtraderServer) -> None:
    server.refuse("application", "BLOCKED_PAYLOAD_TYPE", retry_after_s=1)
    sink = RecordingSink()
    collector = CtraderCollector(settings(server), sink)
    async with running(collector):
        await wait_until(lambda: len(server.stats.connections) >= 2, "a second attempt", timeout_s=5)
        server.clear_faults()
        await wait_until(lambda: CONNECTED in states(sink), "connected")
    first, second = server.stats.connections[:2]
    assert second.opened_s - first.opened_s >= 1.0  # not the 0.05-0.2 s backoff
    assert UNAUTHORIZED not in states(sink) and REJECTED not in states(sink)
