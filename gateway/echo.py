"""Echoing untrusted input in errors, log lines and messages, always bounded.

A broker line, a provider body or a config value can be megabytes long or
unprintable; whatever the gateway says about it (a QualityRejection's
``detail`` and ``raw``, a SourceStatus ``detail``, an error, a log line) shows
at most a bounded prefix and says how much was cut, so no message or record
grows with its input and no log line echoes megabytes.
"""

from __future__ import annotations

import math
from typing import Final

DETAIL_CHARS: Final = 1024
"""Most characters of a detail or error text (rejections, statuses, /health problems)."""
NAME_CHARS: Final = 64
"""Most characters of a name echoed from input (an instrument, a type) inside a text."""
RAW_BYTES: Final = 512
"""Most bytes of raw input kept in a QualityRejection."""
LOG_CHARS: Final = 200
"""Most characters of input echoed in one log line."""


def clip(text: str, limit: int = DETAIL_CHARS) -> str:
    """``text`` cut to about ``limit`` characters, ending with how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [cut: {len(text) - limit:,} more characters]"


def clip_bytes(data: bytes, limit: int = RAW_BYTES) -> tuple[bytes, int]:
    """The first ``limit`` bytes of ``data`` and how many bytes were left out (0 when none)."""
    return (data, 0) if len(data) <= limit else (data[:limit], len(data) - limit)


def shown(value: object, limit: int = NAME_CHARS) -> str:
    """``repr(value)``, clipped; an integer too long to print (Python refuses beyond 4,300 digits) by its size."""
    if isinstance(value, str | bytes) and len(value) > limit:  # cut before repr: a huge repr costs its size
        return f"{repr(value[:limit])[:limit]}... [{len(value):,} characters in all]"
    try:
        return clip(repr(value), limit)
    except ValueError:  # repr of an int beyond sys.get_int_max_str_digits()
        assert isinstance(value, int)
        return f"a number of about {value.bit_length() * math.log10(2):,.0f} digits"
