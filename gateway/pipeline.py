"""The pipeline: collectors' events -> quality gate -> aggregator -> publisher.

Collectors call :meth:`Pipeline.submit` with a batch of events. Processing is
synchronous and single-threaded (one event loop), so per-source sequence
numbers need no locks. After the batch, the pipeline publishes and then yields
to the event loop once: nats-py's ``publish`` only appends to a buffer that its
own flusher task writes to the socket, and without a turn of the loop a busy
collector would keep that task waiting until the buffer is full.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from collectors.base import BadInput, Event
from gateway.aggregator import BestPriceAggregator
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate, Rejection
from gateway.quote import Quote
from gateway.schema.market.v1.market_pb2 import QualityRejection, RejectionReason, Tick

MAX_RAW_BYTES = 512
"""Bytes of the offending input kept in a QualityRejection."""


@dataclass(slots=True)
class SourceStats:
    """Per-source counters since start; ``accepted`` is also the last sequence number issued."""

    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

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

    async def submit(self, events: Sequence[Event]) -> None:
        """Process a batch of events in order, then publish what they produced."""
        check = self.gate.check
        update = self.aggregator.update
        publisher = self.publisher
        add_tick = publisher.add_tick
        sources = self.sources
        for event in events:
            if type(event) is not Quote:
                self._reject_input(event)
                continue
            stats = sources.get(event.source)
            if stats is None:
                stats = sources[event.source] = SourceStats()
            rejection = check(event)
            if rejection is not None:
                self._reject_quote(event, rejection, stats)
                continue
            stats.accepted += 1
            add_tick(event, stats.accepted)
            update(event)
        await self._publish()
        await asyncio.sleep(0)

    async def expire(self, now_ns: int) -> None:
        """Drop stale quotes from the best price and publish the changes."""
        self.aggregator.expire(now_ns)
        await self._publish()

    async def source_down(self, source: str, now_ns: int) -> None:
        """A source stopped or disconnected: take it out of the best price now."""
        self.aggregator.drop_source(source, now_ns)
        await self._publish()

    async def _publish(self) -> None:
        """Hand the batch's best-price changes to the publisher, then publish everything pending."""
        for best in self.aggregator.changes():
            self.publisher.add_best(best)
        await self.publisher.flush()

    def _reject_quote(self, quote: Quote, rejection: Rejection, stats: SourceStats) -> None:
        stats.rejected[RejectionReason.Name(rejection.reason)] += 1
        self.publisher.add_rejection(
            QualityRejection(tick=quote.to_tick(), reason=rejection.reason, detail=rejection.detail)
        )

    def _reject_input(self, bad: BadInput) -> None:
        stats = self.sources.get(bad.source)
        if stats is None:
            stats = self.sources[bad.source] = SourceStats()
        stats.rejected[RejectionReason.Name(bad.reason)] += 1
        self.publisher.add_rejection(
            QualityRejection(
                tick=Tick(instrument=bad.instrument, source=bad.source, ts_recv_ns=bad.ts_recv_ns),
                reason=bad.reason,
                detail=bad.detail,
                raw=bad.raw[:MAX_RAW_BYTES],
            )
        )
