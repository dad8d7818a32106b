"""Lines of OANDA's recorded quote files to quotes (pure: bytes in, values out), compiled with mypyc.

A line is ``milliseconds_since_midnight_UTC,bid,ask`` (collectors.recorded reads the files). Every quote of a
replay passes here, so the module is on the compiled hot path (gateway.compiled). The usual line (digits, no
spaces) is scanned byte by byte, which compiled code does natively: about 220 ns a line, against 560 ns with
``bytes.split``, ``isdigit`` and ``int`` (each a call through the Python API, compiled or not). Any other line,
and every error, takes the general path (:func:`_parse_any_line`), which the tests hold the fast path to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.clock import NS_PER_MS
from gateway.echo import shown
from gateway.errors import BadValueError, MalformedInputError
from gateway.prices import parse_price_field

MS_PER_DAY: Final = 86_400_000
MAX_MILLIS_DIGITS: Final = 8
"""Milliseconds since midnight have at most 8 digits; a longer field is refused before it is converted."""
_COMMA: Final = 44  # ord(","): a literal, which mypyc compiles to a constant
_ZERO: Final = 48  # ord("0")


@dataclass(slots=True, init=False)  # the __init__ below: see gateway.compiled, "Dataclasses built per tick"
class RecordedQuote:
    """One line of a quote file: the recorded time (ns since the epoch) and exact prices (1e-9 units)."""

    ts_ns: int
    bid_px: int
    ask_px: int

    def __init__(self, ts_ns: int, bid_px: int, ask_px: int) -> None:
        self.ts_ns = ts_ns
        self.bid_px = bid_px
        self.ask_px = ask_px


def parse_quote_line(line: bytes, day_start_ns: int) -> RecordedQuote:
    """Parse ``ms_since_midnight,bid,ask`` of the day starting at ``day_start_ns``.

    Raises MalformedInputError (not three fields, a time that is not whole milliseconds, bytes that are not
    ASCII) or BadValueError (a time beyond the day, a price that is not a decimal), each holding the line.
    """
    size = len(line)
    ms = 0
    first = 0  # the fast path: digits, a comma, a price, a comma, a price without a comma; else _parse_any_line
    while first < size and first <= MAX_MILLIS_DIGITS:  # bounded: no big number from a line of digits
        digit = line[first] - _ZERO
        if not 0 <= digit <= 9:
            break
        ms = ms * 10 + digit
        first += 1
    if not 0 < first <= MAX_MILLIS_DIGITS or first == size or line[first] != _COMMA or ms >= MS_PER_DAY:
        return _parse_any_line(line, day_start_ns)
    second = first + 1
    while second < size and line[second] != _COMMA:
        second += 1
    third = second + 1
    while third < size and line[third] != _COMMA:
        third += 1
    if second >= size or third < size:
        return _parse_any_line(line, day_start_ns)
    return _quote(line, day_start_ns + ms * NS_PER_MS, line[first + 1 : second], line[second + 1 :])


def _parse_any_line(line: bytes, day_start_ns: int) -> RecordedQuote:
    """:func:`parse_quote_line` of any line: spaces around fields, and every error."""
    fields = line.split(b",")
    if len(fields) != 3:
        raise MalformedInputError(f"expected 3 comma-separated fields, got {len(fields)}", raw=bytes(line))
    millis, bid, ask = fields
    millis = millis.strip()
    if not millis.isdigit():
        raise MalformedInputError(f"time {shown(millis)} is not whole milliseconds", raw=bytes(line))
    ms = int(millis) if len(millis) <= MAX_MILLIS_DIGITS else MS_PER_DAY
    if ms >= MS_PER_DAY:
        raise BadValueError(f"time {shown(millis)} is not a millisecond of the day (0 to 86,399,999)", raw=bytes(line))
    return _quote(line, day_start_ns + ms * NS_PER_MS, bid, ask)


def _quote(line: bytes, ts_ns: int, bid: bytes, ask: bytes) -> RecordedQuote:
    """The quote of ``line`` from its time and its two price fields; a bad price raises with the line attached."""
    try:
        return RecordedQuote(ts_ns, parse_price_field(bid), parse_price_field(ask))
    except UnicodeDecodeError as exc:
        raise MalformedInputError("line is not ASCII", raw=bytes(line)) from exc
    except BadValueError as exc:
        exc.raw = bytes(line)
        raise
