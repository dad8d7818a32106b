"""The shared data sets as TickSeries, read by the project's own readers (collectors.dukascopy, collectors.recorded)."""

from __future__ import annotations

import calendar
from pathlib import Path
from typing import Final

from collectors.dukascopy.files import read_window as read_dukascopy
from collectors.recorded import read_window as read_recorded
from gateway.clock import NS_PER_S
from gateway.validation.series import TickSeries

DATA: Final = Path(__file__).resolve().parents[3].parent / "shared" / "data"
DUKASCOPY: Final = DATA / "dukascopy"
OANDA: Final = DATA / "oanda-eurusd-ticks"
DAY_S: Final = 86_400


def dukascopy_day(year: int, month: int, day: int, instrument: str = "EUR_USD") -> TickSeries:
    """Every tick of one UTC day (``month`` 1-based) from the shared Dukascopy files."""
    day_ns = calendar.timegm((year, month, day, 0, 0, 0)) * NS_PER_S
    window = read_dukascopy(DUKASCOPY, instrument, day_ns, day_ns + DAY_S * NS_PER_S)
    assert not window.missing_hours
    return window.series


def oanda_day(name: str = "20140505_quote.zip") -> TickSeries:
    """Every quote of one shared OANDA file."""
    day_ns = calendar.timegm((int(name[:4]), int(name[4:6]), int(name[6:8]), 0, 0, 0)) * NS_PER_S
    window = read_recorded(OANDA / name, "EUR_USD", day_ns, day_ns + DAY_S * NS_PER_S)
    assert window.bad_lines == 0
    return window.series
