"""Replay of a time window of ticks from Kafka onto NATS or into a file (``fxgw replay``).

The ticks topic (records as in gateway.kafka.records) is read from every partition,
from the beginning up to the end offsets found on opening, so a replay is bounded
and ends even while the gateway keeps writing. Ticks are chosen by their own
``ts_event_ns`` in [since, until). Nothing skips ahead by record timestamp
(``offsets_for_times``): a record is written after its ticks, after an outage
possibly much later (the spool redelivers), and tansu answers offset 0 to every
such query; so reading from the beginning is the only choice that is right
whatever the broker.

The core is pure and synchronous; the async shell moves records through it::

    decode_ticks      record value -> TickRuns: struct fast path, protobuf fallback
    TickSelector      skips records by fxgw-id, filters instrument and source,
                      keeps the window, drops ticks at or below the seq high-water mark
    PartitionMerge    k-way merge of partitions by each record's first selected tick time
    Pacer             original pace times ``speed``, or none
    NatsTickSink      <prefix>.<source>.ticks, up to 512 ticks a message
    TextTickSink      human lines, JSON lines or CSV
    KafkaTickReader   aiokafka consumer without a group: bounded read, bounded buffers

Errors: :class:`~gateway.errors.ConfigError` for bad arguments and an unknown or
empty topic (``fxgw`` exits 2); :class:`ReplayError` when Kafka or NATS cannot be
reached or stop answering (exit 1).
"""

from __future__ import annotations

import asyncio
import csv
import enum
import heapq
import logging
import math
import re
import struct
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Final, Generic, Protocol, TextIO, TypeVar

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from google.protobuf.message import DecodeError
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from gateway.clock import NS_PER_MS, NS_PER_S, format_time_ns, now_ns, parse_time_ns
from gateway.errors import ConfigError, GatewayError, InputError, NatsUnavailableError, ReplayError, SpoolError
from gateway.events import Quote
from gateway.instruments import display_decimals
from gateway.kafka.records import CONTENT_TYPE_HEADER, DEFAULT_TICKS_TOPIC, ID_HEADER
from gateway.kafka.spool import SpoolRecord, read_spool_directory, read_spool_epoch
from gateway.nats_connect import connect_nats
from gateway.prices import format_price
from gateway.publisher import DEFAULT_MAX_BATCH_TICKS, NatsPublishClient
from gateway.schema.market.v1.market_pb2 import MarketDataStream
from gateway.wire import STREAM_CONTENT_TYPE, TickRecordEncoder

logger = logging.getLogger(__name__)

DEFAULT_SUBJECT_PREFIX: Final = "replay"
DEFAULT_TIMEOUT_S: Final = 10.0
DEFAULT_REMEMBERED_IDS: Final = 100_000  # about 18 MB; older redeliveries are caught by seq
MAX_BUFFERED_TICKS: Final = 200_000  # per partition, waiting for the merge; fetching pauses beyond
MIN_SLEEP_NS: Final = NS_PER_MS  # uvloop's timers are 1 ms coarse
FETCH_WAIT_MS: Final = 200  # one wait for records; the silence limit is the request's timeout_s
SPOOL_READ_RECORDS: Final = 1000  # records handed to the merge per read of a spool
_UNREADABLE_LOG_LIMIT: Final = 10

TickRow = tuple[int, int, int, int, int, int, int, bool]
"""bid_px, ask_px, bid_liquidity, ask_liquidity, ts_event_ns, ts_recv_ns, seq, tradeable."""

_TS_EVENT: Final = 4
_SEQ: Final = 6

T = TypeVar("T")
R = TypeVar("R")


# -- arguments -------------------------------------------------------------------------------------------------

RELATIVE_TIME: Final = re.compile(r"-([0-9]{1,9})(ms|s|m|h|d)")
"""A time before now, such as ``-15m``; argparse must take it as a value, not as an option."""
_UNIT_NS: Final = {"ms": NS_PER_MS, "s": NS_PER_S, "m": 60 * NS_PER_S, "h": 3600 * NS_PER_S, "d": 86400 * NS_PER_S}


def parse_replay_time(text: str, now: int, name: str = "time") -> int:
    """ns since the epoch of RFC 3339, Unix seconds, ``now`` or ``-<n><ms|s|m|h|d>`` before ``now`` (not before 1970).

    Raises ConfigError naming ``name`` (the option) and the forms accepted.
    """
    if text == "now":
        return now
    relative = RELATIVE_TIME.fullmatch(text)
    if relative is not None:
        return max(0, now - int(relative[1]) * _UNIT_NS[relative[2]])
    try:
        return parse_time_ns(text)
    except InputError as exc:
        raise ConfigError(
            f"{name}: {text!r} is not a time; use RFC 3339 (2026-11-21T10:00:00Z), Unix seconds, "
            "now, or a time before now (-30s, -15m, -2h, -1d)"
        ) from exc


def parse_speed(text: str) -> float | None:
    """``max`` (None: no pacing) or a positive factor of the original pace; raises ConfigError."""
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        speed = 0.0
    if not 0 < speed < float("inf"):
        raise ConfigError(f"--speed: {text!r} is neither max nor a positive number (1 = original pace)")
    return speed


def parse_names(text: str | None, name: str, pattern: re.Pattern[str] | None = None) -> frozenset[str]:
    """A comma-separated list (None or empty: no filter); each item must match ``pattern``."""
    if not text:
        return frozenset()
    names = frozenset(item.strip() for item in text.split(","))
    bad = sorted(item for item in names if not item or (pattern is not None and pattern.fullmatch(item) is None))
    if bad:
        raise ConfigError(f"{name}: {', '.join(map(repr, bad))} is not a valid name in {text!r}")
    return names


class OutputFormat(enum.Enum):
    """Where a replay goes: republished on NATS, or lines for people, JSON lines or CSV."""

    NATS = "nats"
    STDOUT = "stdout"
    JSONL = "jsonl"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What to replay and where; raises ConfigError on an empty window or a bad speed."""

    since_ns: int
    until_ns: int
    bootstrap_servers: str
    topic: str = DEFAULT_TICKS_TOPIC
    instruments: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    speed: float | None = None
    """Output event time advances ``speed`` x wall time; None: as fast as possible."""
    output: OutputFormat = OutputFormat.STDOUT
    nats_url: str = ""
    subject_prefix: str = DEFAULT_SUBJECT_PREFIX
    timeout_s: float = DEFAULT_TIMEOUT_S
    spool_dir: Path | None = None
    """Read this gateway spool directory instead of Kafka (``bootstrap_servers`` is then unused)."""

    def __post_init__(self) -> None:
        if self.since_ns >= self.until_ns:
            raise ConfigError(
                f"the window is empty: since {format_time_ns(self.since_ns)} is not before "
                f"until {format_time_ns(self.until_ns)}"
            )
        if self.speed is not None and not self.speed > 0:
            raise ConfigError(f"speed {self.speed} is not positive")


# -- decoding --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class TickRun:
    """Consecutive ticks of one source and instrument, snapshots or not, from one record.

    ``entries`` holds each tick as a ``ticks`` entry of a MarketDataStream in the
    gateway's layout, ``entry_size`` bytes apiece, so a selection of ticks is
    republished by slicing rather than encoding. Not frozen: one is built per
    record, and a frozen dataclass takes three times as long to build.
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


_TICKS_TAG: Final = 0x2A  # MarketDataStream.ticks, length-delimited
_STRING_FIELD_1: Final = 0x0A  # MarketDataStream.source, Tick.instrument
_STRING_FIELD_2: Final = 0x12  # Tick.source
# batch_time_ns, batch_seq and session_id: tag, then a varint of at most ten bytes
_HEADER_NUMBERS: Final = re.compile(rb"(?:[\x10\x18\x20][\x80-\xff]{0,9}[\x00-\x7f])*")
_NUMBERS_SIZE: Final = 65  # seven tagged fixed64 numbers and the tagged tradeable byte (gateway.wire)
_NUMBER_TAGS: Final = (0x19, 0x21, 0x29, 0x31, 0x39, 0x41, 0x49)
_TRADEABLE_TAG: Final = 0x50
_LAYOUT_CACHE_LIMIT: Final = 4096


@dataclass(frozen=True, slots=True)
class _Layout:
    """How to check and read the ticks of one (instrument, source) in the gateway's fixed layout."""

    ticks: re.Pattern[bytes]
    numbers: struct.Struct
    instrument: str
    source: str


_layouts: dict[bytes, _Layout] = {}
_encoder = TickRecordEncoder()


def decode_ticks(value: bytes) -> list[TickRun]:
    """The ticks of a serialized MarketDataStream, as runs of one source and instrument each.

    Values in the gateway's own layout (a header of fields 1-4, then ticks whose
    numbers are all present and fixed-width, gateway.wire) are read with one
    struct per tick after a regular expression has checked every tick's bytes;
    anything else goes through the protobuf library, which accepts every valid
    encoding. Raises ``google.protobuf.message.DecodeError`` for a value that is
    not a MarketDataStream.
    """
    runs = _decode_fixed_layout(value)
    return runs if runs is not None else _decode_protobuf(value)


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


def _decode_fixed_layout(value: bytes) -> list[TickRun] | None:
    """The fast path; None whenever the value is not exactly in the gateway's layout.

    The header (source, then the numbers, as the library writes them) is skipped
    in two steps, the numbers by one regular expression; the library then reads
    those few bytes, which also checks them.
    """
    pos = 0
    end = len(value)
    try:
        if end and value[0] == _STRING_FIELD_1:
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
    if entries[pos] != _STRING_FIELD_1:
        return None
    size, pos = _read_varint(entries, pos + 1)
    instrument_start, instrument_end = pos, pos + size
    if entries[instrument_end] != _STRING_FIELD_2:
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
    numbers = b"".join(re.escape(bytes([tag])) + b".{8}" for tag in _NUMBER_TAGS)
    one_tick = re.escape(prefix) + numbers + re.escape(bytes([_TRADEABLE_TAG])) + b"[\x00\x01]"
    layout = _Layout(
        ticks=re.compile(b"(?:" + one_tick + b")+", re.DOTALL),
        numbers=struct.Struct(f"<{len(prefix)}xxqxqxQxQxqxqxQx?"),
        instrument=instrument,
        source=source,
    )
    if len(_layouts) >= _LAYOUT_CACHE_LIMIT:
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
            _encoder.encode(Quote(instrument, source, bid, ask, bid_l, ask_l, event, recv, tradeable, snapshot), seq)
            for bid, ask, bid_l, ask_l, event, recv, seq, tradeable in rows
        )
        size = len(entries) // len(rows)
        runs.append(TickRun(source, instrument, message.session_id, rows, entries, size, snapshot))
    return runs


# -- selection -------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ReplayStats:
    """Counts of one replay; ``ticks_in_window`` excludes records skipped as redelivered."""

    records_read: int = 0
    unreadable_records: int = 0
    duplicate_records: int = 0
    ticks_in_window: int = 0
    duplicate_ticks: int = 0
    ticks_output: int = 0
    elapsed_s: float = 0.0

    def summary(self) -> str:
        """One line for people: what was read, kept, skipped, and how fast."""
        rate = self.ticks_output / self.elapsed_s if self.elapsed_s > 0 else 0.0
        unreadable = f", {self.unreadable_records:,} unreadable records skipped" if self.unreadable_records else ""
        return (
            f"replay: {self.records_read:,} records read, {self.ticks_in_window:,} ticks in window, "
            f"{self.ticks_output:,} ticks output, duplicates skipped: {self.duplicate_records:,} records "
            f"(by fxgw-id) and {self.duplicate_ticks:,} ticks (by seq){unreadable}, "
            f"{self.elapsed_s:.2f} s, {rate:,.0f} ticks/s"
        )


Selection = tuple[TickRun, Sequence[int]]
"""A run and the indices of its ticks to output: a ``range`` when contiguous, as is usual."""


class TickSelector:
    """Decides which ticks of each record a replay outputs, in the order of the records' partition.

    A record whose ``fxgw-id`` was seen is skipped whole. The ids of the last
    ``remembered_ids`` records are kept, which bounds memory; a redelivery older
    than that is still caught tick by tick, since its ticks repeat seqs at or
    below the high-water mark of their (source, session_id, instrument).
    """

    def __init__(
        self,
        since_ns: int,
        until_ns: int,
        *,
        instruments: frozenset[str] = frozenset(),
        sources: frozenset[str] = frozenset(),
        remembered_ids: int = DEFAULT_REMEMBERED_IDS,
    ) -> None:
        self._since = since_ns
        self._until = until_ns
        self._instruments = instruments
        self._sources = sources
        self._remembered_ids = remembered_ids
        self._seen_ids: OrderedDict[bytes, None] = OrderedDict()
        self._marks: dict[tuple[str, int, str], int] = {}
        self.stats = ReplayStats()

    def select(
        self, value: bytes, record_id: bytes | None = None, content_type: bytes | None = None
    ) -> list[Selection]:
        """The selected ticks of one record, in record order; updates :attr:`stats`."""
        stats = self.stats
        stats.records_read += 1
        if record_id is not None:
            if record_id in self._seen_ids:
                stats.duplicate_records += 1
                return []
            self._remember(record_id)
        if content_type is not None and content_type != _STREAM_CONTENT_TYPE:
            self._unreadable(record_id, f"content-type {content_type!r}")
            return []
        try:
            runs = decode_ticks(value)
        except DecodeError as exc:
            self._unreadable(record_id, str(exc))
            return []
        selections: list[Selection] = []
        for run in runs:
            if (self._instruments and run.instrument not in self._instruments) or (
                self._sources and run.source not in self._sources
            ):
                continue
            kept = self._select_run(run)
            if kept:
                selections.append((run, kept))
        return selections

    def _remember(self, record_id: bytes) -> None:
        seen = self._seen_ids
        seen[record_id] = None
        if len(seen) > self._remembered_ids:
            seen.popitem(last=False)

    def _select_run(self, run: TickRun) -> Sequence[int]:
        key = (run.source, run.session_id, run.instrument)
        mark = self._marks.get(key, -1)
        since, until = self._since, self._until
        kept: list[int] = []
        duplicates = 0
        for index, row in enumerate(run.rows):
            if since <= row[_TS_EVENT] < until:
                seq = row[_SEQ]
                if seq > mark:
                    mark = seq
                    kept.append(index)
                else:
                    duplicates += 1
        if mark >= 0:
            self._marks[key] = mark
        self.stats.ticks_in_window += len(kept) + duplicates
        self.stats.duplicate_ticks += duplicates
        if kept and kept[-1] - kept[0] + 1 == len(kept):
            return range(kept[0], kept[-1] + 1)
        return kept

    def _unreadable(self, record_id: bytes | None, reason: str) -> None:
        self.stats.unreadable_records += 1
        if self.stats.unreadable_records <= _UNREADABLE_LOG_LIMIT:
            logger.warning("replay: record %r skipped, not a MarketDataStream: %s", record_id, reason)


_STREAM_CONTENT_TYPE: Final = STREAM_CONTENT_TYPE.encode()


# -- merge and pace --------------------------------------------------------------------------------------------


class PartitionMerge(Generic[T]):
    """K-way merge of partitions by a key (a record's first selected tick time).

    An item is released only while every partition that is still being read has
    at least one item buffered, since an empty one might yet deliver an earlier
    key; so output is in key order across partitions, and in arrival order within one.
    """

    def __init__(self, partitions: Iterable[int]) -> None:
        self._buffers: dict[int, deque[tuple[int, T, int]]] = {partition: deque() for partition in partitions}
        self._weights = dict.fromkeys(self._buffers, 0)
        self._open = set(self._buffers)
        self._starving = len(self._open)  # open partitions with nothing buffered
        self._heads: list[tuple[int, int, int]] = []  # (key, arrival, partition) of each non-empty buffer's head
        self._arrival = 0

    def add(self, partition: int, key: int, item: T, weight: int = 1) -> None:
        """Buffer ``item`` of ``partition``; its key must not be below the partition's previous one to stay ordered."""
        buffer = self._buffers[partition]
        buffer.append((key, item, weight))
        self._weights[partition] += weight
        if len(buffer) == 1:
            self._push_head(partition, key)
            if partition in self._open:
                self._starving -= 1

    def close(self, partition: int) -> None:
        """``partition`` has nothing more to deliver."""
        if partition in self._open:
            self._open.remove(partition)
            if not self._buffers[partition]:
                self._starving -= 1

    def pop(self) -> T | None:
        """The item with the smallest key if it can be released now, else None."""
        if self._starving or not self._heads:
            return None
        _, _, partition = heapq.heappop(self._heads)
        buffer = self._buffers[partition]
        _, item, weight = buffer.popleft()
        self._weights[partition] -= weight
        if buffer:
            self._push_head(partition, buffer[0][0])
        elif partition in self._open:
            self._starving += 1
        return item

    def weight(self, partition: int) -> int:
        """Total weight (ticks) buffered for ``partition``."""
        return self._weights[partition]

    def __len__(self) -> int:
        return len(self._heads)

    def _push_head(self, partition: int, key: int) -> None:
        heapq.heappush(self._heads, (key, self._arrival, partition))
        self._arrival += 1


class Pacer:
    """Maps event time to wall time at ``speed`` x; the first tick anchors both clocks."""

    def __init__(self, speed: float, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self._speed = speed
        self._clock_ns = clock_ns
        self._anchor: tuple[int, int] | None = None

    def ahead_ns(self, ts_event_ns: int) -> int:
        """How long to wait before outputting a tick of ``ts_event_ns`` (0 or negative: now)."""
        now = self._clock_ns()
        if self._anchor is None:
            self._anchor = (ts_event_ns, now)
            return 0
        anchor_event, anchor_wall = self._anchor
        return anchor_wall + round((ts_event_ns - anchor_event) / self._speed) - now


# -- sinks -----------------------------------------------------------------------------------------------------


class TickSink(Protocol):
    """Where selected ticks go; ``write`` may buffer, ``flush`` sends everything written."""

    async def write(self, run: TickRun, indices: Sequence[int]) -> None: ...

    async def flush(self) -> None: ...


@dataclass(slots=True)
class _PendingBatch:
    first_seq: int
    parts: list[bytes] = field(default_factory=list)
    ticks: int = 0


class NatsTickSink:
    """Republishes ticks as MarketDataStream messages on ``<prefix>.<source>.ticks``.

    Ticks of one (source, session) share a message, up to ``max_batch_ticks``;
    ``batch_seq`` counts this replay's messages per subject and session from 1.
    Headers: Content-Type as the gateway's, and ``Nats-Msg-Id``
    ``replay:<source>:<session_id>:<first seq>``. Raises ReplayError when NATS
    does not take a message.
    """

    def __init__(
        self,
        client: NatsPublishClient,
        subject_prefix: str = DEFAULT_SUBJECT_PREFIX,
        max_batch_ticks: int = DEFAULT_MAX_BATCH_TICKS,
    ) -> None:
        self._client = client
        self._prefix = subject_prefix
        self._max_batch = max_batch_ticks
        self._pending: dict[tuple[str, int], _PendingBatch] = {}
        self._batch_seq: dict[tuple[str, int], int] = {}
        self.messages = 0

    async def write(self, run: TickRun, indices: Sequence[int]) -> None:
        key = (run.source, run.session_id)
        start, total = 0, len(indices)
        while start < total:
            batch = self._pending.get(key)
            if batch is None:
                batch = self._pending[key] = _PendingBatch(run.rows[indices[start]][_SEQ])
            take = min(total - start, self._max_batch - batch.ticks)
            batch.parts.append(run.entry_bytes(indices[start : start + take]))
            batch.ticks += take
            start += take
            if batch.ticks >= self._max_batch:
                await self._publish(key, self._pending.pop(key))

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for key, batch in pending.items():
            await self._publish(key, batch)

    async def _publish(self, key: tuple[str, int], batch: _PendingBatch) -> None:
        source, session_id = key
        batch_seq = self._batch_seq[key] = self._batch_seq.get(key, 0) + 1
        header = MarketDataStream(source=source, batch_time_ns=now_ns(), batch_seq=batch_seq, session_id=session_id)
        try:
            await self._client.publish(
                f"{self._prefix}.{source}.ticks",
                header.SerializeToString() + b"".join(batch.parts),
                headers={
                    "Content-Type": STREAM_CONTENT_TYPE,
                    "Nats-Msg-Id": f"replay:{source}:{session_id}:{batch.first_seq}",
                },
            )
        except NatsError as exc:
            raise ReplayError(f"NATS did not take a replay message for {source}: {exc!r}") from exc
        self.messages += 1


_CSV_COLUMNS: Final = (
    "ts_event",
    "instrument",
    "source",
    "bid",
    "ask",
    "bid_liquidity",
    "ask_liquidity",
    "ts_event_ns",
    "ts_recv_ns",
    "seq",
    "session_id",
    "tradeable",
    "snapshot",
)


class TextTickSink:
    """Writes one line per tick: ``stdout`` human lines, ``jsonl`` JSON objects, or ``csv`` with a header row.

    Prices are exact decimal strings (gateway.prices.format_price), times RFC 3339
    with nanoseconds beside the integer ns.
    """

    def __init__(self, stream: TextIO, output: OutputFormat) -> None:
        self._stream = stream
        self._output = output
        self._json = msgspec.json.Encoder()
        self._csv = csv.writer(stream, lineterminator="\n")
        if output is OutputFormat.CSV:
            self._csv.writerow(_CSV_COLUMNS)

    async def write(self, run: TickRun, indices: Sequence[int]) -> None:
        rows = run.rows
        if self._output is OutputFormat.STDOUT:
            self._stream.writelines(_human_line(run, rows[index]) for index in indices)
        elif self._output is OutputFormat.JSONL:
            encode = self._json.encode
            self._stream.writelines(encode(_tick_fields(run, rows[index])).decode() + "\n" for index in indices)
        else:
            self._csv.writerows(_csv_row(run, rows[index]) for index in indices)

    async def flush(self) -> None:
        self._stream.flush()


def _human_line(run: TickRun, row: TickRow) -> str:
    """A tick as ``fxgw tail`` shows one, without the subject: source, instrument, bid/ask, seq, time."""
    bid, ask, _, _, ts_event_ns, _, seq, tradeable = row
    decimals = display_decimals(run.instrument)
    return (
        f"{run.source} {run.instrument} {format_price(bid, decimals)}/{format_price(ask, decimals)} "
        f"seq={seq} event={format_time_ns(ts_event_ns)}{'' if tradeable else ' NOT TRADEABLE'}"
        f"{' SNAPSHOT' if run.snapshot else ''}\n"
    )


def _tick_fields(run: TickRun, row: TickRow) -> dict[str, object]:
    """A tick as the JSON object of ``--to jsonl``."""
    bid, ask, bid_liquidity, ask_liquidity, ts_event_ns, ts_recv_ns, seq, tradeable = row
    decimals = display_decimals(run.instrument)
    return {
        "instrument": run.instrument,
        "source": run.source,
        "bid": format_price(bid, decimals),
        "ask": format_price(ask, decimals),
        "bid_liquidity": bid_liquidity,
        "ask_liquidity": ask_liquidity,
        "ts_event": format_time_ns(ts_event_ns),
        "ts_event_ns": ts_event_ns,
        "ts_recv_ns": ts_recv_ns,
        "seq": seq,
        "session_id": run.session_id,
        "tradeable": tradeable,
        "snapshot": run.snapshot,
    }


def _csv_row(run: TickRun, row: TickRow) -> tuple[object, ...]:
    fields = _tick_fields(run, row)
    fields["tradeable"] = "true" if row[7] else "false"
    fields["snapshot"] = "true" if run.snapshot else "false"
    return tuple(fields[column] for column in _CSV_COLUMNS)


# -- Kafka -----------------------------------------------------------------------------------------------------


class KafkaTickReader:
    """Reads a topic from the beginning of each partition up to its end offset when :meth:`open` ran.

    No consumer group: nothing is committed and other consumers are not disturbed.
    The end of a partition is the larger of ListOffsets' latest offset and the high
    watermark of the first fetch response: tansu 0.6 answers ListOffsets with the
    base offset of the partition's last batch plus one, short of the real end,
    while its fetch responses carry the right high watermark.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        consumer_factory: Callable[..., AIOKafkaConsumer] = AIOKafkaConsumer,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._timeout_s = timeout_s
        self._consumer_factory = consumer_factory
        self._consumer: AIOKafkaConsumer | None = None
        self._ends: dict[TopicPartition, int] = {}
        self._reading: set[TopicPartition] = set()
        self._primed: list[dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]] = []
        self._last_progress = time.monotonic()
        self.total_records = 0

    @property
    def partitions(self) -> list[int]:
        """The partitions with records to read, as found by :meth:`open`."""
        return sorted(tp.partition for tp in self._reading)

    @property
    def done(self) -> bool:
        return not self._reading

    async def open(self) -> None:
        """Connect, check the topic and take its end offsets; raises ReplayError, or ConfigError if unknown or empty."""
        self._consumer = consumer = self._consumer_factory(
            bootstrap_servers=self._bootstrap,
            client_id="fxgw-replay",
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=round(self._timeout_s * 1000),
            auto_offset_reset="earliest",
        )
        try:
            await self._open(consumer)
        except (KafkaError, OSError, TimeoutError) as exc:
            await self.close()
            raise ReplayError(
                f"cannot read from Kafka at {self._bootstrap} within {self._timeout_s:g} s: {exc!r}"
            ) from exc
        except GatewayError:
            await self.close()
            raise

    async def _open(self, consumer: AIOKafkaConsumer) -> None:
        await self._bounded(consumer.start())
        # Only the all-topics metadata request: naming the topic would make tansu create it.
        topics = await self._bounded(consumer.topics())
        partitions = consumer.partitions_for_topic(self._topic) if self._topic in topics else None
        if not partitions:
            known = ", ".join(sorted(topics)[:20]) or "none"
            raise ConfigError(f"topic {self._topic!r} is unknown on Kafka at {self._bootstrap} (topics: {known})")
        tps = [TopicPartition(self._topic, partition) for partition in sorted(partitions)]
        consumer.assign(tps)
        # Paused until positioned: a fetch from elsewhere would be long-polled by the broker for nothing.
        consumer.pause(*tps)
        begins = await self._bounded(consumer.beginning_offsets(tps))
        listed = await self._bounded(consumer.end_offsets(tps))
        self._reading = {tp for tp in tps if listed[tp] > begins[tp]}
        if not self._reading:
            raise ConfigError(f"topic {self._topic!r} on Kafka at {self._bootstrap} is empty")
        for tp in self._reading:
            consumer.seek(tp, begins[tp])
        consumer.resume(*self._reading)
        deadline = time.monotonic() + self._timeout_s
        while any(consumer.highwater(tp) is None for tp in self._reading):
            if time.monotonic() > deadline:
                raise ReplayError(f"Kafka at {self._bootstrap} answered no fetch of {self._topic!r} in time")
            self._primed.append(await consumer.getmany(timeout_ms=FETCH_WAIT_MS))
        self._ends = {tp: max(listed[tp], consumer.highwater(tp)) for tp in self._reading}
        self.total_records = sum(self._ends[tp] - begins[tp] for tp in self._reading)
        self._last_progress = time.monotonic()

    async def _bounded(self, request: Awaitable[R]) -> R:
        """aiokafka ends each request after request_timeout_ms; this backstop ends whatever it does not."""
        return await asyncio.wait_for(request, 2 * self._timeout_s)

    async def fetch(self) -> tuple[dict[int, list[ConsumerRecord[bytes, bytes]]], list[int]]:
        """The next records by partition, and the partitions now read to their end.

        Raises ReplayError when Kafka delivers nothing for the timeout while records remain.
        """
        consumer = self._open_consumer()
        fetched = self._primed.pop(0) if self._primed else await consumer.getmany(timeout_ms=FETCH_WAIT_MS)
        records: dict[int, list[ConsumerRecord[bytes, bytes]]] = {}
        for tp, batch in fetched.items():
            end = self._ends[tp]
            if batch[-1].offset >= end:
                batch = [record for record in batch if record.offset < end]
            if batch:
                records[tp.partition] = batch
        finished = []
        for tp in list(self._reading):
            if await consumer.position(tp) >= self._ends[tp]:
                self._reading.remove(tp)
                consumer.pause(tp)
                finished.append(tp.partition)
        current = time.monotonic()
        if records or finished:
            self._last_progress = current
        elif current - self._last_progress > self._timeout_s:
            raise ReplayError(
                f"Kafka at {self._bootstrap} delivered nothing for {self._timeout_s:g} s "
                f"with partitions {sorted(tp.partition for tp in self._reading)} of {self._topic!r} still unread"
            )
        return records, finished

    def pause(self, partition: int) -> None:
        """Stop fetching ``partition`` (its records wait in the merge)."""
        self._open_consumer().pause(TopicPartition(self._topic, partition))

    def resume(self, partition: int) -> None:
        tp = TopicPartition(self._topic, partition)
        if tp in self._reading:
            self._open_consumer().resume(tp)

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    def _open_consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise ReplayError(f"the reader of {self._topic!r} is not open")
        return self._consumer

    async def __aenter__(self) -> KafkaTickReader:
        await self.open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    """A spool record in the shape the replay reads from Kafka: value and headers."""

    value: bytes
    headers: list[tuple[str, bytes]]


class SpoolTickReader:
    """Reads the ticks topic's records from a gateway's spool directory, read-only (replay without Kafka).

    The spool holds what the gateway has not yet delivered to Kafka (and delivered
    segments not yet deleted); it works on a spool a running gateway is writing.
    """

    def __init__(self, directory: Path, topic: str) -> None:
        self._directory = directory
        self._topic = topic
        self._records: Iterator[SpoolRecord] = iter(())
        self._epoch = 0
        self._done = False
        self.total_records = 0  # unknown without reading the spool twice

    @property
    def partitions(self) -> list[int]:
        return [0]

    @property
    def done(self) -> bool:
        return self._done

    async def open(self) -> None:
        """Check that the directory is a spool; raises ConfigError otherwise."""
        try:
            self._epoch = read_spool_epoch(self._directory)
        except (SpoolError, OSError) as exc:
            raise ConfigError(f"--spool {self._directory}: not a readable gateway spool ({exc})") from exc
        self._records = read_spool_directory(self._directory, unacked_only=False)

    async def fetch(self) -> tuple[dict[int, list[SpooledRecord]], list[int]]:
        batch: list[SpooledRecord] = []
        for record in self._records:
            if record.topic == self._topic:
                record_id = b"%d:%d" % (self._epoch, record.seq)
                headers = [(CONTENT_TYPE_HEADER, record.content_type.encode()), (ID_HEADER, record_id)]
                batch.append(SpooledRecord(record.value, headers))
                if len(batch) >= SPOOL_READ_RECORDS:
                    return {0: batch}, []
        self._done = True
        return ({0: batch} if batch else {}), [0]

    def pause(self, partition: int) -> None:
        """One source: nothing to pause (the merge holds at most one read)."""

    def resume(self, partition: int) -> None:
        """See :meth:`pause`."""

    async def close(self) -> None:
        self._records = iter(())

    async def __aenter__(self) -> SpoolTickReader:
        await self.open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


def _headers(record: ReplayRecord) -> tuple[bytes | None, bytes | None]:
    """(fxgw-id, content-type) of a record, None where absent."""
    record_id = content_type = None
    for key, value in record.headers:
        if key == ID_HEADER:
            record_id = value
        elif key == CONTENT_TYPE_HEADER:
            content_type = value
    return record_id, content_type


# -- the replay ------------------------------------------------------------------------------------------------


class Progress(Protocol):
    """What the replay reports progress to (a tqdm bar fits)."""

    def update(self, n: float | None = 1) -> object: ...

    def close(self) -> None: ...


class ReplayRecord(Protocol):
    """A Kafka record as the replay reads it (aiokafka's ConsumerRecord, or a spooled record)."""

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class RecordReader(Protocol):
    """Where a replay reads records: a Kafka topic or a spool directory."""

    total_records: int

    @property
    def partitions(self) -> list[int]: ...

    @property
    def done(self) -> bool: ...

    async def fetch(self) -> tuple[Mapping[int, Sequence[ReplayRecord]], list[int]]: ...

    def pause(self, partition: int) -> None: ...

    def resume(self, partition: int) -> None: ...


async def replay(
    reader: RecordReader,
    selector: TickSelector,
    sink: TickSink,
    *,
    speed: float | None = None,
    progress: Progress | None = None,
) -> ReplayStats:
    """Read ``reader`` to its end, select, merge, pace and write to ``sink``; returns the selector's stats."""
    started = time.perf_counter()
    stats = selector.stats
    merge: PartitionMerge[list[Selection]] = PartitionMerge(reader.partitions)
    pacer = Pacer(speed) if speed is not None else None
    paused: set[int] = set()
    select = selector.select
    while not reader.done or len(merge):
        if not reader.done:
            records, finished = await reader.fetch()
            for partition, batch in records.items():
                for record in batch:
                    record_id, content_type = _headers(record)
                    selections = select(record.value or b"", record_id, content_type)
                    if selections:
                        run, kept = selections[0]
                        ticks = sum(len(indices) for _, indices in selections)
                        merge.add(partition, run.rows[kept[0]][_TS_EVENT], selections, ticks)
                if merge.weight(partition) >= MAX_BUFFERED_TICKS and partition not in paused:
                    reader.pause(partition)
                    paused.add(partition)
                if progress is not None:
                    progress.update(len(batch))
            for partition in finished:
                merge.close(partition)
        while (item := merge.pop()) is not None:
            for run, indices in item:
                await _write(sink, run, indices, pacer)
                stats.ticks_output += len(indices)
        for partition in [p for p in paused if merge.weight(p) < MAX_BUFFERED_TICKS // 2]:
            reader.resume(partition)
            paused.remove(partition)
    await sink.flush()
    stats.elapsed_s = time.perf_counter() - started
    return stats


async def _write(sink: TickSink, run: TickRun, indices: Sequence[int], pacer: Pacer | None) -> None:
    """Write ticks, sleeping before each that is due later by at least MIN_SLEEP_NS (output flushed first)."""
    if pacer is None:
        await sink.write(run, indices)
        return
    rows = run.rows
    start = 0
    for position, index in enumerate(indices):
        ahead_ns = pacer.ahead_ns(rows[index][_TS_EVENT])
        if ahead_ns >= MIN_SLEEP_NS:
            if position > start:
                await sink.write(run, indices[start:position])
            await sink.flush()
            await asyncio.sleep(ahead_ns / NS_PER_S)
            start = position
    if start < len(indices):
        await sink.write(run, indices[start:])


async def run_replay(
    request: ReplayRequest,
    stream: TextIO | None = None,
    progress: Callable[[int], Progress] | None = None,
) -> ReplayStats:
    """The whole replay of ``request``: Kafka (or the spool) is checked first, then NATS connected (``--to nats``).

    ``stream`` (default: standard output) receives the text formats; ``progress(total_records)``
    makes a progress bar.
    Raises ConfigError (bad topic) or ReplayError (Kafka or NATS unreachable or failing).
    """
    selector = TickSelector(
        request.since_ns, request.until_ns, instruments=request.instruments, sources=request.sources
    )
    reader: KafkaTickReader | SpoolTickReader = (
        SpoolTickReader(request.spool_dir, request.topic)
        if request.spool_dir is not None
        else KafkaTickReader(request.bootstrap_servers, request.topic, request.timeout_s)
    )
    async with reader:
        bar = progress(reader.total_records) if progress is not None else None
        try:
            if request.output is not OutputFormat.NATS:
                text = TextTickSink(stream or sys.stdout, request.output)
                return await replay(reader, selector, text, speed=request.speed, progress=bar)
            try:
                client = await connect_nats(request.nats_url, name="fxgw-replay", connect_timeout_s=request.timeout_s)
            except NatsUnavailableError as exc:
                raise ReplayError(str(exc)) from exc
            try:
                sink = NatsTickSink(client, request.subject_prefix)
                stats = await replay(reader, selector, sink, speed=request.speed, progress=bar)
                await _confirm(client, request)
            finally:
                await client.close()
            return stats
        finally:
            if bar is not None:
                bar.close()


async def _confirm(client: NatsClient, request: ReplayRequest) -> None:
    """Wait until nats-server has everything published (a PING answered after it)."""
    try:
        await client.flush(timeout=math.ceil(request.timeout_s))
    except (NatsError, TimeoutError) as exc:
        raise ReplayError(f"NATS at {request.nats_url} did not confirm the replay: {exc!r}") from exc
