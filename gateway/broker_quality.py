"""Broker quality (pure): quote age, spread, uptime, completeness, time at best, and the best broker per instrument.

Fed with times passed in (ns since the epoch, the gateway's receive clock), never reading a clock itself:

- :meth:`BrokerQuality.observe_quote` for every accepted quote (the hot path: one lookup and a few additions;
  everything else waits for the once-a-second :meth:`BrokerQuality.observe`);
- :meth:`BrokerQuality.observe_status` and :meth:`BrokerQuality.observe_down` for connection changes;
- :meth:`BrokerQuality.observe_rejection` for each rejected quote (the live page lists the recent ones);
- :meth:`BrokerQuality.observe` once a second with whether each source delivers (gateway.ops.snapshot's rule) and
  the aggregator's time at best (gateway.aggregator.TimeAtBest): uptime, completeness, windowed samples and the
  recommendation with its hysteresis.

Definitions (README "Broker quality" repeats them):

- **Quote age**: receive time minus broker event time per accepted quote. A negative age (the broker's clock
  ahead of ours) is counted apart and observed as 0. **Heartbeat age** likewise, for sources with heartbeats
  (OANDA). The smallest raw heartbeat age over the window estimates the clock offset (plus the smallest network
  delay); for a source without heartbeats in the window, the smallest raw quote age does.
- **Spread** in pips of the instrument, tradeable quotes only: tick-weighted (sum and count) and time-weighted
  (at each once-a-second sample, the standing spread times the seconds since the previous sample, over those
  seconds; a quote stands until ``stale_after``, a non-tradeable quote or a disconnection); p50/p95 of the
  spreads standing at the samples over the window (so time-weighted too).
- **Uptime**: seconds the source delivered; **disconnects**: DISCONNECTED statuses and collector stops;
  **gap**: the seconds RECONNECTED statuses report.
- **Completeness** of a (source, instrument): the share of the open-market time (some source has a live
  tradeable quote of the instrument) during which this source had one too. Missing time by cause:
  ``disconnected`` (the source does not deliver), ``not_tradeable`` (it quotes the instrument as closed),
  ``stale`` (no live quote: none within ``stale_after``, or none yet).
- **Time at best**: per instrument, the time each source was the aggregator's best bid (ask), measured by the
  aggregator between the receive times of best-price changes (and up to each once-a-second sample); crossed time
  is nobody's.
- **Score** of a (instrument, source) over the window, in [0, 1]: weights x (share of time at best bid and
  ask, tightest time-weighted spread / this spread, completeness, uptime share, (lowest mean age + 1 ms) /
  (this mean age + 1 ms)). A source under the completeness floor, or without a quote in the window, is never
  recommended. A challenger replaces the recommendation when its score leads by ``switch_lead`` for
  ``switch_hold_s`` on end; an ineligible recommendation is replaced at once.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from gateway.aggregator import DEFAULT_STALE_AFTER_MS, TimeAtBest
from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.events import Quote, connection_delivers
from gateway.schema.market.v1.market_pb2 import SourceStatus

AGE_BUCKETS_S: Final[tuple[float, ...]] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Upper bounds of the quote-age histogram (Prometheus classic buckets, plus +Inf); typed for mypyc."""
_AGE_BOUNDS_NS: Final = tuple(round(bound * NS_PER_S) for bound in AGE_BUCKETS_S)
MISSING_CAUSES: Final = ("disconnected", "not_tradeable", "stale")
FLUSH_AGES: Final = 4096
"""Raw ages a track holds before they are bucketed at once (else once a second, by :meth:`BrokerQuality.observe`)."""
MAX_SECOND_SAMPLES: Final = 3601
"""Once-a-second samples kept per track (spreads) and source (smallest ages): the spread percentiles and the clock
offset cover the window, at most its last hour, so a long window stays within about 150 KiB per track."""
RECENT_EVENTS: Final = 20
"""Gaps and rejections kept for the live page."""
WINDOW_SAMPLES: Final = 60
"""Samples of the counters kept per window: the window's resolution is ``window_s / WINDOW_SAMPLES``."""
_AGE_FLOOR_NS: Final = NS_PER_MS
"""Added to mean ages before their ratio, so a 0 ms age (a skewed clock) does not win by division."""
_NO_AGE: Final = 1 << 62
_REASON_PREFIX: Final = "REJECTION_REASON_"


DEFAULT_WEIGHT_AT_BEST: Final = 0.35
DEFAULT_WEIGHT_SPREAD: Final = 0.20
DEFAULT_WEIGHT_COMPLETENESS: Final = 0.20
DEFAULT_WEIGHT_UPTIME: Final = 0.10
DEFAULT_WEIGHT_QUOTE_AGE: Final = 0.15
DEFAULT_WINDOW_S: Final = 300.0
"""Window of the score, of the quote-age and spread percentiles and of the clock offset: 5 minutes."""
DEFAULT_COMPLETENESS_FLOOR: Final = 0.80
DEFAULT_SWITCH_LEAD: Final = 0.05
DEFAULT_SWITCH_HOLD_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Weights of the composite score; they sum to 1."""

    at_best: float = DEFAULT_WEIGHT_AT_BEST
    spread: float = DEFAULT_WEIGHT_SPREAD
    completeness: float = DEFAULT_WEIGHT_COMPLETENESS
    uptime: float = DEFAULT_WEIGHT_UPTIME
    quote_age: float = DEFAULT_WEIGHT_QUOTE_AGE


@dataclass(frozen=True, slots=True)
class BrokerQualityPolicy:
    """Windows and thresholds (config ``broker_quality:``); ratios in [0, 1], times in seconds."""

    window_s: float = DEFAULT_WINDOW_S
    completeness_floor: float = DEFAULT_COMPLETENESS_FLOOR
    switch_lead: float = DEFAULT_SWITCH_LEAD
    switch_hold_s: float = DEFAULT_SWITCH_HOLD_S
    weights: ScoreWeights = field(default_factory=ScoreWeights)
    stale_after_ms: int = DEFAULT_STALE_AFTER_MS
    """A quote older than this no longer stands (the aggregator's ``best_price.stale_after_ms``)."""


class _Track:
    """One (source, instrument): counters since start; prices in 1e-9 units, times in ns."""

    __slots__ = (
        "age_buckets",
        "age_min_ns",
        "age_sum_ns",
        "ages",
        "best_ask_ns",
        "best_bid_ns",
        "last_recv_ns",
        "last_spread_px",
        "missing",
        "missing_cause",
        "missing_since_ns",
        "negative_ages",
        "open_ns",
        "quoted_ns",
        "spread_samples",
        "spread_sum_px",
        "ticks",
        "tw_spread_px_ns",
        "untradeable_ticks",
    )

    def __init__(self, samples: int) -> None:
        self.ticks = 0
        self.untradeable_ticks = 0
        self.age_buckets = [0] * (len(_AGE_BOUNDS_NS) + 1)
        self.age_sum_ns = 0
        self.age_min_ns = _NO_AGE
        """The smallest raw age since the last :meth:`BrokerQuality.observe`."""
        self.ages: list[int] = []
        """Raw ages (ns) of the quotes since the last flush, bucketed in bulk there."""
        self.negative_ages = 0
        self.spread_sum_px = 0
        self.tw_spread_px_ns = 0
        self.quoted_ns = 0
        self.last_recv_ns = 0
        self.last_spread_px = 0
        """The standing quote's spread; 0 when none stands (none yet, not tradeable, source down)."""
        self.open_ns = 0
        self.missing = dict.fromkeys(MISSING_CAUSES, 0)
        self.missing_since_ns = 0
        self.missing_cause = ""
        self.best_bid_ns = 0
        self.best_ask_ns = 0
        self.spread_samples: deque[int] = deque(maxlen=samples)


class _Source:
    """One source: connection figures, and its tracks by instrument (which hold the quote ages)."""

    __slots__ = (
        "age_minima",
        "delivering",
        "disconnects",
        "gap_ns",
        "heartbeat_buckets",
        "heartbeat_min_ns",
        "heartbeat_minima",
        "heartbeat_sum_ns",
        "seen_ns",
        "tracks",
        "up_ns",
    )

    def __init__(self, samples: int) -> None:
        self.age_minima: deque[tuple[int, int]] = deque(maxlen=samples)
        self.heartbeat_buckets = [0] * (len(_AGE_BOUNDS_NS) + 1)
        self.heartbeat_sum_ns = 0
        self.heartbeat_min_ns = _NO_AGE
        self.heartbeat_minima: deque[tuple[int, int]] = deque(maxlen=samples)
        self.tracks: dict[str, _Track] = {}
        self.delivering = True
        self.up_ns = 0
        self.seen_ns = 0
        self.disconnects = 0
        self.gap_ns = 0

    def ages(self) -> tuple[tuple[int, ...], int, int]:
        """Quote-age bucket counts, sum (ns) and negative ages of all its instruments."""
        tracks = self.tracks.values()
        buckets = tuple(sum(counts) for counts in zip(*(track.age_buckets for track in tracks), strict=True))
        return (
            buckets or (0,) * (len(_AGE_BOUNDS_NS) + 1),
            sum(track.age_sum_ns for track in tracks),
            sum(track.negative_ages for track in tracks),
        )


@dataclass(frozen=True, slots=True)
class RecentEvent:
    """A gap or a rejection for the live page; ``seconds`` is None while a gap lasts."""

    ts_ns: int
    source: str
    kind: str
    """``disconnected``, ``reconnected``, ``stopped``, ``rejected``, a MISSING_CAUSES entry (the source started
    missing an open instrument) or ``back`` (it no longer does; ``seconds`` says how long it did)."""
    instrument: str = ""
    seconds: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class InstrumentQuality:
    """One (source, instrument): totals since start and figures over the window (None without data)."""

    ticks: int
    spread_pips_sum: float
    spread_ticks: int
    spread_pip_seconds: float
    quoted_seconds: float
    open_seconds: float
    missing_seconds: Mapping[str, float]
    best_bid_seconds: float
    best_ask_seconds: float
    completeness: float | None
    """Over the window."""
    spread_time_weighted_pips: float | None
    spread_p50_pips: float | None
    spread_p95_pips: float | None
    at_best: float | None
    score: float | None
    eligible: bool
    missing_now: str = ""
    """Why the source misses the open market now (a MISSING_CAUSES entry), empty when it does not."""


@dataclass(frozen=True, slots=True)
class SourceQuality:
    """One source: totals since start and figures over the window."""

    age_bucket_counts: tuple[int, ...]
    """Per AGE_BUCKETS_S bound and +Inf, not cumulative."""
    age_sum_s: float
    negative_ages: int
    heartbeat_bucket_counts: tuple[int, ...]
    """Heartbeat ages per AGE_BUCKETS_S bound and +Inf (all zero for a source without heartbeats)."""
    heartbeat_sum_s: float
    clock_offset_from: str
    """``heartbeats`` (the smallest heartbeat age) when the source sent any in the window, else ``quotes``."""
    uptime_seconds: float
    disconnects: int
    gap_seconds: float
    age_p50_s: float | None
    age_p99_s: float | None
    clock_offset_s: float | None
    uptime_ratio: float | None
    instruments: Mapping[str, InstrumentQuality]

    @property
    def age_count(self) -> int:
        return sum(self.age_bucket_counts)


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The recommended source of an instrument (None when no source is eligible) and since when."""

    source: str | None
    score: float | None
    since_ns: int


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Everything :class:`BrokerQuality` knows, copied at one moment (for the snapshot of gateway.ops)."""

    window_s: float
    completeness_floor: float
    sources: Mapping[str, SourceQuality]
    recommendations: Mapping[str, Recommendation]
    recent: tuple[RecentEvent, ...]


@dataclass(slots=True)
class _Choice:
    source: str | None = None
    since_ns: int = 0
    challenger: str | None = None
    challenger_since_ns: int = 0


@dataclass(frozen=True, slots=True)
class _Sample:
    """Counters at one moment, for differences over the window."""

    ts_ns: int
    sources: Mapping[str, tuple[tuple[int, ...], int, int, int]]
    """age buckets, age sum, up ns, seen ns."""
    tracks: Mapping[tuple[str, str], tuple[int, ...]]
    """tw spread, quoted ns, open ns, missing ns, best bid ns, best ask ns, best total ns, ticks."""


class BrokerQuality:
    """The figures of every source and (source, instrument); see the module docstring for what each means."""

    def __init__(
        self,
        policy: BrokerQualityPolicy | None = None,
        instruments_by_source: Mapping[str, Collection[str]] | None = None,
        pip_px: Callable[[str], int | None] = lambda instrument: None,
    ) -> None:
        """``instruments_by_source``: configured instruments (missing time counts before a first quote);
        ``pip_px``: the pip size of an instrument in 1e-9 units (the quality gate's), None if unknown."""
        self.policy = policy = policy or BrokerQualityPolicy()
        self._stale_ns = policy.stale_after_ms * NS_PER_MS
        self._window_ns = round(policy.window_s * NS_PER_S)
        self._hold_ns = round(policy.switch_hold_s * NS_PER_S)
        self._sample_every_ns = max(1, self._window_ns // WINDOW_SAMPLES)
        self._spread_samples = min(math.ceil(policy.window_s) + 1, MAX_SECOND_SAMPLES)
        self._pip_px = pip_px
        self._sources: dict[str, _Source] = {}
        self._hot: dict[str, dict[str, _Track]] = {}
        """Tracks by source and instrument, for the hot path's lookups."""
        self._samples: deque[_Sample] = deque()
        self._best_total_ns: dict[str, int] = {}
        self._choices: dict[str, _Choice] = {}
        self._scores: dict[tuple[str, str], tuple[float | None, bool]] = {}
        self._recent: deque[RecentEvent] = deque(maxlen=RECENT_EVENTS)
        self._last_observe_ns = 0
        for source, instruments in (instruments_by_source or {}).items():
            self._source(source)
            for instrument in instruments:
                self._track(source, instrument)

    def observe_quote(self, quote: Quote) -> None:
        """An accepted quote (hot path: two lookups, an append and an addition; its age is bucketed in bulk, by
        :meth:`flush` or here once FLUSH_AGES wait; the time-weighted figures by :meth:`observe`)."""
        try:
            track = self._hot[quote.source][quote.instrument]
        except KeyError:  # the first quote of this (source, instrument)
            track = self._track(quote.source, quote.instrument)
        recv_ns = track.last_recv_ns = quote.ts_recv_ns
        ages = track.ages
        ages.append(recv_ns - quote.ts_event_ns)
        if len(ages) >= FLUSH_AGES:  # bounded between flushes, whatever the tick rate
            track.ages = []
            _bucket(track, ages)
        if quote.tradeable:
            spread = track.last_spread_px = quote.ask_px - quote.bid_px
            track.spread_sum_px += spread
        else:
            track.untradeable_ticks += 1
            track.last_spread_px = 0

    def flush(self) -> None:
        """Bucket the ages observed since the last flush (:meth:`observe` and :meth:`report` call it)."""
        for tracks in self._hot.values():
            for track in tracks.values():
                ages = track.ages
                if ages:
                    track.ages = []
                    _bucket(track, ages)

    def observe_heartbeat(self, source: str, event_ns: int, recv_ns: int) -> None:
        """A heartbeat: its age (receive minus broker time; negative observed as 0, the raw one kept for the clock
        offset) goes to the source's heartbeat histogram."""
        state = self._source(source)
        age_ns = recv_ns - event_ns
        if age_ns < state.heartbeat_min_ns:
            state.heartbeat_min_ns = age_ns
        age_ns = max(0, age_ns)
        state.heartbeat_buckets[bisect_left(_AGE_BOUNDS_NS, age_ns)] += 1
        state.heartbeat_sum_ns += age_ns

    def observe_rejection(self, source: str, instrument: str, reason: str, ts_ns: int) -> None:
        """A rejected quote or input, for the recent events (``reason``: a RejectionReason name)."""
        self._recent.append(
            RecentEvent(ts_ns, source, "rejected", instrument, detail=reason.removeprefix(_REASON_PREFIX))
        )

    def observe_status(self, source: str, state: SourceStatus.State, gap_ns: int, ts_ns: int) -> None:
        """A published connection change of a broker: DISCONNECTED counts, RECONNECTED brings its gap."""
        state_of = self._source(source)
        if state == SourceStatus.STATE_DISCONNECTED:
            state_of.disconnects += 1
            self._recent.append(RecentEvent(ts_ns, source, "disconnected"))
        elif state == SourceStatus.STATE_RECONNECTED:
            state_of.gap_ns += max(0, gap_ns)
            self._recent.append(RecentEvent(ts_ns, source, "reconnected", seconds=max(0, gap_ns) / NS_PER_S))
        if not connection_delivers(state):
            self._stand_down(state_of, ts_ns)

    def observe_down(self, source: str, ts_ns: int) -> None:
        """The collector stopped (failed or finished): a disconnect; its quotes no longer stand."""
        state = self._source(source)
        state.disconnects += 1
        self._recent.append(RecentEvent(ts_ns, source, "stopped"))
        self._stand_down(state, ts_ns)

    def observe(
        self, now_ns: int, delivering: Mapping[str, bool], at_best: Mapping[str, TimeAtBest] | None = None
    ) -> None:
        """Once a second: uptime, completeness, time at best, window samples, scores, recommendations.

        ``delivering`` by source: the gateway's rule (gateway.ops.snapshot.SourceSnapshot.delivering);
        ``at_best`` by instrument: the aggregator's totals up to ``now_ns`` (BestPriceAggregator.time_at_best).
        """
        self.flush()
        elapsed_ns = now_ns - self._last_observe_ns if self._last_observe_ns else 0
        if elapsed_ns < 0:
            elapsed_ns = 0
        self._last_observe_ns = now_ns
        for source_id, flag in delivering.items():
            self._source(source_id).delivering = flag
        for instrument, totals in (at_best or {}).items():
            self._best_total_ns[instrument] = totals.quoted_ns
            for source_id, held_ns in totals.bid_ns.items():
                self._track(source_id, instrument).best_bid_ns = held_ns
            for source_id, held_ns in totals.ask_ns.items():
                self._track(source_id, instrument).best_ask_ns = held_ns
        self._account_open_time(now_ns, elapsed_ns)
        for source in self._sources.values():
            source.seen_ns += elapsed_ns
            if source.delivering:
                source.up_ns += elapsed_ns
            minimum = _NO_AGE
            for track in source.tracks.values():
                minimum = min(minimum, track.age_min_ns)
                track.age_min_ns = _NO_AGE
                if track.last_spread_px and now_ns - track.last_recv_ns <= self._stale_ns:
                    track.spread_samples.append(track.last_spread_px)
                    track.tw_spread_px_ns += track.last_spread_px * elapsed_ns
                    track.quoted_ns += elapsed_ns
            if minimum != _NO_AGE:
                source.age_minima.append((now_ns, minimum))
            if source.heartbeat_min_ns != _NO_AGE:
                source.heartbeat_minima.append((now_ns, source.heartbeat_min_ns))
                source.heartbeat_min_ns = _NO_AGE
        if not self._samples or now_ns - self._samples[-1].ts_ns >= self._sample_every_ns:
            self._samples.append(self._sample(now_ns))
            while len(self._samples) > 2 and now_ns - self._samples[1].ts_ns >= self._window_ns:
                self._samples.popleft()
        self._rescore(now_ns)

    def report(self, now_ns: int) -> QualityReport:
        """The figures at ``now_ns``; window figures as of the last :meth:`observe`."""
        self.flush()
        base = self._window_base(now_ns)
        sources = {
            source_id: self._source_report(source_id, source, base) for source_id, source in self._sources.items()
        }
        recommendations = {
            instrument: Recommendation(
                choice.source,
                self._scores.get((instrument, choice.source), (None, False))[0] if choice.source else None,
                choice.since_ns,
            )
            for instrument, choice in sorted(self._choices.items())
        }
        return QualityReport(
            self.policy.window_s, self.policy.completeness_floor, sources, recommendations, tuple(self._recent)
        )

    def _source(self, source_id: str) -> _Source:
        source = self._sources.get(source_id)
        if source is None:
            source = self._sources[source_id] = _Source(self._spread_samples)
        return source

    def _track(self, source_id: str, instrument: str) -> _Track:
        source = self._source(source_id)
        track = source.tracks.get(instrument)
        if track is None:
            track = source.tracks[instrument] = self._hot.setdefault(source_id, {})[instrument] = _Track(
                self._spread_samples
            )
        return track

    def _stand_down(self, source: _Source, ts_ns: int) -> None:
        """The source's quotes stop standing (the aggregator drops them too)."""
        for track in source.tracks.values():
            if track.last_spread_px:
                track.last_spread_px = 0
                track.last_recv_ns = ts_ns

    def _account_open_time(self, now_ns: int, elapsed_ns: int) -> None:
        """Open-market and missing time of every (source, instrument) over the last ``elapsed_ns``."""
        live: dict[str, set[str]] = {}
        for source_id, source in self._sources.items():
            for instrument, track in source.tracks.items():
                if source.delivering and track.last_spread_px and now_ns - track.last_recv_ns <= self._stale_ns:
                    live.setdefault(instrument, set()).add(source_id)
        for source_id, source in self._sources.items():
            for instrument, track in source.tracks.items():
                cause = None
                if instrument in live:
                    track.open_ns += elapsed_ns
                    if source_id not in live[instrument]:
                        if not source.delivering:
                            cause = "disconnected"
                        elif track.last_recv_ns and not track.last_spread_px:
                            cause = "not_tradeable"
                        else:
                            cause = "stale"
                        track.missing[cause] += elapsed_ns
                if cause is not None and not track.missing_since_ns:
                    track.missing_since_ns = now_ns
                    self._recent.append(RecentEvent(now_ns, source_id, cause, instrument))
                elif cause is None and track.missing_since_ns:
                    seconds = (now_ns - track.missing_since_ns) / NS_PER_S
                    self._recent.append(RecentEvent(now_ns, source_id, "back", instrument, seconds))
                    track.missing_since_ns = 0
                track.missing_cause = cause or ""

    def _sample(self, now_ns: int) -> _Sample:
        return _Sample(
            now_ns,
            {
                source_id: (*source.ages()[:2], source.up_ns, source.seen_ns)
                for source_id, source in self._sources.items()
            },
            {
                (source_id, instrument): (
                    track.tw_spread_px_ns,
                    track.quoted_ns,
                    track.open_ns,
                    sum(track.missing.values()),
                    track.best_bid_ns,
                    track.best_ask_ns,
                    self._best_total_ns.get(instrument, 0),
                    track.ticks,
                )
                for source_id, source in self._sources.items()
                for instrument, track in source.tracks.items()
            },
        )

    def _window_base(self, now_ns: int) -> _Sample | None:
        """The oldest sample inside the window; None (count from the start) while that is the newest sample."""
        for sample in self._samples:
            if now_ns - sample.ts_ns <= self._window_ns:
                return sample if sample is not self._samples[-1] else None
        return None

    def _rescore(self, now_ns: int) -> None:
        """Scores of every (instrument, source) over the window, then each instrument's recommendation."""
        base = self._window_base(now_ns)
        current = self._samples[-1]
        weights = self.policy.weights
        by_instrument: dict[str, dict[str, dict[str, float]]] = {}
        for (source_id, instrument), counters in current.tracks.items():
            before = base.tracks.get((source_id, instrument)) if base is not None else None
            delta = [now - then for now, then in zip(counters, before or (0,) * len(counters), strict=True)]
            tw_spread, quoted, open_ns, missing, bid_ns, ask_ns, best_ns, ticks = delta
            source_values = current.sources[source_id]
            source_before = base.sources.get(source_id) if base is not None else None
            age_count = sum(source_values[0]) - (sum(source_before[0]) if source_before else 0)
            age_sum = source_values[1] - (source_before[1] if source_before else 0)
            up_ns = source_values[2] - (source_before[2] if source_before else 0)
            seen_ns = source_values[3] - (source_before[3] if source_before else 0)
            by_instrument.setdefault(instrument, {})[source_id] = {
                "ticks": ticks,
                "spread": tw_spread / quoted if quoted else math.inf,
                "completeness": 1 - missing / open_ns if open_ns else 1.0,
                "at_best": (bid_ns + ask_ns) / (2 * best_ns) if best_ns else 0.0,
                "uptime": up_ns / seen_ns if seen_ns else 0.0,
                "age": age_sum / age_count if age_count else math.inf,
            }
        self._scores = {}
        for instrument, figures in by_instrument.items():
            tightest = min(values["spread"] for values in figures.values())
            youngest = min(values["age"] for values in figures.values())
            scores: dict[str, float] = {}
            for source_id, values in figures.items():
                spread_part = tightest / values["spread"] if math.isfinite(values["spread"]) else 0.0
                age_part = (
                    (youngest + _AGE_FLOOR_NS) / (values["age"] + _AGE_FLOOR_NS)
                    if math.isfinite(values["age"])
                    else 0.0
                )
                score = (
                    weights.at_best * values["at_best"]
                    + weights.spread * spread_part
                    + weights.completeness * values["completeness"]
                    + weights.uptime * values["uptime"]
                    + weights.quote_age * age_part
                )
                eligible = values["ticks"] > 0 and values["completeness"] >= self.policy.completeness_floor
                self._scores[(instrument, source_id)] = (score, eligible)
                if eligible:
                    scores[source_id] = score
            self._choose(instrument, scores, now_ns)

    def _choose(self, instrument: str, scores: Mapping[str, float], now_ns: int) -> None:
        """Hysteresis: keep the recommendation unless a challenger leads by ``switch_lead`` for ``switch_hold_s``."""
        choice = self._choices.setdefault(instrument, _Choice())
        if not scores:
            if choice.source is not None:
                choice.source, choice.since_ns = None, now_ns
            choice.challenger = None
            return
        leader = max(sorted(scores), key=lambda source_id: scores[source_id])
        incumbent = choice.source
        if incumbent is None or incumbent not in scores:
            choice.source, choice.since_ns, choice.challenger = leader, now_ns, None
            return
        if leader == incumbent or scores[leader] < scores[incumbent] + self.policy.switch_lead:
            choice.challenger = None
            return
        if choice.challenger != leader:
            choice.challenger, choice.challenger_since_ns = leader, now_ns
        if now_ns - choice.challenger_since_ns >= self._hold_ns:
            choice.source, choice.since_ns, choice.challenger = leader, now_ns, None

    def _source_report(self, source_id: str, source: _Source, base: _Sample | None) -> SourceQuality:
        buckets, age_sum_ns, negative_ages = source.ages()
        now_sources = (buckets, age_sum_ns, source.up_ns, source.seen_ns)
        then = base.sources.get(source_id) if base is not None else None
        window_buckets = (
            [now - before for now, before in zip(now_sources[0], then[0], strict=True)] if then else now_sources[0]
        )
        up_ns = now_sources[2] - (then[2] if then else 0)
        seen_ns = now_sources[3] - (then[3] if then else 0)
        since_ns = self._last_observe_ns - self._window_ns
        minima = [minimum for ts_ns, minimum in source.heartbeat_minima if ts_ns >= since_ns] or [
            minimum for ts_ns, minimum in source.age_minima if ts_ns >= since_ns
        ]
        instruments = {
            instrument: self._track_report(source_id, instrument, track, base)
            for instrument, track in sorted(source.tracks.items())
        }
        return SourceQuality(
            age_bucket_counts=buckets,
            age_sum_s=age_sum_ns / NS_PER_S,
            negative_ages=negative_ages,
            uptime_seconds=source.up_ns / NS_PER_S,
            disconnects=source.disconnects,
            gap_seconds=source.gap_ns / NS_PER_S,
            heartbeat_bucket_counts=tuple(source.heartbeat_buckets),
            heartbeat_sum_s=source.heartbeat_sum_ns / NS_PER_S,
            clock_offset_from="heartbeats" if source.heartbeat_minima else "quotes",
            age_p50_s=_bucket_quantile(window_buckets, 0.50),
            age_p99_s=_bucket_quantile(window_buckets, 0.99),
            clock_offset_s=min(minima) / NS_PER_S if minima else None,
            uptime_ratio=up_ns / seen_ns if seen_ns else None,
            instruments=instruments,
        )

    def _track_report(self, source_id: str, instrument: str, track: _Track, base: _Sample | None) -> InstrumentQuality:
        pip_px = self._pip_px(instrument) or 0
        then = base.tracks.get((source_id, instrument)) if base is not None else None
        tw_spread, quoted, open_ns, missing, bid_ns, ask_ns, best_ns = (
            track.tw_spread_px_ns - (then[0] if then else 0),
            track.quoted_ns - (then[1] if then else 0),
            track.open_ns - (then[2] if then else 0),
            sum(track.missing.values()) - (then[3] if then else 0),
            track.best_bid_ns - (then[4] if then else 0),
            track.best_ask_ns - (then[5] if then else 0),
            self._best_total_ns.get(instrument, 0) - (then[6] if then else 0),
        )
        samples = sorted(track.spread_samples)
        score, eligible = self._scores.get((instrument, source_id), (None, False))
        return InstrumentQuality(
            ticks=track.ticks,
            spread_pips_sum=track.spread_sum_px / pip_px if pip_px else 0.0,
            spread_ticks=track.ticks - track.untradeable_ticks if pip_px else 0,
            spread_pip_seconds=track.tw_spread_px_ns / pip_px / NS_PER_S if pip_px else 0.0,
            quoted_seconds=track.quoted_ns / NS_PER_S if pip_px else 0.0,
            open_seconds=track.open_ns / NS_PER_S,
            missing_seconds={cause: ns / NS_PER_S for cause, ns in track.missing.items()},
            best_bid_seconds=track.best_bid_ns / NS_PER_S,
            best_ask_seconds=track.best_ask_ns / NS_PER_S,
            completeness=1 - missing / open_ns if open_ns else None,
            spread_time_weighted_pips=tw_spread / quoted / pip_px if quoted and pip_px else None,
            spread_p50_pips=_quantile(samples, 0.50) / pip_px if samples and pip_px else None,
            spread_p95_pips=_quantile(samples, 0.95) / pip_px if samples and pip_px else None,
            at_best=(bid_ns + ask_ns) / (2 * best_ns) if best_ns else None,
            score=score,
            eligible=eligible,
            missing_now=track.missing_cause,
        )


def _bucket(track: _Track, ages: list[int]) -> None:
    """Add raw ages (ns) to the track's histogram: negative ones counted apart and as 0; the smallest kept raw."""
    ages.sort()
    negative = bisect_left(ages, 0)
    if ages[0] < track.age_min_ns:
        track.age_min_ns = ages[0]
    track.ticks += len(ages)
    track.negative_ages += negative
    track.age_sum_ns += sum(ages) - (sum(ages[:negative]) if negative else 0)
    buckets = track.age_buckets
    below = 0
    for index, bound in enumerate(_AGE_BOUNDS_NS):
        upto = bisect_right(ages, bound, below)
        buckets[index] += upto - below
        below = upto
    buckets[-1] += len(ages) - below


def _quantile(ordered: list[int], q: float) -> float:
    """The ``q`` quantile of sorted values, nearest rank."""
    return float(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))])


def _bucket_quantile(counts: Iterable[int], q: float) -> float | None:
    """The ``q`` quantile in seconds from histogram bucket counts, linear inside the bucket (as PromQL's
    histogram_quantile); the +Inf bucket answers its lower bound. None without observations."""
    counts = list(counts)
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    lower = 0.0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index == len(AGE_BUCKETS_S):
                return lower
            upper = AGE_BUCKETS_S[index]
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = AGE_BUCKETS_S[index] if index < len(AGE_BUCKETS_S) else lower
    return lower
