"""Reconnection policy for streaming collectors: capped backoff with jitter, and a pace for new connections.

Providers limit how often a client may connect (OANDA: 2 new connections per
second) and a fleet of clients retrying in lockstep after an outage is its own
outage, so every delay is jittered and every connection attempt to a host
goes through that host's :class:`ConnectionPacer`.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Final

MAX_RETRY_AFTER_S: Final = 3600.0
"""A Retry-After longer than an hour is taken as a mistake and capped."""


class Backoff:
    """Delays that double from ``min_s`` to ``max_s``; each is drawn from [delay/2, delay] (jitter)."""

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self._current = min_s
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        delay = self._current * self._rng.uniform(0.5, 1.0)
        self._current = min(self._current * 2, self.max_s)
        return delay

    def reset(self) -> None:
        """After a healthy period the next failure starts from the minimum again."""
        self._current = self.min_s


class ConnectionPacer:
    """Spaces new connections to one host at least ``1 / per_second`` apart, across all its users."""

    def __init__(self, per_second: float) -> None:
        self._interval_s = 1.0 / per_second
        self._next_slot = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when a new connection may be opened."""
        async with self._lock:
            now = time.monotonic()
            if self._next_slot > now:
                await asyncio.sleep(self._next_slot - now)
                now = time.monotonic()
            self._next_slot = now + self._interval_s


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` header (delta-seconds or HTTP-date); None if absent or invalid."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:  # HTTP dates are always UTC (RFC 9110 5.6.7), also in the asctime form
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp() - (time.time() if now_s is None else now_s)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
