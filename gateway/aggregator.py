"""Best bid and best ask per instrument across sources (pure, synchronous).

Each source's last accepted tradeable tick per instrument is kept. The best bid
is the highest bid and the best ask the lowest ask among sources whose last
tick was received within ``stale_after_ms``; equal prices go to the source with
the higher ``priority``, then to the lower source id so results never depend
on arrival order. A BestPrice is emitted only when the best bid, the best ask,
either's source, or the number of live sources changes. A non-tradeable tick,
a stale quote or a disconnected source removes that source; when none is left
a BestPrice with ``live_sources=0`` and ``tradeable=false`` says so once. Best
bid above best ask across sources is flagged ``crossed`` and not tradeable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from gateway.clock import NS_PER_MS
from gateway.schema.market.v1.market_pb2 import BestPrice, Tick

DEFAULT_STALE_AFTER_MS: Final = 15_000

_BestKey = tuple[int, str, int, str, int]
_NO_PRICE: Final[_BestKey] = (0, "", 0, "", 0)


class BestPriceAggregator:
    """Keeps the best price per instrument; feed it accepted ticks in arrival order."""

    def __init__(self, priorities: Mapping[str, int], stale_after_ms: int = DEFAULT_STALE_AFTER_MS) -> None:
        self._priority = dict(priorities)
        self._stale_after_ns = stale_after_ms * NS_PER_MS
        self._quotes: dict[str, dict[str, Tick]] = {}
        self._emitted: dict[str, _BestKey] = {}
        self._latest: dict[str, BestPrice] = {}

    def update(self, tick: Tick) -> BestPrice | None:
        """Take one accepted tick; return the new BestPrice if it changed."""
        instrument = tick.instrument
        quotes = self._quotes.get(instrument)
        if quotes is None:
            quotes = self._quotes[instrument] = {}
        if tick.tradeable:
            quotes[tick.source] = tick
        elif quotes.pop(tick.source, None) is None:
            return None
        return self._recompute(instrument, quotes, tick.ts_recv_ns)

    def expire(self, now_ns: int) -> list[BestPrice]:
        """Drop quotes older than the staleness window; return the resulting changes."""
        horizon = now_ns - self._stale_after_ns
        changes = []
        for instrument, quotes in self._quotes.items():
            if any(quote.ts_recv_ns < horizon for quote in quotes.values()):
                change = self._recompute(instrument, quotes, now_ns)
                if change is not None:
                    changes.append(change)
        return changes

    def drop_source(self, source: str, now_ns: int) -> list[BestPrice]:
        """Remove every quote of a disconnected source; return the resulting changes."""
        changes = []
        for instrument, quotes in self._quotes.items():
            if quotes.pop(source, None) is not None:
                change = self._recompute(instrument, quotes, now_ns)
                if change is not None:
                    changes.append(change)
        return changes

    def current(self) -> dict[str, BestPrice]:
        """The latest best price of every instrument with at least one live source."""
        return {instrument: best for instrument, best in self._latest.items() if best.live_sources}

    def _recompute(self, instrument: str, quotes: dict[str, Tick], now_ns: int) -> BestPrice | None:
        horizon = now_ns - self._stale_after_ns
        priority = self._priority
        bid = ask = 0
        bid_source = ask_source = ""
        stale: list[str] = []
        for source, quote in quotes.items():
            if quote.ts_recv_ns < horizon:
                stale.append(source)
                continue
            quote_bid = quote.bid_px
            if quote_bid > bid or (quote_bid == bid and _outranks(source, bid_source, priority)):
                bid, bid_source = quote_bid, source
            quote_ask = quote.ask_px
            if not ask_source or quote_ask < ask or (quote_ask == ask and _outranks(source, ask_source, priority)):
                ask, ask_source = quote_ask, source
        for source in stale:
            del quotes[source]
        key = (bid, bid_source, ask, ask_source, len(quotes)) if quotes else _NO_PRICE
        if self._emitted.get(instrument, _NO_PRICE) == key:
            return None
        self._emitted[instrument] = key
        best = self._latest[instrument] = _best_price(instrument, key, now_ns)
        return best


def _outranks(source: str, incumbent: str, priority: Mapping[str, int]) -> bool:
    """Tie-break: higher priority, then the lexicographically smaller id."""
    mine = priority.get(source, 0)
    theirs = priority.get(incumbent, 0)
    return mine > theirs or (mine == theirs and source < incumbent)


def _best_price(instrument: str, key: _BestKey, now_ns: int) -> BestPrice:
    bid, bid_source, ask, ask_source, live = key
    crossed = live > 0 and bid > ask
    return BestPrice(
        instrument=instrument,
        bid_px=bid,
        bid_source=bid_source,
        ask_px=ask,
        ask_source=ask_source,
        live_sources=live,
        ts_ns=now_ns,
        crossed=crossed,
        tradeable=live > 0 and not crossed,
    )
