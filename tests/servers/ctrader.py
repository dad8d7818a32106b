"""A local cTrader Open API server: TLS on loopback, real framing, the official messages, recorded prices.

What the gateway's collector uses, answered as the Open API documents it (collectors/ctrader/messages/):

- ``ProtoOAApplicationAuthReq`` -> ``ProtoOAApplicationAuthRes``, or ``ProtoOAErrorRes`` ``CH_CLIENT_AUTH_FAILURE``
  for a wrong client id or secret;
- ``ProtoOAAccountAuthReq`` -> ``ProtoOAAccountAuthRes``, or ``CH_CLIENT_NOT_AUTHENTICATED`` (before the
  application auth), ``CH_CTID_TRADER_ACCOUNT_NOT_FOUND`` (unknown account), ``CH_ACCESS_TOKEN_INVALID``;
- ``ProtoOASymbolsListReq`` -> ``ProtoOASymbolsListRes`` (every symbol of :data:`DEFAULT_SYMBOLS`);
- ``ProtoOASymbolByIdReq`` -> ``ProtoOASymbolByIdRes`` (``digits``, ``pipPosition``);
- ``ProtoOASubscribeSpotsReq`` -> ``ProtoOASubscribeSpotsRes``, then ``ProtoOASpotEvent`` for each price of
  the feed of a subscribed symbol, with ``timestamp`` (now, in ms) when the subscription asked for it;
- ``ProtoHeartbeatEvent`` every ``heartbeat_interval_s`` to each subscribed connection; the client's are counted.

Prices are a :class:`SpotFeed` of recorded quotes (the OANDA EUR/USD quotes of ``../shared/data``) as spot
events. Like the real server, an event carries only the sides that changed since the symbol's previous event;
on subscribing, a connection first gets the latest price of each symbol with both sides (our choice: the
documentation does not say what the first event holds). Every subscribed connection gets every event. Spot
frames are rendered once when the feed is built; sending one only appends its timestamp (a 6-byte varint
until the year 2109), so the server pushes a few hundred thousand a second.

Faults, all at byte level: refused application or account auth (:meth:`CtraderServer.refuse`), the token
invalidated mid-stream (:meth:`~CtraderServer.invalidate_token`), silence (:meth:`~CtraderServer.stall`:
no prices and no heartbeats), a cut in the middle of a frame (:meth:`~CtraderServer.disconnect`), any bytes
written into every stream (:meth:`~CtraderServer.inject`: a huge length prefix, garbage), a restart on the
same port (:meth:`~CtraderServer.restart`).

The TLS certificate (for ``127.0.0.1`` and ``localhost``) is made by the ``openssl`` command when the server is
built; the client trusts it through ``ca_file``.

Run alone for benchmarks: ``python -m tests.servers.ctrader --dir D ...`` prints ``READY <port> <ca_file>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final

import uvloop
from google.protobuf.message import DecodeError, Message

from collectors.ctrader.messages.OpenApiCommonMessages_pb2 import ProtoHeartbeatEvent, ProtoMessage
from collectors.ctrader.messages.OpenApiMessages_pb2 import (
    ProtoOAAccountAuthReq,
    ProtoOAAccountAuthRes,
    ProtoOAAccountsTokenInvalidatedEvent,
    ProtoOAApplicationAuthReq,
    ProtoOAApplicationAuthRes,
    ProtoOAErrorRes,
    ProtoOASpotEvent,
    ProtoOASubscribeSpotsReq,
    ProtoOASubscribeSpotsRes,
    ProtoOASymbolByIdReq,
    ProtoOASymbolByIdRes,
    ProtoOASymbolsListReq,
    ProtoOASymbolsListRes,
)
from collectors.ctrader.messages.OpenApiModelMessages_pb2 import ProtoOALightSymbol, ProtoOAPayloadType, ProtoOASymbol
from collectors.ctrader.parsing import HEARTBEAT, PX_PER_API_UNIT, encode_frame, frame_length, prefixed
from collectors.recorded import quote_files, read_lines
from collectors.recorded_parsing import parse_quote_line

logger = logging.getLogger(__name__)

SHARED_DATA: Final = Path(__file__).resolve().parents[3] / "shared" / "data"
DEFAULT_HEARTBEAT_INTERVAL_S: Final = 10.0
MAX_REQUEST_BYTES: Final = 1024 * 1024
"""Longest request frame the server reads; a longer prefix closes the connection."""
MAX_BATCH_EVENTS: Final = 512
TIMESTAMP_BYTES: Final = 7
"""The ``timestamp`` field of a spot event: its tag and a 6-byte varint of Unix ms (2004 to 2109)."""


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One symbol the server lists: the fields of ProtoOALightSymbol and ProtoOASymbol that clients read."""

    symbol_id: int
    name: str
    digits: int
    pip_position: int
    enabled: bool = True


DEFAULT_SYMBOLS: Final = (
    SymbolSpec(1, "EURUSD", 5, 4),
    SymbolSpec(2, "GBPUSD", 5, 4),
    SymbolSpec(4, "USDJPY", 3, 2),
    SymbolSpec(5, "AUDUSD", 5, 4),
    SymbolSpec(41, "XAUUSD", 2, 1),
    SymbolSpec(99, "USDTRY", 5, 4, enabled=False),
)


class SpotFeed:
    """Spot events of recorded quotes, cycled: each frame rendered once, its timestamp appended when sent.

    ``full[i]`` is the whole ``(symbol_id, bid, ask)`` after event ``i`` (prices in 1e-5 units); the event
    itself carries only the sides that changed since that symbol's previous event (both for the first); a
    quote that repeats the previous one of its symbol is no event.
    """

    def __init__(self, account_id: int, quotes: Iterable[tuple[int, int, int]]) -> None:
        self.account_id = account_id
        self.full: list[tuple[int, int, int]] = []
        self.frames: list[bytes] = []
        """Frames without the timestamp, for subscriptions that did not ask for it."""
        self.heads: list[bytes] = []
        """Frames whose payload ends where the timestamp field is appended (length counted with it)."""
        last: dict[int, tuple[int, int]] = {}
        for symbol_id, bid, ask in quotes:
            previous = last.get(symbol_id)
            if previous == (bid, ask):
                continue  # nothing changed: the server sends no event
            event = ProtoOASpotEvent(ctidTraderAccountId=account_id, symbolId=symbol_id)
            if previous is None or previous[0] != bid:
                event.bid = bid
            if previous is None or previous[1] != ask:
                event.ask = ask
            last[symbol_id] = (bid, ask)
            self.full.append((symbol_id, bid, ask))
            payload = event.SerializeToString()
            self.frames.append(_frame(ProtoOAPayloadType.PROTO_OA_SPOT_EVENT, payload))
            head = _frame(ProtoOAPayloadType.PROTO_OA_SPOT_EVENT, payload + b"\0" * TIMESTAMP_BYTES)
            self.heads.append(head[:-TIMESTAMP_BYTES])
        if not self.full:
            raise ValueError("a feed needs at least one quote")
        self.symbol_ids = frozenset(symbol_id for symbol_id, _, _ in self.full)

    def __len__(self) -> int:
        return len(self.full)

    @classmethod
    def from_quote_files(cls, path: Path, *, account_id: int, symbol_id: int = 1, limit: int | None = None) -> SpotFeed:
        """The OANDA EUR/USD quote dumps (``YYYYMMDD_quote.zip``) at ``path`` as spot events of ``symbol_id``."""
        return cls(account_id, itertools.islice(_quote_file_spots(path, symbol_id), limit))

    def snapshot_frame(self, index: int, timestamp: bytes | None) -> bytes:
        """Event ``index``'s whole price (both sides), for a new subscription."""
        symbol_id, bid, ask = self.full[index]
        event = ProtoOASpotEvent(ctidTraderAccountId=self.account_id, symbolId=symbol_id, bid=bid, ask=ask)
        payload = event.SerializeToString() + (timestamp or b"")
        return _frame(ProtoOAPayloadType.PROTO_OA_SPOT_EVENT, payload)


def _quote_file_spots(path: Path, symbol_id: int) -> Iterator[tuple[int, int, int]]:
    for file, day_start_ns in quote_files(path):
        for line in read_lines(file):
            quote = parse_quote_line(line, day_start_ns)
            if quote.bid_px % PX_PER_API_UNIT or quote.ask_px % PX_PER_API_UNIT:
                raise ValueError(f"{file}: {line!r} has more than 5 decimals")
            yield symbol_id, quote.bid_px // PX_PER_API_UNIT, quote.ask_px // PX_PER_API_UNIT


def _frame(payload_type: int, payload: bytes) -> bytes:
    return prefixed(ProtoMessage(payloadType=payload_type, payload=payload).SerializeToString())


def timestamp_field(ms: int) -> bytes:
    """The ``timestamp`` field of a spot event (field 8, varint) for Unix ``ms``: always TIMESTAMP_BYTES long."""
    encoded = ProtoOASpotEvent(timestamp=ms).SerializePartialToString()
    if len(encoded) != TIMESTAMP_BYTES:
        raise ValueError(f"timestamp {ms} does not encode in {TIMESTAMP_BYTES} bytes")
    return encoded


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, made by ``openssl`` in ``directory``."""
    cert, key = directory / "ctrader-cert.pem", directory / "ctrader-key.pem"
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost"
    san = "subjectAltName=DNS:localhost,IP:127.0.0.1"
    arguments = [*command.split(), "-addext", san, "-keyout", str(key), "-out", str(cert)]
    subprocess.run(arguments, check=True, capture_output=True, timeout=30)
    return cert, key


@dataclass(slots=True)
class ConnectionStats:
    """What one connection did: requests by payload type, spot events sent (indexes into the feed, if recorded)."""

    requests: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    opened_s: float = field(default_factory=time.monotonic)
    heartbeats_received: int = 0
    subscribed: bool = False


@dataclass(slots=True)
class ServerStats:
    connections: list[ConnectionStats] = field(default_factory=list)

    @property
    def heartbeats_received(self) -> int:
        return sum(connection.heartbeats_received for connection in self.connections)

    @property
    def events_sent(self) -> int:
        return sum(len(connection.sent) for connection in self.connections)


class _Stream:
    """One subscribed connection."""

    __slots__ = ("stats", "symbols", "timestamps", "writer")

    def __init__(self, writer: asyncio.StreamWriter, stats: ConnectionStats, symbols: set[int], timestamps: bool):
        self.writer = writer
        self.stats = stats
        self.symbols = symbols
        self.timestamps = timestamps


class CtraderServer:
    """The server; see the module docstring. ``accounts`` maps each ctidTraderAccountId to its access token.

    ``rate`` is spot events per second, or ``"max"`` (as fast as the slowest subscribed connection reads).
    ``record_sent`` keeps the feed index of every event sent, per connection (tests; off for benchmarks).
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        accounts: dict[int, str],
        feed: SpotFeed,
        cert_dir: Path,
        symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS,
        rate: float | str = 200.0,
        heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S,
        record_sent: bool = True,
        port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.accounts = dict(accounts)
        self.feed = feed
        self.symbols = {spec.symbol_id: spec for spec in symbols}
        self.rate = rate
        self.heartbeat_interval_s = heartbeat_interval_s
        self.record_sent = record_sent
        self.port = port
        self.ca_file, key = make_certificate(cert_dir)
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.load_cert_chain(self.ca_file, key)
        self.stats = ServerStats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._streams: list[_Stream] = []
        self._refusals: dict[str, str] = {}
        self._retry_after_s: int | None = None
        self._stalled = False
        self._resumed = asyncio.Event()
        self._seq = 0
        self._latest: dict[int, int] = {}

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> CtraderServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        self._spawn(self._pump(), "pump")
        self._spawn(self._heartbeats(), "heartbeats")
        return self

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._server is not None:
            self._server.close()
        for stream in self._streams:
            stream.writer.close()
        self._streams.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()
            self._server = None

    async def restart(self) -> None:
        """Stop and listen again on the same port: every connection is lost."""
        await self.stop()
        await self.start()

    async def __aenter__(self) -> CtraderServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    # -- faults ---------------------------------------------------------------------------------------------

    def refuse(self, step: str, code: str, *, retry_after_s: int | None = None) -> None:
        """Answer ``step`` (``application`` or ``account``) with ProtoOAErrorRes ``code`` until cleared."""
        self._refusals[step] = code
        self._retry_after_s = retry_after_s

    def invalidate_token(self, account_id: int, reason: str = "Access token revoked") -> None:
        """Send ProtoOAAccountsTokenInvalidatedEvent to every stream; the account's token is refused from now on."""
        frame = encode_frame(ProtoOAAccountsTokenInvalidatedEvent(ctidTraderAccountIds=[account_id], reason=reason))
        self._refusals["account"] = "CH_ACCESS_TOKEN_INVALID"
        for stream in self._streams:
            stream.writer.write(frame)

    def stall(self) -> None:
        """Send nothing more (no prices, no heartbeats) until :meth:`resume`; connections stay open."""
        self._stalled = True
        self._resumed.clear()

    def resume(self) -> None:
        self._stalled = False
        self._resumed.set()

    def disconnect(self, *, mid_frame: bool = True) -> None:
        """Close every stream, after half of a spot frame if ``mid_frame``."""
        for stream in self._streams:
            if mid_frame:
                frame = self.feed.frames[self._seq % len(self.feed)]
                stream.writer.write(frame[: len(frame) // 2])
            stream.writer.close()
        self._streams.clear()

    def inject(self, data: bytes) -> None:
        """Write ``data`` into every stream as it is, between two batches of prices."""
        for stream in self._streams:
            stream.writer.write(data)

    def clear_faults(self) -> None:
        self._refusals.clear()
        self.resume()

    @property
    def streams(self) -> int:
        """Connections subscribed now."""
        return len(self._streams)

    # -- serving --------------------------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[None, None, None], name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats = ConnectionStats()
        self.stats.connections.append(stats)
        app_authed = False
        account: int | None = None
        try:
            while True:
                length = frame_length(await reader.readexactly(4))
                if length > MAX_REQUEST_BYTES:
                    return
                try:
                    envelope = ProtoMessage.FromString(await reader.readexactly(length))
                except DecodeError:
                    writer.write(_error("INVALID_REQUEST", "not a ProtoMessage"))
                    continue
                payload_type, payload = envelope.payloadType, envelope.payload
                stats.requests.append(payload_type)
                if payload_type == HEARTBEAT:
                    stats.heartbeats_received += 1
                    continue
                reply: Message | bytes
                try:
                    if payload_type == ProtoOAPayloadType.PROTO_OA_APPLICATION_AUTH_REQ:
                        auth = ProtoOAApplicationAuthReq.FromString(payload)
                        refused = self._refusals.get("application")
                        if refused or (auth.clientId, auth.clientSecret) != (self.client_id, self.client_secret):
                            reply = self._refusal(refused or "CH_CLIENT_AUTH_FAILURE", "Client authentication failure")
                        else:
                            app_authed, reply = True, ProtoOAApplicationAuthRes()
                    elif payload_type == ProtoOAPayloadType.PROTO_OA_ACCOUNT_AUTH_REQ:
                        auth_account = ProtoOAAccountAuthReq.FromString(payload)
                        reply = self._account_auth(app_authed, auth_account)
                        if isinstance(reply, ProtoOAAccountAuthRes):
                            account = auth_account.ctidTraderAccountId
                    elif account is None:
                        reply = _error("ACCOUNT_NOT_AUTHORIZED", "Trading account is not authorized")
                    elif payload_type == ProtoOAPayloadType.PROTO_OA_SYMBOLS_LIST_REQ:
                        ProtoOASymbolsListReq.FromString(payload)
                        reply = ProtoOASymbolsListRes(ctidTraderAccountId=account, symbol=self._light_symbols())
                    elif payload_type == ProtoOAPayloadType.PROTO_OA_SYMBOL_BY_ID_REQ:
                        wanted = ProtoOASymbolByIdReq.FromString(payload).symbolId
                        details = [self._symbol(symbol_id) for symbol_id in wanted if symbol_id in self.symbols]
                        reply = ProtoOASymbolByIdRes(ctidTraderAccountId=account, symbol=details)
                    elif payload_type == ProtoOAPayloadType.PROTO_OA_SUBSCRIBE_SPOTS_REQ:
                        subscribe = ProtoOASubscribeSpotsReq.FromString(payload)
                        unknown = [symbol_id for symbol_id in subscribe.symbolId if symbol_id not in self.symbols]
                        if unknown:
                            reply = _error("SYMBOL_NOT_FOUND", f"Symbols {unknown} not found")
                        else:
                            writer.write(encode_frame(ProtoOASubscribeSpotsRes(ctidTraderAccountId=account)))
                            self._subscribe(writer, stats, set(subscribe.symbolId), subscribe.subscribeToSpotTimestamp)
                            continue
                    else:
                        reply = _error("UNSUPPORTED_MESSAGE", f"payload type {payload_type} is not supported here")
                except DecodeError:
                    reply = _error("INVALID_REQUEST", f"payload of type {payload_type} does not parse")
                writer.write(reply if isinstance(reply, bytes) else encode_frame(reply))
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            self._streams = [stream for stream in self._streams if stream.writer is not writer]
            writer.close()

    def _account_auth(self, app_authed: bool, request: ProtoOAAccountAuthReq) -> Message | bytes:
        if not app_authed:
            return _error("CH_CLIENT_NOT_AUTHENTICATED", "Open API application is not authorized")
        refused = self._refusals.get("account")
        token = self.accounts.get(request.ctidTraderAccountId)
        if token is None:
            return _error("CH_CTID_TRADER_ACCOUNT_NOT_FOUND", "Trading account is not found")
        if refused or request.accessToken != token:
            return self._refusal(refused or "CH_ACCESS_TOKEN_INVALID", "Invalid access token")
        return ProtoOAAccountAuthRes(ctidTraderAccountId=request.ctidTraderAccountId)

    def _refusal(self, code: str, description: str) -> bytes:
        error = ProtoOAErrorRes(errorCode=code, description=description)
        if self._retry_after_s is not None:
            error.retryAfter = self._retry_after_s
        return encode_frame(error)

    def _light_symbols(self) -> list[ProtoOALightSymbol]:
        return [
            ProtoOALightSymbol(symbolId=spec.symbol_id, symbolName=spec.name, enabled=spec.enabled)
            for spec in self.symbols.values()
        ]

    def _symbol(self, symbol_id: int) -> ProtoOASymbol:
        spec = self.symbols[symbol_id]
        return ProtoOASymbol(symbolId=spec.symbol_id, digits=spec.digits, pipPosition=spec.pip_position)

    def _subscribe(self, writer: asyncio.StreamWriter, stats: ConnectionStats, symbols: set[int], stamp: bool) -> None:
        stream = _Stream(writer, stats, symbols, stamp)
        stats.subscribed = True
        timestamp = timestamp_field(int(time.time() * 1000)) if stamp else None
        for symbol_id, index in self._latest.items():
            if symbol_id in symbols:
                writer.write(self.feed.snapshot_frame(index, timestamp))
                if self.record_sent:
                    stats.sent.append(index)
        self._streams.append(stream)

    async def _heartbeats(self) -> None:
        frame = encode_frame(ProtoHeartbeatEvent())
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            if not self._stalled:
                for stream in self._streams:
                    stream.writer.write(frame)

    async def _pump(self) -> None:
        """Send the feed's events to every subscribed stream, at ``rate`` or as fast as they read."""
        feed = self.feed
        size = len(feed)
        started = time.monotonic()
        sent = 0
        while True:
            if self._stalled:
                await self._resumed.wait()
                started, sent = time.monotonic(), 0
            if not self._streams:
                await asyncio.sleep(0.01)
                continue
            if self.rate == "max":
                count = MAX_BATCH_EVENTS
            else:
                due = int((time.monotonic() - started) * float(self.rate)) + 1 - sent
                if due <= 0:
                    await asyncio.sleep(max(1.0 / float(self.rate), 0.001))
                    continue
                count = min(due, MAX_BATCH_EVENTS)
            start = self._seq % size
            count = min(count, size - start)
            indexes = range(start, start + count)
            timestamp = timestamp_field(int(time.time() * 1000))
            stamped = timestamp.join(feed.heads[start : start + count]) + timestamp
            plain = b"".join(feed.frames[start : start + count])
            for stream in list(self._streams):
                if feed.symbol_ids <= stream.symbols:
                    stream.writer.write(stamped if stream.timestamps else plain)
                    wanted: Sequence[int] = indexes
                else:
                    wanted = [index for index in indexes if feed.full[index][0] in stream.symbols]
                    frames = feed.heads if stream.timestamps else feed.frames
                    end = timestamp if stream.timestamps else b""
                    stream.writer.write(b"".join(frames[index] + end for index in wanted))
                if self.record_sent:
                    stream.stats.sent.extend(wanted)
            for index in indexes:
                self._latest[feed.full[index][0]] = index
            self._seq += count
            sent += count
            if self.rate == "max":
                for stream in list(self._streams):
                    with contextlib.suppress(ConnectionError, OSError):
                        await stream.writer.drain()
            else:
                await asyncio.sleep(0)


def _error(code: str, description: str) -> bytes:
    return encode_frame(ProtoOAErrorRes(errorCode=code, description=description))


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("ctrader server task %s failed", task.get_name(), exc_info=task.exception())


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; prints ``READY <port> <ca_file>`` once listening."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.servers.ctrader", description="A local cTrader Open API server for benchmarks."
    )
    parser.add_argument("--port", type=int, default=0, help="0 (default) picks a free port")
    parser.add_argument("--dir", type=Path, required=True, help="where the TLS certificate is written")
    parser.add_argument("--account", type=int, default=1_000_001)
    parser.add_argument("--client-id-env", required=True)
    parser.add_argument("--client-secret-env", required=True)
    parser.add_argument("--token-env", required=True)
    parser.add_argument("--rate", default="max", help="max or spot events per second")
    parser.add_argument("--limit", type=int, default=None, help="first N recorded EUR/USD quotes only")
    parser.add_argument("--quotes", type=Path, default=SHARED_DATA / "oanda-eurusd-ticks", help="quote folder")
    args = parser.parse_args(argv)
    values = [os.environ.get(name, "") for name in (args.client_id_env, args.client_secret_env, args.token_env)]
    if not all(values):
        parser.error("the client id, client secret and token variables must be set")
    feed = SpotFeed.from_quote_files(args.quotes, account_id=args.account, limit=args.limit)
    rate: float | str = "max" if args.rate == "max" else float(args.rate)
    server = CtraderServer(
        client_id=values[0],
        client_secret=values[1],
        accounts={args.account: values[2]},
        feed=feed,
        cert_dir=args.dir,
        rate=rate,
        record_sent=False,
        port=args.port,
    )
    uvloop.run(_serve(server))
    return 0


async def _serve(server: CtraderServer) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    async with server:
        print(f"READY {server.port} {server.ca_file}", flush=True)
        await stopping.wait()


if __name__ == "__main__":
    sys.exit(main())
