"""gateway.kafka.replay.merge: the ticks of all partitions merged by event time."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from gateway.kafka.replay.merge import TickMerge
from gateway.wire import ROW_SEQ, ROW_TS_EVENT, TickRun, decode_ticks
from tests.unit.test_wire import T0, record

MS = 1_000_000
WINDOW = 5 * MS


def run(source: str, ticks: Sequence[tuple[int, int]], instrument: str = "EUR_USD") -> TickRun:
    """A decoded run of ``source``: ``(ms after T0, seq)`` per tick."""
    return decode_ticks(record(source, instrument, [(T0 + ms * MS, seq) for ms, seq in ticks]))[0]


def drain(merge: TickMerge) -> list[tuple[str, int, int]]:
    """(source, ms after T0, seq) of every tick released now, in order."""
    out = []
    while (item := merge.pop()) is not None:
        tick_run, indices = item
        out += [
            (tick_run.source, (tick_run.rows[i][ROW_TS_EVENT] - T0) // MS, tick_run.rows[i][ROW_SEQ]) for i in indices
        ]
    return out


def test_interleaved_sources_of_one_partition_come_out_tick_by_tick_in_event_order() -> None:
    merge = TickMerge([0], reorder_window_ns=WINDOW)
    a = run("a", [(0, 1), (2, 2), (4, 3), (6, 4)])
    b = run("b", [(1, 1), (3, 2), (5, 3)])
    merge.add(0, a, range(4))
    merge.add(0, b, range(3))
    merge.close(0)

    assert drain(merge) == [("a", 0, 1), ("b", 1, 1), ("a", 2, 2), ("b", 3, 2), ("a", 4, 3), ("b", 5, 3), ("a", 6, 4)]
    assert merge.late_ticks == 0 and merge.weight(0) == 0 and len(merge) == 0


def test_a_run_that_overlaps_no_other_leaves_whole_as_one_slice_of_its_bytes() -> None:
    merge = TickMerge([0, 1], reorder_window_ns=WINDOW)
    early, late = run("a", [(0, 1), (1, 2), (2, 3)]), run("b", [(10, 1), (11, 2)])
    merge.add(1, late, range(2))
    merge.add(0, early, range(3))
    merge.close(0)
    merge.close(1)

    assert merge.pop() == (early, range(0, 3))
    assert merge.pop() == (late, range(0, 2))
    assert merge.pop() is None


@pytest.mark.parametrize("at", [0, 1, 2, 3, 50, 98])
def test_a_long_run_is_cut_exactly_where_another_run_comes_in(at: int) -> None:
    merge = TickMerge([0], reorder_window_ns=WINDOW)
    long, single = run("a", [(ms, ms + 1) for ms in range(100)]), run("b", [(at, 1)])
    merge.add(0, long, range(100))
    merge.add(0, single, range(1))
    merge.close(0)

    assert [merge.pop(), merge.pop(), merge.pop(), merge.pop()] == [
        (long, range(0, at + 1)),
        (single, range(0, 1)),
        (long, range(at + 1, 100)),
        None,
    ], "a's tick at the same ms goes first: source a before b"


def test_ticks_wait_until_every_open_partition_is_read_past_them_by_the_window() -> None:
    """A partition's frontier is the first tick of its latest record: later records start at most the window before."""
    merge = TickMerge([0, 1], reorder_window_ns=WINDOW)
    merge.add(0, run("a", [(0, 1), (10, 2), (20, 3)]), range(3))

    assert drain(merge) == [], "partition 1 may still deliver anything"
    assert merge.holds_back(1) and not merge.holds_back(0)

    merge.add(1, run("b", [(12, 1)]), range(1))
    assert drain(merge) == [], "partition 0 may still deliver a record from -5 ms"
    assert merge.holds_back(0) and not merge.holds_back(1)

    merge.add(0, run("a", [(30, 4)]), range(1))
    assert drain(merge) == [("a", 0, 1)], "before 12 ms (partition 1's frontier) - 5 ms"
    merge.add(1, run("b", [(40, 2)]), range(1))
    assert drain(merge) == [("a", 10, 2), ("b", 12, 1), ("a", 20, 3)], "before 30 - 5 ms"
    assert (merge.weight(0), merge.weight(1)) == (1, 1)

    merge.close(0)
    merge.close(1)
    assert drain(merge) == [("a", 30, 4), ("b", 40, 2)]


@pytest.mark.parametrize(("window_ns", "late"), [(WINDOW, 0), (0, 1)])
def test_a_record_starting_within_the_window_before_its_predecessor_is_still_in_order(
    window_ns: int, late: int
) -> None:
    """The gateway writes a cycle's records one source after the other: b's starts 3 ms before a's, after it."""
    merge = TickMerge([0, 1], reorder_window_ns=window_ns)
    merge.add(1, run("c", [(4, 1)], "USD_JPY"), range(1))
    merge.add(1, run("c", [(10, 2)], "USD_JPY"), range(1))
    merge.add(0, run("a", [(6, 1), (9, 2)]), range(2))
    first = drain(merge)
    merge.add(0, run("b", [(3, 1), (7, 2)]), range(2))
    merge.close(0)
    merge.close(1)

    assert [ms for _, ms, _ in first + drain(merge)] == ([3, 4, 6, 7, 9, 10] if not late else [4, 3, 6, 7, 9, 10])
    assert merge.late_ticks == late, "without the window, 4 ms went before 3 ms had been read"


def test_equal_times_are_ordered_by_source_then_seq() -> None:
    merge = TickMerge([0, 1], reorder_window_ns=WINDOW)
    merge.add(1, run("b", [(5, 7), (5, 8)]), range(2))
    merge.add(0, run("a", [(5, 9)]), range(1))
    merge.add(0, run("b", [(5, 6)], "USD_JPY"), range(1))
    merge.close(0)
    merge.close(1)

    assert drain(merge) == [("a", 5, 9), ("b", 5, 6), ("b", 5, 7), ("b", 5, 8)]


def test_a_tick_later_than_the_window_is_released_at_once_and_counted() -> None:
    merge = TickMerge([0], reorder_window_ns=WINDOW)
    merge.add(0, run("a", [(0, 1), (10, 2), (20, 3)]), range(3))
    merge.add(0, run("c", [(17, 1)]), range(1))
    assert drain(merge) == [("a", 0, 1), ("a", 10, 2)]

    merge.add(0, run("b", [(8, 1), (12, 2), (30, 3)]), range(3))
    assert drain(merge) == [("b", 8, 1)], "8 ms is before the bound, 12 ms not"
    assert merge.late_ticks == 1, "8 ms came after 10 ms"

    merge.close(0)
    assert drain(merge) == [("b", 12, 2), ("c", 17, 1), ("a", 20, 3), ("b", 30, 3)]
    assert merge.late_ticks == 1


def test_random_overlapping_records_of_many_partitions_merge_in_order_and_lose_nothing() -> None:
    rng = random.Random(7)
    merge = TickMerge(range(3), reorder_window_ns=WINDOW)
    out: list[tuple[str, int, int]] = []
    added = 0
    clock = {source: 0 for source in "abcd"}
    for cycle in range(200):
        for source in rng.sample("abcd", 4):
            start = max(clock[source], cycle * 3)
            times = sorted(start + rng.randrange(3) for _ in range(rng.randrange(1, 6)))
            clock[source] = times[-1]
            seqs = range(added + 1, added + 1 + len(times))
            kept = range(len(times)) if rng.random() < 0.8 else [i for i in range(len(times)) if i % 2 == 0]
            merge.add(rng.randrange(3), run(source, list(zip(times, seqs, strict=True))), kept)
            added += len(times)
        out += drain(merge)
    for partition in range(3):
        merge.close(partition)
    out += drain(merge)

    assert [ms for _, ms, _ in out] == sorted(ms for _, ms, _ in out)
    assert out == sorted(out, key=lambda tick: (tick[1], tick[0], tick[2])), "ties by source, then seq"
    assert len(out) == len(set(out)) and merge.late_ticks == 0 and len(merge) == 0
