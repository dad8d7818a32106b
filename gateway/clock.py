"""Timestamps: RFC 3339 (with nanoseconds) and Unix-seconds strings to int ns."""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime
from typing import Final

from gateway.echo import shown
from gateway.errors import BadValueError

NS_PER_S: Final = 1_000_000_000
NS_PER_MS: Final = 1_000_000
MAX_TIME_NS: Final = 2**63 - 1

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([01][0-9]|2[0-3]):([0-5][0-9]))"
)
_UNIX = re.compile(r"([0-9]{1,10})(?:\.([0-9]{1,9}))?")
_CACHE_LIMIT: Final = 1 << 14
_CACHED_SECONDS: Final = range(MAX_TIME_NS // NS_PER_S)
"""Seconds the memo may hold: those of which every nanosecond is in range (from 1970 to the one before
2262-04-11T23:47:16, which int64 reaches only up to .854775807), so that a time it gives needs no check."""
_second_cache: dict[str, int] = {}


def now_ns() -> int:
    """Wall-clock time in ns since the Unix epoch."""
    return time.time_ns()


def parse_time_ns(text: object) -> int:
    """Convert a broker timestamp to ns since the epoch, exactly.

    Accepts RFC 3339 with up to 9 fractional digits and ``Z`` or an offset
    (OANDA's default ``2016-10-27T08:38:45.664613867Z``) and OANDA's UNIX format
    (``1477557525.664613867``). The whole-second prefix of the common ``...Z``
    form is memoised, since consecutive quotes share it. The memo holds only
    seconds of which every nanosecond is in range, so its answers are range-checked
    by construction, at no cost per call (the last, partial second of 2262 and
    anything before 1970 always take the full parse and its check). Raises
    :class:`BadValueError`, whose message shows at most a bounded prefix of ``text``.
    """
    if not isinstance(text, str):  # typed ``object`` so that compiled (gateway.compiled) it still raises this
        raise BadValueError(f"time {shown(text)} is not a string")
    if len(text) == 30 and text[19] == "." and text[29] == "Z":
        base = _second_cache.get(text[:19])
        fraction = text[20:29]
        if base is not None and fraction.isascii() and fraction.isdecimal():
            return base + int(fraction)  # in range: see _CACHED_SECONDS
    return _parse_slow(text)


def _parse_slow(text: str) -> int:
    match = _RFC3339.fullmatch(text)
    if match is None:
        unix = _UNIX.fullmatch(text)
        if unix is None:
            raise BadValueError(f"time {shown(text)} is neither RFC 3339 nor Unix seconds")
        return _in_range(int(unix[1]) * NS_PER_S + _fraction_ns(unix[2]), text)
    try:
        year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise BadValueError(f"time {shown(text)} is not a valid date and time: {exc}") from exc
    seconds = calendar.timegm(moment.utctimetuple())
    if match[8] is None:
        offset = (int(match[10]) * 3600 + int(match[11]) * 60) * (1 if match[9] == "+" else -1)
        seconds -= offset
    elif match[7] is not None and len(match[7]) == 9 and len(text) == 30 and seconds in _CACHED_SECONDS:
        if len(_second_cache) >= _CACHE_LIMIT:
            _second_cache.clear()
        _second_cache[text[:19]] = seconds * NS_PER_S
    return _in_range(seconds * NS_PER_S + _fraction_ns(match[7]), text)


def _in_range(ts_ns: int, text: str) -> int:
    if not 0 <= ts_ns <= MAX_TIME_NS:
        raise BadValueError(f"time {shown(text)} is outside 1970-2262, which int64 nanoseconds cover")
    return ts_ns


def _fraction_ns(fraction: str | None) -> int:
    return int(fraction.ljust(9, "0")) if fraction else 0


def format_time_ns(ts_ns: int) -> str:
    """Format ns since the epoch as RFC 3339 UTC with nanoseconds."""
    seconds, fraction = divmod(ts_ns, NS_PER_S)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"
