"""Pure conversion of OANDA v20 pricing-stream lines to Quotes (the fields of a protobuf Tick).

One JSON object per line: a price (``"type": "PRICE"``, or no ``type`` in the
older shape) or ``{"type": "HEARTBEAT", "time": ...}``. Prices are decimal
strings and become exact 1e-9 integers; ``time`` is RFC 3339 with nanoseconds.
The best level of ``bids``/``asks`` (index 0, as OANDA orders them) is the quote.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from gateway.clock import parse_time_ns
from gateway.errors import BadValueError, InputError, MalformedInputError
from gateway.instruments import validate_instrument
from gateway.prices import parse_liquidity, parse_price
from gateway.quote import Quote

_REQUIRED_PRICE_FIELDS = ("instrument", "time", "bids", "asks")
_KNOWN_INSTRUMENTS_LIMIT = 4096
_known_instruments: set[str] = set()


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """OANDA's keep-alive, sent every 5 s on a healthy stream."""

    ts_event_ns: int


def parse_stream_line(line: bytes, source: str, ts_recv_ns: int) -> Quote | Heartbeat:
    """Convert one stream line to a Quote or a Heartbeat.

    Raises MalformedInputError (not JSON, not an object, unknown type, missing
    field), BadValueError (a price, size or time that is not a valid value) or
    UnknownInstrumentError; each carries the raw line.
    """
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise MalformedInputError(f"not valid JSON ({exc})", raw=bytes(line)) from exc
    if type(message) is not dict:
        raise MalformedInputError("line is JSON but not an object", raw=bytes(line))
    kind = message.get("type")
    try:
        if kind == "PRICE" or kind is None:
            return _price_to_quote(message, source, ts_recv_ns)
        if kind == "HEARTBEAT":
            return Heartbeat(parse_time_ns(message["time"]))
    except InputError as exc:
        exc.raw = bytes(line)
        raise
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise MalformedInputError(_describe_shape_error(message), raw=bytes(line)) from exc
    raise MalformedInputError(f"unknown message type {kind!r}", raw=bytes(line))


def _price_to_quote(message: dict, source: str, ts_recv_ns: int) -> Quote:
    instrument = message["instrument"]
    if instrument not in _known_instruments:
        validate_instrument(instrument)
        if len(_known_instruments) >= _KNOWN_INSTRUMENTS_LIMIT:
            _known_instruments.clear()
        _known_instruments.add(instrument)
    bids = message["bids"]
    asks = message["asks"]
    if not bids or not asks:
        raise BadValueError(
            f"{instrument}: empty {'bids' if not bids else 'asks'}: no price to quote", instrument=instrument
        )
    best_bid = bids[0]
    best_ask = asks[0]
    tradeable = message.get("tradeable")
    if tradeable is None:
        tradeable = message.get("status", "tradeable") == "tradeable"
    try:
        return Quote(
            instrument,
            source,
            parse_price(best_bid["price"]),
            parse_price(best_ask["price"]),
            parse_liquidity(best_bid.get("liquidity", 0)),
            parse_liquidity(best_ask.get("liquidity", 0)),
            parse_time_ns(message["time"]),
            ts_recv_ns,
            tradeable is True,
        )
    except BadValueError as exc:
        raise BadValueError(f"{instrument}: {exc}", instrument=instrument) from exc


def _describe_shape_error(message: dict) -> str:
    """Name what is missing or mis-shaped; only runs on the error path."""
    if message.get("type") == "HEARTBEAT":
        return "heartbeat without 'time'"
    missing = [field for field in _REQUIRED_PRICE_FIELDS if field not in message]
    if missing:
        return f"price without {', '.join(repr(f) for f in missing)}"
    if not isinstance(message["instrument"], str):
        return f"'instrument' is {type(message['instrument']).__name__}, not a string"
    for side in ("bids", "asks"):
        levels = message[side]
        if not isinstance(levels, list) or any(not isinstance(level, dict) or "price" not in level for level in levels):
            return f"{side!r} is not a list of {{'price', 'liquidity'}} objects"
    return "price fields have the wrong types"
