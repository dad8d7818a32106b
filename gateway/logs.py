"""Throttled logging: a repeating condition is logged at most once per interval, with the count since.

An outage (NATS gone, Kafka frozen, a broker sending garbage) repeats the same
failure thousands of times a second; logging each would flood the log and cost
the hot path. :class:`ThrottledLog` logs the first occurrence, then at most one
line per ``interval_s``, saying how many were not logged in between.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Final

from gateway.secrets import install_log_redaction

DEFAULT_INTERVAL_S: Final = 10.0


class ThrottledLog:
    """Logs through ``logger`` at most once per ``interval_s`` seconds (monotonic clock, injectable for tests)."""

    __slots__ = ("_clock_ns", "_interval_ns", "_last_ns", "_logger", "suppressed")

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._logger = logger
        self._interval_ns = round(interval_s * 1e9)
        self._clock_ns = clock_ns
        self._last_ns: int | None = None
        self.suppressed = 0
        """Occurrences not logged since the last line."""

    def log(self, level: int, message: str, *args: object, force: bool = False) -> bool:
        """Log ``message % args`` unless a line went out less than the interval ago (``force`` logs anyway).

        A line after suppressed ones ends with ``(and N more since the last report)``. Returns whether it logged.
        """
        now = self._clock_ns()
        if not force and self._last_ns is not None and now - self._last_ns < self._interval_ns:
            self.suppressed += 1
            return False
        if self.suppressed:
            message += " (and %d more since the last report)"
            args = (*args, self.suppressed)
        self._logger.log(level, message, *args)
        self._last_ns = now
        self.suppressed = 0
        return True

    def warning(self, message: str, *args: object) -> bool:
        return self.log(logging.WARNING, message, *args)

    def error(self, message: str, *args: object) -> bool:
        return self.log(logging.ERROR, message, *args)


LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int) -> None:
    """Log lines to stderr at ``level`` with secrets redacted, as every fxgw process does (gateway, Kafka writer)."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    install_log_redaction()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request: every heartbeat to the hub
