"""Capped exponential backoff with jitter: the one retry pacing of the gateway.

Used wherever something is retried after a failure: a collector's reconnects
(collectors.streaming), the supervisor's restarts of a failed collector
(gateway.app) and the Kafka writer's resends (gateway.kafka.writer). A fleet
of clients retrying in lockstep after an outage is its own outage, so every
delay is jittered.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from ``min_s`` to ``max_s`` seconds; each is drawn from [delay/2, delay] (jitter)."""

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self._current = min_s
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; the one after will be about twice as long, up to ``max_s``."""
        delay = self._current * self._rng.uniform(0.5, 1.0)
        self._current = min(self._current * 2, self.max_s)
        return delay

    def reset(self) -> None:
        """After a healthy period the next failure starts from the minimum again."""
        self._current = self.min_s
