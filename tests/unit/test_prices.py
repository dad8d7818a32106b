"""gateway.prices: exact decimal strings <-> integer 1e-9 units, liquidity sizes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import prices as prices_module
from gateway.errors import BadValueError
from gateway.prices import (
    MAX_PRICE_CHARS,
    PRICE_SCALE,
    format_price,
    parse_liquidity,
    parse_price,
    parse_price_field,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1.09177", 1_091_770_000, id="eurusd_five_decimals"),
        pytest.param("114.312", 114_312_000_000, id="jpy_three_decimals"),
        pytest.param("2", 2 * PRICE_SCALE, id="integer_without_point"),
        pytest.param("0", 0, id="zero_kept_for_the_gate_to_reject"),
        pytest.param("-1.5", -1_500_000_000, id="negative_kept_for_the_gate_to_reject"),
        pytest.param("-0.00001", -10_000, id="negative_below_one"),
        pytest.param("0.000000001", 1, id="nine_decimals_is_one_unit"),
        pytest.param("123456.123456789", 123_456_123_456_789, id="all_nine_decimals"),
        pytest.param("1.10", 1_100_000_000, id="trailing_zero"),
        pytest.param("007.5", 7_500_000_000, id="leading_zeros"),
        pytest.param("9223372036.854775807", 9_223_372_036_854_775_807, id="int64_max_in_units"),
    ],
)
def test_decimal_string_becomes_exact_integer_units(text: str, expected: int) -> None:
    assert parse_price(text) == expected
    assert parse_price(text) == expected  # the memoised answer is the same
    assert Decimal(text) * PRICE_SCALE == expected  # an independent exact conversion agrees


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("NaN", id="nan"),
        pytest.param("nan", id="nan_lowercase"),
        pytest.param("inf", id="inf"),
        pytest.param("-inf", id="minus_inf"),
        pytest.param("Infinity", id="infinity"),
        pytest.param("1e5", id="exponent"),
        pytest.param("1.0E-5", id="exponent_upper"),
        pytest.param("", id="empty"),
        pytest.param(" 1.0", id="leading_space"),
        pytest.param("1.0 ", id="trailing_space"),
        pytest.param("1.0\n", id="trailing_newline"),
        pytest.param("1_000", id="underscore_separator"),
        pytest.param("1,5", id="comma_decimal"),
        pytest.param("1.", id="point_without_fraction"),
        pytest.param(".5", id="fraction_without_whole"),
        pytest.param("+1.0", id="explicit_plus"),
        pytest.param("--1", id="double_minus"),
        pytest.param("1.2.3", id="two_points"),
        pytest.param("0x10", id="hex"),
        pytest.param("1.0000000001", id="ten_decimals"),
        pytest.param("\u0661.\u0660", id="arabic_indic_digits"),
    ],
)
def test_non_decimal_price_text_is_rejected_naming_the_text(text: str) -> None:
    with pytest.raises(BadValueError) as caught:
        parse_price(text)
    assert repr(text) in str(caught.value)
    assert "at most 9 decimals" in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param(1, id="int"),
        pytest.param(1.09177, id="float"),
        pytest.param(b"1.09177", id="bytes"),
        pytest.param(Decimal("1.09177"), id="decimal"),
    ],
)
def test_non_string_price_is_rejected(value: object) -> None:
    with pytest.raises(BadValueError, match="is not a decimal number"):
        parse_price(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(["1.09177"], id="list"),
        pytest.param({"price": "1.09177"}, id="dict"),
    ],
)
def test_unhashable_non_string_price_is_rejected_as_bad_value(value: object) -> None:
    # The docstring promises BadValueError for anything that is not a plain decimal string;
    # JSON can deliver a list or an object where the price string should be.
    with pytest.raises(BadValueError):
        parse_price(value)  # type: ignore[arg-type]


def test_bytes_are_rejected_even_after_the_same_text_was_cached() -> None:
    assert parse_price("1.23456") == 1_234_560_000
    with pytest.raises(BadValueError):
        parse_price(b"1.23456")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("px", "decimals", "expected"),
    [
        pytest.param(1_091_770_000, 5, "1.09177", id="eurusd"),
        pytest.param(114_312_000_000, 3, "114.312", id="usdjpy"),
        pytest.param(2 * PRICE_SCALE, 5, "2.00000", id="padded_to_decimals"),
        pytest.param(2 * PRICE_SCALE, 0, "2", id="whole_number_without_point"),
        pytest.param(1_091_775_000, 5, "1.091775", id="more_digits_than_asked_are_kept"),
        pytest.param(1_091_770_000, 0, "1.09177", id="zero_decimals_keeps_significant_digits"),
        pytest.param(1, 5, "0.000000001", id="one_unit"),
        pytest.param(0, 2, "0.00", id="zero"),
        pytest.param(-500_000_000, 5, "-0.50000", id="negative_below_one"),
        pytest.param(-114_312_000_000, 3, "-114.312", id="negative_jpy"),
    ],
)
def test_integer_units_are_formatted_as_decimal_text(px: int, decimals: int, expected: str) -> None:
    assert format_price(px, decimals) == expected


@pytest.mark.parametrize(
    "px",
    [
        pytest.param(1_091_770_000, id="eurusd"),
        pytest.param(114_312_000_000, id="usdjpy"),
        pytest.param(1, id="one_unit"),
        pytest.param(0, id="zero"),
        pytest.param(-1_500_000_001, id="negative_nine_decimals"),
        pytest.param(9_223_372_036_854_775_807, id="int64_max"),
    ],
)
def test_formatted_price_parses_back_to_the_same_units(px: int) -> None:
    for decimals in (0, 3, 5, 9):
        assert parse_price(format_price(px, decimals)) == px


@pytest.mark.parametrize(
    ("text", "decimals"),
    [
        pytest.param("1.09177", 5, id="eurusd"),
        pytest.param("114.312", 3, id="usdjpy"),
        pytest.param("0.000000001", 9, id="one_unit"),
    ],
)
def test_parsed_price_formats_back_to_the_same_text(text: str, decimals: int) -> None:
    assert format_price(parse_price(text), decimals) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(10_000_000, 10_000_000, id="int"),
        pytest.param(0, 0, id="zero_means_unknown"),
        pytest.param(10_000_000.0, 10_000_000, id="integral_float_from_notebook_recording"),
        pytest.param(1e6, 1_000_000, id="float_exponent"),
    ],
)
def test_whole_non_negative_liquidity_is_accepted(value: object, expected: int) -> None:
    result = parse_liquidity(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(-1, id="negative_int"),
        pytest.param(-1.0, id="negative_float"),
        pytest.param(1.5, id="fractional"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="inf"),
        pytest.param(True, id="bool_true_is_not_a_size"),
        pytest.param(False, id="bool_false_is_not_a_size"),
        pytest.param("1000000", id="string"),
        pytest.param(None, id="none"),
    ],
)
def test_liquidity_that_is_not_a_whole_non_negative_number_is_rejected(value: object) -> None:
    with pytest.raises(BadValueError, match="not a non-negative whole number") as caught:
        parse_liquidity(value)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("9" * 5000, id="five_thousand_digits"),
        pytest.param("-" + "9" * 4301, id="beyond_pythons_conversion_limit"),
        pytest.param("1." + "0" * 5000, id="five_thousand_decimals"),
        pytest.param("0" * 32 + "1.5", id="thirty_five_characters_of_leading_zeros"),
    ],
)
def test_a_price_longer_than_any_price_is_rejected_before_conversion_with_a_bounded_message(text: str) -> None:
    with pytest.raises(BadValueError, match="too long") as caught:
        parse_price(text)
    assert f"{len(text):,} characters, at most {MAX_PRICE_CHARS}" in str(caught.value)
    assert len(str(caught.value)) < 200


def test_the_longest_price_text_accepted_may_carry_leading_zeros() -> None:
    text = "1.5".rjust(MAX_PRICE_CHARS, "0")
    assert parse_price(text) == 1_500_000_000


FIELD_CORPUS = [
    b"1.09177",
    b" 1.09177 ",
    b"\t101.125\r",
    b"-0.5",
    b"0",
    b"",
    b"   ",
    b"1e0",
    b"NaN",
    b"inf",
    b"1.0000000001",
    b"1_000",
    b"+1.2",
    b"1.2.3",
    b"0x10",
    b"\xff1.2",
    b"1.2\x00",
    b"9" * 40,
    b" " * 100_000 + b"1.5",
    b"1." + b"0" * 5000,
]


@pytest.mark.parametrize("field", FIELD_CORPUS, ids=range(len(FIELD_CORPUS)))
def test_a_file_field_parses_as_its_stripped_text_does_twice_over(field: bytes) -> None:
    """parse_price_field is parse_price of the stripped ASCII text, from the memo too (second call)."""
    try:
        expected: int | type[Exception] = parse_price(field.strip().decode("ascii"))
    except (BadValueError, UnicodeDecodeError) as exc:
        expected = type(exc)
    for _ in range(2):
        if isinstance(expected, int):
            assert parse_price_field(field) == expected
        else:
            with pytest.raises(expected):
                parse_price_field(field)


def test_padded_fields_are_parsed_but_not_remembered() -> None:
    padded = b" " * (MAX_PRICE_CHARS + 1) + b"1.25"
    assert parse_price_field(padded) == 1_250_000_000
    assert padded not in prices_module._field_cache
    assert parse_price_field(b"1.25") == 1_250_000_000
    assert b"1.25" in prices_module._field_cache
