"""The bytes on the wire: the one owner of what the gateway writes to NATS and Kafka, and reads back.

- **Tick records.** Every numeric field of ``Tick`` is fixed-width (see
  market.proto), so a tick of a given (source, instrument) always has the same
  layout: a cached prefix (the record's tag and length, then the two strings)
  followed by the numbers packed by one precompiled :class:`struct.Struct`, and
  for a snapshot quote the ``snapshot`` flag (omitted when false, as protobuf
  does). :data:`TICK_NUMBER_FIELDS` is the one table both the encoder
  (:class:`TickRecordEncoder`) and the decoder (:func:`decode_ticks`) are
  built from. Concatenating a serialized MarketDataStream header
  (:func:`stream_header`) with such records is a valid MarketDataStream, since
  protobuf appends repeated fields. Other messages go through the protobuf library.
- **Names.** Subjects (:class:`Subjects`), NATS headers (:func:`nats_headers`)
  and message ids, Kafka record headers (:func:`kafka_headers`) and content types.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Final

from google.protobuf.message import DecodeError

from gateway.aggregator import BestQuote
from gateway.events import Quote
from gateway.schema.market.v1.market_pb2 import MarketDataStream

# -- content types and headers ----------------------------------------------------------------------------------

STREAM_CONTENT_TYPE: Final = "application/x-protobuf; proto=market.v1.MarketDataStream"
REJECTION_CONTENT_TYPE: Final = "application/x-protobuf; proto=market.v1.QualityRejection"
STATUS_CONTENT_TYPE: Final = "application/x-protobuf; proto=market.v1.SourceStatus"
EXTERNAL_CONTENT_TYPE: Final = "application/x-protobuf; proto=market.v1.ExternalData"
"""Content types of the gateway's messages, on NATS (``Content-Type``) and Kafka (``content-type``)."""

CONTENT_TYPE_HEADER: Final = "content-type"
ID_HEADER: Final = "fxgw-id"
"""Kafka record headers: the protobuf message name, and the record's stable id (gateway.kafka.records)."""

SOURCE_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
"""A source id: one subject token (``<prefix>.<source>.ticks``), so no dots, wildcards or spaces."""
SOURCE_ID: Final = re.compile(SOURCE_ID_PATTERN)

BEST_SOURCE: Final = "best"
"""The source name of best-price messages (``<prefix>.best.ticks``)."""
EXTERNAL_TOKEN: Final = "external"
"""The subject token of external data (``<prefix>.external.<type>``); no source may take it as its id."""


@dataclass(frozen=True, slots=True)
class Subjects:
    """The NATS subjects under ``prefix`` (config ``nats.subject_prefix``, default ``market``)."""

    prefix: str = "market"

    def ticks(self, source: str) -> str:
        """A source's accepted ticks (MarketDataStream); ``ticks(BEST_SOURCE)`` carries the best prices."""
        return f"{self.prefix}.{source}.ticks"

    def status(self, source: str) -> str:
        """A source's connection changes (SourceStatus)."""
        return f"{self.prefix}.{source}.status"

    @property
    def rejected(self) -> str:
        """Every rejected quote or unparseable input (QualityRejection)."""
        return f"{self.prefix}.rejected"

    def external(self, data_type: str) -> str:
        """External data of one type, the collector kind (ExternalData): ``<prefix>.external.<type>``."""
        return f"{self.prefix}.{EXTERNAL_TOKEN}.{data_type}"


def stream_message_id(source: str, session_id: int, batch_seq: int) -> str:
    """``Nats-Msg-Id`` of a MarketDataStream: ``<source>:<session_id>:<batch_seq>``."""
    return f"{source}:{session_id}:{batch_seq}"


def status_message_id(source: str, session_id: int, seq: int) -> str:
    """``Nats-Msg-Id`` of a SourceStatus: ``<source>:status:<session_id>:<seq>``."""
    return f"{source}:status:{session_id}:{seq}"


def rejection_message_id(session_id: int, seq: int) -> str:
    """``Nats-Msg-Id`` of a QualityRejection: ``rejected:<session_id>:<seq>``, seq counting the session's rejections."""
    return f"rejected:{session_id}:{seq}"


def external_message_id(source: str, session_id: int, seq: int) -> str:
    """``Nats-Msg-Id`` of an ExternalData: ``<source>:external:<session_id>:<seq>``, seq counting the source's items."""
    return f"{source}:{EXTERNAL_TOKEN}:{session_id}:{seq}"


def replay_message_id(source: str, session_id: int, first_seq: int) -> str:
    """``Nats-Msg-Id`` of a replayed MarketDataStream: ``replay:<source>:<session_id>:<seq of its first tick>``."""
    return f"replay:{source}:{session_id}:{first_seq}"


def nats_headers(content_type: str, message_id: str) -> dict[str, str]:
    """The headers of every NATS message the gateway publishes."""
    return {"Content-Type": content_type, "Nats-Msg-Id": message_id}


def kafka_record_id(instance_id: str, spool_epoch: int, spool_seq: int) -> bytes:
    """The ``fxgw-id`` header value of the record stored under ``spool_seq``: ``<instance>:<epoch>:<seq>``."""
    return f"{instance_id}:{spool_epoch}:{spool_seq}".encode()


def kafka_headers(content_type: str, record_id: bytes) -> list[tuple[str, bytes]]:
    """The headers of every Kafka record the gateway writes."""
    return [(CONTENT_TYPE_HEADER, content_type.encode()), (ID_HEADER, record_id)]


# -- protobuf primitives -----------------------------------------------------------------------------------------

_VARINT: Final = 0
_FIXED64: Final = 1
_LENGTH_DELIMITED: Final = 2


def _tag(field_number: int, wire_type: int) -> int:
    return field_number << 3 | wire_type


def encode_varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative integer."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it); IndexError or ValueError if it does not fit in 64 bits or runs off."""
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise ValueError("varint longer than 64 bits")


def _string_field(field_number: int, text: str) -> bytes:
    data = text.encode()
    return bytes([_tag(field_number, _LENGTH_DELIMITED)]) + encode_varint(len(data)) + data


# -- the Tick field table ----------------------------------------------------------------------------------------

_STREAM_SOURCE_FIELD: Final = 1  # MarketDataStream.source
_STREAM_TICKS_FIELD: Final = 5  # MarketDataStream.ticks
_TICK_INSTRUMENT_FIELD: Final = 1
_TICK_SOURCE_FIELD: Final = 2
_TICK_TRADEABLE_FIELD: Final = 10
_TICK_SNAPSHOT_FIELD: Final = 11

TICK_NUMBER_FIELDS: Final = (
    ("bid_px", 3, "q"),
    ("ask_px", 4, "q"),
    ("bid_liquidity", 5, "Q"),
    ("ask_liquidity", 6, "Q"),
    ("ts_event_ns", 7, "q"),
    ("ts_recv_ns", 8, "q"),
    ("seq", 9, "Q"),
)
"""Tick's fixed-width numbers in field order: name, field number, struct code (q: sfixed64, Q: fixed64).

The encoder packs them, each behind its tag, then the tradeable flag; the decoder unpacks the same layout
into a :data:`TickRow` of the numbers in this order followed by ``tradeable``."""

TickRow = tuple[int, int, int, int, int, int, int, bool]
"""bid_px, ask_px, bid_liquidity, ask_liquidity, ts_event_ns, ts_recv_ns, seq, tradeable."""
ROW_TS_EVENT: Final = [name for name, _, _ in TICK_NUMBER_FIELDS].index("ts_event_ns")
ROW_SEQ: Final = [name for name, _, _ in TICK_NUMBER_FIELDS].index("seq")

_NUMBER_TAGS: Final = tuple(_tag(number, _FIXED64) for _, number, _ in TICK_NUMBER_FIELDS)
_TRADEABLE_TAG: Final = _tag(_TICK_TRADEABLE_FIELD, _VARINT)
_NUMBERS: Final = struct.Struct("<" + "".join("B" + code for _, _, code in TICK_NUMBER_FIELDS) + "BB")
"""Tag and value of each number, then the tradeable tag and flag."""
_NUMBERS_SIZE: Final = _NUMBERS.size
_SNAPSHOT_FLAG: Final = bytes([_tag(_TICK_SNAPSHOT_FIELD, _VARINT), 1])
_TICKS_TAG: Final = _tag(_STREAM_TICKS_FIELD, _LENGTH_DELIMITED)
_STREAM_SOURCE_TAG: Final = _tag(_STREAM_SOURCE_FIELD, _LENGTH_DELIMITED)
_INSTRUMENT_TAG: Final = _tag(_TICK_INSTRUMENT_FIELD, _LENGTH_DELIMITED)
_TICK_SOURCE_TAG: Final = _tag(_TICK_SOURCE_FIELD, _LENGTH_DELIMITED)
_HEADER_NUMBERS: Final = re.compile(rb"(?:[\x10\x18\x20][\x80-\xff]{0,9}[\x00-\x7f])*")
"""MarketDataStream fields 2-4 (batch_time_ns, batch_seq, session_id): a tag, then a varint of at most ten bytes."""
_CACHE_LIMIT: Final = 4096


# -- encoding ----------------------------------------------------------------------------------------------------


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
        strings = _string_field(_TICK_INSTRUMENT_FIELD, instrument) + _string_field(_TICK_SOURCE_FIELD, source)
        length = len(strings) + _NUMBERS_SIZE + (len(_SNAPSHOT_FLAG) if snapshot else 0)
        prefix = bytes([_TICKS_TAG]) + encode_varint(length) + strings
        if len(self._prefixes) >= _CACHE_LIMIT:
            self._prefixes.clear()
        self._prefixes[(source, instrument, snapshot)] = prefix
        return prefix


def stream_header(source: str, batch_time_ns: int, batch_seq: int, session_id: int) -> bytes:
    """A serialized MarketDataStream without ticks; append encoded tick records to make the whole message."""
    return MarketDataStream(
        source=source, batch_time_ns=batch_time_ns, batch_seq=batch_seq, session_id=session_id
    ).SerializeToString()


def best_prices_message(changes: Sequence[BestQuote]) -> MarketDataStream:
    """A MarketDataStream of the ``best`` source holding ``changes`` (header fields left for the caller)."""
    message = MarketDataStream(source=BEST_SOURCE)
    add = message.best_prices.add
    for best in changes:
        add(
            instrument=best.instrument,
            bid_px=best.bid_px,
            bid_source=best.bid_source,
            ask_px=best.ask_px,
            ask_source=best.ask_source,
            live_sources=best.live_sources,
            ts_ns=best.ts_ns,
            crossed=best.crossed,
            tradeable=best.tradeable,
        )
    return message


# -- decoding ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class TickRun:
    """Consecutive ticks of one source and instrument, snapshots or not, from one MarketDataStream.

    ``entries`` holds each tick as a ``ticks`` entry in the gateway's layout,
    ``entry_size`` bytes apiece, so a selection of ticks is republished by
    slicing rather than encoding. Not frozen: one is built per record, and a
    frozen dataclass takes three times as long to build.
    """

    source: str
    instrument: str
    session_id: int
    rows: list[TickRow]
    entries: bytes
    entry_size: int
    snapshot: bool = False

    def entry_bytes(self, indices: Sequence[int]) -> bytes:
        """The entries of the ticks at ``indices``; one slice when they are a contiguous range."""
        size = self.entry_size
        if isinstance(indices, range) and indices.step == 1:
            return self.entries[indices.start * size : indices.stop * size]
        entries = self.entries
        return b"".join(entries[index * size : (index + 1) * size] for index in indices)


@dataclass(frozen=True, slots=True)
class _Layout:
    """How to check and read the ticks of one (instrument, source) in the gateway's fixed layout."""

    ticks: re.Pattern[bytes]
    numbers: struct.Struct
    instrument: str
    source: str


_layouts: dict[bytes, _Layout] = {}
_fallback_encoder = TickRecordEncoder()


def decode_ticks(value: bytes) -> list[TickRun]:
    """The ticks of a serialized MarketDataStream, as runs of one source and instrument each.

    Values in the gateway's own layout (a header of fields 1-4, then ticks whose
    numbers are all present and fixed-width, as :class:`TickRecordEncoder` writes
    them) are read with one struct per tick after a regular expression has checked
    every tick's bytes; anything else goes through the protobuf library, which
    accepts every valid encoding. Raises ``google.protobuf.message.DecodeError``
    for a value that is not a MarketDataStream.
    """
    runs = decode_fixed_layout(value)
    return runs if runs is not None else _decode_protobuf(value)


def decode_fixed_layout(value: bytes) -> list[TickRun] | None:
    """The fast path; None whenever the value is not exactly in the gateway's layout.

    The header (source, then the numbers, as the library writes them) is skipped
    in two steps, the numbers by one regular expression; the library then reads
    those few bytes, which also checks them.
    """
    pos = 0
    end = len(value)
    try:
        if end and value[0] == _STREAM_SOURCE_TAG:
            length, pos = _read_varint(value, 1)
            pos += length
            if pos > end:
                return None
        numbers = _HEADER_NUMBERS.match(value, pos)
        assert numbers is not None  # the pattern matches the empty string
        pos = numbers.end()
        if pos < end and value[pos] != _TICKS_TAG:
            return None
        session_id = MarketDataStream.FromString(value[:pos]).session_id
        if pos == end:
            return []
        entries = value[pos:]
        layout = _layout(entries)
    except (IndexError, ValueError, DecodeError):  # UnicodeDecodeError is a ValueError
        return None
    if layout is None or len(entries) % layout.numbers.size or layout.ticks.fullmatch(entries) is None:
        return None
    rows: list[TickRow] = list(layout.numbers.iter_unpack(entries))
    return [TickRun(layout.source, layout.instrument, session_id, rows, entries, layout.numbers.size)]


def _layout(entries: bytes) -> _Layout | None:
    """The layout of the first tick entry (cached by its prefix: tag, length, instrument, source)."""
    length, pos = _read_varint(entries, 1)
    body_start = pos
    if entries[pos] != _INSTRUMENT_TAG:
        return None
    size, pos = _read_varint(entries, pos + 1)
    instrument_start, instrument_end = pos, pos + size
    if entries[instrument_end] != _TICK_SOURCE_TAG:
        return None
    size, pos = _read_varint(entries, instrument_end + 1)
    source_start, pos = pos, pos + size
    if length != pos - body_start + _NUMBERS_SIZE:
        return None
    prefix = entries[:pos]
    layout = _layouts.get(prefix)
    if layout is None:
        instrument = entries[instrument_start:instrument_end].decode()
        layout = _new_layout(prefix, instrument, entries[source_start:pos].decode())
    return layout


def _new_layout(prefix: bytes, instrument: str, source: str) -> _Layout:
    """The checking pattern and the unpacking struct of one prefix, both from :data:`TICK_NUMBER_FIELDS`."""
    numbers = b"".join(re.escape(bytes([tag])) + b".{8}" for tag in _NUMBER_TAGS)
    one_tick = re.escape(prefix) + numbers + re.escape(bytes([_TRADEABLE_TAG])) + b"[\x00\x01]"
    unpack = "".join("x" + code for _, _, code in TICK_NUMBER_FIELDS)
    layout = _Layout(
        ticks=re.compile(b"(?:" + one_tick + b")+", re.DOTALL),
        numbers=struct.Struct(f"<{len(prefix)}x{unpack}x?"),
        instrument=instrument,
        source=source,
    )
    if len(_layouts) >= _CACHE_LIMIT:
        _layouts.clear()
    _layouts[prefix] = layout
    return layout


def _decode_protobuf(value: bytes) -> list[TickRun]:
    """The fallback: any valid encoding; ticks are re-encoded in the gateway's layout for republishing.

    A snapshot tick's entry is longer by its flag, so snapshots form runs of their own.
    """
    message = MarketDataStream.FromString(value)
    runs = []
    for (source, instrument, snapshot), ticks in groupby(
        message.ticks, key=lambda tick: (tick.source, tick.instrument, tick.snapshot)
    ):
        rows: list[TickRow] = [
            (
                tick.bid_px,
                tick.ask_px,
                tick.bid_liquidity,
                tick.ask_liquidity,
                tick.ts_event_ns,
                tick.ts_recv_ns,
                tick.seq,
                tick.tradeable,
            )
            for tick in ticks
        ]
        entries = b"".join(
            _fallback_encoder.encode(
                Quote(instrument, source, bid, ask, bid_l, ask_l, event, recv, tradeable, snapshot), seq
            )
            for bid, ask, bid_l, ask_l, event, recv, seq, tradeable in rows
        )
        size = len(entries) // len(rows)
        runs.append(TickRun(source, instrument, message.session_id, rows, entries, size, snapshot))
    return runs
