"""Exact fixed-point prices: decimal strings to integers in 1e-9 units and back.

Brokers send prices as decimal strings ("1.09177"). Converting them to floats
would round; converting them to integer nanos ("1 unit = 1e-9") is exact, makes
comparisons exact and leaves no room for NaN or infinity.
"""

from __future__ import annotations

import re
from typing import Final

from gateway.echo import shown
from gateway.errors import BadValueError

PRICE_SCALE: Final = 1_000_000_000
"""Integer price units per 1.0 (prices are in 1e-9 units)."""

PRICE_DECIMALS: Final = 9
INT64_MAX: Final = 2**63 - 1
UINT64_MAX: Final = 2**64 - 1
MAX_PRICE_CHARS: Final = 32
"""Longest price text converted. The longest price a 64-bit fixed-point price holds is 21 characters
(``-9223372036.854775807``); the rest allows leading zeros. A longer text is rejected before any conversion,
so a price of thousands of digits costs nothing (Python refuses to convert beyond 4,300 digits)."""

_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]{1,9})?")
_POW10: Final = tuple(10**k for k in range(PRICE_DECIMALS + 1))
_CACHE_LIMIT: Final = 1 << 16
_cache: dict[str, int] = {}
_field_cache: dict[bytes, int] = {}


def parse_price(text: object) -> int:
    """Convert a decimal string such as ``"1.09177"`` to 1e-9 units, exactly.

    Sign is kept (the quality gate rejects non-positive prices with a reason);
    anything else that is not a plain decimal with at most 9 fractional digits
    raises :class:`BadValueError`, as does a text longer than :data:`MAX_PRICE_CHARS`
    or a value that is not a string (typed ``object`` so that, compiled, it still
    raises this: gateway.compiled); the error shows at most a bounded prefix of the
    text. Results are memoised: quotes repeat the same few hundred price levels, so
    most calls are one dictionary lookup.
    """
    if not isinstance(text, str):
        raise BadValueError(f"price {shown(text)} is not a decimal number with at most {PRICE_DECIMALS} decimals")
    value = _cache.get(text)
    if value is not None:
        return value
    if len(text) > MAX_PRICE_CHARS:
        raise BadValueError(f"price {shown(text)} is too long: {len(text):,} characters, at most {MAX_PRICE_CHARS}")
    if _DECIMAL.fullmatch(text) is None:
        raise BadValueError(f"price {shown(text)} is not a decimal number with at most {PRICE_DECIMALS} decimals")
    whole, _, fraction = text.partition(".")
    value = int(whole + fraction) * _POW10[PRICE_DECIMALS - len(fraction)]
    if not -INT64_MAX <= value <= INT64_MAX:
        raise BadValueError(f"price {shown(text)} is too large for a 64-bit fixed-point price")
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[text] = value
    return value


def parse_price_field(field: bytes) -> int:
    """:func:`parse_price` of an ASCII field of a text file, surrounding whitespace allowed (``b" 1.09177"``).

    Memoised on the field's bytes, so a repeated price costs one dictionary lookup, without the strip and the
    decode (fields longer than MAX_PRICE_CHARS are not remembered: padding must not fill the memory). Raises
    BadValueError, and UnicodeDecodeError for bytes that are not ASCII.
    """
    value = _field_cache.get(field)
    if value is not None:
        return value
    value = parse_price(field.strip().decode("ascii"))
    if len(field) <= MAX_PRICE_CHARS:
        if len(_field_cache) >= _CACHE_LIMIT:
            _field_cache.clear()
        _field_cache[field] = value
    return value


def format_price(px: int, decimals: int = 5) -> str:
    """Format 1e-9 units as a decimal string with at least ``decimals`` places."""
    sign = "-" if px < 0 else ""
    whole, fraction = divmod(abs(px), PRICE_SCALE)
    digits = f"{fraction:09d}".rstrip("0").ljust(decimals, "0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def parse_liquidity(value: object) -> int:
    """Return a liquidity (units) as a non-negative int.

    The live API sends integers; one recorded client turned them into integral
    floats (``10000000.0``), which are accepted. Anything else raises.
    """
    if type(value) is int and 0 <= value <= UINT64_MAX:
        return value
    if type(value) is float and value.is_integer() and 0 <= value <= UINT64_MAX:
        return int(value)
    raise BadValueError(f"liquidity {shown(value)} is not a non-negative whole number below 2**64")
