"""OANDA v20 streaming price collector: one per configured account, reconnecting forever.

I/O only; every byte is turned into Quotes by :mod:`collectors.oanda.parsing`.

- **Instruments.** Before streaming, the account's instruments are read over
  REST with OANDA's own ``v20`` package (in a thread: it is synchronous). A
  configured instrument the account does not have is named in an error and
  left out; each instrument's ``pipLocation`` becomes the quality gate's pip.
- **Stream.** ``GET /v3/accounts/{id}/pricing/stream`` is read with httpx in
  raw chunks that are split into lines here: v20's own stream reader is
  synchronous (a thread per broker) and its parser builds an object graph per
  line, about 3x the cost of ours (README, "OANDA collector"; scripts/bench_oanda.py).
- **Liveness.** Any bytes (prices or OANDA's 5 s heartbeats) keep a stream
  alive; one silent for ``heartbeat_timeout_s`` (httpx's read timeout, which
  also bounds the wait for response headers) is dropped and reopened. A
  closed market sends heartbeats only, which is healthy.
- **Reconnects** go on forever with capped, jittered exponential backoff
  (reset after ``healthy_after_s`` of a good stream), at most 2 new connections
  per second per host, and ``Retry-After`` honoured on HTTP 429. A refused
  token (401/403), request (400) or unknown account (404) is retried only
  every ``refused_retry_s``.
- **Gaps.** Every change is published as a SourceStatus (CONNECTED,
  DISCONNECTED, RECONNECTED with the gap length, UNAUTHORIZED, REJECTED) and
  the first quote of each instrument on a new stream is marked ``snapshot``.
- **Bad lines** become counted rejections; the stream continues. Complete
  lines received before a cut are processed; a partial last line is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar, Final
from urllib.parse import urlsplit

import httpx
import v20

from collectors.base import MAX_EVENTS_PER_SUBMIT, Collector
from collectors.oanda.config import OandaConfig
from collectors.oanda.parsing import Heartbeat, error_message, parse_stream_line, pip_px_from_location
from collectors.reconnect import ConnectionPacer, parse_retry_after
from gateway.backoff import Backoff
from gateway.clock import NS_PER_S, now_ns
from gateway.errors import BadValueError, ConfigError, InputError, ProviderHttpError, SourceError
from gateway.events import BadInput, Event, StatusChange, TickSink
from gateway.schema.market.v1.market_pb2 import RejectionReason, SourceStatus

logger = logging.getLogger(__name__)

NEW_CONNECTIONS_PER_SECOND: Final = 2.0
STREAMS_PER_ACCOUNT: Final = 20
MALFORMED_LOG_INTERVAL_S: Final = 10.0
USER_AGENT: Final = "fxgw"


class _Limits:
    """OANDA's limits shared by all collectors of one event loop: new connections per host, streams per account."""

    def __init__(self) -> None:
        self.pacers: dict[str, ConnectionPacer] = {}
        self.stream_slots: dict[tuple[str, str], asyncio.Semaphore] = {}


_limits_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Limits] = weakref.WeakKeyDictionary()


@dataclass(slots=True)
class StreamStats:
    """A broker's connection state and counters, for status lines and /health."""

    state: SourceStatus.State = SourceStatus.STATE_UNSPECIFIED
    connects: int = 0
    disconnects: int = 0
    lines: int = 0
    prices: int = 0
    heartbeats: int = 0
    malformed: int = 0
    connected_since_ns: int = 0
    last_heartbeat_ns: int = 0
    last_data_ns: int = 0
    last_error: str = ""
    unauthorized: bool = False
    unavailable_instruments: tuple[str, ...] = ()


class OandaCollector(Collector[OandaConfig]):
    """Streams one account's prices into the sink; see the module docstring for the behaviour."""

    kind: ClassVar[str] = "oanda"

    def __init__(self, config: OandaConfig, sink: TickSink) -> None:
        """Reads the token (and account id) from the environment; a missing variable is a ConfigError."""
        super().__init__(config, sink)
        self._token = _environment(config.token_env, f"brokers[{config.id}].token_env")
        self.account_id = config.account_id or _environment(
            config.account_id_env or "", f"brokers[{config.id}].account_id_env"
        )
        self.rest_url, self.stream_url = config.hosts
        self.stats = StreamStats()
        self._instruments: tuple[str, ...] = config.instruments
        self._instruments_checked = False
        self._reported_missing: tuple[str, ...] = ()
        self._last_report: tuple[SourceStatus.State, str] | None = None
        self._malformed_logged_s = 0.0
        self._malformed_unlogged = 0

    async def run(self) -> None:
        stream_host = urlsplit(self.stream_url).netloc
        limits = _limits_by_loop.setdefault(asyncio.get_running_loop(), _Limits())
        pacer = limits.pacers.setdefault(stream_host, ConnectionPacer(NEW_CONNECTIONS_PER_SECOND))
        stream_slot = limits.stream_slots.setdefault(
            (stream_host, self.account_id), asyncio.Semaphore(STREAMS_PER_ACCOUNT)
        )
        backoff = Backoff(self.config.reconnect_min_s, self.config.reconnect_max_s)
        attempt = 0
        silent_since_ns = 0
        settings = self.config
        # The read timeout bounds every wait for bytes, the response headers included: it is the silence limit.
        timeout = httpx.Timeout(settings.connect_timeout_s, read=settings.heartbeat_timeout_s)
        headers = {"Authorization": f"Bearer {self._token}", "User-Agent": USER_AGENT}
        async with httpx.AsyncClient(timeout=timeout, headers=headers, trust_env=False) as client:
            while True:
                attempt += 1
                opened_ns = 0
                refusal: ProviderHttpError | None = None
                try:
                    if not self._instruments_checked:
                        await pacer.wait()
                        await self._check_instruments()
                    async with stream_slot:
                        await pacer.wait()
                        async with self._open_stream(client) as response:
                            opened_ns = self.stats.last_data_ns = now_ns()
                            await self._on_open(attempt, silent_since_ns, opened_ns)
                            await self._read_stream(response)
                    reason = "the server ended the stream"
                except ProviderHttpError as exc:
                    reason, refusal = str(exc), exc
                except httpx.ReadTimeout:
                    waited_for = "data, not even a heartbeat," if opened_ns else "a response"
                    reason = f"no {waited_for} for {settings.heartbeat_timeout_s:g} s"
                except (httpx.HTTPError, OSError, SourceError) as exc:
                    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                self.stats.last_error = reason
                if opened_ns:
                    # Prices stopped with the last bytes received, not when the silence was noticed.
                    silent_since_ns = self.stats.last_data_ns
                    if (now_ns() - opened_ns) / NS_PER_S >= settings.healthy_after_s:
                        backoff.reset()
                        attempt = 0
                    await self._report(SourceStatus.STATE_DISCONNECTED, reason, attempt=attempt)
                delay = await self._on_refusal(refusal, backoff) if refusal else backoff.next_delay()
                logger.warning("%s: %s; reconnecting in %.1f s", self.source_id, reason, delay)
                await asyncio.sleep(delay)

    @contextlib.asynccontextmanager
    async def _open_stream(self, client: httpx.AsyncClient) -> AsyncIterator[httpx.Response]:
        """The response of a stream that OANDA accepted; raises ProviderHttpError otherwise."""
        url = f"{self.stream_url}/v3/accounts/{self.account_id}/pricing/stream"
        params = {"instruments": ",".join(self._instruments), "snapshot": "true"}
        async with client.stream("GET", url, params=params) as response:
            if response.status_code != 200:
                body = await response.aread()
                raise self._http_error(response.status_code, body, response.headers.get("Retry-After"), "stream")
            yield response

    async def _on_open(self, attempt: int, silent_since_ns: int, opened_ns: int) -> None:
        self.stats.connects += 1
        self.stats.connected_since_ns = opened_ns
        self.stats.unauthorized = False
        if silent_since_ns:
            gap_s = (opened_ns - silent_since_ns) / NS_PER_S
            logger.info("%s: stream reopened after %.1f s (attempt %d)", self.source_id, gap_s, attempt)
            await self._report(
                SourceStatus.STATE_RECONNECTED,
                f"stream reopened after {gap_s:.3f} s without prices",
                gap_ns=opened_ns - silent_since_ns,
                attempt=attempt,
            )
        else:
            logger.info("%s: streaming %s from %s", self.source_id, ",".join(self._instruments), self.stream_url)
            await self._report(SourceStatus.STATE_CONNECTED, f"streaming {len(self._instruments)} instruments")

    async def _read_stream(self, response: httpx.Response) -> None:
        """Parse lines and submit events until the stream ends; httpx.ReadTimeout after a silence."""
        source = self.source_id
        sink = self.sink
        stats = self.stats
        awaiting_snapshot = set(self._instruments)
        partial = b""
        try:
            async for chunk in response.aiter_raw():
                recv_ns = stats.last_data_ns = now_ns()
                lines = chunk.split(b"\n")
                if partial:
                    lines[0] = partial + lines[0]
                partial = lines.pop()
                events: list[Event] = []
                for line in lines:
                    if not line or line == b"\r":
                        continue
                    stats.lines += 1
                    try:
                        parsed = parse_stream_line(line, source, recv_ns)
                    except InputError as exc:
                        events.append(self._bad_line(exc, recv_ns))
                        continue
                    if type(parsed) is Heartbeat:
                        stats.heartbeats += 1
                        stats.last_heartbeat_ns = recv_ns
                        continue
                    assert not isinstance(parsed, Heartbeat)
                    if awaiting_snapshot and parsed.instrument in awaiting_snapshot:
                        awaiting_snapshot.discard(parsed.instrument)
                        parsed.snapshot = True
                    stats.prices += 1
                    events.append(parsed)
                    if len(events) >= MAX_EVENTS_PER_SUBMIT:
                        await sink.submit(events)
                        events = []
                if events:
                    await sink.submit(events)
        except asyncio.CancelledError:
            partial = b""  # the gateway is stopping: a line cut by that is not the broker's fault
            raise
        finally:
            if partial:
                await sink.submit([self._truncated_line(partial)])

    def _bad_line(self, exc: InputError, recv_ns: int) -> BadInput:
        """A line that could not be parsed: counted, published as a rejection, logged at most every 10 s."""
        self.stats.malformed += 1
        reason = (
            RejectionReason.REJECTION_REASON_BAD_VALUE
            if isinstance(exc, BadValueError)
            else RejectionReason.REJECTION_REASON_MALFORMED
        )
        now_s = time.monotonic()
        if now_s - self._malformed_logged_s >= MALFORMED_LOG_INTERVAL_S:
            also = f" (and {self._malformed_unlogged} more since the last report)" if self._malformed_unlogged else ""
            logger.warning("%s: bad stream line: %s%s", self.source_id, exc, also)
            self._malformed_logged_s = now_s
            self._malformed_unlogged = 0
        else:
            self._malformed_unlogged += 1
        return BadInput(self.source_id, reason, str(exc), exc.raw, recv_ns, exc.instrument)

    def _truncated_line(self, partial: bytes) -> BadInput:
        self.stats.malformed += 1
        logger.warning("%s: stream ended in the middle of a line (%d bytes received)", self.source_id, len(partial))
        return BadInput(
            self.source_id,
            RejectionReason.REJECTION_REASON_MALFORMED,
            f"stream ended in the middle of a line ({len(partial)} bytes received)",
            partial,
            now_ns(),
        )

    async def _on_refusal(self, exc: ProviderHttpError, backoff: Backoff) -> float:
        """Report an HTTP error; return how long to wait before the next attempt."""
        if exc.refused_credentials:
            self.stats.unauthorized = True
            self._instruments_checked = False
            await self._report_once(SourceStatus.STATE_UNAUTHORIZED, str(exc))
            return self.config.refused_retry_s
        if exc.status in (400, 404):
            self._instruments_checked = False
            await self._report_once(SourceStatus.STATE_REJECTED, str(exc))
            return self.config.refused_retry_s
        delay = backoff.next_delay()
        return max(delay, exc.retry_after_s) if exc.retry_after_s is not None else delay

    async def _check_instruments(self) -> None:
        """Validate the configured instruments against the account and hand their pip sizes to the gate."""
        context = _rest_context(self.rest_url, self._token, self.config.connect_timeout_s)
        wanted = self.config.instruments
        try:
            response = await asyncio.to_thread(context.account.instruments, self.account_id)
        except Exception as exc:  # v20 raises its own and requests' exceptions, and JSON errors on odd bodies
            raise SourceError(f"{self.source_id}: instruments request to {self.rest_url} failed: {exc!r}") from exc
        if response.status != 200:
            raise self._http_error(
                response.status, (response.raw_body or "").encode(), response.headers.get("Retry-After"), "instruments"
            )
        available = {instrument.name: instrument for instrument in response.get("instruments", 200)}
        missing = tuple(name for name in wanted if name not in available)
        self.stats.unavailable_instruments = missing
        if missing and missing != self._reported_missing:
            detail = (
                f"{self.source_id}: account {self.account_id} cannot stream {', '.join(missing)} "
                f"(OANDA does not list them for it); streaming the others"
            )
            logger.error(detail)
            await self._report(SourceStatus.STATE_REJECTED, detail)
        self._reported_missing = missing
        streamable = tuple(name for name in wanted if name in available)
        if not streamable:
            raise ProviderHttpError(f"{self.source_id}: none of the configured instruments is available", status=400)
        pip_sizes: dict[str, int] = {}
        for name in streamable:
            try:
                pip_sizes[name] = pip_px_from_location(available[name].pipLocation)
            except BadValueError as exc:
                logger.warning("%s: %s: %s; using the configured or usual pip size", self.source_id, name, exc)
        self.sink.use_pip_sizes(self.source_id, pip_sizes)
        self._instruments = streamable
        self._instruments_checked = True

    def _http_error(self, status: int, body: bytes, retry_after: str | None, request: str) -> ProviderHttpError:
        message = error_message(body)
        if status in (401, 403):
            text = (
                f"{self.source_id}: OANDA refused the token from ${self.config.token_env} for account "
                f"{self.account_id} (HTTP {status}: {message})"
            )
        elif status == 400:
            text = (
                f"{self.source_id}: OANDA rejected the {request} request for "
                f"{', '.join(self._instruments)} (HTTP 400: {message})"
            )
        elif status == 404:
            text = f"{self.source_id}: OANDA does not know account {self.account_id} (HTTP 404: {message})"
        elif status == 429:
            text = f"{self.source_id}: OANDA rate limit (HTTP 429: {message})"
        else:
            text = f"{self.source_id}: {request} request failed with HTTP {status}: {message}"
        return ProviderHttpError(text, status=status, retry_after_s=parse_retry_after(retry_after))

    async def _report(self, state: SourceStatus.State, detail: str, *, gap_ns: int = 0, attempt: int = 0) -> None:
        self._last_report = (state, detail)
        self.stats.state = state
        if state == SourceStatus.STATE_DISCONNECTED:
            self.stats.disconnects += 1
            self.stats.connected_since_ns = 0
        snapshot = state in (SourceStatus.STATE_CONNECTED, SourceStatus.STATE_RECONNECTED)
        await self.sink.report_status(
            self.source_id, StatusChange(state, detail, gap_ns=gap_ns, attempt=attempt, snapshot=snapshot)
        )

    async def _report_once(self, state: SourceStatus.State, detail: str) -> None:
        """Report a refusal once, not again on every slow retry that gets the same answer."""
        if self._last_report != (state, detail):
            await self._report(state, detail)


def _environment(name: str, key: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"{key}: environment variable {name} is not set or empty")
    return value


def _rest_context(rest_url: str, token: str, timeout_s: float) -> v20.Context:
    parts = urlsplit(rest_url)
    secure = parts.scheme == "https"
    return v20.Context(
        parts.hostname,
        parts.port or (443 if secure else 80),
        ssl=secure,
        application=USER_AGENT,
        token=token,
        datetime_format="RFC3339",
        poll_timeout=timeout_s,
    )
