"""Pure conversion of OANDA v20 pricing-stream lines to Quotes (the fields of a protobuf Tick).

One JSON object per line: a price (``"type": "PRICE"``, or no ``type`` in the
older shape) or ``{"type": "HEARTBEAT", "time": ...}``. Prices are decimal
strings and become exact 1e-9 integers; ``time`` is RFC 3339 with nanoseconds.
The best level of ``bids``/``asks`` (index 0, as OANDA orders them) is the quote.

Lines are decoded by msgspec into the typed structs of collectors.oanda.messages,
which stays pure Python; this module converts them and is compiled
(gateway.compiled), so its calls to the clock, the price parser and ``Quote`` are
native calls.

Any line, whatever it holds, becomes a Quote, a Heartbeat or one InputError
whose message echoes at most a bounded prefix of the input (gateway.echo):
JSON nested deeper than the decoder's recursion limit (msgspec counts its
depth against Python's, about a thousand levels) is malformed; a price of
thousands of digits, a time outside 1970-2262 or an over-long name is a bad
value, each refused before any conversion that would cost its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import msgspec

from collectors.oanda.messages import StreamMessage, decode_error_body, decode_stream_message
from gateway.clock import parse_time_ns
from gateway.echo import NAME_CHARS, shown
from gateway.errors import BadValueError, InputError, MalformedInputError, UnknownInstrumentError
from gateway.events import Quote
from gateway.instruments import validate_instrument
from gateway.prices import parse_liquidity, parse_price

_KNOWN_INSTRUMENTS_LIMIT = 4096
_known_instruments: set[str] = set()


@final  # so that ``type(parsed) is Heartbeat`` narrows: the framing's per-line test, cheaper than isinstance
@dataclass(frozen=True, slots=True)
class Heartbeat:
    """OANDA's keep-alive, sent every 5 s on a healthy stream."""

    ts_event_ns: int


def parse_stream_line(line: bytes, source: str, ts_recv_ns: int) -> Quote | Heartbeat:
    """Convert one stream line to a Quote or a Heartbeat.

    Raises MalformedInputError (not JSON, not an object, a field of the wrong
    type, a missing field, an unknown type), BadValueError (a price, size or
    time that is not a valid value) or UnknownInstrumentError; each carries the
    raw line.
    """
    try:
        message = decode_stream_message(line)
    except msgspec.ValidationError as exc:
        raise MalformedInputError(f"unexpected shape: {exc}", raw=bytes(line)) from exc
    except msgspec.DecodeError as exc:
        raise MalformedInputError(f"not valid JSON ({exc})", raw=bytes(line)) from exc
    except RecursionError as exc:  # msgspec's guard against deep nesting (it never reaches the C stack's end)
        raise MalformedInputError("JSON nested too deeply to read", raw=bytes(line)) from exc
    kind = message.type
    if kind == "PRICE" or kind is None:
        return _price_to_quote(message, line, source, ts_recv_ns)
    if kind == "HEARTBEAT":
        if message.time is None:
            raise MalformedInputError("heartbeat without 'time'", raw=bytes(line))
        try:
            return Heartbeat(parse_time_ns(message.time))
        except BadValueError as exc:
            exc.raw = bytes(line)
            raise
    raise MalformedInputError(f"unknown message type {shown(kind)}", raw=bytes(line))


def _price_to_quote(message: StreamMessage, line: bytes, source: str, ts_recv_ns: int) -> Quote:
    instrument, time, bids, asks = message.instrument, message.time, message.bids, message.asks
    if instrument is None or time is None or bids is None or asks is None:
        missing = [name for name in ("instrument", "time", "bids", "asks") if getattr(message, name) is None]
        raise MalformedInputError(f"price without {', '.join(repr(name) for name in missing)}", raw=bytes(line))
    try:
        if instrument not in _known_instruments:
            if len(instrument) > NAME_CHARS:
                raise UnknownInstrumentError(
                    f"instrument {shown(instrument)} is not of the form BASE_QUOTE: {len(instrument):,} characters",
                    instrument=instrument[:NAME_CHARS],
                )
            validate_instrument(instrument)
            if len(_known_instruments) >= _KNOWN_INSTRUMENTS_LIMIT:
                _known_instruments.clear()
            _known_instruments.add(instrument)
        if not bids or not asks:
            raise BadValueError(f"empty {'bids' if not bids else 'asks'}: no price to quote")
        best_bid = bids[0]
        best_ask = asks[0]
        tradeable = message.tradeable
        return Quote(
            instrument,
            source,
            parse_price(best_bid.price),
            parse_price(best_ask.price),
            parse_liquidity(best_bid.liquidity),
            parse_liquidity(best_ask.liquidity),
            parse_time_ns(time),
            ts_recv_ns,
            tradeable if tradeable is not None else message.status == "tradeable",
        )
    except BadValueError as exc:
        raise BadValueError(f"{instrument}: {exc}", raw=bytes(line), instrument=instrument) from exc
    except InputError as exc:
        exc.raw = bytes(line)
        raise


MIN_PIP_LOCATION = -9
MAX_PIP_LOCATION = 9


def pip_px_from_location(pip_location: object) -> int:
    """OANDA's ``pipLocation`` (the pip is 10**pipLocation, -4 for EUR_USD) as a pip size in 1e-9 units.

    Typed ``object`` (gateway.compiled): whatever the instruments endpoint sent that is not an integer in range, a
    bool included, raises BadValueError."""
    if type(pip_location) is not int or not MIN_PIP_LOCATION <= pip_location <= MAX_PIP_LOCATION:
        raise BadValueError(f"pipLocation {pip_location!r} is not an integer from {MIN_PIP_LOCATION} to 9")
    return 10 ** (9 + pip_location)


def error_message(body: bytes) -> str:
    """The ``errorMessage`` of an OANDA error body, or a short excerpt of a body that is not one."""
    try:
        decoded = decode_error_body(body)
    except (msgspec.DecodeError, RecursionError):  # a hostile error body is only an unexpected body
        decoded = None
    if decoded is not None and decoded.errorMessage:
        return f"{decoded.errorMessage} ({decoded.errorCode})" if decoded.errorCode else decoded.errorMessage
    excerpt = body[:200].decode(errors="replace").strip()
    return f"unexpected body: {excerpt!r}" if excerpt else "empty body"
