"""gateway.clock: broker timestamps (RFC 3339 with ns, Unix seconds) to integer ns and back."""

from __future__ import annotations

import calendar
import contextlib

import pytest

from gateway import clock
from gateway.clock import NS_PER_S, format_time_ns, parse_time_ns
from gateway.errors import BadValueError


def utc_ns(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, ns: int = 0) -> int:
    """Expected value computed independently of the module under test."""
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) * NS_PER_S + ns


OANDA_TIME = "2016-10-27T08:38:44.327443673Z"
OANDA_TIME_NS = utc_ns(2016, 10, 27, 8, 38, 44, 327_443_673)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(OANDA_TIME, OANDA_TIME_NS, id="oanda_rfc3339_nanoseconds"),
        pytest.param("2016-10-27T08:38:44.327443Z", utc_ns(2016, 10, 27, 8, 38, 44, 327_443_000), id="microseconds"),
        pytest.param("2016-10-27T08:38:44.327Z", utc_ns(2016, 10, 27, 8, 38, 44, 327_000_000), id="milliseconds"),
        pytest.param("2016-10-27T08:38:44.3Z", utc_ns(2016, 10, 27, 8, 38, 44, 300_000_000), id="one_fraction_digit"),
        pytest.param("2016-10-27T08:38:44.000000001Z", utc_ns(2016, 10, 27, 8, 38, 44, 1), id="one_nanosecond"),
        pytest.param("2016-10-27T08:38:44Z", utc_ns(2016, 10, 27, 8, 38, 44), id="no_fraction"),
        pytest.param("2016-10-27t08:38:44.327443673z", OANDA_TIME_NS, id="lowercase_t_and_z"),
        pytest.param("2016-10-27T10:38:44.327443673+02:00", OANDA_TIME_NS, id="plus_two_hours_offset"),
        pytest.param("2016-10-27T03:08:44.327443673-05:30", OANDA_TIME_NS, id="minus_five_thirty_offset"),
        pytest.param("2016-10-27T08:38:44.327443673+00:00", OANDA_TIME_NS, id="zero_offset"),
        pytest.param("2016-10-28T00:30:00+01:00", utc_ns(2016, 10, 27, 23, 30), id="offset_crosses_midnight"),
        pytest.param("2016-12-31T23:00:00-01:00", utc_ns(2017, 1, 1), id="offset_crosses_new_year"),
        pytest.param("2016-02-29T12:00:00Z", utc_ns(2016, 2, 29, 12), id="leap_day"),
        pytest.param("1970-01-01T00:00:00Z", 0, id="epoch"),
        pytest.param("1477557525.664613867", 1_477_557_525_664_613_867, id="oanda_unix_format"),
        pytest.param("1477557525.5", 1_477_557_525_500_000_000, id="unix_short_fraction"),
        pytest.param("1477557525", 1_477_557_525 * NS_PER_S, id="unix_whole_seconds"),
    ],
)
def test_broker_time_is_converted_to_exact_ns(text: str, expected: int) -> None:
    assert parse_time_ns(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2016-02-30T00:00:00Z", id="february_30"),
        pytest.param("2017-02-29T00:00:00Z", id="february_29_outside_leap_year"),
        pytest.param("2016-13-01T00:00:00Z", id="month_13"),
        pytest.param("2016-00-10T00:00:00Z", id="month_0"),
        pytest.param("2016-10-27T24:00:00Z", id="hour_24"),
        pytest.param("2016-10-27T08:60:00Z", id="minute_60"),
        pytest.param("2016-10-27T08:38:60Z", id="second_60"),
    ],
)
def test_impossible_date_or_time_is_rejected_as_invalid(text: str) -> None:
    with pytest.raises(BadValueError, match="not a valid date and time") as caught:
        parse_time_ns(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("garbage", id="garbage"),
        pytest.param("NaN", id="nan"),
        pytest.param("2016-10-27 08:38:44Z", id="space_instead_of_t"),
        pytest.param("2016-10-27T08:38:44", id="no_zone"),
        pytest.param("2016-10-27T08:38:44.Z", id="point_without_fraction"),
        pytest.param("2016-10-27T08:38:44.1234567890Z", id="ten_fraction_digits"),
        pytest.param("2016-10-27T08:38:44+0200", id="offset_without_colon"),
        pytest.param("2016-10-27", id="date_only"),
        pytest.param(OANDA_TIME + " ", id="trailing_space"),
        pytest.param("-1477557525", id="negative_unix"),
        pytest.param("1477557525.", id="unix_point_without_fraction"),
        pytest.param("1477557525.1234567890", id="unix_ten_fraction_digits"),
        pytest.param("1e9", id="unix_exponent"),
    ],
)
def test_text_that_is_no_known_time_format_is_rejected(text: str) -> None:
    with pytest.raises(BadValueError) as caught:
        parse_time_ns(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1_477_557_525, id="int"),
        pytest.param(1_477_557_525.5, id="float"),
        pytest.param(None, id="none"),
        pytest.param(OANDA_TIME.encode(), id="bytes"),
    ],
)
def test_non_string_time_is_rejected(value: object) -> None:
    with pytest.raises(BadValueError, match="is not a string"):
        parse_time_ns(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("\u0662\u0660\u0661\u0666-10-27T08:38:44Z", id="arabic_indic_year"),
        pytest.param("\u0661\u0664\u0667\u0667\u0665\u0665\u0667\u0665\u0662\u0665", id="arabic_indic_unix"),
        pytest.param("2016-10-27T08:38:44.\uff13\uff12\uff17Z", id="fullwidth_fraction"),
    ],
)
def test_non_ascii_digits_are_rejected(text: str) -> None:
    # RFC 3339's DIGIT is ASCII 0-9 (as gateway.prices insists); \d in a str pattern is any Unicode digit.
    with pytest.raises(BadValueError):
        parse_time_ns(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2016-10-27T08:38:44+99:99", id="offset_99_99"),
        pytest.param("2016-10-27T08:38:44+24:00", id="offset_hour_24"),
        pytest.param("2016-10-27T08:38:44-02:60", id="offset_minute_60"),
    ],
)
def test_out_of_range_utc_offset_is_rejected(text: str) -> None:
    # RFC 3339 time-numoffset: hour 00-23, minute 00-59.
    with pytest.raises(BadValueError):
        parse_time_ns(text)


@pytest.mark.parametrize(
    ("first", "first_expected", "second", "second_expected"),
    [
        pytest.param(
            "2016-10-27T08:38:45.664613867Z",
            utc_ns(2016, 10, 27, 8, 38, 45, 664_613_867),
            "2016-10-27T08:38:45.681572782Z",
            utc_ns(2016, 10, 27, 8, 38, 45, 681_572_782),
            id="same_second_later_fraction",
        ),
        pytest.param(
            "2017-03-09T13:37:46.048197280Z",
            utc_ns(2017, 3, 9, 13, 37, 46, 48_197_280),
            "2017-03-09T13:37:46.000000000Z",
            utc_ns(2017, 3, 9, 13, 37, 46),
            id="same_second_zero_fraction",
        ),
        pytest.param(
            "2016-12-31T23:59:59.999999999Z",
            utc_ns(2016, 12, 31, 23, 59, 59, 999_999_999),
            "2016-12-31T23:59:59.000000001Z",
            utc_ns(2016, 12, 31, 23, 59, 59, 1),
            id="last_second_of_year",
        ),
        pytest.param(
            "2016-10-27T08:38:44.327443673z",
            OANDA_TIME_NS,
            OANDA_TIME,
            OANDA_TIME_NS,
            id="lowercase_z_fills_the_cache_for_uppercase",
        ),
    ],
)
def test_cached_second_prefix_gives_the_same_answer_as_the_full_parse(
    first: str, first_expected: int, second: str, second_expected: int
) -> None:
    clock._second_cache.clear()
    assert parse_time_ns(first) == first_expected  # full parse, remembers the second
    assert first[:19] in clock._second_cache  # so the following calls take the fast path
    assert parse_time_ns(first) == first_expected
    assert parse_time_ns(second) == second_expected
    assert clock._parse_slow(second) == second_expected


@pytest.mark.parametrize(
    "bad_fraction",
    [
        pytest.param("32744367x", id="letter"),
        pytest.param("-32744367", id="minus"),
        pytest.param(" 32744367", id="space"),
        pytest.param("3274436.7", id="point"),
    ],
)
def test_fast_path_still_rejects_a_bad_fraction_after_the_second_is_cached(bad_fraction: str) -> None:
    parse_time_ns(OANDA_TIME)
    assert OANDA_TIME[:19] in clock._second_cache
    text = f"{OANDA_TIME[:19]}.{bad_fraction}Z"
    assert len(text) == len(OANDA_TIME)
    with pytest.raises(BadValueError):
        parse_time_ns(text)


@pytest.mark.parametrize(
    ("ts_ns", "expected"),
    [
        pytest.param(0, "1970-01-01T00:00:00.000000000Z", id="epoch"),
        pytest.param(OANDA_TIME_NS, OANDA_TIME, id="oanda_time"),
        pytest.param(utc_ns(2016, 2, 29, 23, 59, 59, 999_999_999), "2016-02-29T23:59:59.999999999Z", id="leap_day_end"),
        pytest.param(
            utc_ns(2017, 3, 9, 13, 37, 46, 48_197_280), "2017-03-09T13:37:46.048197280Z", id="leading_zero_ns"
        ),
    ],
)
def test_ns_are_formatted_as_rfc3339_and_parse_back(ts_ns: int, expected: str) -> None:
    assert format_time_ns(ts_ns) == expected
    assert parse_time_ns(format_time_ns(ts_ns)) == ts_ns


LAST_SECOND = "2262-04-11T23:47:16"
"""The last second int64 nanoseconds reach, and only up to .854775807."""


@pytest.mark.parametrize(
    "fraction", [pytest.param("854775808", id="one_ns_past_int64"), pytest.param("999999999", id="end_of_the_second")]
)
def test_a_fraction_overflowing_int64_is_rejected_right_after_a_valid_time_of_the_same_second(fraction: str) -> None:
    clock._second_cache.clear()
    assert parse_time_ns(f"{LAST_SECOND}.000000000Z") == utc_ns(2262, 4, 11, 23, 47, 16)
    assert parse_time_ns(f"{LAST_SECOND}.854775807Z") == clock.MAX_TIME_NS

    with pytest.raises(BadValueError, match="outside 1970-2262"):
        parse_time_ns(f"{LAST_SECOND}.{fraction}Z")
    assert LAST_SECOND not in clock._second_cache  # only partly in range: never answered from the cache


def test_the_cache_holds_only_seconds_of_which_every_nanosecond_is_in_range() -> None:
    clock._second_cache.clear()
    for text in ("1970-01-01T00:00:00.000000000Z", "2262-04-11T23:47:15.999999999Z", OANDA_TIME):
        parse_time_ns(text)
    for text in ("1969-12-31T23:59:59.000000000Z", f"{LAST_SECOND}.000000000Z", "9999-12-31T23:59:59.000000000Z"):
        with contextlib.suppress(BadValueError):
            parse_time_ns(text)

    assert sorted(clock._second_cache) == ["1970-01-01T00:00:00", "2016-10-27T08:38:44", "2262-04-11T23:47:15"]
    assert all(0 <= base <= clock.MAX_TIME_NS - NS_PER_S + 1 for base in clock._second_cache.values())


def test_a_second_before_1970_is_not_cached_so_its_next_fraction_is_rejected_too() -> None:
    clock._second_cache.clear()
    for fraction in ("000000000", "999999999"):
        with pytest.raises(BadValueError, match="outside 1970-2262"):
            parse_time_ns(f"1969-12-31T23:59:59.{fraction}Z")
    assert clock._second_cache == {}


def test_a_time_of_megabytes_is_rejected_with_a_bounded_message() -> None:
    text = "2016-10-27T08:38:44.327443673Z" * 100_000
    with pytest.raises(BadValueError) as caught:
        parse_time_ns(text)
    assert len(str(caught.value)) < 200
