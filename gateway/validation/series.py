"""A feed's ticks over a window as columns: what every source reader hands the validation (pure data)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from gateway.errors import ConfigError

Int64Array = npt.NDArray[np.int64]
MAX_SERIES_TICKS: Final = 50_000_000
"""Ticks read per feed: 1.2 GB of columns; a month of a busy pair is about 10 million."""


@dataclass(frozen=True, slots=True)
class TickSeries:
    """One feed's ticks of one instrument, sorted by time: equal-length int64 columns.

    ``ts_ns``: event time, ns since the epoch; ``bid_px``/``ask_px``: prices in 1e-9 units (gateway.prices).
    ``name`` says where the ticks come from (a directory, a file, a source id), for reports.
    """

    name: str
    instrument: str
    ts_ns: Int64Array
    bid_px: Int64Array
    ask_px: Int64Array

    def __post_init__(self) -> None:
        if not (len(self.ts_ns) == len(self.bid_px) == len(self.ask_px)):
            raise ValueError("ts_ns, bid_px and ask_px must have the same length")

    def __len__(self) -> int:
        return len(self.ts_ns)


class SeriesBuilder:
    """Collects ticks into compact columns, at most ``max_ticks`` (ConfigError beyond: a window too large)."""

    def __init__(self, name: str, instrument: str, max_ticks: int = MAX_SERIES_TICKS) -> None:
        self.name = name
        self.instrument = instrument
        self._max_ticks = max_ticks
        self._ts: array[int] = array("q")
        self._bid: array[int] = array("q")
        self._ask: array[int] = array("q")

    def add(self, ts_ns: int, bid_px: int, ask_px: int) -> None:
        if len(self._ts) >= self._max_ticks:
            raise ConfigError(
                f"{self.name}: more than {self._max_ticks:,} {self.instrument} ticks in the window; shorten it"
            )
        self._ts.append(ts_ns)
        self._bid.append(bid_px)
        self._ask.append(ask_px)

    def series(self) -> TickSeries:
        """The ticks in time order (stable: ticks of one time keep their order)."""
        ts = np.frombuffer(self._ts, dtype=np.int64)
        order = np.argsort(ts, kind="stable")
        return TickSeries(
            self.name,
            self.instrument,
            ts[order],
            np.frombuffer(self._bid, dtype=np.int64)[order],
            np.frombuffer(self._ask, dtype=np.int64)[order],
        )
