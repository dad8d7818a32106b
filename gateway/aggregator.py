"""Best bid and best ask per instrument across sources (pure, synchronous).

Each source's last accepted tradeable quote per instrument is kept. The best bid
is the highest bid and the best ask the lowest ask among sources whose last
quote was received within ``stale_after_ms``; equal prices go to the source with
the higher ``priority``, then to the lower source id so results never depend
on arrival order. A non-tradeable quote, a stale quote or a disconnected source
removes that source; best bid above best ask across sources is ``crossed`` and
not tradeable.

Updates only record quotes. :meth:`BestPriceAggregator.changes`, called once per
published batch, computes the best price of each instrument touched since the
last call and returns those that differ from what it returned before (price,
source, or number of live sources). So a burst yields one BestQuote per
instrument, the current one, and a best price that moved away and back within
a batch yields none. When the last source leaves an instrument, a BestQuote
with ``live_sources=0`` says so once.

Each reported change also credits the best price it replaces with the time it stood (:class:`TimeAtBest`):
clock-free, from the receive times of the changes, for broker quality (gateway.broker_quality).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from gateway.clock import NS_PER_MS
from gateway.events import Quote

DEFAULT_STALE_AFTER_MS: Final = 15_000


@dataclass(slots=True, init=False)  # the __init__ below: see gateway.compiled, "Dataclasses built per tick"
class BestQuote:
    """The best price of one instrument; prices are 0 and sources empty when no source is live."""

    instrument: str
    bid_px: int
    bid_source: str
    ask_px: int
    ask_source: str
    live_sources: int
    ts_ns: int

    def __init__(
        self, instrument: str, bid_px: int, bid_source: str, ask_px: int, ask_source: str, live_sources: int, ts_ns: int
    ) -> None:
        self.instrument = instrument
        self.bid_px = bid_px
        self.bid_source = bid_source
        self.ask_px = ask_px
        self.ask_source = ask_source
        self.live_sources = live_sources
        self.ts_ns = ts_ns

    @property
    def crossed(self) -> bool:
        """Best bid above best ask across sources: no single trade realises both."""
        return self.live_sources > 0 and self.bid_px > self.ask_px

    @property
    def tradeable(self) -> bool:
        return self.live_sources > 0 and self.bid_px <= self.ask_px


@dataclass(slots=True)
class TimeAtBest:
    """How long (ns, receive clock) each source was an instrument's best bid and best ask; ``quoted_ns`` is the
    time some source was live and the market not crossed, ``crossed_ns`` the crossed time (nobody's)."""

    bid_ns: dict[str, int] = field(default_factory=dict)
    ask_ns: dict[str, int] = field(default_factory=dict)
    quoted_ns: int = 0
    crossed_ns: int = 0

    def held(self, best: BestQuote, until_ns: int) -> None:
        """Credit ``best`` with the time from its receive time to ``until_ns``."""
        held_ns = until_ns - best.ts_ns
        if held_ns <= 0 or not best.live_sources:
            return
        if best.bid_px > best.ask_px:
            self.crossed_ns += held_ns
            return
        self.quoted_ns += held_ns
        self.bid_ns[best.bid_source] = self.bid_ns.get(best.bid_source, 0) + held_ns
        self.ask_ns[best.ask_source] = self.ask_ns.get(best.ask_source, 0) + held_ns


class _Book:
    """Quotes of one instrument by source, the time of the latest event, what was last reported, time at best."""

    __slots__ = ("at_best", "now_ns", "quotes", "reported")

    def __init__(self) -> None:
        self.quotes: dict[str, Quote] = {}
        self.now_ns = 0
        self.reported: BestQuote | None = None
        self.at_best = TimeAtBest()


class BestPriceAggregator:
    """Keeps the best price per instrument; feed it accepted quotes in arrival order."""

    def __init__(self, priorities: Mapping[str, int], stale_after_ms: int = DEFAULT_STALE_AFTER_MS) -> None:
        self._priority = dict(priorities)
        self._stale_after_ns = stale_after_ms * NS_PER_MS
        self._books: dict[str, _Book] = {}
        self._dirty: dict[str, _Book] = {}

    def update(self, quote: Quote) -> None:
        """Record one accepted quote (a non-tradeable one removes its source)."""
        instrument = quote.instrument
        book = self._books.get(instrument)
        if book is None:
            book = self._books[instrument] = _Book()
        if quote.tradeable:
            book.quotes[quote.source] = quote
        elif book.quotes.pop(quote.source, None) is None:
            return
        book.now_ns = quote.ts_recv_ns
        self._dirty[instrument] = book

    def expire(self, now_ns: int) -> None:
        """Mark instruments with quotes older than the staleness window for :meth:`changes`."""
        horizon = now_ns - self._stale_after_ns
        for instrument, book in self._books.items():
            if any(quote.ts_recv_ns < horizon for quote in book.quotes.values()):
                book.now_ns = max(book.now_ns, now_ns)
                self._dirty[instrument] = book

    def drop_source(self, source: str, now_ns: int) -> None:
        """Remove every quote of a disconnected source."""
        for instrument, book in self._books.items():
            if book.quotes.pop(source, None) is not None:
                book.now_ns = max(book.now_ns, now_ns)
                self._dirty[instrument] = book

    def instruments_of(self, source: str) -> set[str]:
        """The instruments in which ``source`` has a quote now."""
        return {instrument for instrument, book in self._books.items() if source in book.quotes}

    @property
    def has_changes(self) -> bool:
        """Whether :meth:`changes` may return something."""
        return bool(self._dirty)

    def changes(self) -> list[BestQuote]:
        """Best prices of the instruments touched since the last call that differ from the last reported."""
        if not self._dirty:
            return []
        dirty, self._dirty = self._dirty, {}
        changes = []
        for instrument, book in dirty.items():
            best = self._best(instrument, book)
            reported = book.reported
            if reported is None:
                if not best.live_sources:
                    continue
            elif (
                reported.bid_px == best.bid_px
                and reported.ask_px == best.ask_px
                and reported.bid_source == best.bid_source
                and reported.ask_source == best.ask_source
                and reported.live_sources == best.live_sources
            ):
                continue
            if reported is not None:
                book.at_best.held(reported, best.ts_ns)
            book.reported = best
            changes.append(best)
        return changes

    def time_at_best(self, now_ns: int) -> dict[str, TimeAtBest]:
        """Time at best per instrument, the standing best price credited up to ``now_ns`` (copies)."""
        result = {}
        for instrument, book in self._books.items():
            totals = book.at_best
            copy = TimeAtBest(dict(totals.bid_ns), dict(totals.ask_ns), totals.quoted_ns, totals.crossed_ns)
            if book.reported is not None:
                copy.held(book.reported, now_ns)
            result[instrument] = copy
        return result

    def current(self) -> dict[str, BestQuote]:
        """The last reported best price of every instrument with at least one live source."""
        return {
            instrument: book.reported
            for instrument, book in self._books.items()
            if book.reported is not None and book.reported.live_sources
        }

    def _best(self, instrument: str, book: _Book) -> BestQuote:
        horizon = book.now_ns - self._stale_after_ns
        bid = ask = 0
        bid_source = ask_source = ""
        quotes = book.quotes
        for source, quote in list(quotes.items()):
            if quote.ts_recv_ns < horizon:
                del quotes[source]
                continue
            if quote.bid_px > bid or (quote.bid_px == bid and self._outranks(source, bid_source)):
                bid, bid_source = quote.bid_px, source
            if not ask_source or quote.ask_px < ask or (quote.ask_px == ask and self._outranks(source, ask_source)):
                ask, ask_source = quote.ask_px, source
        return BestQuote(instrument, bid, bid_source, ask, ask_source, len(quotes), book.now_ns)

    def _outranks(self, source: str, incumbent: str) -> bool:
        """Tie-break: higher priority, then the lexicographically smaller id."""
        mine = self._priority.get(source, 0)
        theirs = self._priority.get(incumbent, 0)
        return mine > theirs or (mine == theirs and source < incumbent)
