"""The lifecycle of a collector that holds a stream open to its provider: connect, watch, reconnect, report.

:class:`StreamingCollector` owns everything that is the same for every streaming source; a subclass
(``collectors/oanda/``) fills a few documented hooks: where the stream comes from (``endpoint``), what
to check before connecting (``prepare``), the provider's limits on connections (``connection_slot``),
how to open the stream (``open_stream``) and how its bytes become events (``new_framing``, pure: see
:class:`StreamFraming`).

- **Reconnects forever**, with capped exponential backoff and jitter (gateway.backoff) between attempts,
  reset after ``healthy_after_s`` of a good stream. Providers' limits on new connections are kept with a
  :class:`ConnectionPacer` per host.
- **Silence watchdog**: any bytes keep a stream alive; a stream (or a response) that stays silent for
  ``heartbeat_timeout_s`` is dropped and reopened (:class:`SilenceWatchdog`). Time spent handing events to a
  slow pipeline is not silence.
- **Refusals** (gateway.errors.ProviderHttpError, or ProviderRefusalError for a protocol other than HTTP):
  refused credentials (401/403, ``unauthorized``) and refused requests (400/404, ``rejected``) are reported
  once as UNAUTHORIZED or REJECTED and retried only every ``refused_retry_s``, after
  :meth:`~StreamingCollector.prepare` runs again; a ``Retry-After`` (HTTP 429, or a refusal's
  ``retry_after_s``) is honoured, at most :data:`MAX_RETRY_AFTER_S`.
- **Instruments the provider does not offer** are left out by :meth:`~StreamingCollector.narrow_instruments`,
  named on /health and reported once as REJECTED.
- **Gaps are visible**: every change is published as a SourceStatus (CONNECTED, DISCONNECTED with the reason,
  RECONNECTED with the time without a stream and the attempt); a CONNECTED or RECONNECTED status says a
  snapshot of current prices follows. :attr:`~StreamingCollector.connection` keeps what operations read
  beyond the statuses (gateway.events.ConnectionHealth).
- **Bad input** becomes counted rejections, logged at most every ``BAD_INPUT_LOG_INTERVAL_S`` with the count
  since and at most ``LOG_CHARS`` of the input; the stream goes on. What was received before a cut is
  delivered; a message cut in half is reported as MALFORMED.
- **A failure the base does not expect** (an exception that is neither a gateway error nor one of
  :attr:`~StreamingCollector.transient_errors`: a bug) ends :meth:`~StreamingCollector.run` for the gateway's
  supervisor to restart it, but is reported like a disconnect first: DISCONNECTED with the error (and a
  message cut in half as MALFORMED), then RECONNECTED with the whole gap once the restarted collector
  streams again.
- **No secret in any text**: every reason shown (logs, ``connection.last_error``, status details) is passed
  through gateway.secrets.redact and clipped, since a client library's error may quote request headers.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterable, AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import ClassVar, Final, Protocol, TypeVar

from pydantic import Field, model_validator

from collectors.base import MAX_EVENTS_PER_SUBMIT, Collector, CollectorConfig
from gateway.backoff import Backoff
from gateway.clock import NS_PER_S, now_ns
from gateway.echo import LOG_CHARS, clip
from gateway.errors import ProviderHttpError, ProviderRefusalError, SourceError
from gateway.events import BadInput, ConnectionHealth, Event, StatusChange, TickSink, connection_delivers
from gateway.logs import ThrottledLog
from gateway.schema.market.v1.market_pb2 import RejectionReason, SourceStatus
from gateway.secrets import redact

logger = logging.getLogger(__name__)

BAD_INPUT_LOG_INTERVAL_S: Final = 10.0
"""A source sending garbage would flood the log: bad input is logged at most this often, with the count since."""
MAX_RETRY_AFTER_S: Final = 3600.0
"""A Retry-After longer than an hour is taken as a mistake and capped."""


class StreamingConfig(CollectorConfig):
    """Connection settings every streaming source has; the defaults suit OANDA (heartbeats every 5 s)."""

    heartbeat_timeout_s: float = Field(
        default=15.0,
        gt=0,
        description="A stream silent this long is reopened: 3 missed heartbeats of a provider sending one every 5 s.",
    )
    connect_timeout_s: float = Field(default=10.0, gt=0, description="Most establishing a connection may take.")
    reconnect_min_s: float = Field(default=0.5, gt=0, description="First delay after a failure; doubles up to max.")
    reconnect_max_s: float = Field(
        default=10.0, gt=0, description="Longest wait between attempts: also the longest gap after the source is back."
    )
    healthy_after_s: float = Field(
        default=30.0, gt=0, description="A stream that lived this long resets the backoff to reconnect_min_s."
    )
    refused_retry_s: float = Field(
        default=60.0,
        gt=0,
        description="Wait after the provider refused the credentials (401/403) or the request (400/404).",
    )

    @model_validator(mode="after")
    def _backoff_range(self) -> StreamingConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be below reconnect_min_s")
        return self


StreamingConfigT = TypeVar("StreamingConfigT", bound=StreamingConfig)


class ConnectionPacer:
    """Spaces new connections to one host at least ``1 / per_second`` apart, across all its users."""

    def __init__(self, per_second: float) -> None:
        self._interval_s = 1.0 / per_second
        self._next_slot = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when a new connection may be opened."""
        async with self._lock:
            now = time.monotonic()
            if self._next_slot > now:
                await asyncio.sleep(self._next_slot - now)
                now = time.monotonic()
            self._next_slot = now + self._interval_s


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` header (delta-seconds or HTTP-date); None if absent or invalid."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:  # HTTP dates are always UTC (RFC 9110 5.6.7), also in the asctime form
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp() - (time.time() if now_s is None else now_s)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


Framed = tuple[list[Event], int, int, int]
"""What one chunk of a stream held: ``(events, prices, heartbeats, malformed)``.

The events (Quotes, and a BadInput for each malformed message) in stream order, then how many messages of
each kind. A plain tuple: one is built per chunk, often per line, and building a dataclass instead took
0.3 us (0.7 us frozen) on the benchmark machine, against 5 us for a whole line.
"""


class StreamFraming(Protocol):
    """Turns the bytes of one stream into events, chunk by chunk: pure, no I/O, the receive time passed in.

    One per opened stream (it holds what a stream's first messages need, such as snapshot marking).
    """

    partial: bytes
    """The start of a message whose end has not arrived yet; b"" between whole messages."""
    last_heartbeat_ns: int
    """The broker time of the last heartbeat fed (ns since the epoch; 0 before any, or without heartbeats)."""

    def feed(self, chunk: bytes, recv_ns: int) -> Framed:
        """The events of the messages that ``chunk`` completes, all stamped ``recv_ns``."""
        ...


@dataclass(slots=True)
class StreamStats:
    """A streaming collector's counters since it started, for benchmarks and diagnostics."""

    connects: int = 0
    disconnects: int = 0
    prices: int = 0
    heartbeats: int = 0
    malformed: int = 0
    last_data_ns: int = 0
    """When the last bytes arrived (wall clock, ns): where a gap starts."""

    @property
    def messages(self) -> int:
        """Prices, heartbeats and malformed messages."""
        return self.prices + self.heartbeats + self.malformed


class SilenceWatchdog:
    """Raises TimeoutError in the task inside it once that task waited ``timeout_s`` for bytes and got none.

    The reader sets ``waiting_since_s`` (``time.monotonic()``) when it starts waiting and None while it
    hands events on, so backpressure is not silence. The timer is lazy: it fires ``timeout_s`` after the
    wait began and, while bytes keep coming, re-arms itself for the rest, so a chunk costs two stores
    instead of a timer rescheduled per read. One watchdog per connection attempt.
    """

    __slots__ = ("_handle", "_loop", "_timeout", "timeout_s", "waiting_since_s")

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.waiting_since_s: float | None = None
        self._timeout: asyncio.Timeout | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def expired(self) -> bool:
        """Whether the silence limit ended the block."""
        return self._timeout is not None and self._timeout.expired()

    async def __aenter__(self) -> SilenceWatchdog:
        self._loop = asyncio.get_running_loop()
        self._timeout = asyncio.timeout(None)
        await self._timeout.__aenter__()
        self.waiting_since_s = time.monotonic()
        self._handle = self._loop.call_later(self.timeout_s, self._check)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
        assert self._timeout is not None
        await self._timeout.__aexit__(exc_type, exc, traceback)

    def _check(self) -> None:
        assert self._loop is not None and self._timeout is not None
        since = self.waiting_since_s
        if since is None:  # handing events on: look again a whole limit later
            delay = self.timeout_s
        else:
            delay = since + self.timeout_s - time.monotonic()
            if delay <= 0:
                self._timeout.reschedule(self._loop.time())  # cancels the task; its exit raises TimeoutError
                return
        self._handle = self._loop.call_later(delay, self._check)


class StreamingCollector(Collector[StreamingConfigT]):
    """Keeps one stream from a provider open forever and delivers its events; see the module docstring.

    Subclasses implement :meth:`endpoint`, :meth:`open_stream` and :meth:`new_framing`, and may implement
    :meth:`prepare` and :meth:`connection_slot`; errors that mean "try again" and are not gateway errors are
    listed in :attr:`transient_errors`. A subclass may narrow :attr:`instruments` (in :meth:`prepare`) to
    what the provider offers.
    """

    transient_errors: ClassVar[tuple[type[Exception], ...]] = (OSError, SourceError)
    """Errors that end an attempt and are retried with backoff (a subclass adds its client library's)."""

    def __init__(self, config: StreamingConfigT, sink: TickSink) -> None:
        super().__init__(config, sink)
        self.instruments: tuple[str, ...] = config.instruments
        """The instruments streamed; the configured ones unless :meth:`prepare` leaves some out."""
        self.stats = StreamStats()
        self._health = ConnectionHealth()
        self._watchdog = SilenceWatchdog(config.heartbeat_timeout_s)  # the current attempt's; deliver marks it
        self._prepared = False
        self._silent_since_ns = 0
        """When the last stream's bytes stopped (wall clock, ns); 0 before the first stream. Kept across runs,
        so that a run restarted after a failure reports the whole gap."""
        self._last_report: tuple[SourceStatus.State, str] | None = None
        self._reported_missing: tuple[str, ...] = ()
        self._bad_input_log = ThrottledLog(logger, BAD_INPUT_LOG_INTERVAL_S)

    @property
    def connection(self) -> ConnectionHealth:
        """Kept up to date here: refused credentials, why the last attempt ended, instruments left out."""
        return self._health

    # -- hooks ---------------------------------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def endpoint(self) -> str:
        """Where the stream comes from, for logs: a URL or host, never a credential."""

    async def prepare(self) -> None:
        """Run before the first stream and again after the provider refused the credentials or the request.

        Raises ProviderHttpError or one of :attr:`transient_errors`; the attempt then fails like a connection.
        The default does nothing.
        """

    def connection_slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Entered before a stream is opened and held until it ends: the provider's limits on connections.

        Waiting for it is not silence. The default has no limits.
        """
        return contextlib.nullcontext()

    @abc.abstractmethod
    def open_stream(self) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Open the stream of :attr:`instruments`: its chunks of bytes as they arrive.

        Raises ProviderHttpError when the provider answers with an error, or one of :attr:`transient_errors`.
        """

    @abc.abstractmethod
    def new_framing(self) -> StreamFraming:
        """The framing of a newly opened stream."""

    # -- the lifecycle -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Stream, and reopen the stream whenever it ends, until cancelled.

        An exception other than a gateway error or one of :attr:`transient_errors` is reported like a
        disconnect (see the module docstring) and raised for the supervisor.
        """
        settings = self.config
        backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        attempt = 0
        while True:
            attempt += 1
            opened_ns = 0
            refusal: ProviderHttpError | ProviderRefusalError | None = None
            framing: StreamFraming | None = None
            self._watchdog = watchdog = SilenceWatchdog(settings.heartbeat_timeout_s)
            try:
                if not self._prepared:
                    await self.prepare()
                    self._prepared = True
                async with self.connection_slot(), watchdog, self.open_stream() as chunks:
                    watchdog.waiting_since_s = None
                    opened_ns = self.stats.last_data_ns = now_ns()
                    await self._on_open(attempt, self._silent_since_ns, opened_ns)
                    framing = self.new_framing()
                    watchdog.waiting_since_s = time.monotonic()
                    await self.deliver(chunks, framing)
                reason = "the server ended the stream"
            except (ProviderHttpError, ProviderRefusalError) as exc:
                reason, refusal = _shown(str(exc)), exc
            except TimeoutError as exc:  # the watchdog's, or an OSError of the socket
                if watchdog.expired:
                    waited_for = "data, not even a heartbeat," if opened_ns else "response"
                    reason = f"no {waited_for} for {settings.heartbeat_timeout_s:g} s"
                else:
                    reason = _describe(exc)
            except self.transient_errors as exc:
                reason = _describe(exc)
            except Exception as exc:  # a bug: the supervisor restarts the collector; the gap is reported first
                await self._on_failure(exc, attempt, opened_ns, framing)
                raise
            self._health.last_error = reason
            if framing is not None and framing.partial:
                await self._report_cut(framing.partial)
            if opened_ns:
                # Prices stopped with the last bytes received, not when the silence was noticed.
                self._silent_since_ns = self.stats.last_data_ns
                if (now_ns() - opened_ns) / NS_PER_S >= settings.healthy_after_s:
                    backoff.reset()
                    attempt = 0
                await self.report_status(SourceStatus.STATE_DISCONNECTED, reason, attempt=attempt)
            delay = await self._on_refusal(refusal, backoff) if refusal else backoff.next_delay()
            logger.warning("%s: %s; reconnecting in %.1f s", self.source_id, reason, delay)
            await asyncio.sleep(delay)

    async def deliver(self, chunks: AsyncIterable[bytes], framing: StreamFraming) -> None:
        """Frame each chunk and submit its events until the stream ends; the hot path.

        At most MAX_EVENTS_PER_SUBMIT events go to the sink at once. What ``framing`` holds of a message
        cut by the end of the stream is left in ``framing.partial``.
        """
        sink = self.sink
        stats = self.stats
        watchdog = self._watchdog
        monotonic = time.monotonic
        async for chunk in chunks:
            watchdog.waiting_since_s = None
            recv_ns = stats.last_data_ns = now_ns()
            events, prices, heartbeats, malformed = framing.feed(chunk, recv_ns)
            stats.prices += prices
            if heartbeats:
                stats.heartbeats += heartbeats
                if framing.last_heartbeat_ns:  # 0: the protocol's heartbeats carry no broker time (cTrader)
                    sink.observe_heartbeat(self.source_id, framing.last_heartbeat_ns, recv_ns)
            if malformed:
                stats.malformed += malformed
                self._log_bad_input(events)
            if len(events) > MAX_EVENTS_PER_SUBMIT:
                for start in range(0, len(events), MAX_EVENTS_PER_SUBMIT):
                    await sink.submit(events[start : start + MAX_EVENTS_PER_SUBMIT])
            elif events:
                await sink.submit(events)
            watchdog.waiting_since_s = monotonic()

    async def narrow_instruments(self, offered: Collection[str], why: str) -> tuple[str, ...]:
        """The configured instruments in ``offered``, now :attr:`instruments`; the others are left out.

        Those left out are named in ``connection.unavailable_instruments`` and, when they change, logged and
        reported as REJECTED with ``why`` (what the provider said, e.g. "OANDA does not list them for it").
        Raises ProviderRefusalError (``rejected``) when none is offered.
        """
        wanted = self.config.instruments
        missing = tuple(name for name in wanted if name not in offered)
        self._health.unavailable_instruments = missing
        if missing and missing != self._reported_missing:
            detail = f"{self.source_id}: cannot stream {', '.join(missing)} ({why}); streaming the others"
            logger.error(detail)
            await self.report_status(SourceStatus.STATE_REJECTED, detail)
        self._reported_missing = missing
        streamable = tuple(name for name in wanted if name in offered)
        if not streamable:
            raise ProviderRefusalError(
                f"{self.source_id}: none of the configured instruments is available", kind="rejected"
            )
        self.instruments = streamable
        return streamable

    async def report_status(self, state: SourceStatus.State, detail: str, *, gap_ns: int = 0, attempt: int = 0) -> None:
        """Publish a change of the connection; CONNECTED and RECONNECTED announce a snapshot of current prices."""
        self._last_report = (state, detail)
        if state == SourceStatus.STATE_DISCONNECTED:
            self.stats.disconnects += 1
        change = StatusChange(state, detail, gap_ns=gap_ns, attempt=attempt, snapshot=connection_delivers(state))
        await self.sink.report_status(self.source_id, change)

    async def _on_open(self, attempt: int, silent_since_ns: int, opened_ns: int) -> None:
        self.stats.connects += 1
        self._health.unauthorized = False
        if silent_since_ns:
            gap_ns = opened_ns - silent_since_ns
            logger.info("%s: stream reopened after %.1f s (attempt %d)", self.source_id, gap_ns / NS_PER_S, attempt)
            await self.report_status(
                SourceStatus.STATE_RECONNECTED,
                f"stream reopened after {gap_ns / NS_PER_S:.3f} s without prices",
                gap_ns=gap_ns,
                attempt=attempt,
            )
        else:
            logger.info("%s: streaming %s from %s", self.source_id, ",".join(self.instruments), self.endpoint)
            await self.report_status(SourceStatus.STATE_CONNECTED, f"streaming {len(self.instruments)} instruments")

    async def _on_failure(self, exc: Exception, attempt: int, opened_ns: int, framing: StreamFraming | None) -> None:
        """Report an unexpected failure like a disconnect, before it ends :meth:`run`.

        Reporting must not hide the failure: if the sink fails too, that is logged and the original is raised.
        """
        reason = f"collector failed: {_describe(exc)}"
        self._health.last_error = reason
        try:
            if framing is not None and framing.partial:
                await self._report_cut(framing.partial)
            if opened_ns:
                self._silent_since_ns = self.stats.last_data_ns
                await self.report_status(SourceStatus.STATE_DISCONNECTED, reason, attempt=attempt)
        except Exception as report_exc:
            logger.error("%s: could not report the failure: %s", self.source_id, _describe(report_exc))

    async def _on_refusal(self, exc: ProviderHttpError | ProviderRefusalError, backoff: Backoff) -> float:
        """Report an HTTP error or a refusal; return how long to wait before the next attempt."""
        if isinstance(exc, ProviderRefusalError):
            refused_credentials, refused_request = exc.kind == "unauthorized", exc.kind == "rejected"
        else:
            refused_credentials, refused_request = exc.refused_credentials, exc.refused_request
        if refused_credentials or refused_request:
            self._prepared = False
            if refused_credentials:
                self._health.unauthorized = True
                await self._report_once(SourceStatus.STATE_UNAUTHORIZED, _shown(str(exc)))
            else:
                await self._report_once(SourceStatus.STATE_REJECTED, _shown(str(exc)))
            return self.config.refused_retry_s
        delay = backoff.next_delay()
        return max(delay, min(exc.retry_after_s, MAX_RETRY_AFTER_S)) if exc.retry_after_s is not None else delay

    async def _report_once(self, state: SourceStatus.State, detail: str) -> None:
        """Report a refusal once, not again on every slow retry that gets the same answer."""
        if self._last_report != (state, detail):
            await self.report_status(state, detail)

    def _log_bad_input(self, events: Sequence[Event]) -> None:
        for event in events:
            if type(event) is BadInput:
                self._bad_input_log.warning("%s: bad stream line: %s", self.source_id, clip(event.detail, LOG_CHARS))

    async def _report_cut(self, partial: bytes) -> None:
        """A message cut by the end of the stream: counted and published as a MALFORMED rejection."""
        self.stats.malformed += 1
        detail = f"stream ended in the middle of a line ({len(partial)} bytes received)"
        logger.warning("%s: %s", self.source_id, detail)
        malformed = RejectionReason.REJECTION_REASON_MALFORMED
        await self.sink.submit([BadInput(self.source_id, malformed, detail, partial, now_ns())])


def _describe(exc: BaseException) -> str:
    """An exception as a reason to show: its type and text, secrets redacted, clipped."""
    return _shown(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def _shown(text: str) -> str:
    """``text`` fit to be logged, published and shown on /health: secrets redacted, length bounded."""
    return clip(redact(text))
