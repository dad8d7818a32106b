"""A local OANDA v20 server: real HTTP/1.1 on loopback, OANDA's wire format, faults injected at byte level.

Serves what the gateway uses, on one port for both OANDA hosts:

- ``GET /v3/accounts/{accountID}/pricing/stream?instruments=A,B&snapshot=true``: ``200``, chunked,
  ``application/octet-stream``; one JSON object per line, PRICE lines with nanosecond RFC 3339 times and
  ``{"type":"HEARTBEAT","time":...}`` every ``heartbeat_interval_s``. With ``snapshot`` (OANDA's default) a
  stream opens with the latest price of each requested instrument.
- ``GET /v3/accounts/{accountID}/instruments[?instruments=A,B]``: the instrument specifications, as OANDA's
  own ``v20`` client parses them.
- Errors as OANDA words them, ``{"errorMessage": ...}``: 401 ``Insufficient authorization to perform request.``
  (missing or unknown token), 403 ``The provided request was forbidden.`` (the token's user does not own the
  account), 400 ``Invalid value specified for 'instruments'`` (malformed name) or ``Invalid Instrument X``
  (well-formed, not offered), 400 ``Invalid value specified for 'accountID'``. The wording of 404 (unknown
  account) and of 429 (too many streams, or injected) is not documented by OANDA and is ours.

The HTTP layer is a few dozen lines on ``asyncio.start_server`` rather than a framework, so that a fault
can stop a stream at any byte: inside a chunk, halfway through a line. :meth:`OandaV20Server.inject` writes
any bytes a test wants (hostile lines, a line of megabytes) into every open stream between two batches.
Prices come from a :class:`PriceFeed` (recorded OANDA quotes, re-stamped to now); every open stream gets
every line of its instruments, as from OANDA. To push several hundred thousand lines a second from Python,
lines are rendered once when the feed is built and a batch of up to :data:`MAX_BATCH_LINES` goes out as one
chunk, its times made by joining one microsecond stamp with per-line nanosecond digits.

Run alone for benchmarks: ``python -m tests.servers.oanda_v20 --token-env NAME ...`` prints ``READY <port>``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import functools
import itertools
import json
import logging
import os
import re
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

import uvloop

from collectors.recorded import quote_files, read_lines
from collectors.recorded_parsing import parse_quote_line
from gateway.clock import NS_PER_MS, NS_PER_S, parse_time_ns
from gateway.instruments import INSTRUMENT_PATTERN
from gateway.prices import format_price, parse_price

logger = logging.getLogger(__name__)

SHARED_DATA: Final = Path(__file__).resolve().parents[3] / "shared" / "data"
DEFAULT_HEARTBEAT_INTERVAL_S: Final = 5.0
DEFAULT_MAX_STREAMS_PER_ACCOUNT: Final = 20
DEFAULT_LIQUIDITY: Final = 10_000_000
MAX_BATCH_LINES: Final = 512
"""Price lines per chunk at most; under 1000, since a line's place in its batch is its nanosecond digits."""
REQUEST_LOG_LIMIT: Final = 10_000
REQUEST_HEAD_LIMIT_BYTES: Final = 16 * 1024
READ_SIZE_BYTES: Final = 64 * 1024

MSG_UNAUTHORIZED: Final = "Insufficient authorization to perform request."
MSG_FORBIDDEN: Final = "The provided request was forbidden."
MSG_BAD_INSTRUMENTS: Final = "Invalid value specified for 'instruments'"
MSG_BAD_ACCOUNT_ID: Final = "Invalid value specified for 'accountID'"
MSG_UNKNOWN_ACCOUNT: Final = "The Account specified does not exist"
MSG_TOO_MANY_REQUESTS: Final = "Too many requests"
MSG_NOT_FOUND: Final = "The requested resource was not found"
MSG_METHOD_NOT_ALLOWED: Final = "Method not allowed"

_ACCOUNT_ID = re.compile(r"\d{3}-\d{3}-\d+-\d{3}")
_STREAM_PATH = re.compile(r"/v3/accounts/([^/]+)/pricing/stream")
_INSTRUMENTS_PATH = re.compile(r"/v3/accounts/([^/]+)/instruments")
_PRICE_HEAD = b'{"type":"PRICE","time":"'
_NS_DIGITS: Final = tuple(b"%03dZ" % ns for ns in range(1000))
_TRADEABLE = b'"status":"tradeable","tradeable":true,'
_NON_TRADEABLE = b'"status":"non-tradeable","tradeable":false,'

Pace = float | Literal["max", "recorded"]
"""Lines per second, the recorded pace, or as fast as the client reads."""
Paths = Literal["stream", "rest", "all"]


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One instrument the server offers, with the fields of OANDA's ``Instrument`` that clients read."""

    name: str
    type: Literal["CURRENCY", "METAL", "CFD"]
    display_name: str
    pip_location: int
    display_precision: int

    def to_json(self) -> dict[str, object]:
        """OANDA's REST representation; the trading limits are OANDA's defaults for a retail account."""
        return {
            "name": self.name,
            "type": self.type,
            "displayName": self.display_name,
            "pipLocation": self.pip_location,
            "displayPrecision": self.display_precision,
            "tradeUnitsPrecision": 0,
            "minimumTradeSize": "1",
            "maximumTrailingStopDistance": "1.00000",
            "minimumTrailingStopDistance": "0.00050",
            "maximumPositionSize": "0",
            "maximumOrderUnits": "100000000",
            "marginRate": "0.0333" if self.type == "CURRENCY" else "0.05",
        }


DEFAULT_INSTRUMENTS: Final = (
    InstrumentSpec("EUR_USD", "CURRENCY", "EUR/USD", -4, 5),
    InstrumentSpec("GBP_USD", "CURRENCY", "GBP/USD", -4, 5),
    InstrumentSpec("USD_JPY", "CURRENCY", "USD/JPY", -2, 3),
    InstrumentSpec("AUD_USD", "CURRENCY", "AUD/USD", -4, 5),
    InstrumentSpec("EUR_JPY", "CURRENCY", "EUR/JPY", -2, 3),  # in the recorded v20 lines
    InstrumentSpec("XAU_USD", "METAL", "Gold", -2, 3),
)


@dataclass(frozen=True, slots=True)
class RecordedPrice:
    """One price of a feed: the book as recorded, and the recorded time since the previous price (pacing only).

    Prices are decimal strings and liquidity whole units, as OANDA sends them; levels are best first.
    """

    instrument: str
    bids: tuple[tuple[str, int], ...]
    asks: tuple[tuple[str, int], ...]
    closeout_bid: str
    closeout_ask: str
    gap_ns: int = 0


def render_tail(price: RecordedPrice) -> bytes:
    """The tradeable PRICE line from just after its time to its newline, in OANDA's field order."""
    bids = b",".join(b'{"price":"%s","liquidity":%d}' % (p.encode(), size) for p, size in price.bids)
    asks = b",".join(b'{"price":"%s","liquidity":%d}' % (p.encode(), size) for p, size in price.asks)
    return b'","bids":[%s],"asks":[%s],"closeoutBid":"%s","closeoutAsk":"%s",%s"instrument":"%s"}\n' % (
        bids,
        asks,
        price.closeout_bid.encode(),
        price.closeout_ask.encode(),
        _TRADEABLE,
        price.instrument.encode(),
    )


def closed_tail(tail: bytes) -> bytes:
    """The same price while the market is closed: ``"status":"non-tradeable","tradeable":false``."""
    return tail.replace(_TRADEABLE, _NON_TRADEABLE)


def render_lines(stamp: bytes, tails: Sequence[bytes]) -> bytes:
    """Complete PRICE lines: ``stamp`` (a time to the microsecond) plus each line's place as nanoseconds.

    One join over precomputed pieces, so the cost per line is a concatenation; at most 1000 lines.
    """
    parts = [b""] * (2 * len(tails))
    head = _PRICE_HEAD + stamp
    parts[0::2] = [head + digits for digits in _NS_DIGITS[: len(tails)]]
    parts[1::2] = tails
    return b"".join(parts)


def heartbeat_line(stamp: bytes) -> bytes:
    """OANDA's keep-alive of the pricing stream."""
    return b'{"type":"HEARTBEAT","time":"%s000Z"}\n' % stamp


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked HTTP body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class TimeStamper:
    """Current, strictly increasing times for the lines of one server, to the microsecond.

    Each call moves on by at least a microsecond, so a batch's lines (told apart by their nanosecond digits)
    are all later than the previous batch's even when batches come faster than the clock ticks.
    """

    def __init__(self) -> None:
        self._last_us = 0
        self._second = -1
        self._second_text = b""

    def stamp(self) -> bytes:
        """``YYYY-MM-DDTHH:MM:SS.ffffff`` (UTC), now or just after the previous stamp."""
        self._last_us = micros = max(time.time_ns() // 1000, self._last_us + 1)
        second, fraction = divmod(micros, 1_000_000)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        return b"%s.%06d" % (self._second_text, fraction)


class PriceFeed:
    """The price lines of a server, cycled, with their pace; shared by all the server's streams.

    Lines are rendered once here; sending them only adds the time. ``rate`` is lines per second, ``"recorded"``
    (the recorded gaps, divided by ``speed``) or ``"max"`` (as fast as the slowest open stream reads).
    """

    def __init__(self, prices: Iterable[RecordedPrice], *, rate: Pace = "recorded", speed: float = 1.0) -> None:
        if rate not in ("max", "recorded") and (isinstance(rate, str) or not rate > 0):
            raise ValueError(f"rate must be positive, 'recorded' or 'max', not {rate!r}")
        if not speed > 0 or (speed != 1.0 and rate != "recorded"):
            raise ValueError(f"speed must be positive and applies to the recorded pace only, not {speed!r}")
        self.rate = rate
        self.speed = speed
        self.instrument_names: list[str] = []
        self.tails: list[bytes] = []
        self._offsets_ns: list[int] = []
        offset_ns = 0
        for price in prices:  # one pass: a long recording is never held as RecordedPrice objects
            offset_ns += max(price.gap_ns, 0) if self.tails else 0
            self.instrument_names.append(price.instrument)
            self.tails.append(render_tail(price))
            self._offsets_ns.append(offset_ns)
        if not self.tails:
            raise ValueError("a feed needs at least one price")
        self.instruments = frozenset(self.instrument_names)
        self._period_ns = max(offset_ns + offset_ns // max(len(self.tails) - 1, 1), NS_PER_MS)  # a mean gap to wrap

    def __len__(self) -> int:
        return len(self.tails)

    @classmethod
    def from_quote_files(
        cls,
        path: Path,
        *,
        instrument: str = "EUR_USD",
        display_precision: int = 5,
        limit: int | None = None,
        rate: Pace = "recorded",
        speed: float = 1.0,
    ) -> PriceFeed:
        """A feed of OANDA's historical quote dumps (``YYYYMMDD_quote.zip``), a file or a folder of them.

        One level per side with OANDA's usual 10,000,000 liquidity; days follow each other without a gap;
        ``limit`` keeps the first quotes only (all 532,903 recorded ones take about 4 s and 200 MB).
        """
        prices = _quote_file_prices(path, instrument, display_precision)
        return cls(itertools.islice(prices, limit), rate=rate, speed=speed)

    @classmethod
    def from_v20_lines(cls, paths: Iterable[Path], *, rate: Pace = "recorded", speed: float = 1.0) -> PriceFeed:
        """A feed of recorded pricing-stream lines (JSON lines, both PRICE shapes; heartbeats are skipped).

        Each file is played in time order; files follow each other without a gap. Float liquidity (one
        recording's) becomes the integer the live API sends.
        """
        prices: list[RecordedPrice] = []
        for path in paths:
            timed = []
            for raw in path.read_bytes().splitlines():
                if raw.strip():
                    message = json.loads(raw)
                    if message.get("type", "PRICE") == "PRICE":
                        timed.append((parse_time_ns(message["time"]), message))
            timed.sort(key=lambda pair: pair[0])
            for index, (ts_ns, message) in enumerate(timed):
                gap_ns = ts_ns - timed[index - 1][0] if index else 0
                prices.append(_recorded_price(message, gap_ns))
        return cls(prices, rate=rate, speed=speed)

    def first_indexes(self) -> dict[str, int]:
        """The first line of each instrument: the latest prices before any line was sent."""
        first: dict[str, int] = {}
        for index, name in enumerate(self.instrument_names):
            first.setdefault(name, index)
        return first

    def offset_ns(self, seq: int) -> int:
        """When line ``seq`` (counted over all cycles) is due, in ns after line 0; always 0 at ``"max"``."""
        if self.rate == "max":
            return 0
        if self.rate == "recorded":
            cycle, index = divmod(seq, len(self.tails))
            return int((cycle * self._period_ns + self._offsets_ns[index]) / self.speed)
        return int(seq * NS_PER_S / self.rate)

    def lines_due(self, seq: int, elapsed_ns: int) -> int:
        """How many lines from ``seq`` are due ``elapsed_ns`` after line 0: one batch, never past the cycle end."""
        limit = min(MAX_BATCH_LINES, len(self.tails) - seq % len(self.tails))
        if self.rate == "max":
            return limit
        if self.rate == "recorded":
            cycle, index = divmod(seq, len(self.tails))
            recorded_ns = elapsed_ns * self.speed - cycle * self._period_ns
            return min(limit, bisect.bisect_right(self._offsets_ns, recorded_ns, lo=index) - index)
        return max(0, min(limit, int(elapsed_ns * self.rate / NS_PER_S) + 1 - seq))


def _quote_file_prices(path: Path, instrument: str, display_precision: int) -> Iterator[RecordedPrice]:
    text = functools.cache(functools.partial(format_price, decimals=display_precision))  # a few hundred levels a day
    for file, day_start_ns in quote_files(path):
        previous_ns = None
        for line in read_lines(file):
            quote = parse_quote_line(line, day_start_ns)
            bid, ask = text(quote.bid_px), text(quote.ask_px)
            gap_ns = 0 if previous_ns is None else quote.ts_ns - previous_ns
            previous_ns = quote.ts_ns
            yield RecordedPrice(instrument, ((bid, DEFAULT_LIQUIDITY),), ((ask, DEFAULT_LIQUIDITY),), bid, ask, gap_ns)


def _recorded_price(message: dict[str, Any], gap_ns: int) -> RecordedPrice:
    """A recorded PRICE message as a feed price; prices must be decimal strings, since they are embedded as is."""

    def book(side: object) -> tuple[tuple[str, int], ...]:
        if not isinstance(side, list):
            raise ValueError(f"bids and asks must be lists, not {side!r}")
        return tuple((_decimal(level["price"]), int(level["liquidity"])) for level in side)

    instrument = message["instrument"]
    if not isinstance(instrument, str) or INSTRUMENT_PATTERN.fullmatch(instrument) is None:
        raise ValueError(f"instrument {instrument!r} is not of the form BASE_QUOTE")
    return RecordedPrice(
        instrument,
        book(message["bids"]),
        book(message["asks"]),
        _decimal(message["closeoutBid"]),
        _decimal(message["closeoutAsk"]),
        gap_ns,
    )


def _decimal(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"price {value!r} is not a decimal string")
    parse_price(value)  # raises BadValueError for anything but a plain decimal
    return value


# --- HTTP/1.1, just enough of it -------------------------------------------------------------------------


class RequestError(Exception):
    """A request that is not HTTP/1.x as this server reads it; answered with ``status`` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request head: path percent-decoded, query parameters (last one wins), header names lower-cased."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    version: str

    @property
    def keep_alive(self) -> bool:
        return self.version == "HTTP/1.1" and self.headers.get("connection", "").lower() != "close"


def parse_request_head(head: bytes) -> HttpRequest:
    """Parse a request line and headers ending in a blank line; raises RequestError."""
    request_line, *header_lines = head.decode("latin-1").removesuffix("\r\n\r\n").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1") or not parts[1].startswith("/"):
        raise RequestError(400, f"malformed request line {request_line!r}")
    method, target, version = parts
    headers = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise RequestError(400, f"malformed header line {line!r}")
        headers[name.lower()] = value.strip()
    url = urlsplit(target)
    return HttpRequest(method, unquote(url.path), dict(parse_qsl(url.query, keep_blank_values=True)), headers, version)


async def read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    """Read one request and discard its body; None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as exc:
        raise RequestError(431, "request head too large") from exc
    request = parse_request_head(head)
    if "transfer-encoding" in request.headers:
        raise RequestError(400, "chunked request bodies are not supported")
    length = request.headers.get("content-length", "0")
    if not length.isdigit():
        raise RequestError(400, f"bad Content-Length {length!r}")
    await reader.readexactly(int(length))
    return request


def render_response(status: int, body: bytes, *, request_id: int, close: bool, headers: Sequence[str] = ()) -> bytes:
    """A complete JSON response with Content-Length, and OANDA's ``RequestID`` header."""
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"RequestID: {request_id}",
        *headers,
        *(["Connection: close"] if close else []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def error_body(message: str) -> bytes:
    return json.dumps({"errorMessage": message}, separators=(",", ":")).encode()


# --- the server -------------------------------------------------------------------------------------------


class RequestRecord(NamedTuple):
    """One answered request (the path without its query); ``at_s`` is ``time.monotonic()`` when answered."""

    method: str
    path: str
    status: int
    at_s: float


@dataclass(slots=True, eq=False)
class StreamStats:
    """What one pricing stream was sent. ``sent_prices`` holds complete price lines only: never a cut half line.

    Lines count as sent once handed to the socket; :meth:`OandaV20Server.disconnect` delivers them all before
    closing, :meth:`OandaV20Server.stop` drops what the socket had not taken yet, as a crash would.
    ``payloads`` keeps the complete lines of each write when the server records them.
    """

    number: int
    account_id: str
    instruments: tuple[str, ...]
    lines_sent: int = 0
    heartbeats_sent: int = 0
    bytes_sent: int = 0
    bytes_injected: int = 0
    """Bytes written by :meth:`OandaV20Server.inject` (also in ``bytes_sent``; never in ``sent_prices``)."""
    open: bool = True
    payloads: list[bytes] = field(default_factory=list, repr=False)

    @property
    def sent_prices(self) -> list[bytes]:
        """Every complete price line written, newline included, in order (empty unless recording)."""
        return b"".join(self.payloads).splitlines(keepends=True)


@dataclass(slots=True)
class ServerStats:
    """What the server did, for tests; kept across restarts."""

    requests: deque[RequestRecord] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_LIMIT))
    streams: list[StreamStats] = field(default_factory=list)

    @property
    def connections(self) -> int:
        """Pricing streams accepted."""
        return len(self.streams)

    @property
    def active_streams(self) -> int:
        return sum(stream.open for stream in self.streams)

    @property
    def lines_sent(self) -> int:
        """Complete price lines written, over all streams."""
        return sum(stream.lines_sent for stream in self.streams)

    @property
    def sent_prices(self) -> list[list[bytes]]:
        """The complete price lines written to each stream, in the order the streams were accepted."""
        return [stream.sent_prices for stream in self.streams]


@dataclass(slots=True)
class _Refusal:
    status: int
    remaining: int | None
    body: bytes
    headers: tuple[str, ...]
    paths: Paths


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: bytes
    headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _StreamGrant:
    account_id: str
    instruments: tuple[str, ...]
    snapshot: bool


def _error(status: int, message: str) -> _Reply:
    return _Reply(status, error_body(message))


class _Stream:
    """One open pricing stream: writes chunks, counts what it sent, and carries out a scheduled cut."""

    def __init__(self, stats: StreamStats, writer: asyncio.StreamWriter, *, record: bool) -> None:
        self.stats = stats
        self.instruments = frozenset(stats.instruments)
        self.writer = writer
        self._transport = writer.transport
        self._record = record
        self._cut_budget: int | None = None
        self._cut_mid_line = False

    @property
    def closing(self) -> bool:
        return self._transport.is_closing()

    def write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)
            self.stats.bytes_sent += len(data)

    def send_heartbeat(self, line: bytes) -> None:
        if not self._transport.is_closing():
            self.write(chunk(line))
            self.stats.heartbeats_sent += 1

    def schedule_cut(self, after_lines: int, mid_line: bool) -> None:
        """Cut after ``after_lines`` more price lines (and half of the next one if ``mid_line``)."""
        self._cut_budget, self._cut_mid_line = after_lines, mid_line
        if after_lines == 0 and not mid_line:
            self._transport.close()

    def cancel_cut(self) -> None:
        self._cut_budget = None

    def send_prices(self, stamp: bytes, tails: Sequence[bytes], payload: bytes) -> None:
        """Write ``payload`` (``tails`` rendered with ``stamp``) as one chunk, or its part before a scheduled cut."""
        if not tails or self._transport.is_closing():
            return
        budget = self._cut_budget
        if budget is None or budget > len(tails) or (budget == len(tails) and self._cut_mid_line):
            self._write_prices(chunk(payload), payload, len(tails))
            if budget is not None:
                self._cut_budget = budget - len(tails)
            return
        complete = render_lines(stamp, tails[:budget])
        if self._cut_mid_line:
            next_line = render_lines(stamp, tails[: budget + 1])[len(complete) :]
            head = b"%x\r\n" % (len(complete) + len(next_line))
            self._write_prices(head + complete + next_line[: len(next_line) // 2], complete, budget)
        elif budget:
            self._write_prices(chunk(complete), complete, budget)
        self._transport.close()  # after what was written reaches the client, without the terminating chunk

    def _write_prices(self, data: bytes, complete_lines: bytes, count: int) -> None:
        self.write(data)
        self.stats.lines_sent += count
        if self._record and complete_lines:
            self.stats.payloads.append(complete_lines)


class OandaV20Server:
    """OANDA's REST and streaming hosts on one free loopback port, with faults a test switches on and off.

    ``accounts`` maps account ids to the token that may use them (several accounts may share one token).
    ``feed`` None serves heartbeats only. ``record_sent`` keeps every price line written, for
    :attr:`ServerStats.sent_prices`; switch it off for long runs. Use ``async with`` or ``start``/``stop``.
    """

    def __init__(
        self,
        *,
        accounts: Mapping[str, str],
        instruments: Iterable[InstrumentSpec] = DEFAULT_INSTRUMENTS,
        heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S,
        feed: PriceFeed | None = None,
        max_streams_per_account: int = DEFAULT_MAX_STREAMS_PER_ACCOUNT,
        record_sent: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._accounts = dict(accounts)
        self._tokens = frozenset(self._accounts.values())
        self._instruments = {spec.name: spec for spec in instruments}
        if feed is not None and not feed.instruments <= self._instruments.keys():
            raise ValueError(f"the feed quotes instruments the server does not offer: {feed.instruments}")
        self._heartbeat_interval_s = heartbeat_interval_s
        self._feed = feed
        self._max_streams_per_account = max_streams_per_account
        self._record_sent = record_sent
        self.host = host
        self.port = port
        self.stats = ServerStats()
        self._stamper = TimeStamper()
        self._latest = feed.first_indexes() if feed is not None else {}
        self._seq = 0
        self._request_id = 0
        self._refusals: list[_Refusal] = []
        self._market_open = True
        self._not_stalled = asyncio.Event()
        self._not_stalled.set()
        self._flowing = asyncio.Event()
        self._streams: list[_Stream] = []
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._server: asyncio.Server | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def stream_url(self) -> str:
        return self.rest_url

    async def start(self) -> OandaV20Server:
        """Listen on the port (a free one the first time, the same one after a restart)."""
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port, limit=REQUEST_HEAD_LIMIT_BYTES
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if self._feed is not None:
            self._pump = asyncio.create_task(self._run_pump(self._feed), name=f"oanda-v20 feed :{self.port}")
            self._pump.add_done_callback(_log_failure)
        logger.info("oanda-v20 test server listening on %s", self.rest_url)
        return self

    async def stop(self) -> None:
        """Close the port and drop every connection at once, as a crashed server would."""
        if self._server is None:
            return
        self._server.close()
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
            self._pump = None
        for task, writer in self._connections.items():
            writer.transport.abort()
            task.cancel()  # one may be waiting for a stall to end
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def restart(self) -> None:
        """Stop and start again on the same port; the feed, the stats and armed faults carry over."""
        await self.stop()
        await self.start()

    async def __aenter__(self) -> OandaV20Server:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- faults ---

    def refuse(
        self,
        status: int,
        *,
        count: int | None = 1,
        retry_after_s: int | None = None,
        message: str | None = None,
        paths: Paths = "stream",
    ) -> None:
        """Answer the next ``count`` requests to ``paths`` (None: all until :meth:`clear_faults`) with ``status``.

        The body is OANDA's ``{"errorMessage": ...}``, by default the message OANDA uses for that status;
        ``retry_after_s`` adds a ``Retry-After`` header (whole seconds, as HTTP defines it). Checked before
        authentication, in the order armed.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"refuse with an error status (400-599), not {status}")
        defaults = {400: MSG_BAD_INSTRUMENTS, 401: MSG_UNAUTHORIZED, 403: MSG_FORBIDDEN, 429: MSG_TOO_MANY_REQUESTS}
        text = message if message is not None else defaults.get(status, HTTPStatus(status).phrase)
        headers = () if retry_after_s is None else (f"Retry-After: {retry_after_s}",)
        self._refusals.append(_Refusal(status, count, error_body(text), headers, paths))

    def disconnect(self, *, after_lines: int = 0, mid_line: bool = False) -> None:
        """Cut every open stream after ``after_lines`` more price lines, without the terminating chunk.

        With ``mid_line`` the next line's first half goes out too, inside a chunk announced at full length, so
        the client is left holding a partial line and an incomplete chunked body. What was written before the
        cut reaches the client; streams opened later are not affected.
        """
        for stream in self._streams:
            stream.schedule_cut(after_lines, mid_line)

    async def inject(self, data: bytes, *, chunk_bytes: int = READ_SIZE_BYTES) -> int:
        """Write ``data`` as it is into every open stream, between two batches of prices; return the streams.

        ``data`` goes out in HTTP chunks of at most ``chunk_bytes``, all written before anything else can be
        (a batch of prices or a heartbeat never lands inside it), then each socket is drained. It is not
        counted as price lines (``StreamStats.bytes_injected``); give it whole lines ending in a newline, or
        the next batch's first line joins its end.
        """
        streams = [stream for stream in self._streams if not stream.closing]
        for stream in streams:
            for start in range(0, len(data), chunk_bytes):
                stream.write(chunk(data[start : start + chunk_bytes]))
            stream.stats.bytes_injected += len(data)
        for stream in streams:
            if not stream.closing:
                with contextlib.suppress(ConnectionError):
                    await stream.writer.drain()
        return len(streams)

    def stall(self) -> None:
        """Open streams send nothing at all, neither prices nor heartbeats, until :meth:`resume`."""
        self._not_stalled.clear()
        self._update_flow()

    def resume(self) -> None:
        self._not_stalled.set()
        self._update_flow()

    def set_market_open(self, is_open: bool) -> None:
        """Closing sends each stream its latest prices as non-tradeable, then heartbeats only, as on weekends."""
        if is_open == self._market_open:
            return
        self._market_open = is_open
        if not is_open:
            for stream in self._streams:
                self._send_latest(stream)
        self._update_flow()

    def clear_faults(self) -> None:
        """Disarm refusals and scheduled cuts and resume stalled streams; the market stays as it is."""
        self._refusals.clear()
        for stream in self._streams:
            stream.cancel_cut()
        self.resume()

    # --- connections ---

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while True:
                try:
                    request = await read_request(reader)
                except RequestError as exc:
                    writer.write(self._render(exc.status, error_body(str(exc)), close=True))
                    return
                if request is None:
                    return
                outcome = self._route(request)
                status = 200 if isinstance(outcome, _StreamGrant) else outcome.status
                self.stats.requests.append(RequestRecord(request.method, request.path, status, time.monotonic()))
                if isinstance(outcome, _StreamGrant):
                    await self._serve_stream(outcome, reader, writer)
                    return
                writer.write(
                    self._render(outcome.status, outcome.body, close=not request.keep_alive, headers=outcome.headers)
                )
                if not request.keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except asyncio.CancelledError:
            # stop() cancels connections; ending quietly keeps asyncio's StreamReaderProtocol (Python 3.11) from
            # logging the cancelled handler task as an error.
            pass
        except Exception:
            logger.exception("oanda-v20 test server :%d: connection failed", self.port)
        finally:
            del self._connections[task]
            writer.close()

    def _render(self, status: int, body: bytes, *, close: bool, headers: Sequence[str] = ()) -> bytes:
        self._request_id += 1
        return render_response(status, body, request_id=self._request_id, close=close, headers=headers)

    def _route(self, request: HttpRequest) -> _Reply | _StreamGrant:
        """Answer as OANDA would; checked in turn: path, method, injected refusals, token, account, parameters."""
        stream_match = _STREAM_PATH.fullmatch(request.path)
        match = stream_match or _INSTRUMENTS_PATH.fullmatch(request.path)
        if match is None:
            return _error(404, MSG_NOT_FOUND)
        if request.method != "GET":
            return _error(405, MSG_METHOD_NOT_ALLOWED)
        refusal = self._take_refusal("stream" if stream_match else "rest")
        if refusal is not None:
            return refusal
        account_id = match[1]
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self._tokens:
            return _error(401, MSG_UNAUTHORIZED)
        if _ACCOUNT_ID.fullmatch(account_id) is None:
            return _error(400, MSG_BAD_ACCOUNT_ID)
        if account_id not in self._accounts:
            return _error(404, MSG_UNKNOWN_ACCOUNT)
        if self._accounts[account_id] != token.strip():
            return _error(403, MSG_FORBIDDEN)
        names = request.query.get("instruments")
        if names is None and stream_match is None:
            names = ",".join(self._instruments)
        instruments = self._check_instruments(names)
        if isinstance(instruments, _Reply):
            return instruments
        if stream_match is None:
            listed = [self._instruments[name].to_json() for name in instruments]
            return _Reply(
                200, json.dumps({"instruments": listed, "lastTransactionID": "1"}, separators=(",", ":")).encode()
            )
        snapshot = request.query.get("snapshot", "true").lower()
        if snapshot not in ("true", "false"):
            return _error(400, "Invalid value specified for 'snapshot'")
        if sum(stream.stats.account_id == account_id for stream in self._streams) >= self._max_streams_per_account:
            return _error(429, MSG_TOO_MANY_REQUESTS)
        return _StreamGrant(account_id, instruments, snapshot == "true")

    def _take_refusal(self, kind: Literal["stream", "rest"]) -> _Reply | None:
        for refusal in self._refusals:
            if refusal.paths in (kind, "all"):
                if refusal.remaining is not None:
                    refusal.remaining -= 1
                    if refusal.remaining <= 0:
                        self._refusals.remove(refusal)
                return _Reply(refusal.status, refusal.body, refusal.headers)
        return None

    def _check_instruments(self, names: str | None) -> tuple[str, ...] | _Reply:
        """The requested instruments, or OANDA's 400: malformed names first, then ones not offered."""
        requested = tuple(names.split(",")) if names else ()
        if not requested or any(INSTRUMENT_PATTERN.fullmatch(name) is None for name in requested):
            return _error(400, MSG_BAD_INSTRUMENTS)
        for name in requested:
            if name not in self._instruments:
                return _error(400, f"Invalid Instrument {name}")
        return requested

    async def _serve_stream(
        self, grant: _StreamGrant, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await self._not_stalled.wait()
        stats = StreamStats(len(self.stats.streams) + 1, grant.account_id, grant.instruments)
        self.stats.streams.append(stats)
        stream = _Stream(stats, writer, record=self._record_sent)
        self._request_id += 1
        stream.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n"
            b"RequestID: %d\r\n\r\n" % self._request_id
        )
        if grant.snapshot:
            self._send_latest(stream)
        self._streams.append(stream)
        self._update_flow()
        heartbeats = asyncio.create_task(self._send_heartbeats(stream), name=f"oanda-v20 heartbeats #{stats.number}")
        heartbeats.add_done_callback(_log_failure)
        try:
            while await reader.read(READ_SIZE_BYTES):
                pass  # a streaming client sends nothing more; this waits for it to go (or for a cut)
        finally:
            heartbeats.cancel()
            stats.open = False
            self._streams.remove(stream)
            self._update_flow()

    def _send_latest(self, stream: _Stream) -> None:
        """The latest price of each of the stream's instruments: its snapshot, or the closing notice."""
        if self._feed is None:
            return
        tails = [self._feed.tails[self._latest[name]] for name in stream.stats.instruments if name in self._latest]
        if not self._market_open:
            tails = [closed_tail(tail) for tail in tails]
        stamp = self._stamper.stamp()
        stream.send_prices(stamp, tails, render_lines(stamp, tails))

    async def _send_heartbeats(self, stream: _Stream) -> None:
        while not stream.closing:
            await asyncio.sleep(self._heartbeat_interval_s)
            await self._not_stalled.wait()
            stream.send_heartbeat(heartbeat_line(self._stamper.stamp()))

    def _update_flow(self) -> None:
        """Prices flow while someone listens, nothing is stalled and the market is open."""
        if self._streams and self._not_stalled.is_set() and self._market_open:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _run_pump(self, feed: PriceFeed) -> None:
        """Send the feed's lines to every open stream at the feed's pace, waiting for the slowest reader.

        When prices stop flowing (nobody listens, a stall, a closed market) the feed pauses and then resumes
        at its pace where it stopped, without a burst of the lines it would have sent meanwhile.
        """
        origin_ns = 0
        while True:
            if not self._flowing.is_set():
                await self._flowing.wait()
                origin_ns = time.monotonic_ns() - feed.offset_ns(self._seq)
            elapsed_ns = time.monotonic_ns() - origin_ns
            count = feed.lines_due(self._seq, elapsed_ns)
            if not count:
                await asyncio.sleep((feed.offset_ns(self._seq) - elapsed_ns) / NS_PER_S)
                continue
            self._broadcast(feed, self._seq % len(feed), count)
            self._seq += count
            for stream in list(self._streams):
                if not stream.closing:
                    with contextlib.suppress(ConnectionError):
                        await stream.writer.drain()
            await asyncio.sleep(0)  # let heartbeats and new clients in even when no socket is ever full

    def _broadcast(self, feed: PriceFeed, start: int, count: int) -> None:
        """Render lines ``start:start+count`` once per distinct set of instruments and write them to each stream."""
        stamp = self._stamper.stamp()
        tails = feed.tails[start : start + count]
        names = feed.instrument_names[start : start + count]
        for offset, name in enumerate(names):
            self._latest[name] = start + offset
        rendered: dict[frozenset[str], tuple[list[bytes], bytes]] = {}
        for stream in self._streams:
            entry = rendered.get(stream.instruments)
            if entry is None:
                wanted = stream.instruments
                subset = tails
                if not feed.instruments <= wanted:
                    subset = [tail for tail, name in zip(tails, names, strict=True) if name in wanted]
                entry = rendered[wanted] = (subset, render_lines(stamp, subset))
            stream.send_prices(stamp, *entry)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s failed", task.get_name(), exc_info=task.exception())


# --- command line -----------------------------------------------------------------------------------------


def _pace(text: str) -> Pace:
    if text in ("max", "recorded"):
        return "max" if text == "max" else "recorded"
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not 'max', 'recorded' or a number of lines per second") from None
    if not rate > 0:
        raise argparse.ArgumentTypeError("the rate must be positive")
    return rate


V20LineParser = Callable[[bytes], tuple[str, Any]]


def v20_stream_line_parser() -> V20LineParser:
    """The line parser OANDA's own ``v20`` client uses for pricing streams, for comparisons in benchmarks.

    ``v20.pricing.EntitySpec.stream`` builds it inside the method and hands it to the streaming Request;
    the Request is kept here instead of being sent, so no network I/O happens.
    """
    import v20  # here: v20 compiles with a SyntaxWarning, and the server itself does not need it

    context = v20.Context("127.0.0.1", 1, ssl=False, token="unused")
    requests: list[Any] = []
    context.request = requests.append
    context.pricing.stream("101-004-1234567-001", instruments="EUR_USD", snapshot=True)
    parser: V20LineParser = requests[0].line_parser
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; prints ``READY <port>`` once listening. Exit status 2 for usage errors."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.servers.oanda_v20", description="A local OANDA v20 server for benchmarks."
    )
    parser.add_argument("--port", type=int, default=0, help="0 (default) picks a free port")
    parser.add_argument("--account", default="101-001-1-001")
    parser.add_argument("--token-env", required=True, help="name of the variable holding the token")
    parser.add_argument("--feed", choices=("eurusd", "v20"), default="eurusd")
    parser.add_argument("--rate", type=_pace, default="recorded", help="max, recorded or lines per second")
    parser.add_argument("--speed", type=float, default=1.0, help="multiplies the recorded pace")
    parser.add_argument("--limit", type=int, default=None, help="first N recorded EUR/USD quotes only")
    parser.add_argument("--heartbeat-s", type=float, default=DEFAULT_HEARTBEAT_INTERVAL_S)
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="the recorded data folder")
    args = parser.parse_args(argv)
    token = os.environ.get(args.token_env)
    if not token:
        parser.error(f"environment variable {args.token_env} is not set")
    if args.feed == "eurusd":
        feed = PriceFeed.from_quote_files(
            args.data / "oanda-eurusd-ticks", limit=args.limit, rate=args.rate, speed=args.speed
        )
    else:
        feed = PriceFeed.from_v20_lines(
            sorted((args.data / "oanda-v20").glob("*.jsonl")), rate=args.rate, speed=args.speed
        )
    server = OandaV20Server(
        accounts={args.account: token},
        feed=feed,
        heartbeat_interval_s=args.heartbeat_s,
        record_sent=False,
        port=args.port,
    )
    uvloop.run(_serve(server))
    return 0


async def _serve(server: OandaV20Server) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    async with server:
        print(f"READY {server.port}", flush=True)
        await stopping.wait()


if __name__ == "__main__":
    sys.exit(main())
