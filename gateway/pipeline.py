"""The pipeline: collectors' events -> quality gate -> aggregator -> publisher (and the Kafka backup).

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

With a Kafka backup, each publish first appends the cycle's records to the
spool (gateway.kafka.writer), so whatever NATS carries is already on disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.aggregator import BestPriceAggregator
from gateway.clock import NS_PER_MS, NS_PER_S, now_ns
from gateway.events import BadInput, Event, Quote, StatusChange
from gateway.prices import format_price
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate, Rejection
from gateway.schema.market.v1.market_pb2 import QualityRejection, RejectionReason, SourceStatus, Tick

if TYPE_CHECKING:
    from gateway.kafka.writer import KafkaBackup

logger = logging.getLogger(__name__)

MAX_RAW_BYTES = 512
"""Bytes of the offending input kept in a QualityRejection."""


@dataclass(slots=True)
class SourceStats:
    """Per-source counters since start; ``accepted`` is also the last sequence number issued."""

    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    status_seq: int = 0
    status: SourceStatus.State = SourceStatus.STATE_UNSPECIFIED

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
        backup: KafkaBackup | None = None,
    ) -> None:
        """With ``linger_ms`` > 0, :meth:`publish_lingering` must run as a task; ``backup`` spools for Kafka."""
        self.gate = gate
        self.aggregator = aggregator
        self.publisher = publisher
        self.backup = backup
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
        backup_tick = self.backup.builder.add_tick if self.backup is not None else None
        sources = self.sources
        for event in events:
            if not isinstance(event, Quote):
                self._reject_input(event)
                continue
            stats = sources.get(event.source)
            if stats is None:
                stats = self._stats(event.source)
            rejection = check(event)
            if rejection is not None:
                self._reject_quote(event, rejection, stats)
                continue
            stats.accepted += 1
            record = add_tick(event, stats.accepted)
            if backup_tick is not None:
                backup_tick(event.source, event.instrument, record)
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

    async def report_status(self, source: str, change: StatusChange) -> None:
        """Publish a source's connection change; unless it is (re)connected it leaves the best price."""
        stats = self._stats(source)
        stats.status_seq += 1
        stats.status = change.state
        timestamp_ns = now_ns()
        status = SourceStatus(
            source=source,
            state=change.state,
            ts_ns=timestamp_ns,
            gap_ns=change.gap_ns,
            detail=change.detail,
            attempt=change.attempt,
            session_id=self.publisher.session_id,
            seq=stats.status_seq,
            snapshot=change.snapshot,
        )
        self.publisher.add_status(status)
        if self.backup is not None:
            self.backup.builder.add_status(status)
        if change.state not in (SourceStatus.STATE_CONNECTED, SourceStatus.STATE_RECONNECTED):
            self.aggregator.drop_source(source, timestamp_ns)
        await self.publish_pending()

    def use_pip_sizes(self, source: str, pip_px: Mapping[str, int]) -> None:
        """Give the quality gate a broker's pip sizes; a configured pip size wins and a mismatch is logged."""
        for instrument, size in pip_px.items():
            if not self.gate.set_pip_size(instrument, size):
                logger.warning(
                    "%s says the pip of %s is %s; the configured quality.instruments.%s.pip_size stays in force",
                    source,
                    instrument,
                    format_price(size),
                    instrument,
                )

    async def publish_pending(self) -> None:
        """Hand the best-price changes to the publisher, spool everything for Kafka, then publish it on NATS."""
        changes = self.aggregator.changes()
        for best in changes:
            self.publisher.add_best(best)
        if self.backup is not None:
            if changes:
                self.backup.builder.add_best(changes)
            self.backup.commit()
        await self.publisher.flush()
        self._last_publish_ns = time.monotonic_ns()
        await asyncio.sleep(0)

    def _reject_quote(self, quote: Quote, rejection: Rejection, stats: SourceStats) -> None:
        stats.rejected[RejectionReason.Name(rejection.reason)] += 1
        self._add_rejection(QualityRejection(tick=quote.to_tick(), reason=rejection.reason, detail=rejection.detail))

    def _stats(self, source: str) -> SourceStats:
        stats = self.sources.get(source)
        if stats is None:
            stats = self.sources[source] = SourceStats()
        return stats

    def _reject_input(self, bad: BadInput) -> None:
        stats = self._stats(bad.source)
        stats.rejected[RejectionReason.Name(bad.reason)] += 1
        self._add_rejection(
            QualityRejection(
                tick=Tick(instrument=bad.instrument, source=bad.source, ts_recv_ns=bad.ts_recv_ns),
                reason=bad.reason,
                detail=bad.detail,
                raw=bad.raw[:MAX_RAW_BYTES],
            )
        )

    def _add_rejection(self, rejection: QualityRejection) -> None:
        self.publisher.add_rejection(rejection)
        if self.backup is not None:
            self.backup.builder.add_rejection(rejection)
