"""Two feeds of one instrument compared over one window (pure): mid difference, spreads, lag, coverage, holes.

Definitions, all in the :class:`ValidationReport`:

- **grid**: ``since + k * grid_ms`` for every k in the window; each feed's mid at a grid time is that of its
  last tick at or before it (last value carried forward). A grid time counts for the mid difference only when
  both feeds have a tick no older than ``hole_s`` there (a hole's carried price is not compared).
- **mid difference**: ``source - reference`` in pips, after shifting the source back by the best lag (so a feed
  that only lags shows 0); ``unaligned`` is the same at lag 0. ``mean`` is signed; the percentiles are of the
  absolute difference.
- **lag**: the shift of the source, in ms, that maximises the cross-correlation of the two feeds' mid changes,
  searched over ``±max_lag_ms`` in steps of ``grid_ms``, then refined to ``LAG_RESOLUTION_MS`` around the best
  step. **Positive: the source moves after the reference** (it lags); negative: it leads.
- **coverage**: the share of the window's minutes holding at least one tick.
- **holes**: gaps longer than ``hole_s`` between a feed's consecutive ticks (the window's edges count as
  ticks); a hole is *shared* when holes of the other feed (aligned by the lag) cover at least half of it (a
  weekend), *unshared* otherwise: the other feed ticked while this one was silent.
- **crossed/locked**: ticks with ``bid > ask`` / ``bid == ask``.

Memory: the ticks as given plus a few float arrays of the grid's size; :data:`MAX_GRID_POINTS` bounds the grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from gateway.clock import NS_PER_MS, NS_PER_S, format_time_ns
from gateway.errors import ConfigError
from gateway.validation.series import Int64Array, TickSeries

FloatArray = npt.NDArray[np.float64]

DEFAULT_GRID_MS: Final = 100
DEFAULT_MAX_LAG_MS: Final = 5_000
DEFAULT_HOLE_S: Final = 60.0
LAG_RESOLUTION_MS: Final = 10
"""Resolution of the refined lag: finer cells split two feeds' moves apart (their clocks and batching differ by
milliseconds), and each refined step costs a pass over the changes."""
MAX_GRID_POINTS: Final = 20_000_000
"""Grid times per comparison: about 160 MB per float array; 23 days at 100 ms."""
MAX_HOLES_LISTED: Final = 100
"""Unshared holes listed per feed (all are counted)."""
_NS_PER_MINUTE: Final = 60 * NS_PER_S


@dataclass(frozen=True, slots=True)
class Hole:
    """A gap between two ticks of one feed (or a window edge); ``other_ticks``: ticks of the other feed inside."""

    start_ns: int
    end_ns: int
    other_ticks: int

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_S


@dataclass(frozen=True, slots=True)
class FeedStats:
    """One feed over the window: ticks, spread in pips, crossed and locked ticks, coverage and holes."""

    name: str
    ticks: int
    spread_p50_pips: float
    spread_p95_pips: float
    crossed: int
    locked: int
    minutes_with_ticks: int
    coverage: float
    """Share of the window's minutes with at least one tick, 0 to 1."""
    unshared_holes: int
    shared_holes: int
    holes: tuple[Hole, ...]
    """The first MAX_HOLES_LISTED unshared holes, in time order."""


@dataclass(frozen=True, slots=True)
class Difference:
    """``source - reference`` mid in pips over ``points`` grid times: signed mean, percentiles of its size."""

    points: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """What ``fxgw validate`` reports; see the module docstring for each definition."""

    instrument: str
    since_ns: int
    until_ns: int
    grid_ms: int
    max_lag_ms: int
    hole_s: float
    pip_px: int
    window_minutes: int
    reference: FeedStats
    source: FeedStats
    lag_ms: int | None
    """Best lag, positive when the source lags; None when a feed has no mid change."""
    lag_correlation: float | None
    """Normalised cross-correlation of mid changes at ``lag_ms`` (1: the same moves)."""
    difference: Difference | None
    """Aligned by ``lag_ms``; None when no grid time has both feeds live."""
    unaligned: Difference | None


def compare(
    reference: TickSeries,
    source: TickSeries,
    *,
    since_ns: int,
    until_ns: int,
    pip_px: int,
    grid_ms: int = DEFAULT_GRID_MS,
    max_lag_ms: int = DEFAULT_MAX_LAG_MS,
    hole_s: float = DEFAULT_HOLE_S,
) -> ValidationReport:
    """Compare ``source`` with ``reference`` over ``[since_ns, until_ns)``; ticks outside it are ignored.

    Raises ConfigError for an empty window, a grid of more than MAX_GRID_POINTS times, non-positive
    ``pip_px``/``grid_ms``/``hole_s``, a negative ``max_lag_ms``, or a feed without ticks in the window.
    """
    grid_ns = grid_ms * NS_PER_MS
    if since_ns >= until_ns:
        raise ConfigError(
            f"the window is empty: since {format_time_ns(since_ns)} is not before {format_time_ns(until_ns)}"
        )
    if pip_px <= 0 or grid_ms <= 0 or hole_s <= 0 or max_lag_ms < 0:
        raise ConfigError("pip, grid, hole length must be positive and the lag range not negative")
    points = -(-(until_ns - since_ns) // grid_ns)
    if points > MAX_GRID_POINTS:
        raise ConfigError(
            f"the window holds {points:,} grid times of {grid_ms} ms, more than {MAX_GRID_POINTS:,}: "
            "shorten the window or coarsen --grid-ms"
        )
    reference = _windowed(reference, since_ns, until_ns)
    source = _windowed(source, since_ns, until_ns)
    for feed in (reference, source):
        if not len(feed):
            raise ConfigError(
                f"{feed.name}: no {feed.instrument} ticks between {format_time_ns(since_ns)} and "
                f"{format_time_ns(until_ns)}"
            )
    hole_ns = round(hole_s * NS_PER_S)
    lag = best_lag(reference, source, grid_ns, max_lag_ms * NS_PER_MS)
    grid = since_ns + np.arange(points, dtype=np.int64) * grid_ns
    lag_ns = lag[0] * NS_PER_MS if lag is not None else 0
    aligned = _shifted(source, -lag_ns)
    window_minutes = -(-(until_ns - since_ns) // _NS_PER_MINUTE)
    return ValidationReport(
        instrument=reference.instrument,
        since_ns=since_ns,
        until_ns=until_ns,
        grid_ms=grid_ms,
        max_lag_ms=max_lag_ms,
        hole_s=hole_s,
        pip_px=pip_px,
        window_minutes=window_minutes,
        reference=_feed_stats(reference, aligned, since_ns, until_ns, pip_px, hole_ns),
        source=_feed_stats(source, _shifted(reference, lag_ns), since_ns, until_ns, pip_px, hole_ns),
        lag_ms=lag[0] if lag is not None else None,
        lag_correlation=lag[1] if lag is not None else None,
        difference=_difference(reference, aligned, grid, pip_px, hole_ns),
        unaligned=_difference(reference, source, grid, pip_px, hole_ns),
    )


def mids_on_grid(series: TickSeries, grid: Int64Array, hole_ns: int | None = None) -> FloatArray:
    """The mid (1e-9 units) of the last tick at or before each grid time; NaN before the first tick, or where
    that tick is older than ``hole_ns`` (when given)."""
    index = np.searchsorted(series.ts_ns, grid, side="right") - 1
    mids = (series.bid_px.astype(np.float64) + series.ask_px.astype(np.float64)) / 2
    carried = np.where(index >= 0, mids[np.maximum(index, 0)], np.nan)
    if hole_ns is not None:
        stale = (index < 0) | (grid - series.ts_ns[np.maximum(index, 0)] > hole_ns)
        carried[stale] = np.nan
    return carried


def best_lag(reference: TickSeries, source: TickSeries, grid_ns: int, max_lag_ns: int) -> tuple[int, float] | None:
    """(lag in ms, normalised correlation) that best aligns the mid changes; positive when the source lags.

    First over ``±max_lag_ns`` in steps of ``grid_ns`` (changes summed per grid cell), then to
    LAG_RESOLUTION_MS within one step either side. None when either feed's mid never changes.
    """
    ref_t, ref_d = _mid_changes(reference)
    src_t, src_d = _mid_changes(source)
    if not len(ref_t) or not len(src_t):
        return None
    coarse = _correlate(ref_t, ref_d, src_t, src_d, grid_ns, range(-(max_lag_ns // grid_ns), max_lag_ns // grid_ns + 1))
    if coarse is None:
        return None
    step_ns = LAG_RESOLUTION_MS * NS_PER_MS
    centre = coarse[0] * grid_ns // step_ns
    span = grid_ns // step_ns
    low = max(centre - span, -(max_lag_ns // step_ns))
    high = min(centre + span, max_lag_ns // step_ns)
    fine = _correlate(ref_t, ref_d, src_t, src_d, step_ns, range(low, high + 1))
    if fine is None or fine[1] < coarse[1] / 2:  # fine cells split the moves; keep the robust coarse answer
        return coarse[0] * grid_ns // NS_PER_MS, coarse[1]
    return fine[0] * step_ns // NS_PER_MS, fine[1]


def _correlate(
    ref_t: Int64Array, ref_d: FloatArray, src_t: Int64Array, src_d: FloatArray, cell_ns: int, lags: range
) -> tuple[int, float] | None:
    """The lag (in cells) of ``lags`` with the largest correlation of changes summed per cell, and its value.

    Sparse: only cells with a change are kept (sorted, unique), so the cost is the number of changes times the
    lags. Ties go to the smallest absolute lag.
    """
    ref_cells, ref_sum = _per_cell(ref_t, ref_d, cell_ns)
    src_cells, src_sum = _per_cell(src_t, src_d, cell_ns)
    norm = float(np.sqrt(np.dot(ref_sum, ref_sum) * np.dot(src_sum, src_sum)))
    if norm == 0:
        return None
    best: tuple[int, float] | None = None
    for lag in sorted(lags, key=abs):
        shifted = ref_cells + lag
        at = np.minimum(np.searchsorted(src_cells, shifted), len(src_cells) - 1)
        matched = src_cells[at] == shifted
        value = float(np.dot(ref_sum[matched], src_sum[at[matched]])) / norm
        if best is None or value > best[1]:
            best = (lag, value)
    return best


def _per_cell(times: Int64Array, changes: FloatArray, cell_ns: int) -> tuple[Int64Array, FloatArray]:
    cells = times // cell_ns
    starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
    return cells[starts], np.add.reduceat(changes, starts)


def _mid_changes(series: TickSeries) -> tuple[Int64Array, FloatArray]:
    """Times and sizes (1e-9 units, doubled mids: exact integers) of every change of the mid."""
    doubled = (series.bid_px + series.ask_px).astype(np.float64)
    change = np.diff(doubled)
    moved = np.flatnonzero(change != 0)
    return series.ts_ns[1:][moved], change[moved]


def _difference(
    reference: TickSeries, source: TickSeries, grid: Int64Array, pip_px: int, hole_ns: int
) -> Difference | None:
    diff = (mids_on_grid(source, grid, hole_ns) - mids_on_grid(reference, grid, hole_ns)) / pip_px
    diff = diff[~np.isnan(diff)]
    if not len(diff):
        return None
    size = np.abs(diff)
    p50, p95, p99 = (float(value) for value in np.percentile(size, [50, 95, 99]))
    return Difference(len(diff), float(diff.mean()), p50, p95, p99, float(size.max()))


def _holes(feed: TickSeries, since_ns: int, until_ns: int, hole_ns: int) -> tuple[Int64Array, Int64Array]:
    """Starts and ends of the gaps longer than ``hole_ns`` between ticks, the window's edges counting as ticks."""
    edges = np.r_[np.int64(since_ns), feed.ts_ns, np.int64(until_ns)]
    gaps = np.flatnonzero(np.diff(edges) > hole_ns)
    return edges[gaps], edges[gaps + 1]


def _feed_stats(
    feed: TickSeries, other: TickSeries, since_ns: int, until_ns: int, pip_px: int, hole_ns: int
) -> FeedStats:
    """``other`` already aligned to ``feed`` (shifted by the lag), so that the same hole is recognised as shared."""
    spread = (feed.ask_px - feed.bid_px) / pip_px
    p50, p95 = (float(value) for value in np.percentile(spread, [50, 95]))
    minutes = len(np.unique((feed.ts_ns - since_ns) // _NS_PER_MINUTE))
    window_minutes = -(-(until_ns - since_ns) // _NS_PER_MINUTE)
    starts, ends = _holes(feed, since_ns, until_ns, hole_ns)
    other_starts, other_ends = _holes(other, since_ns, until_ns, hole_ns)
    inside = np.searchsorted(other.ts_ns, ends, side="left") - np.searchsorted(other.ts_ns, starts, side="right")
    holes: list[Hole] = []
    unshared = 0
    for start, end, ticks in zip(starts.tolist(), ends.tolist(), inside.tolist(), strict=True):
        if _covered_ns(start, end, other_starts, other_ends) * 2 >= end - start:
            continue
        unshared += 1
        if len(holes) < MAX_HOLES_LISTED:
            holes.append(Hole(start, end, ticks))
    return FeedStats(
        name=feed.name,
        ticks=len(feed),
        spread_p50_pips=p50,
        spread_p95_pips=p95,
        crossed=int(np.count_nonzero(feed.bid_px > feed.ask_px)),
        locked=int(np.count_nonzero(feed.bid_px == feed.ask_px)),
        minutes_with_ticks=minutes,
        coverage=minutes / window_minutes,
        unshared_holes=unshared,
        shared_holes=len(starts) - unshared,
        holes=tuple(holes),
    )


def _covered_ns(start: int, end: int, starts: Int64Array, ends: Int64Array) -> int:
    """How much of ``[start, end)`` the (sorted, disjoint) intervals ``[starts, ends)`` cover."""
    first = int(np.searchsorted(ends, start, side="right"))
    last = int(np.searchsorted(starts, end, side="left"))
    return sum(max(0, min(end, int(ends[i])) - max(start, int(starts[i]))) for i in range(first, last))


def _windowed(series: TickSeries, since_ns: int, until_ns: int) -> TickSeries:
    low, high = np.searchsorted(series.ts_ns, [since_ns, until_ns], side="left")
    if low == 0 and high == len(series):
        return series
    return TickSeries(
        series.name, series.instrument, series.ts_ns[low:high], series.bid_px[low:high], series.ask_px[low:high]
    )


def _shifted(series: TickSeries, shift_ns: int) -> TickSeries:
    if not shift_ns:
        return series
    return TickSeries(series.name, series.instrument, series.ts_ns + shift_ns, series.bid_px, series.ask_px)
