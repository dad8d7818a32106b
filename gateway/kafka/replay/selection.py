"""Which ticks of each record a replay outputs (pure): the window, the filters, and no duplicate.

A record redelivered under the same ``fxgw-id`` is skipped whole; a tick whose
seq is at or below the high-water mark of its (source, session_id, instrument)
is dropped, which also catches a record resent under a new id.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import DecodeError

from gateway.echo import clip, shown
from gateway.kafka.replay.request import ECHO_CHARS
from gateway.wire import ROW_SEQ, ROW_TS_EVENT, SOURCE_ID, STREAM_CONTENT_TYPE, TickRun, decode_ticks

logger = logging.getLogger(__name__)

DEFAULT_REMEMBERED_IDS: Final = 100_000
"""fxgw-ids kept for skipping redelivered records: about 18 MB; an older redelivery is caught by seq."""
_UNREADABLE_LOG_LIMIT: Final = 10
"""Records that are not tick batches are counted in the summary; only the first ones are logged."""

_STREAM_CONTENT_TYPE: Final = STREAM_CONTENT_TYPE.encode()

Selection = tuple[TickRun, Sequence[int]]
"""A run and the indices of its ticks to output, in event-time order: a ``range`` when contiguous, as is usual."""


@dataclass(slots=True)
class ReplayStats:
    """Counts of one replay; ``ticks_in_window`` excludes records skipped as redelivered.

    ``late_ticks``: ticks output after a tick of a later event time, their record
    having come too late for the merge's reorder window (gateway.kafka.replay.merge).
    """

    records_read: int = 0
    unreadable_records: int = 0
    duplicate_records: int = 0
    ticks_in_window: int = 0
    duplicate_ticks: int = 0
    ticks_output: int = 0
    late_ticks: int = 0
    elapsed_s: float = 0.0

    def summary(self) -> str:
        """One line for people: what was read, kept, skipped, and how fast."""
        rate = self.ticks_output / self.elapsed_s if self.elapsed_s > 0 else 0.0
        unreadable = f", {self.unreadable_records:,} unreadable records skipped" if self.unreadable_records else ""
        late = f", {self.late_ticks:,} ticks out of event-time order (records written late)" if self.late_ticks else ""
        return (
            f"replay: {self.records_read:,} records read, {self.ticks_in_window:,} ticks in window, "
            f"{self.ticks_output:,} ticks output, duplicates skipped: {self.duplicate_records:,} records "
            f"(by fxgw-id) and {self.duplicate_ticks:,} ticks (by seq){unreadable}{late}, "
            f"{self.elapsed_s:.2f} s, {rate:,.0f} ticks/s"
        )


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
        """The selected ticks of one record, in record order; updates :attr:`stats`.

        ``record_id`` and ``content_type`` are the record's headers (None: absent). A
        record of another content type, or whose value is not a MarketDataStream,
        is counted as unreadable and skipped.
        """
        stats = self.stats
        stats.records_read += 1
        if record_id is not None:
            if record_id in self._seen_ids:
                stats.duplicate_records += 1
                return []
            self._remember(record_id)
        if content_type is not None and content_type != _STREAM_CONTENT_TYPE:
            self._unreadable(record_id, f"content-type {shown(content_type, ECHO_CHARS)}")
            return []
        try:
            runs = decode_ticks(value)
        except DecodeError as exc:
            self._unreadable(record_id, str(exc))
            return []
        selections: list[Selection] = []
        for run in runs:
            if SOURCE_ID.fullmatch(run.source) is None:  # it becomes a subject token on --to nats
                self._unreadable(record_id, f"source {shown(run.source, ECHO_CHARS)} is not a source id")
                continue
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
        """The indices of the ticks of ``run`` to output, sorted by event time (then seq: ``sort`` is stable).

        A run's ticks are in seq order, which is event-time order unless the
        source's clock went back; only then are they sorted, into a list.
        """
        key = (run.source, run.session_id, run.instrument)
        mark = self._marks.get(key, -1)
        since, until = self._since, self._until
        kept: list[int] = []
        keep = kept.append
        ts_at, seq_at = ROW_TS_EVENT, ROW_SEQ  # locals: read for every tick
        duplicates = 0
        previous = since
        in_order = True
        for index, row in enumerate(run.rows):
            ts = row[ts_at]
            if since <= ts < until:
                seq = row[seq_at]
                if seq > mark:
                    mark = seq
                    keep(index)
                    if ts < previous:
                        in_order = False
                    previous = ts
                else:
                    duplicates += 1
        if mark >= 0:
            self._marks[key] = mark
        self.stats.ticks_in_window += len(kept) + duplicates
        self.stats.duplicate_ticks += duplicates
        if not in_order:
            rows = run.rows
            kept.sort(key=lambda index: rows[index][ROW_TS_EVENT])
        elif kept and kept[-1] - kept[0] + 1 == len(kept):
            return range(kept[0], kept[-1] + 1)
        return kept

    def _unreadable(self, record_id: bytes | None, reason: str) -> None:
        self.stats.unreadable_records += 1
        if self.stats.unreadable_records <= _UNREADABLE_LOG_LIMIT:
            logger.warning(
                "replay: record %s skipped, not a MarketDataStream: %s", shown(record_id, ECHO_CHARS), clip(reason)
            )
