"""A local Dukascopy datafeed: real HTTP/1.1 on loopback serving a directory in Dukascopy's URL layout.

``GET /datafeed/SYMBOL/YYYY/MM/DD/HHh_ticks.bi5`` (0-based month, as Dukascopy) answers the file under
``root`` with ``200`` and its bytes (a 0-byte file is an empty 200, as Dukascopy answers an hour without
ticks), or ``404``. Faults are injected per path, one per request, in order (:meth:`DukascopyServer.inject`):

- ``Fault.not_found()``: 404 although the file exists;
- ``Fault.unavailable()``: 503;
- ``Fault.too_many(retry_after)``: 429 with ``Retry-After``;
- ``Fault.slow(seconds)``: the answer starts after ``seconds``;
- ``Fault.truncated(keep_bytes, declare_length)``: the headers (with the full ``Content-Length`` when
  ``declare_length``, else none), then only ``keep_bytes`` of the body, then the connection is closed.

Every request's path is kept in ``requests``. Used by tests/integration/test_dukascopy_fetch.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final
from urllib.parse import unquote, urlsplit

PREFIX: Final = "/datafeed/"
REQUEST_HEAD_LIMIT_BYTES: Final = 16 * 1024


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected answer; build with the class methods."""

    status: int = 200
    retry_after: str | None = None
    delay_s: float = 0.0
    keep_bytes: int | None = None
    declare_length: bool = True

    @classmethod
    def not_found(cls) -> Fault:
        return cls(status=404)

    @classmethod
    def unavailable(cls) -> Fault:
        return cls(status=503)

    @classmethod
    def too_many(cls, retry_after: str) -> Fault:
        return cls(status=429, retry_after=retry_after)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(delay_s=seconds)

    @classmethod
    def truncated(cls, keep_bytes: int, *, declare_length: bool = True) -> Fault:
        return cls(keep_bytes=keep_bytes, declare_length=declare_length)


class DukascopyServer:
    """Serves ``root`` on a free loopback port; ``base_url`` is what ``fxgw reference fetch --base-url`` takes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/datafeed"

    def inject(self, path: str, *faults: Fault) -> None:
        """Answer the next requests of ``path`` (``EURUSD/2019/01/04/00h_ticks.bi5``) with ``faults``, in order."""
        self._faults[path].extend(faults)

    async def __aenter__(self) -> DukascopyServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                if len(head) > REQUEST_HEAD_LIMIT_BYTES:
                    return
                method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
                path = unquote(urlsplit(target).path)
                if not await self._answer(method, path, writer):
                    return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, method: str, path: str, writer: asyncio.StreamWriter) -> bool:
        """Write one answer; False when the connection is to be closed."""
        relative = path[len(PREFIX) :] if path.startswith(PREFIX) else ""
        self.requests.append(relative)
        queued = self._faults.get(relative)
        fault = queued.popleft() if queued else Fault()
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        file = self.root / relative
        if method != "GET":
            writer.write(_head(405, 0))
        elif fault.status != 200:
            extra = f"Retry-After: {fault.retry_after}\r\n" if fault.retry_after is not None else ""
            writer.write(_head(fault.status, 0, extra))
        elif not relative or ".." in Path(relative).parts or not file.is_file():
            writer.write(_head(404, 0))
        else:
            body = file.read_bytes()
            if fault.keep_bytes is not None:
                writer.write(_head(200, len(body) if fault.declare_length else None) + body[: fault.keep_bytes])
                await writer.drain()
                return False
            writer.write(_head(200, len(body)) + body)
        await writer.drain()
        return True


def _head(status: int, length: int | None, extra: str = "") -> bytes:
    reasons = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 429: "Too Many Requests", 503: "Unavailable"}
    sized = f"Content-Length: {length}\r\n" if length is not None else "Connection: close\r\n"
    text = f"HTTP/1.1 {status} {reasons.get(status, 'Error')}\r\n{sized}Content-Type: application/octet-stream\r\n"
    return (text + extra + "\r\n").encode("latin-1")
