"""The pipeline: collectors' events -> quality gate -> aggregator -> publisher.

Collectors call :meth:`Pipeline.submit` with a batch of events. Processing is
synchronous and single-threaded (one event loop), so per-source sequence
numbers need no locks; the flush at the end of each batch is the only await,
and it is what slows a collector down when NATS cannot keep up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from collectors.base import BadInput, Event
from gateway.aggregator import BestPriceAggregator
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate
from gateway.schema.market.v1.market_pb2 import QualityRejection, RejectionReason, Tick

MAX_RAW_BYTES = 512
"""Bytes of the offending input kept in a QualityRejection."""


@dataclass(slots=True)
class SourceStats:
    """Per-source counters since start."""

    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    last_recv_ns: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


class Pipeline:
    """Judges, sequences, aggregates and publishes every event; implements TickSink."""

    def __init__(self, gate: QualityGate, aggregator: BestPriceAggregator, publisher: NatsPublisher) -> None:
        self.gate = gate
        self.aggregator = aggregator
        self.publisher = publisher
        self.sources: dict[str, SourceStats] = {}
        self._seq: dict[str, int] = {}

    async def submit(self, events: Sequence[Event]) -> None:
        """Process a batch of events in order, then publish what they produced."""
        check = self.gate.check
        update = self.aggregator.update
        publisher = self.publisher
        add_tick = publisher.add_tick
        sequences = self._seq
        for event in events:
            if type(event) is not Tick:
                self._reject_input(event)
                continue
            source = event.source
            rejection = check(event)
            stats = self._stats(source)
            if rejection is not None:
                stats.rejected[RejectionReason.Name(rejection.reason)] += 1
                publisher.add_rejection(QualityRejection(tick=event, reason=rejection.reason, detail=rejection.detail))
                continue
            seq = sequences[source] = sequences.get(source, 0) + 1
            event.seq = seq
            stats.accepted += 1
            stats.last_recv_ns = event.ts_recv_ns
            add_tick(event)
            best = update(event)
            if best is not None:
                publisher.add_best_prices((best,))
        await publisher.flush()

    async def expire(self, now_ns: int) -> None:
        """Drop stale quotes from the best price and publish the changes."""
        changes = self.aggregator.expire(now_ns)
        if changes:
            self.publisher.add_best_prices(changes)
            await self.publisher.flush()

    async def source_down(self, source: str, now_ns: int) -> None:
        """A source stopped or disconnected: take it out of the best price now."""
        changes = self.aggregator.drop_source(source, now_ns)
        if changes:
            self.publisher.add_best_prices(changes)
            await self.publisher.flush()

    def _stats(self, source: str) -> SourceStats:
        stats = self.sources.get(source)
        if stats is None:
            stats = self.sources[source] = SourceStats()
        return stats

    def _reject_input(self, bad: BadInput) -> None:
        self._stats(bad.source).rejected[RejectionReason.Name(bad.reason)] += 1
        self.publisher.add_rejection(
            QualityRejection(
                tick=Tick(instrument=bad.instrument, source=bad.source, ts_recv_ns=bad.ts_recv_ns),
                reason=bad.reason,
                detail=bad.detail,
                raw=bad.raw[:MAX_RAW_BYTES],
            )
        )
