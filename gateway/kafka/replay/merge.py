"""Order and pace of a replay (pure): the ticks of all partitions merged by event time, mapped to wall time."""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from gateway.clock import NS_PER_S
from gateway.wire import ROW_SEQ, ROW_TS_EVENT, TickRow, TickRun

REORDER_WINDOW_NS: Final = NS_PER_S
"""How far (event time) a record's first tick may be behind the first tick of a record before it in its partition.

The gateway writes a publish cycle's records one (source, instrument) after the
other, so in a partition a record can start earlier than the one before it: by
up to the cycle's span (``nats.linger_ms``, at most 100 ms) plus the difference
of the sources' delays (tens of ms on OANDA). Ten times the cycle is kept as a
margin; the cost is the ticks of 1 s of event time held in memory.
"""

_BEFORE_ALL: Final = -(1 << 64)
"""Frontier of a partition nothing was read from yet: it holds every tick back."""
_AFTER_ALL: Final = 1 << 64
"""Release bound once every partition is read to its end: every tick goes."""

TickKey = tuple[int, str, int, int]
"""The merge order of a tick: ``ts_event_ns``, source, seq, then the arrival of its run (unique)."""


@dataclass(slots=True, eq=False)
class _Cursor:
    """The ticks of one run not yet released: ``indices[position:]``, sorted by (ts_event_ns, seq)."""

    run: TickRun
    indices: Sequence[int]
    position: int
    partition: int


class TickMerge:
    """Merges the selected ticks of every partition into one sequence ordered by (ts_event_ns, source, seq).

    Each added run (its selected ticks sorted by event time, as
    gateway.kafka.replay.selection gives them) waits in a heap keyed by its next
    tick. :meth:`pop` releases the longest slice of the smallest run that stays
    before both the next run's tick and the release bound, so a run that does
    not overlap another leaves whole, as one slice of its original bytes (a
    ``range`` of indices stays a ``range``).

    The release bound: a partition's *frontier* is the largest first tick of
    the runs read from it; later records of the partition are taken to start no
    earlier than REORDER_WINDOW_NS before it. A tick is released once it is
    before every open partition's frontier minus that window, so memory holds
    about one window of ticks plus what fast partitions read ahead of slow ones
    (which the caller bounds by pausing them, see :meth:`holds_back`). A tick
    that still comes later than ticks already released (its record written more
    than the window late) is released at once and counted in ``late_ticks``.
    """

    def __init__(self, partitions: Iterable[int], reorder_window_ns: int = REORDER_WINDOW_NS) -> None:
        self._window = reorder_window_ns
        self._frontiers = dict.fromkeys(partitions, _BEFORE_ALL)
        self._weights = dict.fromkeys(self._frontiers, 0)
        self._open = set(self._frontiers)
        self._heap: list[tuple[int, str, int, int, _Cursor]] = []
        self._arrival = 0
        self._bound: int | None = None  # the release bound; None: to be computed again
        self._last_ts = _BEFORE_ALL
        self.late_ticks = 0
        """Ticks released after a tick of a later event time (their record was more than the window late)."""

    def add(self, partition: int, run: TickRun, indices: Sequence[int]) -> None:
        """Buffer the ticks of ``run`` at ``indices`` (not empty, sorted by (ts_event_ns, seq)) of ``partition``."""
        first = run.rows[indices[0]]
        ts = first[ROW_TS_EVENT]
        if ts > self._frontiers[partition]:
            self._frontiers[partition] = ts
            self._bound = None
        self._weights[partition] += len(indices)
        heapq.heappush(self._heap, self._entry(_Cursor(run, indices, 0, partition), first))

    def close(self, partition: int) -> None:
        """``partition`` has nothing more to deliver: it no longer holds any tick back."""
        if partition in self._open:
            self._open.remove(partition)
            self._bound = None

    def pop(self) -> tuple[TickRun, Sequence[int]] | None:
        """The next ticks in merge order, as a run and the indices of a slice of its ticks; None until more is read."""
        heap = self._heap
        if not heap:
            return None
        bound = self._release_bound() if self._bound is None else self._bound
        ts, source, _, arrival, cursor = heap[0]
        if ts >= bound:
            return None
        heapq.heappop(heap)
        limit: TickKey | tuple[int] = heap[0][:4] if heap and heap[0][0] < bound else (bound,)
        rows, indices, start = cursor.run.rows, cursor.indices, cursor.position

        def key(index: int) -> TickKey:
            row = rows[index]
            return row[ROW_TS_EVENT], source, row[ROW_SEQ], arrival

        end = len(indices)
        if key(indices[-1]) >= limit:
            end = _gallop(indices, start + 1, end, limit, key)
        last_ts = rows[indices[end - 1]][ROW_TS_EVENT]
        if ts < self._last_ts:
            late_end = bisect_left(indices, self._last_ts, start, end, key=lambda index: rows[index][ROW_TS_EVENT])
            self.late_ticks += late_end - start
        if last_ts > self._last_ts:
            self._last_ts = last_ts
        self._weights[cursor.partition] -= end - start
        if end < len(indices):
            cursor.position = end
            heapq.heappush(heap, self._entry(cursor, rows[indices[end]]))
        return cursor.run, indices[start:end]

    def weight(self, partition: int) -> int:
        """Ticks of ``partition`` buffered."""
        return self._weights[partition]

    def holds_back(self, partition: int) -> bool:
        """Whether ``partition`` is open and has the smallest frontier: reading it is what lets ticks go.

        Such a partition must be read on whatever else is buffered (never paused),
        or the merge would wait for it for ever.
        """
        return partition in self._open and self._frontiers[partition] - self._window == self._release_bound()

    def __len__(self) -> int:
        """Runs with ticks buffered."""
        return len(self._heap)

    def _entry(self, cursor: _Cursor, row: TickRow) -> tuple[int, str, int, int, _Cursor]:
        """The heap entry of ``cursor`` whose next tick is ``row``: its merge key, then the cursor."""
        self._arrival += 1
        return row[ROW_TS_EVENT], cursor.run.source, row[ROW_SEQ], self._arrival, cursor

    def _release_bound(self) -> int:
        """Ticks before this event time can go: every open partition's frontier minus the window, at the least."""
        if self._bound is None:
            frontiers = self._frontiers
            self._bound = min(frontiers[p] for p in self._open) - self._window if self._open else _AFTER_ALL
        return self._bound


def _gallop(
    indices: Sequence[int], low: int, high: int, limit: TickKey | tuple[int], key: Callable[[int], TickKey]
) -> int:
    """The first position in ``indices[low:high]`` whose key is not before ``limit`` (the last one's is not).

    Probes ``low``, then 2, 4, 8, ... further before bisecting: a run alternating
    with another tick by tick costs one key a tick, a long run O(log n) keys.
    """
    if key(indices[low]) >= limit:  # sources alternating tick by tick
        return low
    low += 1
    step, probe = 1, low
    while probe < high and key(indices[probe]) < limit:
        low = probe + 1
        probe += step
        step *= 2
    return bisect_left(indices, limit, low, min(probe, high), key=key)
