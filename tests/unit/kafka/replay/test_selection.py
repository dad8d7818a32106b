"""gateway.kafka.replay.selection: the window, the filters, and duplicates by fxgw-id and by seq."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gateway.kafka.replay.selection import ReplayStats, TickSelector
from gateway.wire import ROW_SEQ, STREAM_CONTENT_TYPE, TickRun
from tests.unit.test_wire import ONE, T0, record


def kept_seqs(selections: list[tuple[TickRun, Sequence[int]]]) -> list[int]:
    return [run.rows[index][ROW_SEQ] for run, indices in selections for index in indices]


def test_ticks_are_selected_by_their_own_event_time_in_a_half_open_window() -> None:
    selector = TickSelector(T0 + 10, T0 + 20)
    value = record("a", "EUR_USD", [(T0 + 9, 1), (T0 + 10, 2), (T0 + 19, 3), (T0 + 20, 4)])

    selections = selector.select(value, b"gw:1:1", STREAM_CONTENT_TYPE.encode())

    assert kept_seqs(selections) == [2, 3]
    assert selections[0][1] == range(1, 3)
    assert (selector.stats.records_read, selector.stats.ticks_in_window) == (1, 2)


def test_a_redelivered_record_is_skipped_by_its_id_and_counted() -> None:
    selector = TickSelector(T0, T0 + 100)
    value = record("a", "EUR_USD", [(T0 + 1, 1), (T0 + 2, 2)])

    assert kept_seqs(selector.select(value, b"gw:1:1")) == [1, 2]
    assert selector.select(value, b"gw:1:1") == []

    stats = selector.stats
    assert (stats.records_read, stats.duplicate_records, stats.ticks_in_window, stats.duplicate_ticks) == (2, 1, 2, 0)


def test_ticks_at_or_below_the_seq_mark_are_dropped_per_source_session_and_instrument() -> None:
    selector = TickSelector(T0, T0 + 100)
    selector.select(record("a", "EUR_USD", [(T0 + 1, 1), (T0 + 2, 3)]), b"id-1")

    repeated = selector.select(record("a", "EUR_USD", [(T0 + 2, 3), (T0 + 3, 4)]), b"id-2")
    other_session = selector.select(record("a", "EUR_USD", [(T0 + 2, 3)], session_id=12), b"id-3")
    other_instrument = selector.select(record("a", "USD_JPY", [(T0 + 2, 2)]), b"id-4")

    assert (kept_seqs(repeated), kept_seqs(other_session), kept_seqs(other_instrument)) == ([4], [3], [2])
    assert (selector.stats.duplicate_ticks, selector.stats.ticks_in_window) == (1, 6)


def test_a_redelivery_older_than_the_remembered_ids_is_still_caught_by_seq() -> None:
    selector = TickSelector(T0, T0 + 100, remembered_ids=2)
    first = record("a", "EUR_USD", [(T0 + 1, 1), (T0 + 2, 2)])
    selector.select(first, b"id-1")
    selector.select(record("a", "EUR_USD", [(T0 + 3, 3)]), b"id-2")
    selector.select(record("a", "EUR_USD", [(T0 + 4, 4)]), b"id-3")

    assert selector.select(first, b"id-1") == []
    assert (selector.stats.duplicate_records, selector.stats.duplicate_ticks) == (0, 2)


def test_non_contiguous_selections_are_index_lists() -> None:
    selector = TickSelector(T0, T0 + 10)
    selections = selector.select(record("a", "EUR_USD", [(T0, 1), (T0 + 50, 2), (T0 + 1, 3)]))

    assert selections[0][1] == [0, 2]


def test_instrument_and_source_filters_apply_to_each_run() -> None:
    selector = TickSelector(T0, T0 + 10, instruments=frozenset({"EUR_USD"}), sources=frozenset({"a"}))
    value = record("a", "EUR_USD", [(T0, 1)]) + record("a", "USD_JPY", [(T0, 2)]) + record("b", "EUR_USD", [(T0, 3)])

    assert kept_seqs(selector.select(value)) == [1]
    assert selector.stats.ticks_in_window == 1


def test_records_that_are_not_tick_batches_are_counted_and_skipped() -> None:
    selector = TickSelector(T0, T0 + 10)

    assert selector.select(b"\xff\xff", b"id-1") == []
    assert selector.select(ONE, b"id-2", b"application/x-protobuf; proto=market.v1.SourceStatus") == []
    assert selector.stats.unreadable_records == 2
    assert "2 unreadable records skipped" in selector.stats.summary()


def test_the_summary_says_what_was_read_kept_and_skipped() -> None:
    stats = ReplayStats(
        records_read=1200, ticks_in_window=5000, duplicate_records=2, duplicate_ticks=7, ticks_output=4993, elapsed_s=2
    )
    assert stats.summary() == (
        "replay: 1,200 records read, 5,000 ticks in window, 4,993 ticks output, duplicates skipped: 2 records "
        "(by fxgw-id) and 7 ticks (by seq), 2.00 s, 2,496 ticks/s"
    )


def test_a_record_whose_source_is_not_a_source_id_is_unreadable_and_its_log_line_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The source becomes a subject token on --to nats: a dot, a wildcard or a space must not get that far."""
    selector = TickSelector(0, 2**63 - 1)
    for n, source in enumerate(("a.b", "x*", "a b", ">", "s" * 3_000)):
        assert selector.select(record(source, "EUR_USD", [(T0, 1)]), b"%d-" % n + b"9" * 3_000) == []
    assert selector.stats.unreadable_records == 5
    assert selector.select(record("ok-source", "EUR_USD", [(T0, 1)])) != []
    assert all(len(message) < 400 for message in caplog.messages)
