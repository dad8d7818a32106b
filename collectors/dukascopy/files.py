"""A window of one instrument's ticks read from a directory of Dukascopy hourly files.

``read_window(directory, instrument, since_ns, until_ns, point_px=None) -> ReferenceWindow``: the ticks whose
time is in ``[since_ns, until_ns)``, from ``directory/SYMBOL/YYYY/MM/DD/HHh_ticks.bi5`` (0-based month), as
``ReferenceWindow.series`` (a gateway.validation ``TickSeries``, sorted by time, named after the directory).
Every hour the window touches is accounted for: ``hours`` in all, ``missing_hours`` (start of each hour,
ns) whose file is absent, i.e. not fetched or not published (``fxgw reference fetch`` keeps an hour without
ticks as a 0-byte file, so a missing file is never "no ticks"), and ``empty_hours``, the hours fetched
without ticks. ``point_px`` (1e-9 units) defaults to points.default_point_px. A file that cannot be read or
decoded raises (MalformedInputError, BadValueError, or SourceError for I/O), naming the file and hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collectors.dukascopy.parsing import (
    NS_PER_HOUR,
    HourTicks,
    decode_hour,
    dukascopy_symbol,
    hour_floor,
    hour_path,
)
from collectors.dukascopy.points import default_point_px
from gateway.errors import SourceError
from gateway.validation.series import TickSeries


@dataclass(frozen=True, slots=True)
class ReferenceWindow:
    """What :func:`read_window` found: the ticks and how complete the window is."""

    series: TickSeries
    hours: int
    """Hours the window touches."""
    missing_hours: tuple[int, ...]
    """Start (ns since the epoch) of each hour whose file is absent."""
    empty_hours: int
    """Hours whose file is there and holds no ticks."""


def window_hours(since_ns: int, until_ns: int) -> range:
    """Starts (ns) of the hours that ``[since_ns, until_ns)`` touches."""
    if until_ns <= since_ns:
        return range(0)
    return range(hour_floor(since_ns), until_ns, NS_PER_HOUR)


def read_hour(path: Path, hour_start_ns: int, point_px: int) -> HourTicks:
    """Decode one file; OSError becomes SourceError naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return decode_hour(data, hour_start_ns, point_px, source=str(path))


def read_window(
    directory: Path, instrument: str, since_ns: int, until_ns: int, point_px: int | None = None
) -> ReferenceWindow:
    """The ticks of ``instrument`` in ``[since_ns, until_ns)`` from ``directory``; see the module docstring."""
    symbol = dukascopy_symbol(instrument)
    point = default_point_px(instrument) if point_px is None else point_px
    parts: list[HourTicks] = []
    missing: list[int] = []
    empty = 0
    hours = window_hours(since_ns, until_ns)
    for hour_start in hours:
        path = directory / hour_path(symbol, hour_start)
        if not path.is_file():
            missing.append(hour_start)
            continue
        ticks = read_hour(path, hour_start, point)
        if not len(ticks):
            empty += 1
        parts.append(ticks)
    if parts:
        ts = np.concatenate([p.ts_ns for p in parts])
        bid = np.concatenate([p.bid_px for p in parts])
        ask = np.concatenate([p.ask_px for p in parts])
        keep = (ts >= since_ns) & (ts < until_ns)
        order = np.argsort(ts[keep], kind="stable")
        ts, bid, ask = ts[keep][order], bid[keep][order], ask[keep][order]
    else:
        ts = bid = ask = np.empty(0, dtype=np.int64)
    series = TickSeries(str(directory), instrument, ts, bid, ask)
    return ReferenceWindow(series, len(hours), tuple(missing), empty)
