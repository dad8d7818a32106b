"""gateway.aggregate.feed: gateways' messages read into the aggregator, gaps from batch_seq, hostile input counted."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Final

import pytest

from gateway.aggregate.feed import MAX_INSTRUMENTS, MAX_SOURCES, Feed, Gap, SequenceTracker, SequenceVerdict
from gateway.aggregator import BestPriceAggregator, BestQuote
from gateway.events import Quote
from gateway.schema.market.v1.market_pb2 import MarketDataStream, SourceStatus, Tick
from gateway.wire import TickRecordEncoder, stream_header

NOW_NS: Final = 1_700_000_000_000_000_000
MS: Final = 1_000_000
SESSION: Final = 77
INSTRUMENTS: Final = ("EUR_USD", "GBP_USD", "USD_JPY")


def _quote(source: str, instrument: str, bid: int, ask: int, at_ms: int, tradeable: bool = True) -> Quote:
    ts = NOW_NS + at_ms * MS
    return Quote(instrument, source, bid, ask, 1, 1, ts, ts, tradeable)


def _message(source: str, batch_seq: int, quotes: Sequence[Quote], session_id: int = SESSION) -> bytes:
    """A MarketDataStream exactly as a gateway writes it (gateway.wire's encoder)."""
    encoder = TickRecordEncoder()
    records = b"".join(encoder.encode(quote, seq) for seq, quote in enumerate(quotes, 1))
    return stream_header(source, NOW_NS, batch_seq, session_id) + records


def _best(aggregator: BestPriceAggregator) -> dict[str, tuple[int, str, int, str, int]]:
    aggregator.changes()
    return {i: (b.bid_px, b.bid_source, b.ask_px, b.ask_source, b.live_sources) for i, b in _current(aggregator)}


def _by_instrument(changes: list[BestQuote]) -> dict[str, BestQuote]:
    assert len({best.instrument for best in changes}) == len(changes)
    return {best.instrument: best for best in changes}


def _current(aggregator: BestPriceAggregator) -> list[tuple[str, BestQuote]]:
    return sorted(aggregator.current().items())


# -- the sequence of a source's messages ---------------------------------------------------------------------------


def test_sequence_first_next_gap_repeat_and_sessions() -> None:
    tracker = SequenceTracker()
    assert tracker.observe("a", 5, 10) == (SequenceVerdict.FIRST, 0)  # joined mid-stream: nothing to compare
    assert tracker.observe("a", 5, 11) == (SequenceVerdict.NEXT, 0)
    assert tracker.observe("a", 5, 15) == (SequenceVerdict.GAP, 3)
    assert tracker.observe("a", 5, 15) == (SequenceVerdict.REPEAT, 0)
    assert tracker.observe("a", 5, 12) == (SequenceVerdict.REPEAT, 0)
    assert tracker.observe("a", 6, 1) == (SequenceVerdict.FIRST, 0)  # the gateway restarted
    assert tracker.observe("a", 5, 16) == (SequenceVerdict.REPEAT, 0)  # late, from the old session
    assert tracker.observe("b", 5, 1) == (SequenceVerdict.FIRST, 0)  # sources are counted apart
    assert tracker.observe("a", 6, 2) == (SequenceVerdict.NEXT, 0)
    assert len(tracker) == 2 and "a" in tracker and "c" not in tracker


# -- gaps ----------------------------------------------------------------------------------------------------------


def test_a_gap_takes_the_source_out_until_its_next_tick_of_each_instrument() -> None:
    gaps: list[Gap] = []
    aggregator = BestPriceAggregator({})
    feed = Feed(aggregator, gaps.append)
    feed.ticks("b", _message("b", 1, [_quote("b", i, 100, 110, 0) for i in INSTRUMENTS]), NOW_NS)
    feed.ticks("a", _message("a", 1, [_quote("a", i, 101, 109, 0) for i in INSTRUMENTS]), NOW_NS)
    assert {best[1] for best in _best(aggregator).values()} == {"a"}

    feed.ticks("a", _message("a", 4, [_quote("a", "EUR_USD", 102, 108, 5)]), NOW_NS)  # batches 2 and 3 lost

    assert gaps == [Gap("a", SESSION, 2)]
    assert feed.stats.gaps == 1 and feed.stats.messages_missed == 2
    best = _best(aggregator)
    assert best["EUR_USD"] == (102, "a", 108, "a", 2)  # the tick after the gap brings it back at once
    assert best["GBP_USD"] == (100, "b", 110, "b", 1)  # a's older quotes are suspect: out
    assert best["USD_JPY"] == (100, "b", 110, "b", 1)
    assert feed.suspect == {"a": {"GBP_USD", "USD_JPY"}}
    feed.ticks("a", _message("a", 5, [_quote("a", "GBP_USD", 101, 109, 6)]), NOW_NS)
    assert _best(aggregator)["GBP_USD"] == (101, "a", 109, "a", 2)
    assert feed.suspect == {"a": {"USD_JPY"}}
    assert feed.sequences() == {"a": (SESSION, 5), "b": (SESSION, 1)}


def test_a_suspicion_ends_with_the_next_quote_a_status_or_the_staleness_window() -> None:
    feed = Feed(BestPriceAggregator({}))
    for source in ("a", "b", "c"):
        feed.ticks(source, _message(source, 1, [_quote(source, "EUR_USD", 100, 110, 0)]), NOW_NS)
    feed.ticks("a", _message("a", 3, []), NOW_NS)
    feed.ticks("b", _message("b", 3, []), NOW_NS)
    feed.ticks("c", _message("c", 3, []), NOW_NS + 10 * MS)
    assert feed.suspect == {"a": {"EUR_USD"}, "b": {"EUR_USD"}, "c": {"EUR_USD"}}
    feed.ticks("a", _message("a", 4, [_quote("a", "EUR_USD", 100, 110, 1)]), NOW_NS)
    down = SourceStatus(source="b", state=SourceStatus.STATE_DISCONNECTED).SerializeToString()
    feed.status("b", down, NOW_NS)
    assert feed.suspect == {"c": {"EUR_USD"}}
    feed.expire_suspects(NOW_NS + 10 * MS)  # not older than the horizon: kept
    assert feed.suspect == {"c": {"EUR_USD"}}
    feed.expire_suspects(NOW_NS + 10 * MS + 1)
    assert feed.suspect == {}


def test_in_order_messages_and_a_new_session_are_not_gaps() -> None:
    gaps: list[Gap] = []
    feed = Feed(BestPriceAggregator({}), gaps.append)
    feed.ticks("a", _message("a", 7, [_quote("a", "EUR_USD", 100, 110, 0)]), NOW_NS)
    feed.ticks("a", _message("a", 8, [_quote("a", "EUR_USD", 100, 110, 1)]), NOW_NS)
    feed.ticks("a", _message("a", 1, [_quote("a", "EUR_USD", 100, 110, 2)], session_id=SESSION + 1), NOW_NS)
    feed.ticks("a", _message("a", 1, [_quote("a", "EUR_USD", 100, 110, 3)], session_id=SESSION + 1), NOW_NS)
    assert gaps == [] and feed.stats.gaps == 0
    assert feed.stats.repeats == 1 and feed.stats.messages == 4 and feed.stats.ticks == 3


# -- the same best price as a gateway feeding every tick -------------------------------------------------------------


def _random_messages(seed: int) -> Iterator[tuple[str, bytes, list[Quote]]]:
    generator = random.Random(seed)
    batch_seq = dict.fromkeys("abc", 0)
    for step in range(300):
        source = generator.choice("abc")
        quotes = []
        for _ in range(generator.randint(1, 12)):
            bid = 1000 + generator.randint(-5, 5)
            quotes.append(
                _quote(
                    source,
                    generator.choice(INSTRUMENTS),
                    bid,
                    bid + generator.randint(-1, 4),
                    step,
                    tradeable=generator.random() > 0.1,
                )
            )
        batch_seq[source] += 1
        yield source, _message(source, batch_seq[source], quotes), quotes


@pytest.mark.parametrize("seed", range(20))
def test_reading_the_last_tick_of_each_instrument_gives_what_every_tick_gives(seed: int) -> None:
    """A gateway feeds each accepted tick and computes changes per batch; the feed reads only the last tick of each
    instrument per message. Their reported changes must be the same, message after message (in another order
    within a message: changes() lists instruments in the order they were touched)."""
    priorities = {"a": 2, "b": 1}
    every_tick = BestPriceAggregator(priorities, stale_after_ms=40)
    via_feed = BestPriceAggregator(priorities, stale_after_ms=40)
    feed = Feed(via_feed)
    for source, payload, quotes in _random_messages(seed):
        for quote in quotes:
            every_tick.update(quote)
        feed.ticks(source, payload, NOW_NS)
        assert _by_instrument(via_feed.changes()) == _by_instrument(every_tick.changes())
    assert feed.stats.refused == 0 and feed.stats.gaps == 0


# -- statuses ------------------------------------------------------------------------------------------------------


def test_a_source_that_stops_delivering_leaves_the_best_price() -> None:
    aggregator = BestPriceAggregator({})
    feed = Feed(aggregator)
    feed.ticks("a", _message("a", 1, [_quote("a", "EUR_USD", 101, 109, 0)]), NOW_NS)
    feed.ticks("b", _message("b", 1, [_quote("b", "EUR_USD", 100, 110, 0)]), NOW_NS)
    _best(aggregator)
    connected = SourceStatus(source="a", state=SourceStatus.STATE_RECONNECTED).SerializeToString()
    feed.status("a", connected, NOW_NS)
    assert not aggregator.has_changes
    down = SourceStatus(source="a", state=SourceStatus.STATE_DISCONNECTED).SerializeToString()
    feed.status("a", down, NOW_NS)
    assert _best(aggregator)["EUR_USD"] == (100, "b", 110, "b", 1)
    assert feed.stats.sources_dropped == 1 and feed.stats.statuses == 2


# -- hostile input -------------------------------------------------------------------------------------------------


def _valid() -> bytes:
    return _message("a", 1, [_quote("a", i, 100, 110, 0) for i in INSTRUMENTS])


def hostile_messages() -> Iterator[tuple[str, str, bytes]]:
    """(name, subject's source token, payload): each must be refused or read, never raise."""
    valid = _valid()
    generator = random.Random(1414)
    for cut in range(0, len(valid), 7):
        yield f"truncated_{cut}", "a", valid[:cut]
    for seed in range(200):
        data = bytearray(valid)
        for _ in range(generator.randint(1, 6)):
            data[generator.randrange(len(data))] = generator.randrange(256)
        yield f"flipped_{seed}", "a", bytes(data)
    for seed in range(50):
        yield f"random_{seed}", "a", generator.randbytes(generator.randint(1, 4000))
    yield "deep_nesting", "a", b"\x2a\x02" * 5000
    yield "huge_length", "a", b"\x2a\xff\xff\xff\xff\x0f"
    yield "another_source", "b", valid
    yield "best_source", "best", _message("best", 1, [_quote("best", "EUR_USD", 1, 2, 0)])
    yield "bad_source_id", "a b", _message("a b", 1, [_quote("a b", "EUR_USD", 1, 2, 0)])
    yield "tick_of_another_source", "a", _message("a", 2, [_quote("x", "EUR_USD", 100, 110, 0)])
    yield "bad_instrument", "a", _message("a", 3, [_quote("a", "eur/usd;drop", 100, 110, 0)])
    yield "long_instrument", "a", _message("a", 4, [_quote("a", "E" * 5000, 100, 110, 0)])
    yield "zero_price", "a", _message("a", 5, [_quote("a", "EUR_USD", 0, 110, 0)])
    yield "negative_price", "a", _message("a", 6, [_quote("a", "EUR_USD", -5, -1, 0)])
    yield "far_future", "a", _message("a", 7, [_quote("a", "EUR_USD", 100, 110, 3_600_000)])
    huge_seq = MarketDataStream(source="a", batch_seq=2**64 - 1, session_id=2**64 - 1)
    huge_seq.ticks.append(Tick(instrument="EUR_USD", source="a", bid_px=2**63 - 1, ask_px=2**63 - 1, tradeable=True))
    yield "extreme_numbers", "a", huge_seq.SerializeToString()


CORPUS: Final = list(hostile_messages())


def test_hostile_messages_are_refused_and_counted_never_raised() -> None:
    aggregator = BestPriceAggregator({})
    feed = Feed(aggregator)
    for _, source, payload in CORPUS:
        feed.ticks(source, payload, NOW_NS)
        feed.status(source, payload, NOW_NS)
        aggregator.changes()
    stats = feed.stats
    assert stats.messages == len(CORPUS)
    assert stats.refused >= 60
    assert len(stats.last_refusal) < 2000
    for best in aggregator.current().values():  # what got in is a sane quote of a BASE_QUOTE instrument
        assert best.bid_px > 0 and best.ask_px > 0 and "_" in best.instrument and len(best.instrument) <= 21


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("another_source", "says it is of 'a'"),
        ("best_source", "says it is of 'best'"),
        ("tick_of_another_source", "a tick of 'x' in the message of a"),
        ("bad_instrument", "not of the form BASE_QUOTE"),
        ("zero_price", "not positive"),
        ("far_future", "ahead of this host's clock"),
        ("random_0", "not a MarketDataStream"),
    ],
)
def test_each_refusal_names_what_was_wrong(name: str, reason: str) -> None:
    feed = Feed(BestPriceAggregator({}))
    _, source, payload = next(entry for entry in CORPUS if entry[0] == name)
    feed.ticks(source, payload, NOW_NS)
    assert feed.stats.refused == 1
    assert reason in feed.stats.last_refusal


def test_sources_and_instruments_are_bounded() -> None:
    feed = Feed(BestPriceAggregator({}))
    for n in range(MAX_SOURCES + 10):
        source = f"s{n}"
        feed.ticks(source, _message(source, 1, [_quote(source, "EUR_USD", 100, 110, 0)]), NOW_NS)
    assert feed.stats.refused == 10
    feed = Feed(BestPriceAggregator({}))
    quotes = [_quote("a", f"X{n:05d}_USD", 100, 110, 0) for n in range(MAX_INSTRUMENTS + 10)]
    feed.ticks("a", _message("a", 1, quotes), NOW_NS)
    assert feed.stats.refused == 10
    assert len(feed.aggregator.current()) == 0  # nothing reported before changes(); the books are bounded
    assert len(feed.aggregator.changes()) == MAX_INSTRUMENTS
