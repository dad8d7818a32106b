"""gateway.cycle: what one publish carries, and the numbering the spool and NATS share."""

from __future__ import annotations

import random

import pytest

from gateway.aggregator import BestQuote
from gateway.cycle import CycleBuilder, TickBatch
from gateway.schema.market.v1.market_pb2 import QualityRejection, SourceStatus, Tick

T0 = 1_700_000_000_000_000_000


def best(instrument: str, n: int) -> BestQuote:
    return BestQuote(instrument, n, "a", n + 1, "b", 2, T0 + n)


def test_an_empty_take_is_empty_and_numbers_nothing() -> None:
    builder = CycleBuilder(session_id=5)
    cycle = builder.take(T0)
    assert cycle.empty and cycle.tick_count == 0 and not builder.has_pending
    builder.add_tick("a", "EUR_USD", b"t1")
    assert [batch.batch_seq for batch in builder.take(T0).ticks] == [1]


def test_ticks_form_one_batch_per_source_in_arrival_order() -> None:
    builder = CycleBuilder(session_id=5)
    for source, instrument, record in [("a", "EUR_USD", b"1"), ("b", "EUR_USD", b"2"), ("a", "USD_JPY", b"3")]:
        builder.add_tick(source, instrument, record)
    assert builder.has_pending and not builder.has_full_batch
    cycle = builder.take(T0 + 9)
    assert (cycle.session_id, cycle.time_ns, cycle.tick_count) == (5, T0 + 9, 3)
    assert [(b.source, b.batch_seq, b.records, b.instruments) for b in cycle.ticks] == [
        ("a", 1, [b"1", b"3"], ["EUR_USD", "USD_JPY"]),
        ("b", 1, [b"2"], ["EUR_USD"]),
    ]
    assert not builder.has_pending


def test_a_batch_closes_at_max_batch_ticks_and_the_next_one_opens() -> None:
    builder = CycleBuilder(session_id=5, max_batch_ticks=2)
    for n in range(5):
        builder.add_tick("a", "EUR_USD", bytes([n]))
        assert builder.has_full_batch is (n >= 1)
    cycle = builder.take(T0)
    assert [(b.batch_seq, b.records) for b in cycle.ticks] == [(1, [b"\0", b"\1"]), (2, [b"\2", b"\3"]), (3, [b"\4"])]


@pytest.mark.parametrize(("changes", "batches"), [(1, [1]), (2, [2]), (3, [2, 1]), (5, [2, 2, 1])])
def test_best_prices_are_chunked_and_numbered_under_the_best_source(changes: int, batches: list[int]) -> None:
    builder = CycleBuilder(session_id=5, max_batch_ticks=2)
    builder.add_tick("best-is-not-a-source-here", "EUR_USD", b"x")
    builder.add_best([best("EUR_USD", n) for n in range(changes)])
    cycle = builder.take(T0)
    assert [(b.batch_seq, len(b.changes)) for b in cycle.best] == list(enumerate(batches, 1))
    builder.add_best([best("EUR_USD", 9)])
    assert [b.batch_seq for b in builder.take(T0).best] == [len(batches) + 1]


def test_rejections_are_numbered_across_takes_and_statuses_pass_through() -> None:
    builder = CycleBuilder(session_id=5)
    rejection = QualityRejection(tick=Tick(source="a"))
    builder.add_rejection(rejection)
    builder.add_rejection(rejection)
    status = SourceStatus(source="a", state=SourceStatus.STATE_CONNECTED, seq=1)
    builder.add_status(status)
    first = builder.take(T0)
    assert (first.first_rejection_seq, len(first.rejections), list(first.statuses)) == (1, 2, [status])
    builder.add_rejection(rejection)
    assert builder.take(T0).first_rejection_seq == 3


def test_instrument_parts_join_each_instruments_records_in_arrival_order() -> None:
    """Generated batches (1-40 instruments, 1-600 ticks) against a plain grouping; compiled or not, the same parts."""
    rng = random.Random(15)
    for _ in range(300):
        names = [f"I{n}" for n in range(rng.randrange(1, 40))]
        instruments = [rng.choice(names) for _ in range(rng.randrange(1, 600))]
        records = [f"{index}:{instrument};".encode() for index, instrument in enumerate(instruments)]
        batch = TickBatch("a", 1, records, instruments)
        expected: dict[str, list[bytes]] = {}
        for instrument, record in zip(instruments, records, strict=True):
            expected.setdefault(instrument, []).append(record)
        assert batch.instrument_parts() == [(name, b"".join(parts)) for name, parts in expected.items()]
    assert TickBatch("a").instrument_parts() == []
