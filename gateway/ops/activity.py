"""What the gateway did lately: tick rates and recent drops, from snapshots sampled over time.

A snapshot (gateway.ops.snapshot) holds counters since start; a rate or "dropped
in the last 5 minutes" needs earlier values of those counters.
:class:`ActivitySampler` keeps them: the HTTP server feeds it a snapshot once a
second (RATE_SAMPLE_INTERVAL_S, gateway.ops.server), so a rate does not depend
on who else asks, and :meth:`ActivitySampler.recent` answers from the samples
and a snapshot of now. Times are monotonic ns, passed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from gateway.clock import NS_PER_S
from gateway.ops.snapshot import GatewaySnapshot

RATE_WINDOW_S: Final = 10
"""Ticks/s are averaged over this many seconds (fewer right after start)."""
DROP_MEMORY_S: Final = 300
"""How long a drop (NATS or the Kafka copy) counts as recent, and so keeps /health degraded."""


@dataclass(slots=True, frozen=True)
class RecentActivity:
    """Rates and drops over the last moments: ticks/s by source over RATE_WINDOW_S, drops within DROP_MEMORY_S."""

    ticks_per_s: Mapping[str, float] = field(default_factory=dict)
    nats_ticks_dropped: int = 0
    nats_other_dropped: int = 0
    """Best prices, rejections and statuses NATS did not take."""
    nats_unconfirmed: int = 0
    """Messages not confirmed when a NATS connection dropped: possibly lost."""
    kafka_records_dropped: int = 0


class RateWindow:
    """Rates of counters over a rolling window, from samples; times are monotonic ns, passed in."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self._window_ns = round(window_s * NS_PER_S)
        self._samples: deque[tuple[int, dict[str, int]]] = deque()

    def observe(self, now_ns: int, counts: Mapping[str, int]) -> None:
        """Keep a sample; samples older than the window are forgotten, except the newest one."""
        self._samples.append((now_ns, dict(counts)))
        while len(self._samples) > 1 and now_ns - self._samples[0][0] > self._window_ns:
            self._samples.popleft()

    def rates(self, now_ns: int, counts: Mapping[str, int]) -> dict[str, float]:
        """Per second, from the oldest sample inside the window to ``counts`` now; 0 without an earlier sample.

        If every sample is older than the window (sampling stalled), the newest one is the base.
        """
        since_ns, base = self._base(now_ns)
        if now_ns <= since_ns:
            return dict.fromkeys(counts, 0.0)
        elapsed_s = (now_ns - since_ns) / NS_PER_S
        return {name: (count - base.get(name, 0)) / elapsed_s for name, count in counts.items()}

    def increases(self, now_ns: int, counts: Mapping[str, int]) -> dict[str, int]:
        """How much each counter grew within the window; all of it without an earlier sample."""
        base = self._base(now_ns)[1]
        return {name: count - base.get(name, 0) for name, count in counts.items()}

    def _base(self, now_ns: int) -> tuple[int, Mapping[str, int]]:
        inside = [sample for sample in self._samples if now_ns - sample[0] <= self._window_ns]
        return inside[0] if inside else self._samples[-1] if self._samples else (now_ns, {})


class ActivitySampler:
    """Samples of a gateway's snapshots, for :class:`RecentActivity`: accepted ticks and drops since start."""

    def __init__(self) -> None:
        self._accepted = RateWindow(RATE_WINDOW_S)
        self._drops = RateWindow(DROP_MEMORY_S)

    def observe(self, now_ns: int, snapshot: GatewaySnapshot) -> None:
        """Keep the counters of ``snapshot``, taken at ``now_ns``."""
        self._accepted.observe(now_ns, snapshot.accepted_counts())
        self._drops.observe(now_ns, _drop_counts(snapshot))

    def recent(self, now_ns: int, snapshot: GatewaySnapshot) -> RecentActivity:
        """Rates up to ``snapshot``, taken at ``now_ns``; before any sample every drop counts as recent."""
        drops = self._drops.increases(now_ns, _drop_counts(snapshot))
        return RecentActivity(
            ticks_per_s=self._accepted.rates(now_ns, snapshot.accepted_counts()),
            nats_ticks_dropped=drops["nats"],
            nats_other_dropped=drops["nats_other"],
            nats_unconfirmed=drops["nats_unconfirmed"],
            kafka_records_dropped=drops.get("kafka", 0),
        )


def _drop_counts(snapshot: GatewaySnapshot) -> dict[str, int]:
    """What was dropped since start: NATS ticks and, with a Kafka backup, records of the Kafka copy."""
    nats = snapshot.nats
    counts = {
        "nats": nats.ticks_dropped,
        "nats_other": nats.best_prices_dropped + nats.rejections_dropped + nats.statuses_dropped,
        "nats_unconfirmed": nats.unconfirmed_at_outages,
    }
    if snapshot.kafka is not None:
        counts["kafka"] = snapshot.kafka.records_dropped
    return counts
