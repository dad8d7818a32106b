"""``fxgw reference fetch``: download Dukascopy hourly tick files for a window into a directory.

Each hour of ``[since, until)`` is one ``GET {base_url}/SYMBOL/YYYY/MM/DD/HHh_ticks.bi5`` (0-based month),
fetched by at most ``concurrency`` workers at once. What each answer means:

- 200: the body (at most :data:`MAX_BODY_BYTES`) is checked to decode (parsing.decode_hour), written to a
  temporary file beside its place and renamed onto it, so a file in the directory is always complete and a
  partial download is never kept. A 0-byte body is an hour without ticks, kept as a 0-byte file.
- 404: the hour does not exist at Dukascopy; counted, nothing written.
- 5xx, a timeout, a cut connection, a truncated or undecodable body: tried again after a jittered backoff
  (gateway.backoff), up to ``max_attempts`` times, then counted as failed.
- 429: tried again after the server's ``Retry-After`` (collectors.streaming.parse_retry_after), else backoff.
- any other status: failed at once.

Resumable: an hour whose file exists is not fetched again. The run ends with a :class:`FetchSummary`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from collectors.dukascopy.files import window_hours
from collectors.dukascopy.parsing import decode_hour, describe_hour, dukascopy_symbol, hour_path
from collectors.streaming import parse_retry_after
from gateway.backoff import Backoff
from gateway.errors import ConfigError, InputError, SourceError
from gateway.instruments import INSTRUMENT_PATTERN

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://datafeed.dukascopy.com/datafeed"
DEFAULT_CONCURRENCY: Final = 4
MAX_CONCURRENCY: Final = 32
DEFAULT_TIMEOUT_S: Final = 30.0
DEFAULT_MAX_ATTEMPTS: Final = 6
RETRY_MIN_S: Final = 0.5
RETRY_MAX_S: Final = 30.0
MAX_BODY_BYTES: Final = 64 * 1024 * 1024
"""Largest body accepted for one hour; real hourly files are tens of kilobytes (a busy hour about 100 KB)."""
MAX_HOURS: Final = 24 * 366 * 20
"""Most hours one fetch may cover (20 years), so that a mistyped window does not start millions of requests."""
USER_AGENT: Final = "fxgw-reference-fetch"
CHECK_POINT_PX: Final = 1
"""Point used when checking that a body decodes: the check is of the records' shape, any point will do."""


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One ``fxgw reference fetch``: an instrument's hours in ``[since_ns, until_ns)`` into ``directory``."""

    instrument: str
    since_ns: int
    until_ns: int
    directory: Path
    base_url: str = DEFAULT_BASE_URL
    concurrency: int = DEFAULT_CONCURRENCY
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_min_s: float = RETRY_MIN_S
    retry_max_s: float = RETRY_MAX_S

    def __post_init__(self) -> None:
        if INSTRUMENT_PATTERN.fullmatch(self.instrument) is None:
            raise ConfigError(f"--instrument: {self.instrument[:40]!r} is not of the form BASE_QUOTE (e.g. EUR_USD)")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ConfigError(f"--concurrency: {self.concurrency} is not between 1 and {MAX_CONCURRENCY}")
        if self.until_ns <= self.since_ns:
            raise ConfigError("--until must be after --since")
        if len(window_hours(self.since_ns, self.until_ns)) > MAX_HOURS:
            raise ConfigError(f"the window covers more than {MAX_HOURS:,} hours; fetch it in parts")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"--base-url: {self.base_url[:80]!r} is not an http(s) URL")


@dataclass(slots=True)
class FetchSummary:
    """What a fetch did, hour by hour."""

    hours: int = 0
    fetched: int = 0
    empty: int = 0
    """Of ``fetched``, the hours without ticks (kept as 0-byte files)."""
    present: int = 0
    """Already complete in the directory: not fetched again."""
    not_found: int = 0
    failed: int = 0
    retries: int = 0
    bytes: int = 0
    elapsed_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    """Why each failed hour failed (its path and the last error)."""

    def line(self) -> str:
        """The one-line summary printed at the end."""
        return (
            f"{self.hours:,} hours: {self.fetched:,} fetched ({self.empty:,} without ticks, {self.bytes:,} bytes), "
            f"{self.present:,} already present, {self.not_found:,} not found (404), {self.failed:,} failed, "
            f"{self.retries:,} retries, {self.elapsed_s:.1f} s"
        )


Progress = Callable[[int], None]
"""Called with 1 as each hour is settled (a progress bar's ``update``)."""


class _Retry(Exception):
    """An attempt that may succeed if tried again; ``after_s`` is the server's wait, if it gave one."""

    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.after_s = after_s


async def fetch_window(request: FetchRequest, progress: Progress | None = None) -> FetchSummary:
    """Fetch every hour of the request; raises ConfigError for a bad instrument, never for one hour's failure."""
    symbol = dukascopy_symbol(request.instrument)
    hours = window_hours(request.since_ns, request.until_ns)
    summary = FetchSummary(hours=len(hours))
    started = time.perf_counter()
    pending: Iterator[int] = iter(hours)
    timeout = httpx.Timeout(request.timeout_s)
    limits = httpx.Limits(max_connections=request.concurrency, max_keepalive_connections=request.concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, headers={"User-Agent": USER_AGENT}) as client:

        async def worker() -> None:
            for hour_start in pending:
                await _fetch_hour(client, request, symbol, hour_start, summary)
                if progress is not None:
                    progress(1)

        async with asyncio.TaskGroup() as group:
            for number in range(min(request.concurrency, len(hours))):
                group.create_task(worker(), name=f"dukascopy-fetch-{number}")
    summary.elapsed_s = time.perf_counter() - started
    return summary


async def _fetch_hour(
    client: httpx.AsyncClient, request: FetchRequest, symbol: str, hour_start: int, summary: FetchSummary
) -> None:
    relative = hour_path(symbol, hour_start)
    target = request.directory / relative
    if target.is_file():
        summary.present += 1
        return
    url = f"{request.base_url.rstrip('/')}/{relative}"
    backoff = Backoff(request.retry_min_s, request.retry_max_s)
    reason = ""
    for attempt in range(1, request.max_attempts + 1):
        try:
            body = await _get(client, url)
        except _Retry as exc:
            reason = str(exc)
            if attempt == request.max_attempts:
                break
            delay = exc.after_s if exc.after_s is not None else backoff.next_delay()
            logger.info("dukascopy fetch: %s: %s; attempt %d in %.1f s", relative, reason, attempt + 1, delay)
            summary.retries += 1
            await asyncio.sleep(delay)
            continue
        except SourceError as exc:
            reason = str(exc)
            break
        if body is None:
            summary.not_found += 1
            return
        try:
            decode_hour(body, hour_start, CHECK_POINT_PX, source=url)
        except InputError as exc:  # a body cut short without the transport noticing: try again
            reason = f"undecodable body ({exc})"
            if attempt == request.max_attempts:
                break
            summary.retries += 1
            await asyncio.sleep(backoff.next_delay())
            continue
        try:
            _write_complete(target, body)
        except SourceError as exc:
            reason = str(exc)
            break
        summary.fetched += 1
        summary.empty += not body
        summary.bytes += len(body)
        return
    summary.failed += 1
    summary.failures.append(f"{relative} ({describe_hour(hour_start)}): {reason}")
    logger.warning("dukascopy fetch: %s failed: %s", relative, reason)


async def _get(client: httpx.AsyncClient, url: str) -> bytes | None:
    """The body of ``url``; None for 404. Raises _Retry (transient) or SourceError (refused)."""
    try:
        async with client.stream("GET", url) as response:
            status = response.status_code
            if status == 404:
                return None
            if status == 429:
                raise _Retry("429 Too Many Requests", parse_retry_after(response.headers.get("Retry-After")))
            if status >= 500:
                raise _Retry(f"HTTP {status}")
            if status != 200:
                raise SourceError(f"HTTP {status} for {url}")
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise SourceError(f"{url}: body of {int(declared):,} bytes is over {MAX_BODY_BYTES:,}; refused")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise SourceError(f"{url}: body over {MAX_BODY_BYTES:,} bytes; refused")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TimeoutException as exc:
        raise _Retry(f"timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:  # refused, reset, cut mid-body (RemoteProtocolError)
        raise _Retry(f"connection failed ({type(exc).__name__}: {exc})") from exc


def _write_complete(target: Path, body: bytes) -> None:
    """Write ``body`` to a temporary file beside ``target`` and rename it there: all or nothing."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(body)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as exc:
        raise SourceError(f"{target}: cannot write ({exc.strerror or exc})") from exc
