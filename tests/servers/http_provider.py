"""A local HTTP provider: real HTTP/1.1 on loopback, answering what a test tells it to, with faults injected.

Every HTTP provider of the tests (FRED, CoinGecko, ForexFactory, Dukascopy's datafeed, ...) is this one server
with different answers, so the faults behave the same everywhere::

    async with ProviderServer() as server:
        server.serve("/fred/series/observations", Reply(body=recorded_bytes, etag='"v1"'))
        server.inject("/fred/series/observations", Fault.too_many("2"), Fault.unavailable())
        ... GET f"{server.base_url}/fred/series/observations?series_id=GDP" ...
        assert server.requests[0].query["series_id"] == ["GDP"]

- :meth:`ProviderServer.serve` registers the answer of a path: a :class:`Reply`, or a function of the
  :class:`SeenRequest` returning one (to answer per query parameter, or differently on each poll). A path
  with no answer gets :attr:`ProviderServer.fallback`'s, else ``404``.
- A :class:`Reply` with ``etag`` or ``last_modified`` sends ``ETag`` / ``Last-Modified`` and answers
  ``304 Not Modified`` without a body to a request whose ``If-None-Match`` / ``If-Modified-Since`` matches.
- :meth:`ProviderServer.inject` queues faults per path, one per request, in order: ``Fault.not_found()`` (404),
  ``Fault.unavailable(status)`` (503 by default), ``Fault.too_many(retry_after)`` (429 with ``Retry-After``),
  ``Fault.slow(seconds)`` (the answer starts after ``seconds``), ``Fault.truncated(keep_bytes,
  declare_length=)`` (the headers, with the full ``Content-Length`` when ``declare_length`` else none, then
  only ``keep_bytes`` of the body, then the connection is closed) and ``Fault.answer(reply)`` (that Reply
  instead of the path's: an HTML page where JSON was expected, an error body, ...).
- Every request is kept in :attr:`ProviderServer.requests` as a :class:`SeenRequest`.
- :meth:`ProviderServer.stop` closes the listening socket and every open connection (the provider is down);
  :meth:`ProviderServer.start` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit

REQUEST_HEAD_LIMIT_BYTES: Final = 16 * 1024
"""Longest request head read; a longer one closes the connection (the clients under test send a few hundred)."""
STOP_TIMEOUT_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer: status, body, content type, extra headers, and the validators that make it conditional."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    etag: str | None = None
    """Sent as ``ETag`` (give it quoted, ``'"v1"'``); a request with a matching ``If-None-Match`` gets 304."""
    last_modified: str | None = None
    """Sent as ``Last-Modified`` (an HTTP date); a request whose ``If-Modified-Since`` is the same gets 304."""


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """A request as the server received it; header names lower-case, query values in order of appearance."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


Answer = Reply | Callable[[SeenRequest], Reply]


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected answer; build with the class methods."""

    status: int = 200
    retry_after: str | None = None
    delay_s: float = 0.0
    keep_bytes: int | None = None
    declare_length: bool = True
    reply: Reply | None = None

    @classmethod
    def not_found(cls) -> Fault:
        return cls(status=404)

    @classmethod
    def unavailable(cls, status: int = 503) -> Fault:
        return cls(status=status)

    @classmethod
    def too_many(cls, retry_after: str) -> Fault:
        return cls(status=429, retry_after=retry_after)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(delay_s=seconds)

    @classmethod
    def truncated(cls, keep_bytes: int, *, declare_length: bool = True) -> Fault:
        return cls(keep_bytes=keep_bytes, declare_length=declare_length)

    @classmethod
    def answer(cls, reply: Reply) -> Fault:
        return cls(reply=reply)


class ProviderServer:
    """Serves registered answers on a free loopback port (the same port again after :meth:`stop` and :meth:`start`)."""

    def __init__(self) -> None:
        self.requests: list[SeenRequest] = []
        self.fallback: Callable[[SeenRequest], Reply] | None = None
        """The answer for paths without one of their own (None: 404)."""
        self.port = 0
        self._answers: dict[str, Answer] = {}
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, path: str, reply: Answer) -> None:
        """Answer requests of ``path`` (no query) with ``reply`` from now on."""
        self._answers[path] = reply

    def inject(self, path: str, *faults: Fault) -> None:
        """Answer the next requests of ``path`` with ``faults``, one per request, in order."""
        self._faults[path].extend(faults)

    def paths(self) -> list[str]:
        """The path of every request so far, in order."""
        return [request.path for request in self.requests]

    async def start(self) -> None:
        """Listen (again): on a free port the first time, on the same port after :meth:`stop`."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every open connection, as a provider that went down."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), STOP_TIMEOUT_S)
            self._server = None

    async def __aenter__(self) -> ProviderServer:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None or not await self._answer(request, writer):
                    return
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, request: SeenRequest, writer: asyncio.StreamWriter) -> bool:
        """Write one answer; False when the connection is to be closed."""
        self.requests.append(request)
        queued = self._faults.get(request.path)
        fault = queued.popleft() if queued else Fault()
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.status != 200:
            extra = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
            reply = Reply(status=fault.status, content_type="text/plain", headers=extra)
        elif fault.reply is not None:
            reply = fault.reply
        else:
            reply = self._reply_for(request)
        if _not_modified(reply, request):
            writer.write(_head(304, None, reply, keep_alive=True))  # h11 and browsers know 304 has no body
            await writer.drain()
            return True
        if fault.keep_bytes is not None:
            length = len(reply.body) if fault.declare_length else None
            writer.write(_head(reply.status, length, reply, keep_alive=False) + reply.body[: fault.keep_bytes])
            await writer.drain()
            return False
        writer.write(_head(reply.status, len(reply.body), reply, keep_alive=True) + reply.body)
        await writer.drain()
        return True

    def _reply_for(self, request: SeenRequest) -> Reply:
        if request.method != "GET":
            return Reply(status=405, content_type="text/plain")
        answer = self._answers.get(request.path)
        if answer is None:
            return self.fallback(request) if self.fallback is not None else Reply(status=404, content_type="text/plain")
        return answer if isinstance(answer, Reply) else answer(request)


async def _read_request(reader: asyncio.StreamReader) -> SeenRequest | None:
    """The next request of a connection (its body, if any, read and ignored); None when the connection ends."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    if len(head) > REQUEST_HEAD_LIMIT_BYTES:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    method, target, _ = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length", "0")
    if length.isdecimal() and int(length):
        try:
            await reader.readexactly(int(length))
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
    url = urlsplit(target)
    return SeenRequest(method, unquote(url.path), parse_qs(url.query, keep_blank_values=True), headers)


def _not_modified(reply: Reply, request: SeenRequest) -> bool:
    """Whether the request's validators match the reply's (only a 200 is ever answered 304)."""
    if reply.status != 200:
        return False
    if reply.etag is not None and "if-none-match" in request.headers:
        return reply.etag in [tag.strip() for tag in request.headers["if-none-match"].split(",")]
    if reply.last_modified is not None and "if-modified-since" in request.headers:
        return request.headers["if-modified-since"] == reply.last_modified
    return False


def _head(status: int, length: int | None, reply: Reply, *, keep_alive: bool) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {status} {phrase}"]
    if status != 304:
        lines.append(f"Content-Type: {reply.content_type}")
        if length is not None:
            lines.append(f"Content-Length: {length}")
    if not keep_alive:
        lines.append("Connection: close")
    if reply.etag is not None:
        lines.append(f"ETag: {reply.etag}")
    if reply.last_modified is not None:
        lines.append(f"Last-Modified: {reply.last_modified}")
    lines.extend(f"{name}: {value}" for name, value in reply.headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
