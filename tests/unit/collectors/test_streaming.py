"""collectors.streaming: a streaming collector's lifecycle, the per-host connection pace, Retry-After parsing."""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import ClassVar, Final

import pytest

from collectors.base import MAX_EVENTS_PER_SUBMIT
from collectors.streaming import (
    MAX_RETRY_AFTER_S,
    ConnectionPacer,
    Framed,
    SilenceWatchdog,
    StreamingCollector,
    StreamingConfig,
    parse_retry_after,
)
from gateway import secrets
from gateway.echo import LOG_CHARS
from gateway.errors import ProviderHttpError
from gateway.events import BadInput, Event, Quote, StatusChange
from gateway.schema.market.v1.market_pb2 import RejectionReason, SourceStatus
from tests.support import RecordingSink

PACE_PER_SECOND = 50.0
PACE_INTERVAL_S = 1.0 / PACE_PER_SECOND
CLOCK_SLACK_S = 1e-6
"""asyncio may wake a sleeper up to the monotonic clock's resolution (1 ns on Linux) early; allow for it."""

# Wed, 21 Oct 2015 07:28:00 GMT, the example date of RFC 9110's Retry-After.
RFC_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
RFC_DATE_S = float(calendar.timegm((2015, 10, 21, 7, 28, 0)))


# -- ConnectionPacer -------------------------------------------------------------------------------------------


async def _timed_waits(pacer: ConnectionPacer, count: int) -> list[float]:
    times = []
    for _ in range(count):
        await pacer.wait()
        times.append(time.monotonic())
    return times


def _gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [later - earlier for earlier, later in itertools.pairwise(ordered)]


@pytest.mark.parametrize("count", [2, 3, 6])
async def test_successive_waits_are_spaced_at_least_one_interval_apart(count: int) -> None:
    pacer = ConnectionPacer(per_second=PACE_PER_SECOND)
    gaps = _gaps(await _timed_waits(pacer, count))
    assert len(gaps) == count - 1
    assert all(gap >= PACE_INTERVAL_S - CLOCK_SLACK_S for gap in gaps), gaps


@pytest.mark.parametrize("users", [2, 4, 8])
async def test_concurrent_users_of_one_host_are_spaced_at_least_one_interval_apart(users: int) -> None:
    pacer = ConnectionPacer(per_second=PACE_PER_SECOND)

    async def connect() -> float:
        await pacer.wait()
        return time.monotonic()

    times = await asyncio.gather(*(connect() for _ in range(users)))
    gaps = _gaps(list(times))
    assert len(gaps) == users - 1
    assert all(gap >= PACE_INTERVAL_S - CLOCK_SLACK_S for gap in gaps), gaps


async def test_idle_time_does_not_bank_a_burst_of_connections() -> None:
    pacer = ConnectionPacer(per_second=PACE_PER_SECOND)
    await pacer.wait()
    await asyncio.sleep(5 * PACE_INTERVAL_S)  # quiet for five intervals
    gaps = _gaps(await _timed_waits(pacer, 4))
    assert all(gap >= PACE_INTERVAL_S - CLOCK_SLACK_S for gap in gaps), gaps


async def test_waiter_cancelled_while_waiting_does_not_let_the_next_one_in_early() -> None:
    pacer = ConnectionPacer(per_second=PACE_PER_SECOND)
    await pacer.wait()
    first = time.monotonic()
    cancelled = asyncio.create_task(pacer.wait(), name="pacer-waiter-to-cancel")
    await asyncio.sleep(0)  # let it take the lock and start sleeping
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await pacer.wait()
    assert time.monotonic() - first >= PACE_INTERVAL_S - CLOCK_SLACK_S


@pytest.mark.parametrize(
    ("per_second", "interval_s"),
    [
        pytest.param(20.0, 0.05, id="twenty_per_second"),
        pytest.param(100.0, 0.01, id="hundred_per_second"),
    ],
)
async def test_interval_is_the_inverse_of_the_rate(per_second: float, interval_s: float) -> None:
    pacer = ConnectionPacer(per_second=per_second)
    gaps = _gaps(await _timed_waits(pacer, 3))
    assert all(gap >= interval_s - CLOCK_SLACK_S for gap in gaps), gaps


# -- parse_retry_after -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("120", 120.0, id="delta_seconds"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("1", 1.0, id="one_second"),
        pytest.param(" 120 ", 120.0, id="surrounding_whitespace"),
        pytest.param("1.5", 1.5, id="fractional"),
        pytest.param("0.25", 0.25, id="fraction_below_one"),
        pytest.param("-5", 0.0, id="negative_is_zero"),
        pytest.param("-0.5", 0.0, id="negative_fraction_is_zero"),
        pytest.param("3600", MAX_RETRY_AFTER_S, id="exactly_the_cap"),
        pytest.param("3601", MAX_RETRY_AFTER_S, id="just_over_the_cap"),
        pytest.param("86400", MAX_RETRY_AFTER_S, id="a_day_is_capped"),
        pytest.param("1e9", MAX_RETRY_AFTER_S, id="huge_is_capped"),
        pytest.param("nan", None, id="nan"),
        pytest.param("NaN", None, id="nan_capitalised"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="blank"),
        pytest.param("garbage", None, id="garbage"),
        pytest.param("12abc", None, id="number_with_trailing_garbage"),
        pytest.param("soon", None, id="word"),
        pytest.param(None, None, id="absent_header"),
    ],
)
def test_retry_after_delta_seconds(value: str | None, expected: float | None) -> None:
    result = parse_retry_after(value, now_s=RFC_DATE_S)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "now_s", "expected"),
    [
        pytest.param(RFC_DATE, RFC_DATE_S - 30, 30.0, id="imf_fixdate_30_s_ahead"),
        pytest.param(RFC_DATE, RFC_DATE_S, 0.0, id="imf_fixdate_now"),
        pytest.param(RFC_DATE, RFC_DATE_S + 30, 0.0, id="imf_fixdate_in_the_past_is_zero"),
        pytest.param(RFC_DATE, RFC_DATE_S - 3600, MAX_RETRY_AFTER_S, id="imf_fixdate_exactly_an_hour_ahead"),
        pytest.param(RFC_DATE, RFC_DATE_S - 86400, MAX_RETRY_AFTER_S, id="imf_fixdate_a_day_ahead_is_capped"),
        pytest.param(RFC_DATE, RFC_DATE_S - 0.5, 0.5, id="fractional_now"),
        pytest.param("Wednesday, 21-Oct-15 07:28:00 GMT", RFC_DATE_S - 30, 30.0, id="obsolete_rfc850_date"),
        pytest.param("Wed, 21 Oct 2015 09:28:00 +0200", RFC_DATE_S - 30, 30.0, id="numeric_zone_offset"),
        pytest.param("Wed, 21 Oct 2015 07:28:00 +0000", RFC_DATE_S - 30, 30.0, id="numeric_utc_offset"),
        pytest.param("Wed, 32 Oct 2015 07:28:00 GMT", RFC_DATE_S, None, id="impossible_day"),
        pytest.param("Wed, 21 Foo 2015 07:28:00 GMT", RFC_DATE_S, None, id="unknown_month"),
    ],
)
def test_retry_after_http_date_is_measured_from_now(value: str, now_s: float, expected: float | None) -> None:
    result = parse_retry_after(value, now_s=now_s)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("Thu, 01 Jan 1970 00:00:00 GMT", 0.0, id="date_long_past"),
        pytest.param("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER_S, id="date_far_ahead"),
    ],
)
def test_retry_after_http_date_without_now_uses_the_wall_clock(value: str, expected: float) -> None:
    assert parse_retry_after(value) == expected


@pytest.fixture
def zone_west_of_utc() -> Iterator[None]:
    """The process's local time zone set 5 hours west of UTC (POSIX TZ, no tz database needed)."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "EST+5"
    time.tzset()
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(RFC_DATE, id="imf_fixdate"),
        pytest.param("Wednesday, 21-Oct-15 07:28:00 GMT", id="obsolete_rfc850_date"),
        pytest.param("Wed Oct 21 07:28:00 2015", id="obsolete_asctime_date"),
    ],
)
def test_retry_after_http_date_does_not_depend_on_the_local_time_zone(zone_west_of_utc: None, value: str) -> None:
    # RFC 9110 5.6.7: recipients must accept all three formats, and all three are UTC (asctime has no zone).
    assert parse_retry_after(value, now_s=RFC_DATE_S - 30) == pytest.approx(30.0)


# -- the lifecycle, on a scripted provider ------------------------------------------------------------------

CONNECTED = SourceStatus.STATE_CONNECTED
DISCONNECTED = SourceStatus.STATE_DISCONNECTED
RECONNECTED = SourceStatus.STATE_RECONNECTED
UNAUTHORIZED = SourceStatus.STATE_UNAUTHORIZED
REJECTED = SourceStatus.STATE_REJECTED
SILENCE_S: Final = 0.2
"""heartbeat_timeout_s of the scripted collector."""
REFUSED_RETRY_S: Final = 0.15
TIMER_SLACK_S: Final = 0.005
"""uvloop's timers have millisecond resolution: one may fire up to a millisecond early by time.monotonic()."""
WAIT_S: Final = 5.0
"""Longest a test waits for a condition that takes well under a second."""
END: Final = b""
"""Pushed into a scripted stream: the provider ends it cleanly."""
HANG: Final = "hang"
"""A scripted attempt whose response never starts."""

Step = bytes | BaseException
"""A scripted stream's next chunk, END, or an error the read raises (the connection cut)."""


class ScriptedStream:
    """The provider side of one stream: the test pushes chunks, END or an error; the collector reads them."""

    def __init__(self, *steps: Step) -> None:
        self._steps: asyncio.Queue[Step] = asyncio.Queue()
        for step in steps:
            self.push(step)

    def push(self, step: Step) -> None:
        self._steps.put_nowait(step)

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            step = await self._steps.get()
            if isinstance(step, BaseException):
                raise step
            if step == END:
                return
            yield step


Attempt = ScriptedStream | BaseException | str
"""What the provider does on one connection attempt: a stream, an error at open, or HANG."""


class WordFraming:
    """Lines of words: ``HB`` is a heartbeat, ``!...`` a malformed line, any other word a quote of that instrument."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.partial = b""
        self.last_heartbeat_ns = 0

    def feed(self, chunk: bytes, recv_ns: int) -> Framed:
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()
        events: list[Event] = []
        heartbeats = malformed = 0
        for line in lines:
            if line == b"HB":
                heartbeats += 1
            elif line.startswith(b"!"):
                malformed += 1
                events.append(
                    BadInput(self.source, RejectionReason.REJECTION_REASON_MALFORMED, "bad word", line, recv_ns)
                )
            else:
                events.append(Quote(line.decode(), self.source, 1, 2, ts_event_ns=recv_ns, ts_recv_ns=recv_ns))
        return events, len(events) - malformed, heartbeats, malformed


class ScriptedCollector(StreamingCollector[StreamingConfig]):
    """A streaming collector whose provider follows a script of attempts; after the last, responses never start."""

    kind: ClassVar[str] = "scripted"

    def __init__(self, config: StreamingConfig, sink: RecordingSink, attempts: Iterable[Attempt]) -> None:
        super().__init__(config, sink)
        self._attempts = list(attempts)
        self.prepared = 0
        self.attempted_at: list[float] = []

    @property
    def endpoint(self) -> str:
        return "scripted://provider"

    async def prepare(self) -> None:
        self.prepared += 1

    @contextlib.asynccontextmanager
    async def open_stream(self) -> AsyncIterator[AsyncIterator[bytes]]:
        self.attempted_at.append(time.monotonic())
        attempt = self._attempts.pop(0) if self._attempts else HANG
        if isinstance(attempt, BaseException):
            raise attempt
        if isinstance(attempt, str):
            await asyncio.Event().wait()
            raise AssertionError("unreachable: nothing sets the event")
        yield attempt.chunks()

    def new_framing(self) -> WordFraming:
        return WordFraming(self.source_id)


def scripted(*attempts: Attempt, healthy_after_s: float = 60.0) -> tuple[ScriptedCollector, RecordingSink]:
    config = StreamingConfig(
        id="feed",
        instruments=("EUR_USD",),
        heartbeat_timeout_s=SILENCE_S,
        reconnect_min_s=0.01,
        reconnect_max_s=0.02,
        healthy_after_s=healthy_after_s,
        refused_retry_s=REFUSED_RETRY_S,
    )
    sink = RecordingSink()
    return ScriptedCollector(config, sink, attempts), sink


@contextlib.asynccontextmanager
async def running(collector: ScriptedCollector) -> AsyncIterator[None]:
    task = asyncio.create_task(collector.run(), name="scripted-collector")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled(), "the collector's run ended by itself"


async def until(condition: Callable[[], bool]) -> None:
    """Wait for a condition on the collector or the sink (checked every 2 ms)."""
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.002)


def states(sink: RecordingSink) -> list[SourceStatus.State]:
    return [change.state for change in sink.statuses]


def quotes(events: Sequence[Event]) -> list[str]:
    return [event.instrument for event in events if isinstance(event, Quote)]


def http_error(status: int, retry_after_s: float | None = None) -> ProviderHttpError:
    return ProviderHttpError(f"feed: provider said HTTP {status}", status=status, retry_after_s=retry_after_s)


async def test_a_stream_that_ends_is_reported_and_reopened_with_the_gap_since_its_last_bytes() -> None:
    first, second = ScriptedStream(b"EUR_USD\n"), ScriptedStream(b"EUR_USD\nHB\n")
    collector, sink = scripted(first, second)
    async with running(collector):
        await until(lambda: len(sink.events) == 1)
        last_bytes_ns = collector.stats.last_data_ns
        await asyncio.sleep(0.05)
        first.push(END)
        await until(lambda: RECONNECTED in states(sink) and collector.stats.heartbeats == 1)

    connected, disconnected, reconnected = sink.statuses
    assert (connected.state, connected.detail, connected.snapshot) == (CONNECTED, "streaming 1 instruments", True)
    assert (disconnected.state, disconnected.detail, disconnected.snapshot) == (
        DISCONNECTED,
        "the server ended the stream",
        False,
    )
    assert (reconnected.state, reconnected.attempt, reconnected.snapshot) == (RECONNECTED, 2, True)  # 2nd attempt
    assert 50_000_000 <= reconnected.gap_ns < collector.stats.last_data_ns - last_bytes_ns  # from the last bytes on
    assert "stream reopened after" in reconnected.detail
    assert quotes(sink.events) == ["EUR_USD", "EUR_USD"]
    stats = collector.stats
    assert (stats.connects, stats.disconnects, stats.messages, stats.prices, stats.heartbeats) == (2, 1, 3, 2, 1)
    assert collector.connection.last_error == "the server ended the stream"


@pytest.mark.parametrize(
    ("lived_s", "attempt"),
    [pytest.param(0.0, 1, id="short_stream_keeps_counting"), pytest.param(0.1, 0, id="healthy_stream_resets")],
)
async def test_a_stream_that_lived_healthy_after_s_resets_the_backoff_and_the_attempt_count(
    lived_s: float, attempt: int
) -> None:
    stream = ScriptedStream(b"EUR_USD\n")
    collector, sink = scripted(stream, ScriptedStream(), healthy_after_s=0.05)
    async with running(collector):
        await until(lambda: len(sink.events) == 1)
        await asyncio.sleep(lived_s)
        stream.push(END)
        await until(lambda: RECONNECTED in states(sink))

    assert [change.attempt for change in sink.statuses] == [0, attempt, attempt + 1]


async def test_a_silent_stream_is_dropped_after_heartbeat_timeout_s_and_reopened() -> None:
    stream = ScriptedStream(b"EUR_USD\n")
    collector, sink = scripted(stream, ScriptedStream(b"EUR_USD\n"))
    async with running(collector):
        await until(lambda: len(sink.events) == 1)
        received_s = time.monotonic()
        await until(lambda: DISCONNECTED in states(sink))
        silent_s = time.monotonic() - received_s
        await until(lambda: len(sink.events) == 2)

    assert SILENCE_S - TIMER_SLACK_S <= silent_s < SILENCE_S + 0.5
    assert states(sink) == [CONNECTED, DISCONNECTED, RECONNECTED]
    assert sink.statuses[1].detail == "no data, not even a heartbeat, for 0.2 s"


async def test_heartbeats_keep_a_stream_alive() -> None:
    stream = ScriptedStream(b"EUR_USD\n")
    collector, sink = scripted(stream)
    async with running(collector):
        for _ in range(6):  # 0.3 s in all, longer than the silence limit
            await asyncio.sleep(SILENCE_S / 4)
            stream.push(b"HB\n")
        await until(lambda: collector.stats.heartbeats == 6)

    assert states(sink) == [CONNECTED]


async def test_a_response_that_never_starts_is_abandoned_after_heartbeat_timeout_s_without_a_status() -> None:
    collector, sink = scripted(HANG, ScriptedStream(b"EUR_USD\n"))
    async with running(collector):
        await until(lambda: len(sink.events) == 1)

    assert states(sink) == [CONNECTED]
    first, second = collector.attempted_at
    assert second - first >= SILENCE_S - TIMER_SLACK_S
    assert collector.connection.last_error == "no response for 0.2 s"


class SlowSink(RecordingSink):
    """Takes three silence limits to accept the first batch: backpressure, not silence."""

    async def submit(self, events: Sequence[Event]) -> None:
        if not self.events:
            await asyncio.sleep(3 * SILENCE_S)
        await super().submit(events)


async def test_time_spent_handing_events_to_a_slow_sink_is_not_silence() -> None:
    stream = ScriptedStream(b"EUR_USD\n")
    collector, _ = scripted(stream)
    sink = collector.sink = SlowSink()
    async with running(collector):
        await until(lambda: len(sink.events) == 1)
        stream.push(b"GBP_USD\n")
        await until(lambda: len(sink.events) == 2)

    assert states(sink) == [CONNECTED]


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(ConnectionRefusedError(111, "Connection refused"), id="connection_refused"),
        pytest.param(http_error(503), id="http_503"),
    ],
)
async def test_errors_before_a_stream_opens_are_retried_with_backoff_without_a_status(error: Exception) -> None:
    collector, sink = scripted(error, error, ScriptedStream(b"EUR_USD\n"))
    async with running(collector):
        await until(lambda: len(sink.events) == 1)

    assert states(sink) == [CONNECTED]
    assert len(collector.attempted_at) == 3 and collector.prepared == 1
    assert all(gap < REFUSED_RETRY_S for gap in _gaps(collector.attempted_at))
    assert collector.connection.last_error in (str(error), f"ConnectionRefusedError: {error}")


async def test_refused_credentials_are_reported_once_retried_every_refused_retry_s_and_prepared_again() -> None:
    refused = http_error(401)
    collector, sink = scripted(refused, refused, refused, ScriptedStream(b"EUR_USD\n"))
    async with running(collector):
        await until(lambda: UNAUTHORIZED in states(sink))
        assert collector.connection.unauthorized
        await until(lambda: len(sink.events) == 1)

    assert states(sink) == [UNAUTHORIZED, CONNECTED]
    assert sink.statuses[0].detail == str(refused) and not sink.statuses[0].snapshot
    assert all(gap >= REFUSED_RETRY_S - TIMER_SLACK_S for gap in _gaps(collector.attempted_at))
    assert collector.prepared == 4  # before the first attempt and after each refusal
    assert not collector.connection.unauthorized  # the stream opened: the credentials are good again


@pytest.mark.parametrize("status", [400, 404])
async def test_a_refused_request_is_rejected_once_and_retried_every_refused_retry_s(status: int) -> None:
    refused = http_error(status)
    collector, sink = scripted(refused, refused, ScriptedStream(b"EUR_USD\n"))
    async with running(collector):
        await until(lambda: len(sink.events) == 1)

    assert states(sink) == [REJECTED, CONNECTED]
    assert all(gap >= REFUSED_RETRY_S - TIMER_SLACK_S for gap in _gaps(collector.attempted_at))
    assert not collector.connection.unauthorized


async def test_a_different_refusal_is_reported_again() -> None:
    collector, sink = scripted(http_error(401), http_error(400), ScriptedStream(b"EUR_USD\n"))
    async with running(collector):
        await until(lambda: len(sink.events) == 1)

    assert states(sink) == [UNAUTHORIZED, REJECTED, CONNECTED]


async def test_retry_after_is_waited_for_even_when_the_backoff_is_shorter() -> None:
    collector, sink = scripted(http_error(429, retry_after_s=0.3), ScriptedStream(b"EUR_USD\n"))
    async with running(collector):
        await until(lambda: len(sink.events) == 1)

    [gap] = _gaps(collector.attempted_at)
    assert gap >= 0.3 - TIMER_SLACK_S
    assert states(sink) == [CONNECTED]


async def test_a_line_cut_by_a_dropped_connection_is_a_malformed_rejection_after_the_complete_ones() -> None:
    stream = ScriptedStream(b"EUR_USD\nGBP_USD\nUSD_J")
    collector, sink = scripted(stream, ScriptedStream())
    async with running(collector):
        await until(lambda: len(sink.events) == 2)
        stream.push(ConnectionResetError(104, "Connection reset by peer"))
        await until(lambda: RECONNECTED in states(sink))

    *complete, cut = sink.events
    assert quotes(complete) == ["EUR_USD", "GBP_USD"]
    assert isinstance(cut, BadInput)
    assert (cut.source, cut.reason, cut.raw) == ("feed", RejectionReason.REJECTION_REASON_MALFORMED, b"USD_J")
    assert cut.detail == "stream ended in the middle of a line (5 bytes received)"
    assert collector.stats.malformed == 1
    assert sink.statuses[1].detail == "ConnectionResetError: [Errno 104] Connection reset by peer"


async def test_a_line_cut_by_stopping_the_collector_is_not_reported() -> None:
    collector, sink = scripted(ScriptedStream(b"EUR_USD\nUSD_J"))
    async with running(collector):
        await until(lambda: len(sink.events) == 1)

    assert quotes(sink.events) == ["EUR_USD"] and len(sink.events) == 1
    assert collector.stats.malformed == 0


async def test_bad_lines_are_delivered_and_counted_but_logged_at_most_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="collectors.streaming")
    stream = ScriptedStream(b"!one\nEUR_USD\n!two\n")
    collector, sink = scripted(stream)
    async with running(collector):
        await until(lambda: len(sink.events) == 3)
        stream.push(b"!three\n")
        await until(lambda: len(sink.events) == 4)

    assert [event.raw for event in sink.events if isinstance(event, BadInput)] == [b"!one", b"!two", b"!three"]
    assert collector.stats.malformed == 3
    bad_line_logs = [record.getMessage() for record in caplog.records if "bad stream line" in record.getMessage()]
    assert bad_line_logs == ["feed: bad stream line: bad word"]


async def test_more_events_than_one_submit_takes_are_handed_over_in_bounded_batches() -> None:
    count = 2 * MAX_EVENTS_PER_SUBMIT + 500
    collector, sink = scripted(ScriptedStream(b"EUR_USD\n" * count))
    async with running(collector):
        await until(lambda: len(sink.events) == count)

    assert sink.batches == 3


# -- SilenceWatchdog -----------------------------------------------------------------------------------------


async def test_the_watchdog_raises_timeout_error_once_the_wait_for_bytes_outlasts_its_limit() -> None:
    started_s = time.monotonic()
    with pytest.raises(TimeoutError):
        async with SilenceWatchdog(0.05) as watchdog:
            await asyncio.sleep(1.0)
    assert watchdog.expired
    assert 0.05 - TIMER_SLACK_S <= time.monotonic() - started_s < 0.5


async def test_the_watchdog_lets_a_block_that_keeps_receiving_run_past_its_limit() -> None:
    async with SilenceWatchdog(0.05) as watchdog:
        for _ in range(8):  # 0.16 s in all
            await asyncio.sleep(0.02)
            watchdog.waiting_since_s = time.monotonic()  # bytes arrived
    assert not watchdog.expired


async def test_the_watchdog_does_not_count_time_while_not_waiting() -> None:
    async with SilenceWatchdog(0.05) as watchdog:
        watchdog.waiting_since_s = None  # handing events on
        await asyncio.sleep(0.15)
        watchdog.waiting_since_s = time.monotonic()
    assert not watchdog.expired


async def test_cancelling_a_task_inside_the_watchdog_is_a_cancellation_not_a_timeout() -> None:
    async def wait_in_watchdog() -> None:
        async with SilenceWatchdog(10.0):
            await asyncio.sleep(10.0)

    task = asyncio.create_task(wait_in_watchdog(), name="watchdog-user")
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- failures the base does not expect, secrets and bounded logs ----------------------------------------------


class CollectorBug(Exception):
    """Stands for a bug: neither a gateway error nor a transient one."""


async def test_an_unexpected_failure_is_reported_like_a_disconnect_and_the_restarted_run_reports_the_gap() -> None:
    stream = ScriptedStream(b"EUR_USD\nGBP_")
    collector, sink = scripted(stream, ScriptedStream(b"USD_JPY\n"))
    first_run = asyncio.create_task(collector.run(), name="scripted-collector")
    await until(lambda: len(sink.events) == 1)
    last_bytes_ns = collector.stats.last_data_ns
    stream.push(CollectorBug("a bug"))
    with pytest.raises(CollectorBug):
        await first_run  # the supervisor sees the failure and restarts the collector

    connected, disconnected = sink.statuses
    assert connected.state == CONNECTED
    assert (disconnected.state, disconnected.detail) == (DISCONNECTED, "collector failed: CollectorBug: a bug")
    assert collector.connection.last_error == "collector failed: CollectorBug: a bug"
    *_, cut = sink.events
    assert isinstance(cut, BadInput) and cut.raw == b"GBP_"  # the line the failure cut in half is reported

    await asyncio.sleep(0.05)  # the supervisor's restart delay
    async with running(collector):  # the restarted run of the same collector
        await until(lambda: RECONNECTED in states(sink) and len(sink.events) == 3)

    reconnected = sink.statuses[2]
    assert reconnected.state == RECONNECTED and reconnected.snapshot
    assert 50_000_000 <= reconnected.gap_ns <= collector.stats.last_data_ns - last_bytes_ns
    assert quotes(sink.events) == ["EUR_USD", "USD_JPY"]


async def test_a_failure_before_any_stream_opened_reports_no_disconnect() -> None:
    collector, sink = scripted(CollectorBug("before streaming"))
    with pytest.raises(CollectorBug):
        await collector.run()

    assert sink.statuses == []
    assert collector.connection.last_error == "collector failed: CollectorBug: before streaming"


class FailingStatusSink(RecordingSink):
    """A sink that cannot take a DISCONNECTED status."""

    async def report_status(self, source: str, change: StatusChange) -> None:
        if change.state == DISCONNECTED:
            raise ConnectionResetError("the sink is gone")
        await super().report_status(source, change)


async def test_a_failure_the_sink_cannot_be_told_of_is_still_the_one_raised(caplog: pytest.LogCaptureFixture) -> None:
    stream = ScriptedStream(b"EUR_USD\n")
    collector, _ = scripted(stream)
    sink = collector.sink = FailingStatusSink()
    run = asyncio.create_task(collector.run(), name="scripted-collector")
    await until(lambda: len(sink.events) == 1)
    stream.push(CollectorBug("the original"))

    with pytest.raises(CollectorBug, match="the original"):
        await run
    assert "could not report the failure: ConnectionResetError: the sink is gone" in caplog.text


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret remembered for redaction, as gateway.secrets.environment_secret remembers a token."""
    monkeypatch.setattr(secrets, "_forms", set())
    return secrets.remember("tok-3f9c2e71d8b54a06")


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(ConnectionResetError(104, "reset; sent Authorization: Bearer {token}"), id="transient"),
        pytest.param(ProviderHttpError("feed: HTTP 503 for Bearer {token}", status=503), id="http_error"),
        pytest.param(CollectorBug("headers={{'Authorization': 'Bearer {token}'}}"), id="unexpected"),
    ],
)
async def test_a_secret_in_an_error_text_reaches_no_log_status_or_health_text(
    token: str, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    error.args = tuple(arg.format(token=token) if isinstance(arg, str) else arg for arg in error.args)
    if isinstance(error, OSError):
        error = ConnectionResetError(*error.args)
    stream = ScriptedStream(b"EUR_USD\n")
    collector, sink = scripted(stream, ScriptedStream(b"EUR_USD\n"))
    run = asyncio.create_task(collector.run(), name="scripted-collector")
    await until(lambda: len(sink.events) == 1)
    stream.push(error)
    await until(lambda: DISCONNECTED in states(sink))
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)

    shown = [change.detail for change in sink.statuses] + [collector.connection.last_error, caplog.text]
    assert any("***" in text for text in shown)
    assert not any(token in text for text in shown)


class LongDetailFraming(WordFraming):
    """Every line is malformed, with a detail that echoes a megabyte of it."""

    def feed(self, chunk: bytes, recv_ns: int) -> Framed:
        bad = BadInput(self.source, RejectionReason.REJECTION_REASON_MALFORMED, "x" * 1_000_000, chunk, recv_ns)
        return [bad], 0, 0, 1


async def test_a_bad_line_log_echoes_at_most_log_chars_of_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="collectors.streaming")
    collector, sink = scripted(ScriptedStream(b"!bad\n"))
    monkeypatch.setattr(collector, "new_framing", lambda: LongDetailFraming(collector.source_id))
    async with running(collector):
        await until(lambda: len(sink.events) == 1)

    [logged] = [record.getMessage() for record in caplog.records if "bad stream line" in record.getMessage()]
    assert len(logged) < LOG_CHARS + 100
    assert logged.startswith("feed: bad stream line: " + "x" * LOG_CHARS) and "cut: 999,800 more" in logged
