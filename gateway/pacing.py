"""Pacing a recording: when each event, stamped with its original time, is due at ``speed`` times real time.

Used wherever recorded data is played back: ``fxgw replay`` (gateway.kafka.replay) and the recorded and
Dukascopy sources (collectors.recorded, collectors.dukascopy). Pure: the wall clock is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """Maps event time to wall time at ``speed`` x; the first tick anchors both clocks.

    With ``span_ns`` (a replay's window, which every tick is in) a tick is never due
    more than ``span_ns / speed`` after the first, so the waits of a whole replay
    add up to at most that. ``clock_ns`` is the wall clock in ns (monotonic by
    default; a test passes its own).
    """

    def __init__(
        self, speed: float, span_ns: int | None = None, clock_ns: Callable[[], int] = time.monotonic_ns
    ) -> None:
        """``span_ns`` None: no bound (a source that plays forever, looping its files)."""
        self._speed = speed
        self._span_ns = span_ns
        self._clock_ns = clock_ns
        self._anchor: tuple[int, int] | None = None

    def ahead_ns(self, ts_event_ns: int) -> int:
        """How long to wait, in ns, before outputting a tick of ``ts_event_ns`` (0 or negative: now)."""
        now = self._clock_ns()
        if self._anchor is None:
            self._anchor = (ts_event_ns, now)
            return 0
        anchor_event, anchor_wall = self._anchor
        elapsed_ns = ts_event_ns - anchor_event
        if self._span_ns is not None:
            elapsed_ns = min(elapsed_ns, self._span_ns)
        return anchor_wall + round(elapsed_ns / self._speed) - now
