"""The pipeline: collectors' events -> quality gate -> aggregator -> publisher.

Collectors call :meth:`Pipeline.submit` with a batch of events. Processing is
synchronous and single-threaded (one event loop), so per-source sequence
numbers need no locks.

Publishing is adaptive. A submit publishes at once when the previous publish
is at least ``linger_ms`` old (so a quiet stream gets no added latency) or when
a batch is full; otherwise it leaves its output pending for the next submit,
or for :meth:`Pipeline.publish_lingering` when the stream pauses (uvloop's
timers have 1 ms resolution, so below 1 ms that means the next turn of the
event loop). Under load a message then carries the ticks of several
hand-overs, which divides the per-message cost of NATS (headers, syscalls,
the subscribers' work). After
publishing the pipeline yields to the event loop once: nats-py's ``publish``
only appends to a buffer that its own flusher task writes to the socket, and a
busy collector would otherwise keep that task waiting until the buffer is full.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from collectors.base import BadInput, Event
from gateway.aggregator import BestPriceAggregator
from gateway.clock import NS_PER_MS, NS_PER_S
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

    def __init__(
        self,
        gate: QualityGate,
        aggregator: BestPriceAggregator,
        publisher: NatsPublisher,
        linger_ms: float = 0.0,
    ) -> None:
        """With ``linger_ms`` > 0, :meth:`publish_lingering` must run as a task."""
        self.gate = gate
        self.aggregator = aggregator
        self.publisher = publisher
        self.sources: dict[str, SourceStats] = {}
        self._linger_ns = round(linger_ms * NS_PER_MS)
        self._last_publish_ns = 0
        self._lingering = asyncio.Event()

    async def submit(self, events: Sequence[Event]) -> None:
        """Process a batch of events in order, then publish, or leave it to the linger (module docstring)."""
        check = self.gate.check
        update = self.aggregator.update
        publisher = self.publisher
        add_tick = publisher.add_tick
        sources = self.sources
        for event in events:
            if not isinstance(event, Quote):
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
        if (
            self._linger_ns
            and time.monotonic_ns() - self._last_publish_ns < self._linger_ns
            and not publisher.has_full_batch
        ):
            self._lingering.set()
            return
        await self.publish_pending()

    async def publish_lingering(self) -> None:
        """Publish what submits left pending once ``linger_ms`` has passed; runs until cancelled."""
        while True:
            await self._lingering.wait()
            self._lingering.clear()
            wait_ns = self._last_publish_ns + self._linger_ns - time.monotonic_ns()
            if wait_ns > 0:
                await asyncio.sleep(wait_ns / NS_PER_S)
            if self.publisher.has_pending or self.aggregator.has_changes:
                await self.publish_pending()

    async def expire(self, now_ns: int) -> None:
        """Drop stale quotes from the best price and publish the changes."""
        self.aggregator.expire(now_ns)
        await self.publish_pending()

    async def source_down(self, source: str, now_ns: int) -> None:
        """A source stopped or disconnected: take it out of the best price now."""
        self.aggregator.drop_source(source, now_ns)
        await self.publish_pending()

    async def publish_pending(self) -> None:
        """Hand the best-price changes to the publisher, then publish everything pending."""
        for best in self.aggregator.changes():
            self.publisher.add_best(best)
        await self.publisher.flush()
        self._last_publish_ns = time.monotonic_ns()
        await asyncio.sleep(0)

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
