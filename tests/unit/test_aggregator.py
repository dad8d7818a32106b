"""gateway.aggregator: best bid and best ask across sources, emitted only on change."""

from __future__ import annotations

import pytest

from gateway.aggregator import BestPriceAggregator, BestQuote
from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.events import Quote
from gateway.prices import parse_price

T0 = 1_700_000_000 * NS_PER_S
STALE_MS = 15_000


def quote(
    source: str,
    bid: str,
    ask: str,
    *,
    at_ms: int = 0,
    instrument: str = "EUR_USD",
    tradeable: bool = True,
) -> Quote:
    recv_ns = T0 + at_ms * NS_PER_MS
    return Quote(
        instrument=instrument,
        source=source,
        bid_px=parse_price(bid),
        ask_px=parse_price(ask),
        ts_event_ns=recv_ns - NS_PER_MS,
        ts_recv_ns=recv_ns,
        tradeable=tradeable,
    )


def best(
    bid: str,
    bid_source: str,
    ask: str,
    ask_source: str,
    live: int,
    *,
    at_ms: int = 0,
    instrument: str = "EUR_USD",
    crossed: bool = False,
) -> BestQuote:
    expected = BestQuote(
        instrument=instrument,
        bid_px=parse_price(bid),
        bid_source=bid_source,
        ask_px=parse_price(ask),
        ask_source=ask_source,
        live_sources=live,
        ts_ns=T0 + at_ms * NS_PER_MS,
    )
    assert expected.crossed is crossed
    assert expected.tradeable is (live > 0 and not crossed)
    return expected


def gone(*, at_ms: int, instrument: str = "EUR_USD") -> BestQuote:
    """What is emitted once when the last source leaves an instrument."""
    empty = BestQuote(instrument, 0, "", 0, "", 0, T0 + at_ms * NS_PER_MS)
    assert not empty.tradeable and not empty.crossed
    return empty


def step(book: BestPriceAggregator, update: Quote) -> BestQuote | None:
    """One quote, then the batch's changes: what the pipeline publishes for a one-quote batch."""
    book.update(update)
    changes = book.changes()
    assert len(changes) <= 1
    return changes[0] if changes else None


def expire(book: BestPriceAggregator, now_ns: int) -> list[BestQuote]:
    book.expire(now_ns)
    return book.changes()


def drop(book: BestPriceAggregator, source: str, now_ns: int) -> list[BestQuote]:
    book.drop_source(source, now_ns)
    return book.changes()


def test_a_batch_of_updates_reports_only_the_current_best_price_per_instrument() -> None:
    book = BestPriceAggregator({})
    book.update(quote("a", "1.09170", "1.09180"))
    book.update(quote("a", "1.09171", "1.09181", at_ms=1))
    book.update(quote("a", "1.09172", "1.09182", at_ms=2))
    book.update(quote("a", "150.100", "150.110", instrument="USD_JPY", at_ms=3))
    assert book.changes() == [
        best("1.09172", "a", "1.09182", "a", 1, at_ms=2),
        best("150.100", "a", "150.110", "a", 1, at_ms=3, instrument="USD_JPY"),
    ]
    assert book.changes() == []


def test_a_best_price_that_moves_away_and_back_within_a_batch_is_not_reported() -> None:
    book = BestPriceAggregator({})
    assert step(book, quote("a", "1.09170", "1.09180")) is not None
    book.update(quote("a", "1.09175", "1.09185", at_ms=1))
    book.update(quote("a", "1.09170", "1.09180", at_ms=2))
    assert book.changes() == []


def test_first_quote_is_the_best_price() -> None:
    book = BestPriceAggregator({})
    assert step(book, quote("a", "1.09170", "1.09180")) == best("1.09170", "a", "1.09180", "a", 1)


@pytest.mark.parametrize(
    ("quotes", "expected"),
    [
        pytest.param(
            [quote("a", "1.09170", "1.09190"), quote("b", "1.09175", "1.09195", at_ms=1)],
            best("1.09175", "b", "1.09190", "a", 2, at_ms=1),
            id="highest_bid_and_lowest_ask_from_different_sources",
        ),
        pytest.param(
            [quote("a", "1.09170", "1.09190"), quote("b", "1.09160", "1.09200", at_ms=1)],
            best("1.09170", "a", "1.09190", "a", 2, at_ms=1),
            id="one_source_best_on_both_sides",
        ),
        pytest.param(
            [
                quote("a", "1.09170", "1.09190"),
                quote("b", "1.09175", "1.09195", at_ms=1),
                quote("c", "1.09172", "1.09185", at_ms=2),
            ],
            best("1.09175", "b", "1.09185", "c", 3, at_ms=2),
            id="three_sources",
        ),
        pytest.param(
            [quote("a", "1.09170", "1.09190"), quote("a", "1.09150", "1.09210", at_ms=1)],
            best("1.09150", "a", "1.09210", "a", 1, at_ms=1),
            id="a_sources_new_quote_replaces_its_old_one",
        ),
    ],
)
def test_best_bid_is_the_highest_and_best_ask_the_lowest(quotes: list[Quote], expected: BestQuote) -> None:
    book = BestPriceAggregator({})
    results = [step(book, q) for q in quotes]
    assert results[-1] == expected
    assert book.current() == {"EUR_USD": expected}


@pytest.mark.parametrize(
    ("priorities", "order", "bid_source", "ask_source"),
    [
        pytest.param({}, ["a", "b"], "a", "a", id="equal_priority_lower_id_wins_arriving_first"),
        pytest.param({}, ["b", "a"], "a", "a", id="equal_priority_lower_id_wins_arriving_second"),
        pytest.param({"b": 5}, ["a", "b"], "b", "b", id="higher_priority_wins_arriving_second"),
        pytest.param({"b": 5}, ["b", "a"], "b", "b", id="higher_priority_wins_arriving_first"),
        pytest.param({"a": -1}, ["a", "b"], "b", "b", id="negative_priority_loses_to_default"),
        pytest.param({"a": 2, "b": 2}, ["b", "a"], "a", "a", id="explicit_equal_priority_lower_id"),
    ],
)
def test_price_ties_go_to_higher_priority_then_lower_source_id(
    priorities: dict[str, int], order: list[str], bid_source: str, ask_source: str
) -> None:
    book = BestPriceAggregator(priorities)
    results = [step(book, quote(source, "1.09170", "1.09180", at_ms=i)) for i, source in enumerate(order)]
    final = results[-1]
    assert final is not None  # the second source at least changes the live count
    assert (final.bid_source, final.ask_source, final.live_sources) == (bid_source, ask_source, 2)
    assert (final.bid_px, final.ask_px) == (parse_price("1.09170"), parse_price("1.09180"))


@pytest.mark.parametrize(
    ("follow_up", "expected"),
    [
        pytest.param(quote("a", "1.09170", "1.09180", at_ms=10), None, id="same_prices_again"),
        pytest.param(quote("b", "1.09160", "1.09190", at_ms=10), 2, id="worse_new_source_changes_the_live_count"),
        pytest.param(quote("a", "1.09171", "1.09180", at_ms=10), 1, id="better_bid"),
        pytest.param(quote("a", "1.09170", "1.09181", at_ms=10), 1, id="worse_ask"),
    ],
)
def test_best_price_is_emitted_only_when_it_changes(follow_up: Quote, expected: int | None) -> None:
    book = BestPriceAggregator({})
    assert step(book, quote("a", "1.09170", "1.09180")) is not None
    result = step(book, follow_up)
    if expected is None:
        assert result is None
    else:
        assert result is not None
        assert result.live_sources == expected
        assert result.ts_ns == follow_up.ts_recv_ns


def test_worse_quotes_from_a_second_source_emit_nothing_once_it_is_counted() -> None:
    book = BestPriceAggregator({})
    step(book, quote("a", "1.09170", "1.09180"))
    assert step(book, quote("b", "1.09160", "1.09190", at_ms=1)) is not None
    assert step(book, quote("b", "1.09150", "1.09200", at_ms=2)) is None
    assert step(book, quote("b", "1.09165", "1.09185", at_ms=3)) is None


def test_quote_older_than_the_window_drops_out_when_another_arrives() -> None:
    book = BestPriceAggregator({}, stale_after_ms=STALE_MS)
    step(book, quote("a", "1.09175", "1.09180", at_ms=0))
    step(book, quote("b", "1.09170", "1.09185", at_ms=1))
    assert step(book, quote("b", "1.09170", "1.09185", at_ms=STALE_MS + 1)) == best(
        "1.09170", "b", "1.09185", "b", 1, at_ms=STALE_MS + 1
    )


def test_quote_exactly_at_the_window_edge_is_still_live() -> None:
    book = BestPriceAggregator({}, stale_after_ms=STALE_MS)
    step(book, quote("a", "1.09175", "1.09180", at_ms=0))
    result = step(book, quote("b", "1.09170", "1.09185", at_ms=STALE_MS))
    assert result == best("1.09175", "a", "1.09180", "a", 2, at_ms=STALE_MS)


@pytest.mark.parametrize(
    ("now_ms", "expected"),
    [
        pytest.param(STALE_MS, [], id="nothing_stale_yet"),
        pytest.param(STALE_MS + 1, [best("1.09170", "b", "1.09185", "b", 1, at_ms=STALE_MS + 1)], id="a_expires"),
        pytest.param(STALE_MS + 5_001, [gone(at_ms=STALE_MS + 5_001)], id="both_expire"),
    ],
)
def test_expire_drops_stale_quotes_and_reports_the_changes(now_ms: int, expected: list[BestQuote]) -> None:
    book = BestPriceAggregator({}, stale_after_ms=STALE_MS)
    step(book, quote("a", "1.09175", "1.09180", at_ms=0))
    step(book, quote("b", "1.09170", "1.09185", at_ms=5_000))
    assert expire(book, T0 + now_ms * NS_PER_MS) == expected
    assert expire(book, T0 + now_ms * NS_PER_MS) == []  # reported once


def test_expire_covers_every_instrument() -> None:
    book = BestPriceAggregator({}, stale_after_ms=STALE_MS)
    step(book, quote("a", "1.09175", "1.09180", instrument="EUR_USD"))
    step(book, quote("a", "150.100", "150.110", instrument="USD_JPY", at_ms=1))
    changes = expire(book, T0 + (STALE_MS + 2) * NS_PER_MS)
    assert sorted(changes, key=lambda change: change.instrument) == [
        gone(at_ms=STALE_MS + 2, instrument="EUR_USD"),
        gone(at_ms=STALE_MS + 2, instrument="USD_JPY"),
    ]
    assert book.current() == {}


def test_dropped_source_leaves_every_instrument_it_quoted() -> None:
    book = BestPriceAggregator({})
    step(book, quote("a", "1.09175", "1.09180", instrument="EUR_USD"))
    step(book, quote("b", "1.09170", "1.09185", instrument="EUR_USD", at_ms=1))
    step(book, quote("a", "150.100", "150.110", instrument="USD_JPY", at_ms=2))
    step(book, quote("b", "160.100", "160.110", instrument="EUR_JPY", at_ms=3))
    changes = drop(book, "a", T0 + 10 * NS_PER_MS)
    assert sorted(changes, key=lambda change: change.instrument) == [
        best("1.09170", "b", "1.09185", "b", 1, at_ms=10, instrument="EUR_USD"),
        gone(at_ms=10, instrument="USD_JPY"),
    ]
    assert drop(book, "a", T0 + 11 * NS_PER_MS) == []
    assert set(book.current()) == {"EUR_USD", "EUR_JPY"}


def test_non_tradeable_quote_removes_its_source() -> None:
    book = BestPriceAggregator({})
    step(book, quote("a", "1.09175", "1.09180"))
    step(book, quote("b", "1.09170", "1.09185", at_ms=1))
    result = step(book, quote("a", "1.09175", "1.09180", at_ms=2, tradeable=False))
    assert result == best("1.09170", "b", "1.09185", "b", 1, at_ms=2)


def test_non_tradeable_quote_from_an_absent_source_changes_nothing() -> None:
    book = BestPriceAggregator({})
    step(book, quote("a", "1.09175", "1.09180"))
    assert step(book, quote("b", "1.09170", "1.09185", at_ms=1, tradeable=False)) is None
    assert step(book, quote("c", "150.1", "150.2", instrument="USD_JPY", tradeable=False)) is None
    assert book.current() == {"EUR_USD": best("1.09175", "a", "1.09180", "a", 1)}


def test_last_source_leaving_emits_an_empty_not_tradeable_best_price_once() -> None:
    book = BestPriceAggregator({})
    step(book, quote("a", "1.09175", "1.09180"))
    assert step(book, quote("a", "1.09175", "1.09180", at_ms=1, tradeable=False)) == gone(at_ms=1)
    assert step(book, quote("a", "1.09175", "1.09180", at_ms=2, tradeable=False)) is None
    assert expire(book, T0 + 60 * NS_PER_S) == []
    assert book.current() == {}
    # and the instrument comes back with the next tradeable quote
    assert step(book, quote("a", "1.09176", "1.09181", at_ms=3)) == best("1.09176", "a", "1.09181", "a", 1, at_ms=3)


@pytest.mark.parametrize(
    ("a", "b", "crossed"),
    [
        pytest.param(("1.09200", "1.09210"), ("1.09180", "1.09190"), True, id="bid_of_one_above_ask_of_other"),
        pytest.param(("1.09190", "1.09210"), ("1.09180", "1.09190"), False, id="locked_across_sources"),
        pytest.param(("1.09170", "1.09210"), ("1.09180", "1.09190"), False, id="normal"),
    ],
)
def test_best_bid_above_best_ask_across_sources_is_flagged_crossed_and_not_tradeable(
    a: tuple[str, str], b: tuple[str, str], crossed: bool
) -> None:
    book = BestPriceAggregator({})
    step(book, quote("a", *a))
    result = step(book, quote("b", *b, at_ms=1))
    assert result is not None
    assert result.crossed is crossed
    assert result.tradeable is not crossed
    assert result.bid_px == max(parse_price(a[0]), parse_price(b[0]))
    assert result.ask_px == min(parse_price(a[1]), parse_price(b[1]))


def test_instruments_are_independent() -> None:
    book = BestPriceAggregator({})
    step(book, quote("a", "1.09175", "1.09180", instrument="EUR_USD"))
    result = step(book, quote("b", "150.100", "150.110", instrument="USD_JPY", at_ms=1))
    assert result == best("150.100", "b", "150.110", "b", 1, at_ms=1, instrument="USD_JPY")
    assert book.current() == {
        "EUR_USD": best("1.09175", "a", "1.09180", "a", 1),
        "USD_JPY": best("150.100", "b", "150.110", "b", 1, at_ms=1, instrument="USD_JPY"),
    }
