"""A :class:`ValidationReport`'s chart as a PNG (matplotlib's Agg canvas, no pyplot): mids, difference, holes.

The top panel shows both mids on the comparison grid, the bottom one their aligned difference in pips; each
feed's unshared holes are shaded in its colour on both. At most :data:`MAX_PLOT_POINTS` grid times are drawn
(evenly strided), so a long window costs no more than a short one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.echo import shown
from gateway.errors import ConfigError
from gateway.kafka.replay.request import ECHO_CHARS
from gateway.validation.compare import ValidationReport, mids_on_grid
from gateway.validation.series import TickSeries

MAX_PLOT_POINTS: Final = 20_000
PLOT_SIZE_IN: Final = (12.0, 7.0)
PLOT_DPI: Final = 100
"""The PNG is PLOT_SIZE_IN x PLOT_DPI pixels: 1200 x 700."""
_COLOURS: Final = ("tab:blue", "tab:orange")


def write_plot(report: ValidationReport, reference: TickSeries, source: TickSeries, path: Path) -> None:
    """Write the chart to ``path`` as PNG; raises ConfigError when the file cannot be written."""
    step_ns = max(report.grid_ms * NS_PER_MS, -(-(report.until_ns - report.since_ns) // MAX_PLOT_POINTS))
    grid = np.arange(report.since_ns, report.until_ns, step_ns, dtype=np.int64)
    hole_ns = round(report.hole_s * NS_PER_S)
    lag_ns = (report.lag_ms or 0) * NS_PER_MS
    ref_mid = mids_on_grid(reference, grid, hole_ns) / report.pip_px
    src_mid = mids_on_grid(source, grid + lag_ns, hole_ns) / report.pip_px
    times = grid.astype("datetime64[ns]")
    figure = Figure(figsize=PLOT_SIZE_IN, dpi=PLOT_DPI)  # no pyplot: no global figure state, Agg canvas
    FigureCanvasAgg(figure)
    mids, difference = figure.subplots(2, 1, sharex=True)
    pip = report.pip_px / 1e9
    mids.plot(times, ref_mid * pip, color=_COLOURS[0], linewidth=0.7, label=f"reference: {_short(reference.name)}")
    mids.plot(times, src_mid * pip, color=_COLOURS[1], linewidth=0.7, label=f"source: {_short(source.name)}")
    mids.set_ylabel(f"{report.instrument} mid")
    mids.legend(loc="upper left", fontsize="small")
    difference.plot(times, src_mid - ref_mid, color="tab:green", linewidth=0.7)
    difference.axhline(0, color="grey", linewidth=0.5)
    difference.set_ylabel("source - reference (pips)")
    difference.set_title(f"difference, the source shifted {-(report.lag_ms or 0):+,} ms (the lag)", fontsize="small")
    for feed, colour in zip((report.reference, report.source), _COLOURS, strict=True):
        for hole in feed.holes:
            for axes in (mids, difference):
                axes.axvspan(
                    np.datetime64(hole.start_ns, "ns"), np.datetime64(hole.end_ns, "ns"), color=colour, alpha=0.25
                )
    mids.set_title(f"{report.instrument} mids; shaded: a hole of one feed only, in the colour of the silent feed")
    difference.set_xlabel("UTC")
    figure.autofmt_xdate()
    try:
        figure.savefig(path, format="png")
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a file name"
        raise ConfigError(f"--plot {shown(str(path), ECHO_CHARS)}: cannot write ({reason})") from exc


def _short(name: str, limit: int = 60) -> str:
    return name if len(name) <= limit else "..." + name[-limit:]
