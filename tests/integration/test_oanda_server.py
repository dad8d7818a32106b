"""The local OANDA v20 server speaks OANDA's wire format and injects its faults at byte level.

Real sockets: streams are read with httpx, REST with OANDA's own ``v20`` client. Waits are bounded by
``GUARD_S`` so that a broken server fails a test quickly instead of hanging it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from collectors.oanda.parsing import Heartbeat, parse_stream_line
from gateway.clock import NS_PER_S, now_ns, parse_time_ns
from gateway.events import Quote
from tests.servers.oanda_v20 import (
    DEFAULT_INSTRUMENTS,
    DEFAULT_MAX_STREAMS_PER_ACCOUNT,
    MSG_BAD_ACCOUNT_ID,
    MSG_BAD_INSTRUMENTS,
    MSG_FORBIDDEN,
    MSG_UNAUTHORIZED,
    MSG_UNKNOWN_ACCOUNT,
    OandaV20Server,
    PriceFeed,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "101-001-1-001"
TOKEN = "practice-token-1"
OTHER_ACCOUNT = "101-001-2-001"
OTHER_TOKEN = "practice-token-2"
ACCOUNTS = {ACCOUNT: TOKEN, OTHER_ACCOUNT: OTHER_TOKEN}
HEARTBEAT_S = 0.05
GUARD_S = 3.0
PRICE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")


class StreamRecorder:
    """Reads one pricing stream in the background, so that a test can look at what has arrived so far."""

    def __init__(self, response: httpx.Response) -> None:
        self.data = bytearray()
        self.error: httpx.HTTPError | None = None
        self.ended = False
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read(response), name="stream recorder")

    async def _read(self, response: httpx.Response) -> None:
        try:
            async for data in response.aiter_raw():
                self.data += data
                self._arrived.set()
        except httpx.HTTPError as exc:
            self.error = exc
        finally:
            self.ended = True
            self._arrived.set()

    @property
    def lines(self) -> list[bytes]:
        """Complete lines received, newline included."""
        return bytes(self.data[: self.data.rfind(b"\n") + 1]).splitlines(keepends=True)

    @property
    def partial(self) -> bytes:
        """What came after the last complete line."""
        return bytes(self.data[self.data.rfind(b"\n") + 1 :])

    @property
    def prices(self) -> list[bytes]:
        return [line for line in self.lines if line.startswith(b'{"type":"PRICE"')]

    def kinds(self) -> list[str]:
        return [json.loads(line)["type"] for line in self.lines]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(GUARD_S):
            while not condition():
                if self.ended:
                    raise AssertionError(f"stream ended ({self.error!r}) first; last lines {self.lines[-3:]}")
                self._arrived.clear()
                await self._arrived.wait()

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def make_server(
    feed: PriceFeed | None = None, *, max_streams_per_account: int = DEFAULT_MAX_STREAMS_PER_ACCOUNT
) -> OandaV20Server:
    return OandaV20Server(
        accounts=ACCOUNTS, feed=feed, heartbeat_interval_s=HEARTBEAT_S, max_streams_per_account=max_streams_per_account
    )


def prices_at_least(stream: StreamRecorder, count: int) -> Callable[[], bool]:
    return lambda: len(stream.prices) >= count


def stream_url(server: OandaV20Server, account: str = ACCOUNT) -> str:
    return f"{server.stream_url}/v3/accounts/{account}/pricing/stream"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, server: OandaV20Server, instruments: str = "EUR_USD", *, snapshot: bool | None = None
) -> AsyncIterator[StreamRecorder]:
    params = {"instruments": instruments} | ({} if snapshot is None else {"snapshot": str(snapshot).lower()})
    async with client.stream("GET", stream_url(server), params=params, headers=bearer(TOKEN)) as response:
        assert response.status_code == 200, await response.aread()
        recorder = StreamRecorder(response)
        try:
            yield recorder
        finally:
            await recorder.close()


async def get_stream(
    client: httpx.AsyncClient,
    server: OandaV20Server,
    *,
    account: str = ACCOUNT,
    headers: dict[str, str] | None = None,
    instruments: str = "EUR_USD",
) -> httpx.Response:
    """A stream request expected to be refused: the error response, read whole."""
    return await client.get(
        stream_url(server, account),
        params={"instruments": instruments},
        headers=bearer(TOKEN) if headers is None else headers,
    )


def import_v20() -> ModuleType:
    """OANDA's client; v20 3.0.25 has a ``len(x) is 0`` that a first compile warns about, an error here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        import v20

    return v20


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """One client per test: making one costs about 50 ms (its TLS context)."""
    async with httpx.AsyncClient(timeout=GUARD_S) as client:
        yield client


@pytest.fixture
def eurusd_feed(shared_data: Path) -> PriceFeed:
    """Real EUR/USD quotes, a few per heartbeat interval."""
    return PriceFeed.from_quote_files(shared_data / "oanda-eurusd-ticks", limit=200, rate=200)


@pytest.fixture
def slow_v20_feed(shared_data: Path) -> PriceFeed:
    """The recorded v20 lines (EUR_JPY first, then EUR_USD) at one line per 2 s: the second waits."""
    return PriceFeed.from_v20_lines(sorted((shared_data / "oanda-v20").glob("*.jsonl")), rate=0.5)


@pytest.mark.parametrize(
    "headers", [{}, bearer("not-a-token"), {"Authorization": f"Basic {TOKEN}"}], ids=["none", "unknown", "basic"]
)
async def test_a_missing_or_unknown_token_is_401_with_oandas_body(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    async with make_server() as server:
        response = await get_stream(client, server, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"errorMessage": MSG_UNAUTHORIZED}
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("account", "status", "message"),
    [
        (OTHER_ACCOUNT, 403, MSG_FORBIDDEN),
        ("101-001-9-001", 404, MSG_UNKNOWN_ACCOUNT),
        ("12345", 400, MSG_BAD_ACCOUNT_ID),
    ],
    ids=["not-the-tokens", "unknown", "malformed"],
)
async def test_an_account_the_token_cannot_use_is_refused(
    client: httpx.AsyncClient, account: str, status: int, message: str
) -> None:
    async with make_server() as server:
        response = await get_stream(client, server, account=account)
    assert (response.status_code, response.json()) == (status, {"errorMessage": message})


@pytest.mark.parametrize(
    ("instruments", "message"),
    [("EUR_USD,USD_XYZ", "Invalid Instrument USD_XYZ"), ("eurusd", MSG_BAD_INSTRUMENTS), ("", MSG_BAD_INSTRUMENTS)],
    ids=["not-offered", "malformed", "empty"],
)
async def test_an_instrument_not_offered_or_malformed_is_400_naming_the_problem(
    client: httpx.AsyncClient, instruments: str, message: str
) -> None:
    async with make_server() as server:
        response = await get_stream(client, server, instruments=instruments)
    assert (response.status_code, response.json()) == (400, {"errorMessage": message})


async def test_a_refused_429_carries_retry_after_and_the_next_request_is_served(client: httpx.AsyncClient) -> None:
    async with make_server() as server:
        server.refuse(429, retry_after_s=2)
        refused = await get_stream(client, server)
        async with open_stream(client, server) as stream:
            await stream.wait_until(lambda: len(stream.lines) >= 1)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "2"
    assert refused.json() == {"errorMessage": "Too many requests"}
    assert [record.status for record in server.stats.requests] == [429, 200]


async def test_refusals_hit_only_their_paths_until_cleared(client: httpx.AsyncClient) -> None:
    async with make_server() as server:
        server.refuse(503, count=None, paths="stream")
        rest = await client.get(f"{server.rest_url}/v3/accounts/{ACCOUNT}/instruments", headers=bearer(TOKEN))
        refused = [(await get_stream(client, server)).status_code for _ in range(3)]
        server.clear_faults()
        async with open_stream(client, server) as stream:
            await stream.wait_until(lambda: len(stream.lines) >= 1)
    assert rest.status_code == 200
    assert refused == [503, 503, 503]


async def test_streams_beyond_the_account_limit_are_429(client: httpx.AsyncClient) -> None:
    async with make_server(max_streams_per_account=1) as server, open_stream(client, server) as first:
        second = await get_stream(client, server)
        await first.wait_until(lambda: len(first.lines) >= 1)
    assert second.status_code == 429


async def test_oandas_v20_client_reads_the_instruments_endpoint() -> None:
    v20 = import_v20()
    async with make_server() as server:
        context = v20.Context("127.0.0.1", server.port, ssl=False, token=TOKEN)
        chosen = await asyncio.to_thread(context.account.instruments, ACCOUNT, instruments="EUR_USD,XAU_USD")
        everything = await asyncio.to_thread(context.account.instruments, ACCOUNT)
        unknown = await asyncio.to_thread(context.account.instruments, ACCOUNT, instruments="EUR_XYZ")
    assert chosen.status == 200
    instruments = chosen.get("instruments", 200)
    assert [(i.name, i.type, i.pipLocation, i.displayPrecision) for i in instruments] == [
        ("EUR_USD", "CURRENCY", -4, 5),
        ("XAU_USD", "METAL", -2, 3),
    ]
    assert chosen.get("lastTransactionID", 200) == "1"
    assert [i.name for i in everything.get("instruments", 200)] == [spec.name for spec in DEFAULT_INSTRUMENTS]
    assert (unknown.status, unknown.body["errorMessage"]) == (400, "Invalid Instrument EUR_XYZ")


async def test_a_stream_opens_with_the_latest_price_of_each_requested_instrument(
    client: httpx.AsyncClient, slow_v20_feed: PriceFeed
) -> None:
    async with make_server(slow_v20_feed) as server, open_stream(client, server, "EUR_USD,EUR_JPY") as stream:
        await stream.wait_until(lambda: len(stream.prices) >= 3)
    snapshot = [json.loads(line) for line in stream.lines[:2]]
    assert [(p["type"], p["instrument"], p["tradeable"]) for p in snapshot] == [
        ("PRICE", "EUR_USD", True),
        ("PRICE", "EUR_JPY", True),
    ]
    assert stream.lines[:2] == server.stats.streams[0].sent_prices[:2]


@pytest.mark.parametrize("snapshot", [True, False])
async def test_without_snapshot_a_stream_waits_for_the_next_price(
    client: httpx.AsyncClient, slow_v20_feed: PriceFeed, snapshot: bool
) -> None:
    async with (
        make_server(slow_v20_feed) as server,
        open_stream(client, server, "EUR_USD", snapshot=snapshot) as stream,
    ):
        await stream.wait_until(lambda: stream.kinds().count("HEARTBEAT") >= 3)
    assert stream.kinds()[0] == ("PRICE" if snapshot else "HEARTBEAT")
    assert stream.kinds().count("PRICE") == int(snapshot)  # the feed's next EUR_USD line is 2 s away


async def test_heartbeats_come_at_the_configured_interval_and_parse_as_oandas(client: httpx.AsyncClient) -> None:
    async with make_server() as server, open_stream(client, server) as stream:
        await stream.wait_until(lambda: len(stream.lines) >= 3)
    beats = [parse_stream_line(line, "oanda", now_ns()) for line in stream.lines]
    assert all(isinstance(beat, Heartbeat) for beat in beats)
    times = [beat.ts_event_ns for beat in beats if isinstance(beat, Heartbeat)]
    assert times == sorted(set(times))
    assert stream.lines[0] == b'{"type":"HEARTBEAT","time":"%s"}\n' % json.loads(stream.lines[0])["time"].encode()


async def test_recorded_quotes_are_restamped_now_and_parse_as_tradeable_quotes(
    client: httpx.AsyncClient, eurusd_feed: PriceFeed
) -> None:
    async with make_server(eurusd_feed) as server, open_stream(client, server) as stream:
        await stream.wait_until(lambda: len(stream.prices) >= 20)
    received_ns = now_ns()
    quotes = [parse_stream_line(line, "oanda", received_ns) for line in stream.prices]
    assert all(isinstance(quote, Quote) and quote.tradeable for quote in quotes)
    times = [json.loads(line)["time"] for line in stream.prices]
    assert all(PRICE_TIME.fullmatch(text) for text in times)
    stamps = [parse_time_ns(text) for text in times]
    assert stamps == sorted(set(stamps))
    assert received_ns - stamps[0] < 60 * NS_PER_S  # recorded in 2014, sent as now


async def test_at_max_rate_every_line_arrives_whole_and_in_order(client: httpx.AsyncClient, shared_data: Path) -> None:
    feed = PriceFeed.from_quote_files(shared_data / "oanda-eurusd-ticks", limit=1000, rate="max")
    async with make_server(feed) as server, open_stream(client, server) as stream:
        await stream.wait_until(lambda: len(stream.prices) >= 5000)  # several chunks, five cycles of the feed
        received = stream.prices
    assert received == server.stats.streams[0].sent_prices[: len(received)]
    stamps = [parse_time_ns(json.loads(line)["time"]) for line in received]
    assert stamps == sorted(set(stamps))


async def test_a_stall_sends_no_bytes_at_all_until_resumed(client: httpx.AsyncClient, eurusd_feed: PriceFeed) -> None:
    async with make_server(eurusd_feed) as server, open_stream(client, server) as stream:
        await stream.wait_until(lambda: "HEARTBEAT" in stream.kinds() and len(stream.prices) >= 2)
        server.stall()
        written = server.stats.streams[0].bytes_sent
        await asyncio.sleep(3 * HEARTBEAT_S)  # what was in flight has arrived
        arrived = len(stream.data)
        await asyncio.sleep(3 * HEARTBEAT_S)
        assert (server.stats.streams[0].bytes_sent, len(stream.data)) == (written, arrived)
        lines_before = len(stream.lines)
        server.resume()
        await stream.wait_until(lambda: {"PRICE", "HEARTBEAT"} <= set(stream.kinds()[lines_before:]))


@pytest.mark.parametrize(
    ("after_lines", "mid_line"), [(0, False), (0, True), (3, True)], ids=["at-once", "mid-line", "three-then-mid-line"]
)
async def test_disconnect_cuts_the_stream_without_losing_a_complete_line(
    client: httpx.AsyncClient, eurusd_feed: PriceFeed, after_lines: int, mid_line: bool
) -> None:
    async with make_server(eurusd_feed) as server, open_stream(client, server) as stream:
        await stream.wait_until(lambda: len(stream.prices) >= 2)
        sent_before = server.stats.lines_sent
        server.disconnect(after_lines=after_lines, mid_line=mid_line)
        await stream.wait_until(lambda: stream.ended)
        async with open_stream(client, server) as later:  # a stream opened after the cut is not cut
            await later.wait_until(lambda: len(later.prices) >= 2)
    assert isinstance(stream.error, httpx.RemoteProtocolError)  # incomplete chunked body
    assert server.stats.streams[0].lines_sent == sent_before + after_lines
    assert stream.prices == server.stats.streams[0].sent_prices
    if mid_line:
        assert stream.partial.startswith(b'{"type":"PRICE","time":"') and len(stream.partial) > 40
    else:
        assert stream.partial == b""


async def test_restart_drops_streams_and_serves_again_on_the_same_port(
    client: httpx.AsyncClient, eurusd_feed: PriceFeed
) -> None:
    async with make_server(eurusd_feed) as server:
        port = server.port
        async with open_stream(client, server) as before:
            await before.wait_until(lambda: len(before.prices) >= 1)
            await server.restart()
            await before.wait_until(lambda: before.ended)
        async with open_stream(client, server) as after:
            await after.wait_until(lambda: len(after.prices) >= 1)
            assert (server.stats.connections, server.stats.active_streams) == (2, 1)
    assert before.error is not None
    assert server.port == port


async def test_a_closed_market_sends_non_tradeable_prices_then_heartbeats_only(
    client: httpx.AsyncClient, eurusd_feed: PriceFeed
) -> None:
    async with make_server(eurusd_feed) as server, open_stream(client, server) as stream:
        await stream.wait_until(lambda: len(stream.prices) >= 2)
        server.set_market_open(False)
        closed_at = len(stream.prices)
        await stream.wait_until(lambda: len(stream.prices) > closed_at)
        after_close = len(stream.lines)
        await stream.wait_until(lambda: stream.kinds()[after_close:].count("HEARTBEAT") >= 3)
        assert stream.kinds()[after_close:] == ["HEARTBEAT"] * len(stream.kinds()[after_close:])
        async with open_stream(client, server) as opened_while_closed:
            await opened_while_closed.wait_until(lambda: len(opened_while_closed.lines) >= 1)
        server.set_market_open(True)
        await stream.wait_until(lambda: len(stream.prices) > closed_at + 1)
    notice = json.loads(stream.prices[closed_at])
    assert (notice["status"], notice["tradeable"]) == ("non-tradeable", False)
    quote = parse_stream_line(stream.prices[closed_at], "oanda", now_ns())
    assert isinstance(quote, Quote) and not quote.tradeable
    assert json.loads(opened_while_closed.lines[0])["tradeable"] is False
    assert json.loads(stream.prices[closed_at + 1])["tradeable"] is True


async def test_every_stream_gets_every_line_of_its_instruments_and_no_other(
    client: httpx.AsyncClient, shared_data: Path
) -> None:
    feed = PriceFeed.from_v20_lines(sorted((shared_data / "oanda-v20").glob("*.jsonl")), rate="max")
    async with (
        make_server(feed) as server,
        open_stream(client, server, "EUR_USD") as usd,
        open_stream(client, server, "EUR_JPY") as jpy,
        open_stream(client, server, "EUR_USD,EUR_JPY") as both,
    ):
        for stream in (usd, jpy, both):
            await stream.wait_until(prices_at_least(stream, 200))
        received = [stream.prices for stream in (usd, jpy, both)]
    for lines, sent, wanted in zip(
        received, server.stats.sent_prices, ({"EUR_USD"}, {"EUR_JPY"}, {"EUR_USD", "EUR_JPY"}), strict=True
    ):
        assert lines == sent[: len(lines)]
        assert {json.loads(line)["instrument"] for line in lines} == wanted


async def test_the_command_line_prints_ready_and_serves_until_terminated(
    client: httpx.AsyncClient, shared_data: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.servers.oanda_v20",
        "--token-env",
        "OANDA_TEST_TOKEN",
        "--account",
        ACCOUNT,
        "--feed",
        "v20",
        "--rate",
        "100",
        "--heartbeat-s",
        "0.05",
        "--data",
        str(shared_data),
        cwd=REPO_ROOT,
        env=os.environ | {"OANDA_TEST_TOKEN": TOKEN},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        ready = await asyncio.wait_for(process.stdout.readline(), 10 * GUARD_S)
        port = int(ready.removeprefix(b"READY "))
        url = f"http://127.0.0.1:{port}/v3/accounts/{ACCOUNT}/pricing/stream"
        async with client.stream("GET", url, params={"instruments": "EUR_USD"}, headers=bearer(TOKEN)) as response:
            first = await anext(response.aiter_lines())
    finally:
        process.terminate()
        returncode = await process.wait()
    assert json.loads(first)["instrument"] == "EUR_USD"
    assert returncode == 0
