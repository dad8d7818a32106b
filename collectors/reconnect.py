"""Pacing of HTTP providers: new connections per host, and the provider's ``Retry-After``.

Providers limit how often a client may connect (OANDA: 2 new connections per
second), so every connection attempt to a host goes through that host's
:class:`ConnectionPacer`; the backoff between attempts is gateway.backoff.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Final

MAX_RETRY_AFTER_S: Final = 3600.0
"""A Retry-After longer than an hour is taken as a mistake and capped."""


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
