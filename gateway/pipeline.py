"""The pipeline: collectors' events -> quality gate -> aggregator -> publish cycle -> spool, then NATS.

Collectors call :meth:`Pipeline.submit` with a batch of events. Processing is
synchronous and single-threaded (one event loop), so per-source sequence
numbers need no locks. Accepted quotes are encoded once (gateway.wire) into the
current publish cycle (gateway.cycle); each publish takes the cycle and hands it
first to the Kafka spool (when the backup is on), so whatever NATS carries is
already on disk, then to the NATS publisher.

Publishing is adaptive. A submit publishes at once when the previous publish
is at least ``linger_ms`` old (so a quiet stream gets no added latency) or when
a batch is full; otherwise it leaves its output pending for the next submit,
or for :meth:`Pipeline.publish_lingering` when the stream pauses (uvloop's
timers have 1 ms resolution, so below 1 ms that means the next turn of the
event loop). Under load a message then carries the ticks of several
hand-overs, which divides the per-message cost of NATS (headers, syscalls,
the subscribers' work). After publishing the pipeline yields to the event
loop once: nats-py's ``publish`` only appends to a buffer that its own flusher
task writes to the socket, and a busy collector would otherwise keep that task
waiting until the buffer is full.

The pipeline owns each source's counters (:class:`SourceStats`: the tick
``seq``, rejections by reason, the status ``seq`` and last connection state);
the cycle builder owns ``session_id`` and the batch numbers.

External collectors (collectors.external) use the same pipeline as their
ExternalSink: :meth:`Pipeline.publish_external` numbers their ExternalData
(``session_id`` and a ``seq`` per source) and publishes them through the same
cycle, spool first, then NATS. An external source is not a broker: its statuses
never touch the quality gate or the best price, and its counters are kept apart
(:attr:`Pipeline.external`), so a tick source's figures are unchanged by it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.aggregator import BestPriceAggregator
from gateway.broker_quality import BrokerQuality
from gateway.clock import NS_PER_MS, NS_PER_S, now_ns
from gateway.cycle import DEFAULT_MAX_BATCH_TICKS, CycleBuilder, PublishCycle
from gateway.echo import NAME_CHARS, clip, clip_bytes
from gateway.events import BadInput, Event, Quote, StatusChange, connection_delivers
from gateway.prices import format_price
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate, Rejection
from gateway.schema.market.v1.market_pb2 import ExternalData, QualityRejection, RejectionReason, SourceStatus, Tick
from gateway.secrets import redact
from gateway.wire import TickRecordEncoder

logger = logging.getLogger(__name__)


class CycleSpool(Protocol):
    """Where each cycle goes before NATS: the Kafka backup's spool (gateway.kafka.backup.KafkaBackup)."""

    def commit(self, cycle: PublishCycle) -> None: ...


@dataclass(slots=True)
class SourceStats:
    """Per-source counters since start; ``accepted`` is also the last tick sequence number issued."""

    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    status_seq: int = 0
    status: SourceStatus.State = SourceStatus.STATE_UNSPECIFIED

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass(slots=True)
class ExternalSourceStats:
    """An external collector's counters in the pipeline; ``published`` is also the last ``seq`` issued."""

    published: int = 0
    status_seq: int = 0
    status: SourceStatus.State = SourceStatus.STATE_UNSPECIFIED


class Pipeline:
    """Judges, sequences, aggregates and publishes every event; implements TickSink and ExternalSink."""

    def __init__(
        self,
        gate: QualityGate,
        aggregator: BestPriceAggregator,
        publisher: NatsPublisher,
        linger_ms: float = 0.0,
        spool: CycleSpool | None = None,
        *,
        session_id: int | None = None,
        max_batch_ticks: int = DEFAULT_MAX_BATCH_TICKS,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        quality: BrokerQuality | None = None,
        publish_best: bool = True,
    ) -> None:
        """With ``linger_ms`` > 0, :meth:`publish_lingering` must run as a task.

        ``spool`` receives each cycle before NATS; ``session_id`` (default: now, in ns) numbers this run;
        ``clock_ns`` is the monotonic clock the linger is measured on; ``quality`` is fed every accepted quote,
        status and best-price change (gateway.broker_quality; default: one with the default policy);
        ``publish_best`` false keeps the best price local (status line, /health) when a standalone aggregator
        publishes it (config ``best_price.publish``).
        """
        self.gate = gate
        self.aggregator = aggregator
        self.publisher = publisher
        self.spool = spool
        self.quality = quality if quality is not None else BrokerQuality(pip_px=gate.pip_px)
        self.sources: dict[str, SourceStats] = {}
        self.external: dict[str, ExternalSourceStats] = {}
        self._cycle = CycleBuilder(now_ns() if session_id is None else session_id, max_batch_ticks)
        self._encoder = TickRecordEncoder()
        self._linger_ns = round(linger_ms * NS_PER_MS)
        self._clock_ns = clock_ns
        self._last_publish_ns = 0
        self._lingering = asyncio.Event()
        self._publishing = asyncio.Lock()
        self._publish_best = publish_best

    @property
    def session_id(self) -> int:
        """This run's session: ``(source, session_id, seq)`` identifies a tick."""
        return self._cycle.session_id

    @property
    def has_pending(self) -> bool:
        """Output waits for the next publish (the linger)."""
        return self._cycle.has_pending or self.aggregator.has_changes

    async def submit(self, events: Sequence[Event]) -> None:
        """Process a batch of events in order, then publish, or leave it to the linger (module docstring)."""
        check = self.gate.check
        update = self.aggregator.update
        encode = self._encoder.encode
        add_tick = self._cycle.add_tick
        observe = self.quality.observe_quote
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
            add_tick(event.source, event.instrument, encode(event, stats.accepted))
            update(event)
            observe(event)
        if (
            self._linger_ns
            and self._clock_ns() - self._last_publish_ns < self._linger_ns
            and not self._cycle.has_full_batch
        ):
            self._lingering.set()
            return
        await self.publish_pending()

    async def publish_lingering(self) -> None:
        """Publish what submits left pending once ``linger_ms`` has passed; runs until cancelled."""
        while True:
            await self._lingering.wait()
            self._lingering.clear()
            wait_ns = self._last_publish_ns + self._linger_ns - self._clock_ns()
            if wait_ns > 0:
                await asyncio.sleep(wait_ns / NS_PER_S)
            if self.has_pending:
                await self.publish_pending()

    async def expire(self, now_ns: int) -> None:
        """Drop stale quotes from the best price and publish the changes."""
        self.aggregator.expire(now_ns)
        await self.publish_pending()

    async def source_down(self, source: str, now_ns: int) -> None:
        """A source stopped or disconnected: take it out of the best price now."""
        self.quality.observe_down(source, now_ns)
        self.aggregator.drop_source(source, now_ns)
        await self.publish_pending()

    def add_external_source(self, source: str) -> ExternalSourceStats:
        """Register an external collector's id (before it reports or publishes), so it is never taken for a broker."""
        stats = self.external.get(source)
        if stats is None:
            stats = self.external[source] = ExternalSourceStats()
        return stats

    async def publish_external(self, messages: Sequence[ExternalData]) -> None:
        """Number external data (``session_id``, ``seq`` per source; the messages are filled in place) and publish
        them now, through the same cycle as ticks: spool first, then NATS."""
        session_id = self.session_id
        external = self.external
        for message in messages:
            stats = external.get(message.source)
            if stats is None:
                stats = self.add_external_source(message.source)
            stats.published += 1
            message.session_id = session_id
            message.seq = stats.published
        self._cycle.add_external(messages)
        await self.publish_pending()

    async def report_status(self, source: str, change: StatusChange) -> None:
        """Publish a source's connection change; unless it delivers (gateway.events) a broker leaves the best price.

        An external source's status is published alike but touches neither the best price nor the broker counters.
        """
        external = self.external.get(source)
        stats: SourceStats | ExternalSourceStats = external if external is not None else self._stats(source)
        stats.status_seq += 1
        stats.status = change.state
        timestamp_ns = now_ns()
        self._cycle.add_status(
            SourceStatus(
                source=source,
                state=change.state,
                ts_ns=timestamp_ns,
                gap_ns=change.gap_ns,
                detail=clip(redact(change.detail)),
                attempt=change.attempt,
                session_id=self.session_id,
                seq=stats.status_seq,
                snapshot=change.snapshot,
            )
        )
        if external is None:
            self.quality.observe_status(source, change.state, change.gap_ns, timestamp_ns)
            if not connection_delivers(change.state):
                self.aggregator.drop_source(source, timestamp_ns)
        await self.publish_pending()

    def observe_heartbeat(self, source: str, event_ns: int, recv_ns: int) -> None:
        """A broker's heartbeat: its age goes to broker quality (gateway.broker_quality)."""
        self.quality.observe_heartbeat(source, event_ns, recv_ns)

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
        """Take the cycle (with the best-price changes), spool it for Kafka, then publish it on NATS.

        One publish at a time: nats-py's publish can wait (its buffer full), and a cycle taken meanwhile by
        another caller (the linger, the expiry timer, a status) must not overtake it on NATS.
        """
        async with self._publishing:
            changes = self.aggregator.changes()
            if changes and self._publish_best:
                self._cycle.add_best(changes)
            cycle = self._cycle.take(now_ns())
            if not cycle.empty:
                if self.spool is not None:
                    self.spool.commit(cycle)
                await self.publisher.publish(cycle)
            self._last_publish_ns = self._clock_ns()
        await asyncio.sleep(0)

    def _reject_quote(self, quote: Quote, rejection: Rejection, stats: SourceStats) -> None:
        reason = RejectionReason.Name(rejection.reason)
        stats.rejected[reason] += 1
        self.quality.observe_rejection(quote.source, quote.instrument[:NAME_CHARS], reason, quote.ts_recv_ns)
        self._cycle.add_rejection(
            QualityRejection(tick=quote.to_tick(), reason=rejection.reason, detail=rejection.detail)
        )

    def _stats(self, source: str) -> SourceStats:
        stats = self.sources.get(source)
        if stats is None:
            stats = self.sources[source] = SourceStats()
        return stats

    def _reject_input(self, bad: BadInput) -> None:
        """A rejection for input that never became a quote; what it echoes of the input is bounded (gateway.echo)."""
        stats = self._stats(bad.source)
        reason = RejectionReason.Name(bad.reason)
        stats.rejected[reason] += 1
        self.quality.observe_rejection(bad.source, bad.instrument[:NAME_CHARS], reason, bad.ts_recv_ns)
        raw, cut_bytes = clip_bytes(bad.raw)
        detail = clip(bad.detail)
        if cut_bytes:
            detail += f" [raw input cut to {len(raw):,} of {len(bad.raw):,} bytes]"
        self._cycle.add_rejection(
            QualityRejection(
                tick=Tick(instrument=bad.instrument[:NAME_CHARS], source=bad.source, ts_recv_ns=bad.ts_recv_ns),
                reason=bad.reason,
                detail=detail,
                raw=raw,
            )
        )
