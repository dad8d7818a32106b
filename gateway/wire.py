"""Encoding of accepted quotes as protobuf ``Tick`` records of a MarketDataStream.

Every numeric field of ``Tick`` is fixed-width (see market.proto), so a tick of a
given (source, instrument) always has the same layout: a cached prefix (the
record's tag and length, then the two strings) followed by the numbers packed
by one precompiled :class:`struct.Struct`, and for a snapshot quote the
``snapshot`` flag (omitted when false, as protobuf does). Concatenating a serialized
MarketDataStream header with such records is a valid MarketDataStream, since
protobuf appends repeated fields. Other messages go through the protobuf library.
"""

from __future__ import annotations

import struct
from typing import Final

from gateway.events import Quote

STREAM_CONTENT_TYPE: Final = "application/x-protobuf; proto=market.v1.MarketDataStream"
REJECTION_CONTENT_TYPE: Final = "application/x-protobuf; proto=market.v1.QualityRejection"
STATUS_CONTENT_TYPE: Final = "application/x-protobuf; proto=market.v1.SourceStatus"
"""Content types of the gateway's messages, on NATS (``Content-Type``) and Kafka (``content-type``)."""

_TICKS_FIELD: Final = 5  # MarketDataStream.ticks
_LENGTH_DELIMITED: Final = 2
_FIXED64: Final = 1
_VARINT: Final = 0


def _tag(field_number: int, wire_type: int) -> int:
    return field_number << 3 | wire_type


# Fields 3 to 10 of Tick: six 64-bit numbers (signed or not), the sequence, and the tradeable flag.
_NUMBERS: Final = struct.Struct("<BqBqBQBQBqBqBQBB")
_NUMBER_TAGS: Final = tuple(_tag(number, _FIXED64) for number in range(3, 10))
_TRADEABLE_TAG: Final = _tag(10, _VARINT)
_SNAPSHOT_FLAG: Final = bytes([_tag(11, _VARINT), 1])
_PREFIX_CACHE_LIMIT: Final = 4096


def encode_varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative integer."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string_field(field_number: int, text: str) -> bytes:
    data = text.encode()
    return bytes([_tag(field_number, _LENGTH_DELIMITED)]) + encode_varint(len(data)) + data


class TickRecordEncoder:
    """Encodes quotes as ``ticks`` entries of a MarketDataStream; prefixes are cached per (source, instrument)."""

    __slots__ = ("_prefixes",)

    def __init__(self) -> None:
        self._prefixes: dict[tuple[str, str, bool], bytes] = {}

    def encode(self, quote: Quote, seq: int) -> bytes:
        """The bytes of one ``ticks`` entry: tag, length and the Tick itself."""
        snapshot = quote.snapshot
        prefix = self._prefixes.get((quote.source, quote.instrument, snapshot))
        if prefix is None:
            prefix = self._prefix(quote.source, quote.instrument, snapshot)
        t3, t4, t5, t6, t7, t8, t9 = _NUMBER_TAGS
        record = prefix + _NUMBERS.pack(
            t3,
            quote.bid_px,
            t4,
            quote.ask_px,
            t5,
            quote.bid_liquidity,
            t6,
            quote.ask_liquidity,
            t7,
            quote.ts_event_ns,
            t8,
            quote.ts_recv_ns,
            t9,
            seq,
            _TRADEABLE_TAG,
            quote.tradeable,
        )
        return record + _SNAPSHOT_FLAG if snapshot else record

    def _prefix(self, source: str, instrument: str, snapshot: bool) -> bytes:
        strings = _string_field(1, instrument) + _string_field(2, source)
        length = len(strings) + _NUMBERS.size + (len(_SNAPSHOT_FLAG) if snapshot else 0)
        prefix = bytes([_tag(_TICKS_FIELD, _LENGTH_DELIMITED)]) + encode_varint(length) + strings
        if len(self._prefixes) >= _PREFIX_CACHE_LIMIT:
            self._prefixes.clear()
        self._prefixes[(source, instrument, snapshot)] = prefix
        return prefix
