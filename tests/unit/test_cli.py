"""gateway.cli's argument parsing: replay times, speeds and name lists (hostile values: test_cli_hostile)."""

from __future__ import annotations

import pytest

from gateway.cli import RELATIVE_TIME, parse_names, parse_replay_time, parse_speed
from gateway.clock import NS_PER_S, parse_time_ns
from gateway.errors import ConfigError
from gateway.instruments import INSTRUMENT_PATTERN
from tests.unit.test_wire import T0

NOW = parse_time_ns("2026-11-21T12:00:00.5Z")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21T10:00:00Z", T0),
        ("2026-11-21T10:00:00.123456789Z", T0 + 123_456_789),
        ("2026-11-21T11:00:00.5+01:00", T0 + NS_PER_S // 2),
        (str(T0 // NS_PER_S), T0),
        (f"{T0 // NS_PER_S}.25", T0 + NS_PER_S // 4),
        ("now", NOW),
        ("-15m", NOW - 15 * 60 * NS_PER_S),
        ("-2h", NOW - 2 * 3600 * NS_PER_S),
        ("-30s", NOW - 30 * NS_PER_S),
        ("-1d", NOW - 86400 * NS_PER_S),
        ("-250ms", NOW - NS_PER_S // 4),
        ("-999999999d", 0),
    ],
)
def test_replay_times_accept_rfc3339_unix_seconds_and_times_before_now(text: str, expected: int) -> None:
    assert parse_replay_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "15m", "-15x", "-1.5h", "+15m", "2026-13-01T00:00:00Z", "", "-m"])
def test_an_unparseable_time_is_a_config_error_naming_the_option_and_the_forms(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--since: .* is not a time; use RFC 3339 .* -15m"):
        parse_replay_time(text, NOW, "--since")


@pytest.mark.parametrize(("text", "expected"), [("-15m", True), ("-250ms", True), ("-1", False), ("-x", False)])
def test_only_relative_times_are_taken_for_values_rather_than_options(text: str, expected: bool) -> None:
    assert (RELATIVE_TIME.fullmatch(text) is not None) is expected


@pytest.mark.parametrize(
    ("text", "expected"), [("max", None), ("1", 1.0), ("10", 10.0), ("0.5", 0.5), ("1e-300", 1e-300), ("-1", -1.0)]
)
def test_speed_is_max_or_a_number_whose_range_the_request_checks(text: str, expected: float | None) -> None:
    assert parse_speed(text) == expected


@pytest.mark.parametrize("text", ["fast", "10abc", "", "0x10", "1,5"])
def test_a_speed_that_is_not_a_number_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--speed: .* is neither max nor a number"):
        parse_speed(text)


def test_name_lists_are_split_trimmed_and_checked() -> None:
    assert parse_names(None, "--sources") == frozenset()
    assert parse_names("oanda-a, sim-b", "--sources") == {"oanda-a", "sim-b"}
    assert parse_names("EUR_USD,USD_JPY", "--instruments", INSTRUMENT_PATTERN) == {"EUR_USD", "USD_JPY"}
    with pytest.raises(ConfigError, match="--instruments: 'eurusd' is not a valid name"):
        parse_names("EUR_USD,eurusd", "--instruments", INSTRUMENT_PATTERN)
    with pytest.raises(ConfigError, match="--sources: '' is not a valid name"):
        parse_names("a,,b", "--sources")


def test_a_bad_name_list_is_echoed_bounded_with_a_count_of_the_others() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_names(",".join(f"bad{i}" for i in range(2000)), "--instruments", INSTRUMENT_PATTERN)

    message = str(caught.value)
    assert message.startswith("--instruments: 'bad0' (and 1,999 more) is not a valid name in 'bad0,bad1,")
    assert len(message) < 300
