"""What the gateways publish, read into the best-price aggregator (pure: bytes and times in, state and counts out).

Each ``<prefix>.<source>.ticks`` message is a MarketDataStream of one source's accepted ticks. The aggregator
only needs each instrument's *last* tick of a message: its earlier ticks are superseded within the same
:meth:`BestPriceAggregator.changes` (a non-tradeable last tick removes the source, whatever came before),
so only those are turned into quotes, which keeps the cost per tick to reading its instrument name.

**Gaps.** Each gateway numbers its messages per source (``batch_seq`` from 1, per ``session_id``). A message
whose ``batch_seq`` skips numbers means messages were lost (a slow consumer, a NATS outage): the source's
quotes are then suspect, since a lost tick may have moved or withdrawn them, so the source leaves the best
price at once and each instrument comes back with the source's next tick of it, in this very message for the
instruments it carries. A new ``session_id`` (the gateway restarted) starts the count again; a ``batch_seq``
already seen, or an older session, is a repeat and is dropped.

**Statuses.** ``<prefix>.<source>.status`` carries SourceStatus; a state that does not deliver
(gateway.events.connection_delivers) takes the source out of the best price, as in the gateway.

Hostile input is counted, never raised: an undecodable message, a source that does not match its subject, an
instrument that is not ``BASE_QUOTE``, a tradeable price that is not positive, a receive time far in the
future (it would make every other quote look stale), or more sources or instruments than the bounds below.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import DecodeError

from gateway.aggregator import BestPriceAggregator
from gateway.clock import NS_PER_S
from gateway.echo import clip, shown
from gateway.events import Quote, connection_delivers
from gateway.instruments import INSTRUMENT_PATTERN
from gateway.schema.market.v1.market_pb2 import MarketDataStream, SourceStatus
from gateway.wire import BEST_SOURCE, SOURCE_ID

MAX_SOURCES: Final = 4096
"""Sources whose sequence is tracked; a message of a further source is refused (a real deployment has dozens)."""
MAX_INSTRUMENTS: Final = 10_000
"""Instruments the aggregator keeps books for; a tick of a further instrument is refused."""
MAX_FUTURE_NS: Final = 60 * NS_PER_S
"""A receive time this far ahead of the aggregator's clock is refused: hosts' clocks differ by far less."""


class SequenceVerdict(enum.Enum):
    """How a message's ``(session_id, batch_seq)`` follows the source's previous one."""

    FIRST = "first"
    """The first message of the source seen, or of a new session: nothing to compare with."""
    NEXT = "next"
    GAP = "gap"
    REPEAT = "repeat"
    """Already seen, or from an older session: dropped."""


class SequenceTracker:
    """The last ``(session_id, batch_seq)`` of each source."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self._last)

    def __contains__(self, source: str) -> bool:
        return source in self._last

    def last(self) -> dict[str, tuple[int, int]]:
        """Source -> the ``(session_id, batch_seq)`` of its last message (a copy)."""
        return dict(self._last)

    def observe(self, source: str, session_id: int, batch_seq: int) -> tuple[SequenceVerdict, int]:
        """Judge and record one message; the number is the count of messages missed (for a GAP, else 0)."""
        last = self._last.get(source)
        if last is None or session_id > last[0]:
            self._last[source] = (session_id, batch_seq)
            return SequenceVerdict.FIRST, 0
        last_session, last_seq = last
        if session_id < last_session or batch_seq <= last_seq:
            return SequenceVerdict.REPEAT, 0
        self._last[source] = (session_id, batch_seq)
        if batch_seq == last_seq + 1:
            return SequenceVerdict.NEXT, 0
        return SequenceVerdict.GAP, batch_seq - last_seq - 1


@dataclass(slots=True)
class FeedStats:
    """Counters since start, for the log, the benchmark and the tests."""

    messages: int = 0
    ticks: int = 0
    statuses: int = 0
    sources_dropped: int = 0
    """Statuses that took a source out of the best price."""
    gaps: int = 0
    messages_missed: int = 0
    """Messages lost in the gaps, by their ``batch_seq``."""
    repeats: int = 0
    refused: int = 0
    """Messages or ticks refused as invalid (``last_refusal`` says why)."""
    last_refusal: str = ""


@dataclass(frozen=True, slots=True)
class Gap:
    source: str
    session_id: int
    missed: int


class Feed:
    """Reads ticks and statuses into ``aggregator``; ``on_gap`` hears of each gap (to log it, throttled)."""

    __slots__ = ("_instruments", "_on_gap", "_sequences", "_suspect_since", "aggregator", "stats", "suspect")

    def __init__(self, aggregator: BestPriceAggregator, on_gap: Callable[[Gap], None] | None = None) -> None:
        self.aggregator = aggregator
        self.stats = FeedStats()
        self._sequences = SequenceTracker()
        self._instruments: set[str] = set()
        self._on_gap = on_gap
        self.suspect: dict[str, set[str]] = {}
        """Source -> the instruments a gap took out of the best price that it has not quoted since."""
        self._suspect_since: dict[str, int] = {}

    def sequences(self) -> dict[str, tuple[int, int]]:
        """Source -> the ``(session_id, batch_seq)`` of its last message (a copy, for /health and /metrics)."""
        return self._sequences.last()

    def ticks(self, subject_source: str, payload: bytes, now_ns: int) -> None:
        """One ``<prefix>.<subject_source>.ticks`` message, received at ``now_ns`` (ns since the epoch)."""
        stats = self.stats
        stats.messages += 1
        try:
            message = MarketDataStream.FromString(payload)
        except (DecodeError, RecursionError) as exc:  # RecursionError: the pure-Python protobuf on deep nesting
            self._refuse(f"{shown(subject_source)}: not a MarketDataStream ({type(exc).__name__})")
            return
        source = message.source
        if source != subject_source or source == BEST_SOURCE or SOURCE_ID.fullmatch(source) is None:
            self._refuse(f"a message on the subject of {shown(subject_source)} says it is of {shown(source)}")
            return
        if source not in self._sequences and len(self._sequences) >= MAX_SOURCES:
            self._refuse(f"{source}: more than {MAX_SOURCES:,} sources; refused")
            return
        verdict, missed = self._sequences.observe(source, message.session_id, message.batch_seq)
        if verdict is SequenceVerdict.REPEAT:
            stats.repeats += 1
            return
        if verdict is SequenceVerdict.GAP:
            stats.gaps += 1
            stats.messages_missed += missed
            self.suspect.setdefault(source, set()).update(self.aggregator.instruments_of(source))
            self._suspect_since[source] = now_ns
            self.aggregator.drop_source(source, now_ns)
            if self._on_gap is not None:
                self._on_gap(Gap(source, message.session_id, missed))
        ticks = message.ticks
        stats.ticks += len(ticks)
        last = {instrument: index for index, instrument in enumerate([tick.instrument for tick in ticks])}
        update = self.aggregator.update
        horizon = now_ns + MAX_FUTURE_NS
        for instrument, index in last.items():
            tick = ticks[index]
            problem = self._problem(source, instrument, tick.source, tick.tradeable, tick.bid_px, tick.ask_px)
            if problem is None and tick.ts_recv_ns > horizon:
                problem = f"receive time {tick.ts_recv_ns} is more than 60 s ahead of this host's clock"
            if problem is not None:
                self._refuse(f"{source} {shown(instrument)}: {problem}")
                continue
            update(
                Quote(
                    instrument,
                    source,
                    tick.bid_px,
                    tick.ask_px,
                    tick.bid_liquidity,
                    tick.ask_liquidity,
                    tick.ts_event_ns,
                    tick.ts_recv_ns,
                    tick.tradeable,
                    tick.snapshot,
                )
            )
        suspect = self.suspect.get(source)
        if suspect is not None:
            suspect.difference_update(last)
            if not suspect:
                self._forget_suspect(source)

    def status(self, subject_source: str, payload: bytes, now_ns: int) -> None:
        """One ``<prefix>.<subject_source>.status`` message: a source that stopped delivering leaves the best price."""
        self.stats.statuses += 1
        try:
            status = SourceStatus.FromString(payload)
        except (DecodeError, RecursionError) as exc:
            self._refuse(f"{shown(subject_source)}: not a SourceStatus ({type(exc).__name__})")
            return
        if status.source != subject_source:
            self._refuse(f"a status on the subject of {shown(subject_source)} says it is of {shown(status.source)}")
            return
        if not connection_delivers(status.state):
            self.stats.sources_dropped += 1
            self._forget_suspect(status.source)  # out for a known reason now, until it delivers again
            self.aggregator.drop_source(status.source, now_ns)

    def expire_suspects(self, horizon_ns: int) -> None:
        """Forget suspicions older than ``horizon_ns`` (ns since the epoch): by then the quotes the gap took out
        would have gone stale anyway, so a source that stopped for good is not suspect for ever."""
        for source in [source for source, since in self._suspect_since.items() if since < horizon_ns]:
            self._forget_suspect(source)

    def _forget_suspect(self, source: str) -> None:
        self.suspect.pop(source, None)
        self._suspect_since.pop(source, None)

    def _problem(
        self, source: str, instrument: str, tick_source: str, tradeable: bool, bid_px: int, ask_px: int
    ) -> str | None:
        if tick_source != source:
            return f"a tick of {shown(tick_source)} in the message of {source}"
        if instrument not in self._instruments:
            if INSTRUMENT_PATTERN.fullmatch(instrument) is None:
                return "the instrument is not of the form BASE_QUOTE"
            if len(self._instruments) >= MAX_INSTRUMENTS:
                return f"more than {MAX_INSTRUMENTS:,} instruments"
            self._instruments.add(instrument)
        if tradeable and (bid_px <= 0 or ask_px <= 0):
            return f"tradeable with a price that is not positive (bid {bid_px}, ask {ask_px})"
        return None

    def _refuse(self, reason: str) -> None:
        self.stats.refused += 1
        self.stats.last_refusal = clip(reason)
