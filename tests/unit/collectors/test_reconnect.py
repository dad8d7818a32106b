"""collectors.reconnect: capped backoff with jitter, the per-host connection pace, and Retry-After parsing."""

from __future__ import annotations

import asyncio
import calendar
import itertools
import os
import random
import time
from collections.abc import Iterator

import pytest

from collectors.reconnect import MAX_RETRY_AFTER_S, ConnectionPacer, parse_retry_after
from gateway.backoff import Backoff

PACE_PER_SECOND = 50.0
PACE_INTERVAL_S = 1.0 / PACE_PER_SECOND
CLOCK_SLACK_S = 1e-6
"""asyncio may wake a sleeper up to the monotonic clock's resolution (1 ns on Linux) early; allow for it."""

# Wed, 21 Oct 2015 07:28:00 GMT, the example date of RFC 9110's Retry-After.
RFC_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
RFC_DATE_S = float(calendar.timegm((2015, 10, 21, 7, 28, 0)))


def bases(min_s: float, max_s: float, count: int) -> list[float]:
    """Independent reference: the un-jittered delays, doubling from ``min_s`` and capped at ``max_s``."""
    out = []
    current = min_s
    for _ in range(count):
        out.append(current)
        current = min(current * 2, max_s)
    return out


# -- Backoff ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("min_s", "max_s", "expected_bases"),
    [
        pytest.param(0.5, 30.0, [0.5, 1, 2, 4, 8, 16, 30, 30, 30], id="oanda_defaults_half_to_thirty"),
        pytest.param(1.0, 60.0, [1, 2, 4, 8, 16, 32, 60, 60], id="supervisor_one_to_sixty"),
        pytest.param(3.0, 10.0, [3, 6, 10, 10], id="cap_that_is_not_a_doubling_of_min"),
        pytest.param(1.0, 8.0, [1, 2, 4, 8, 8], id="cap_that_is_exactly_a_doubling_of_min"),
        pytest.param(2.0, 2.0, [2, 2, 2], id="min_equal_to_max_never_grows"),
        pytest.param(0.2, 10.0, [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10], id="kafka_writer_range"),
    ],
)
def test_backoff_doubles_from_min_to_the_cap_each_delay_jittered_by_the_seeded_rng(
    min_s: float, max_s: float, expected_bases: list[float]
) -> None:
    assert bases(min_s, max_s, len(expected_bases)) == pytest.approx(expected_bases)
    backoff = Backoff(min_s, max_s, random.Random(1234))
    reference = random.Random(1234)  # the same draws, to recompute each jittered delay independently
    delays = [backoff.next_delay() for _ in expected_bases]
    assert delays == pytest.approx([base * reference.uniform(0.5, 1.0) for base in expected_bases])


@pytest.mark.parametrize("seed", [0, 1, 7, 42, 2**31 - 1])
@pytest.mark.parametrize(
    ("min_s", "max_s"),
    [
        pytest.param(0.5, 30.0, id="half_to_thirty"),
        pytest.param(1.0, 60.0, id="one_to_sixty"),
        pytest.param(0.001, 0.004, id="milliseconds"),
    ],
)
def test_every_jittered_delay_lies_between_half_its_base_and_its_base(seed: int, min_s: float, max_s: float) -> None:
    backoff = Backoff(min_s, max_s, random.Random(seed))
    for base in bases(min_s, max_s, 200):
        delay = backoff.next_delay()
        assert base / 2 <= delay <= base
        assert min_s / 2 <= delay <= max_s


def test_jitter_spreads_delays_over_the_whole_range_at_the_cap() -> None:
    backoff = Backoff(1.0, 1.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(1000)]
    assert len(set(delays)) == len(delays)
    assert min(delays) < 0.52
    assert max(delays) > 0.98


@pytest.mark.parametrize(
    ("seed_a", "seed_b", "same"),
    [
        pytest.param(5, 5, True, id="same_seed_same_delays"),
        pytest.param(5, 6, False, id="different_seeds_not_in_lockstep"),
    ],
)
def test_delays_depend_only_on_the_rng(seed_a: int, seed_b: int, same: bool) -> None:
    first = Backoff(0.5, 30.0, random.Random(seed_a))
    second = Backoff(0.5, 30.0, random.Random(seed_b))
    pairs = [(first.next_delay(), second.next_delay()) for _ in range(10)]
    assert all(a == b for a, b in pairs) is same


def test_default_rng_also_stays_within_the_jitter_bounds() -> None:
    backoff = Backoff(0.5, 4.0)
    for base in bases(0.5, 4.0, 50):
        assert base / 2 <= backoff.next_delay() <= base


@pytest.mark.parametrize(
    ("failures_before_reset", "expected_bases_after"),
    [
        pytest.param(0, [0.5, 1, 2], id="reset_before_any_failure"),
        pytest.param(1, [0.5, 1, 2], id="reset_after_one_failure"),
        pytest.param(3, [0.5, 1, 2], id="reset_midway"),
        pytest.param(20, [0.5, 1, 2], id="reset_at_the_cap"),
    ],
)
def test_reset_starts_the_next_failure_from_the_minimum_again(
    failures_before_reset: int, expected_bases_after: list[float]
) -> None:
    backoff = Backoff(0.5, 30.0, random.Random(3))
    reference = random.Random(3)
    for base in bases(0.5, 30.0, failures_before_reset):
        assert backoff.next_delay() == pytest.approx(base * reference.uniform(0.5, 1.0))
    backoff.reset()
    after = [backoff.next_delay() for _ in expected_bases_after]
    assert after == pytest.approx([base * reference.uniform(0.5, 1.0) for base in expected_bases_after])


def test_reset_twice_is_the_same_as_once() -> None:
    backoff = Backoff(1.0, 60.0, random.Random(9))
    reference = random.Random(9)
    for base in bases(1.0, 60.0, 4):
        assert backoff.next_delay() == pytest.approx(base * reference.uniform(0.5, 1.0))
    backoff.reset()
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(1.0 * reference.uniform(0.5, 1.0))


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
