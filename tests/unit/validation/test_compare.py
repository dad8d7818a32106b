"""gateway.validation.compare on the shared data sets and on small hand-made feeds."""

from __future__ import annotations

import calendar
from typing import Final

import numpy as np
import pytest

from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.errors import ConfigError
from gateway.validation.compare import MAX_GRID_POINTS, ValidationReport, compare
from gateway.validation.series import TickSeries
from tests.unit.validation.shared_data import dukascopy_day, oanda_day

PIP_PX: Final = 100_000  # 0.0001
DAY_NS: Final = 86_400 * NS_PER_S
FEB_4: Final = calendar.timegm((2019, 2, 4, 0, 0, 0)) * NS_PER_S
MAY_5: Final = calendar.timegm((2014, 5, 5, 0, 0, 0)) * NS_PER_S


@pytest.fixture(scope="module")
def dukascopy() -> TickSeries:
    return dukascopy_day(2019, 2, 4)


@pytest.fixture(scope="module")
def oanda() -> TickSeries:
    return oanda_day("20140505_quote.zip")


def perturbed(
    series: TickSeries, *, shift_ms: int = 0, offset_pips: float = 0, hole: tuple[int, int] | None = None
) -> TickSeries:
    """``series`` later by ``shift_ms``, its prices moved by ``offset_pips``, without its ticks in ``hole``."""
    keep = np.ones(len(series), dtype=bool)
    if hole is not None:
        keep = (series.ts_ns < hole[0]) | (series.ts_ns >= hole[1])
    offset = round(offset_pips * PIP_PX)
    return TickSeries(
        "perturbed",
        series.instrument,
        series.ts_ns[keep] + shift_ms * NS_PER_MS,
        series.bid_px[keep] + offset,
        series.ask_px[keep] + offset,
    )


def day_report(reference: TickSeries, source: TickSeries, day_ns: int) -> ValidationReport:
    return compare(reference, source, since_ns=day_ns, until_ns=day_ns + DAY_NS, pip_px=PIP_PX)


def test_dukascopy_against_itself_shifted_by_250_ms_finds_250_ms_and_0_pips(dukascopy: TickSeries) -> None:
    report = day_report(dukascopy, perturbed(dukascopy, shift_ms=250), FEB_4)

    assert report.lag_ms == 250
    assert report.lag_correlation == pytest.approx(1.0)
    assert report.difference is not None and report.difference.max == 0 and report.difference.mean == 0
    assert report.difference.points > 860_000
    assert report.unaligned is not None and report.unaligned.max > 0  # unaligned, the moves show
    assert report.reference.unshared_holes == report.source.unshared_holes == 0
    assert report.reference.shared_holes == report.source.shared_holes == 3


def test_a_source_that_leads_gets_a_negative_lag(dukascopy: TickSeries) -> None:
    report = day_report(dukascopy, perturbed(dukascopy, shift_ms=-1_300), FEB_4)

    assert report.lag_ms == -1_300
    assert report.difference is not None and report.difference.max == 0


def test_an_injected_hole_and_a_2_pip_offset_are_both_found(dukascopy: TickSeries) -> None:
    hole = (FEB_4 + 10 * 3600 * NS_PER_S, FEB_4 + 10 * 3600 * NS_PER_S + 5 * 60 * NS_PER_S)  # 10:00-10:05
    report = day_report(dukascopy, perturbed(dukascopy, offset_pips=2, hole=hole), FEB_4)

    assert report.lag_ms == 0
    difference = report.difference
    assert difference is not None
    assert difference.mean == pytest.approx(2.0, abs=0.01)
    assert difference.p50 == difference.p99 == pytest.approx(2.0)  # the hole's first 60 s carry a stale price
    assert report.source.unshared_holes == 1 and report.reference.unshared_holes == 0
    (found,) = report.source.holes
    assert hole[0] - 5 * NS_PER_S < found.start_ns < hole[0] and hole[1] <= found.end_ns < hole[1] + 5 * NS_PER_S
    assert found.other_ticks == np.count_nonzero((dukascopy.ts_ns > found.start_ns) & (dukascopy.ts_ns < found.end_ns))
    assert report.source.ticks < report.reference.ticks
    assert report.source.coverage == pytest.approx(1435 / 1440)


def test_dukascopy_against_itself_agrees_everywhere(dukascopy: TickSeries) -> None:
    report = day_report(dukascopy, dukascopy, FEB_4)

    assert report.lag_ms == 0 and report.difference is not None and report.difference.max == 0
    assert report.reference == report.source
    assert report.reference.ticks == 136_741 and report.reference.coverage == 1.0
    assert (report.reference.crossed, report.reference.locked) == (0, 0)
    assert report.reference.spread_p50_pips == pytest.approx(0.3)


def test_oanda_against_itself_late_by_800_ms_and_half_a_pip_higher(oanda: TickSeries) -> None:
    report = day_report(oanda, perturbed(oanda, shift_ms=800, offset_pips=0.5), MAY_5)

    assert report.lag_ms == 800
    assert report.difference is not None
    assert report.difference.p50 == report.difference.p99 == pytest.approx(0.5)
    assert report.difference.mean == pytest.approx(0.5, abs=0.001)  # the source's last 800 ms are past the window
    assert report.reference.spread_p50_pips == pytest.approx(1.2)
    assert report.reference.unshared_holes == report.source.unshared_holes == 0
    assert report.reference.shared_holes > 100  # a quiet 2014 day: many minutes without a quote, in both


def test_crossed_locked_spread_and_coverage_of_a_small_feed() -> None:
    t0 = MAY_5
    reference = TickSeries(
        "ref",
        "EUR_USD",
        np.array([t0, t0 + NS_PER_S, t0 + 61 * NS_PER_S], dtype=np.int64),
        np.array([1_100_000_000, 1_100_100_000, 1_100_000_000], dtype=np.int64),
        np.array([1_100_100_000, 1_100_100_000, 1_099_900_000], dtype=np.int64),
    )
    report = compare(reference, reference, since_ns=t0, until_ns=t0 + 180 * NS_PER_S, pip_px=PIP_PX)

    assert (report.reference.crossed, report.reference.locked) == (1, 1)
    assert report.reference.spread_p50_pips == pytest.approx(0.0)
    assert report.window_minutes == 3 and report.reference.minutes_with_ticks == 2
    assert report.reference.coverage == pytest.approx(2 / 3)
    assert report.reference.shared_holes == 1  # 61 s to the window's end, silent in both


def test_a_feed_whose_mid_never_changes_has_no_lag() -> None:
    t0 = MAY_5
    flat = TickSeries(
        "flat",
        "EUR_USD",
        np.array([t0, t0 + NS_PER_S], dtype=np.int64),
        np.full(2, 1_000_000_000, dtype=np.int64),
        np.full(2, 1_000_100_000, dtype=np.int64),
    )
    report = compare(flat, flat, since_ns=t0, until_ns=t0 + 10 * NS_PER_S, pip_px=PIP_PX)

    assert report.lag_ms is None and report.lag_correlation is None
    assert report.difference is not None and report.difference.max == 0


def test_a_feed_without_ticks_in_the_window_is_a_config_error(oanda: TickSeries) -> None:
    with pytest.raises(ConfigError, match=r"^perturbed: no EUR_USD ticks between 2014-05-06T00:00:00"):
        compare(perturbed(oanda), oanda, since_ns=MAY_5 + DAY_NS, until_ns=MAY_5 + 2 * DAY_NS, pip_px=PIP_PX)


def test_an_empty_window_and_a_grid_too_large_are_config_errors(oanda: TickSeries) -> None:
    with pytest.raises(ConfigError, match="the window is empty"):
        compare(oanda, oanda, since_ns=MAY_5, until_ns=MAY_5, pip_px=PIP_PX)
    too_long_ns = (MAX_GRID_POINTS + 1) * NS_PER_MS
    with pytest.raises(ConfigError, match="grid times of 1 ms, more than 20,000,000"):
        compare(oanda, oanda, since_ns=MAY_5, until_ns=MAY_5 + too_long_ns, pip_px=PIP_PX, grid_ms=1)
