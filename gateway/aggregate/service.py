"""The standalone aggregator: gateways' ticks and statuses from NATS in, one best price per instrument out.

Lifecycle: :meth:`AggregatorService.start` opens the Kafka spool (when ``kafka.enabled``), connects to NATS,
opens the lease bucket (JetStream key-value; gateway.kv), subscribes to ``<prefix>.*.ticks`` and
``<prefix>.*.status`` (its own ``<prefix>.best.ticks`` excepted) and starts the lease, expiry and Kafka tasks;
:meth:`AggregatorService.stop` unsubscribes, releases the lease (a standby takes over at its next try rather
than at the lease's expiry), gives the Kafka writer the timeout, and drains NATS.

Every message is read into the aggregator (gateway.aggregate.feed) whether or not this aggregator holds the
lease, so a standby's state is warm; the best-price changes are then computed and, only when the lease is held
now (gateway.aggregate.lease), published as a gateway publishes them: a MarketDataStream of ``best_prices`` on
``<prefix>.best.ticks`` (``session_id`` = this aggregator's start, ``batch_seq`` from 1), through this
aggregator's own spool to the Kafka best-price topic first. A new holder publishes every current best price at
once. Staleness is judged on the wall clock against the gateways' receive times: hosts must keep their clocks
synchronised (NTP) to well within ``stale_after_ms``.

With ``http.enabled`` it serves GET /health and GET /metrics (gateway.aggregate.ops) on the gateway's HTTP
endpoint (gateway.ops.server.HttpEndpoint), from a :meth:`AggregatorService.snapshot` per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Final

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

from gateway.aggregate.config import AggregateConfig
from gateway.aggregate.feed import Feed, Gap
from gateway.aggregate.lease import Publish, PublishGate, renew_interval_s
from gateway.aggregate.ops import AggregateMetrics, AggregateSnapshot, SourceSequence, assess
from gateway.aggregator import BestPriceAggregator
from gateway.clock import NS_PER_MS, now_ns
from gateway.cycle import CycleBuilder
from gateway.errors import NatsUnavailableError, SpoolError
from gateway.kafka.backup import KafkaBackup
from gateway.kv import BucketSpec, KeyClaim, open_bucket
from gateway.logs import ThrottledLog
from gateway.nats_connect import connect_nats
from gateway.ops.server import HttpEndpoint
from gateway.ops.snapshot import kafka_snapshot
from gateway.publisher import NatsPublisher
from gateway.secrets import display_url, redact, remember_url_credentials
from gateway.wire import BEST_SOURCE, Subjects

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S: Final = 5.0
EXPIRY_INTERVAL_MIN_S: Final = 0.01
EXPIRY_INTERVAL_MAX_S: Final = 1.0
KAFKA_RESTART_S: Final = 1.0


@dataclass(slots=True)
class LeaseStats:
    """The lease's history since start."""

    takeovers: int = 0
    """Times this aggregator became the publisher."""
    withheld: int = 0
    """Best-price changes computed while not holding the lease (a standby's normal work)."""
    errors: int = 0
    """Lease attempts NATS or JetStream did not answer."""
    owner: str = ""
    """Who held the lease at the last attempt (this aggregator's own owner value when it did)."""
    answered: bool = False
    """Whether the last attempt was answered."""


class AggregatorService:
    """The running aggregator (see the module docstring)."""

    def __init__(self, config: AggregateConfig, nats_url: str | None = None) -> None:
        self.config = config
        self.nats_url = remember_url_credentials(nats_url or config.nats.url)
        self.session_id = now_ns()
        self.owner = f"{config.instance_id}:{self.session_id}"
        """The lease's value: unique per run, so two aggregators given the same instance_id never share it."""
        best_price = config.best_price
        self.aggregator = BestPriceAggregator(best_price.priorities, best_price.stale_after_ms)
        self.feed = Feed(self.aggregator, self._log_gap)
        self.lease = LeaseStats()
        self.publisher: NatsPublisher | None = None
        self.backup: KafkaBackup | None = None
        self._subjects = Subjects(config.nats.subject_prefix)
        self._cycle = CycleBuilder(self.session_id, config.nats.max_batch_ticks)
        self._gate = PublishGate()
        self._claim: KeyClaim | None = None
        self._nats: NatsClient | None = None
        self._subscriptions: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._publishing = asyncio.Lock()
        self._gap_log = ThrottledLog(logger)
        self._refusal_log = ThrottledLog(logger)
        self._lease_log = ThrottledLog(logger)
        self._refused_logged = 0
        self._stopped = False
        self._started_at = time.monotonic()
        self.http: HttpEndpoint | None = None

    @property
    def holds_lease(self) -> bool:
        """Whether this aggregator may publish now (judged from the monotonic clock alone)."""
        return self._claim is not None and self._claim.holds(time.monotonic())

    async def start(self) -> None:
        """Bind /health and /metrics, connect and subscribe; raises HttpBindError (the port), NatsUnavailableError
        (NATS or JetStream unavailable) or ConfigError."""
        settings = self.config.nats
        http = self.config.http
        if http.enabled:  # bound first: a busy port fails the start before anything else is opened
            self.http = HttpEndpoint(
                lambda: assess(self.snapshot()), AggregateMetrics(self.snapshot), http.host, http.port
            )
        try:
            self.backup = (
                KafkaBackup.from_config(self.config.kafka, self.config.instance_id)
                if self.config.kafka.enabled
                else None
            )
            self._nats = await connect_nats(
                self.nats_url,
                name=self.config.instance_id,
                connect_timeout_s=settings.connect_timeout_s,
                reconnect_wait_s=settings.reconnect_wait_ms / 1000,
                pending_bytes=settings.pending_bytes,
                credentials=settings.credentials(),
            )
            lease = self.config.lease
            try:
                bucket = await open_bucket(
                    self._nats.jetstream(), BucketSpec(lease.bucket, lease.ttl_s, replicas=lease.replicas)
                )
            except (NatsError, TimeoutError) as exc:
                await self._nats.close()
                raise NatsUnavailableError(
                    f"cannot open the lease bucket {lease.bucket} at {display_url(self.nats_url)} (is JetStream"
                    f" enabled, nats-server -js?): {redact(repr(exc))}"
                ) from exc
        except BaseException:
            if self.backup is not None:
                self.backup.spool.close()
            if self.http is not None:
                self.http.close()
            raise
        self._claim = KeyClaim(bucket, lease.key, self.owner.encode(), lease.ttl_s)
        self.publisher = NatsPublisher(self._nats, subject_prefix=settings.subject_prefix)
        self._subscriptions = [
            await self._nats.subscribe(self._subjects.ticks("*"), cb=self._on_ticks),
            await self._nats.subscribe(self._subjects.status("*"), cb=self._on_status),
        ]
        try:  # the server has the subscriptions once start returns: nothing sent after it is missed
            await self._nats.flush(math.ceil(settings.connect_timeout_s))
        except (NatsError, TimeoutError) as exc:
            await self.stop(timeout_s=settings.connect_timeout_s)
            raise NatsUnavailableError(
                f"NATS at {display_url(self.nats_url)} did not confirm the subscriptions: {redact(repr(exc))}"
            ) from exc
        self._tasks = [
            asyncio.create_task(self._hold_lease(), name="lease"),
            asyncio.create_task(self._expire_stale_quotes(), name="best-price-expiry"),
        ]
        if self.backup is not None:
            self._tasks.append(asyncio.create_task(self._deliver_to_kafka(self.backup), name="kafka"))
            sync_interval_s = self.config.kafka.spool.fsync_interval_ms / 1000
            self._tasks.append(asyncio.create_task(self.backup.sync_periodically(sync_interval_s), name="spool-sync"))
        if self.http is not None:
            self.http.start()
            logger.info("aggregator %s: /health and /metrics on %s", self.owner, self.http.url)
        logger.info(
            "aggregator %s started (lease %s/%s, %.1f s) on %s",
            self.owner,
            lease.bucket,
            lease.key,
            lease.ttl_s,
            display_url(self.nats_url),
        )

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Unsubscribe, release the lease, deliver what the spool can within the timeout, drain NATS; once."""
        if self._stopped:
            return
        self._stopped = True
        if self.http is not None:
            await self.http.stop(timeout_s)
        for subscription in self._subscriptions:
            with contextlib.suppress(NatsError):
                await subscription.unsubscribe()
        for task in self._tasks:
            if task.get_name() != "kafka":
                task.cancel()
        await asyncio.gather(*(task for task in self._tasks if task.get_name() != "kafka"), return_exceptions=True)
        if self._claim is not None:
            try:
                await asyncio.wait_for(self._claim.release(), timeout_s)
            except (NatsError, TimeoutError) as exc:  # it expires on its own
                logger.warning("aggregator %s: lease not released (%s); it expires", self.owner, type(exc).__name__)
        if self.backup is not None:
            await self.backup.drain(timeout_s)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            try:
                self.backup.spool.close()
            except SpoolError as exc:
                logger.error("aggregator %s: %s", self.owner, exc)
        if self._nats is not None and not self._nats.is_closed:
            await _bounded(self._nats.drain(), timeout_s) or await _bounded(self._nats.close(), timeout_s)
        logger.info("aggregator %s stopped", self.owner)

    def snapshot(self) -> AggregateSnapshot:
        """The counters now, for /health and /metrics (copies; called per request on the event loop)."""
        stats = self.feed.stats
        suspect = self.feed.suspect
        lease = self.lease
        return AggregateSnapshot(
            instance_id=self.config.instance_id,
            owner=self.owner,
            nats_url=display_url(self.nats_url),
            nats_connected=self._nats is not None and self._nats.is_connected,
            holds_lease=self.holds_lease,
            lease_owner=lease.owner,
            lease_answered=lease.answered,
            takeovers=lease.takeovers,
            withheld=lease.withheld,
            lease_errors=lease.errors,
            messages=stats.messages,
            ticks=stats.ticks,
            statuses=stats.statuses,
            gaps=stats.gaps,
            messages_missed=stats.messages_missed,
            repeats=stats.repeats,
            refused=stats.refused,
            last_refusal=redact(stats.last_refusal),
            uptime_s=time.monotonic() - self._started_at,
            sources={
                source: SourceSequence(session_id, batch_seq, len(suspect.get(source, ())))
                for source, (session_id, batch_seq) in self.feed.sequences().items()
            },
            kafka=kafka_snapshot(self.backup, self.config.kafka.max_unacked_age_s) if self.backup is not None else None,
        )

    async def _on_ticks(self, message: Msg) -> None:
        source = self._source_of(message.subject, ".ticks")
        if source == BEST_SOURCE:  # our own output, or the other aggregator's
            return
        self.feed.ticks(source, message.data, now_ns())
        if self.aggregator.has_changes:
            await self.publish()

    async def _on_status(self, message: Msg) -> None:
        self.feed.status(self._source_of(message.subject, ".status"), message.data, now_ns())
        if self.aggregator.has_changes:
            await self.publish()

    def _source_of(self, subject: str, suffix: str) -> str:
        """The source token of ``<prefix>.<source><suffix>`` (the subscription guarantees the shape)."""
        return subject[len(self._subjects.prefix) + 1 : -len(suffix)]

    async def publish(self) -> None:
        """Compute the best-price changes; publish them (all current best prices on a takeover) if the lease is
        held now, spool first, then NATS. One publish at a time, so batches leave in ``batch_seq`` order."""
        assert self.publisher is not None
        async with self._publishing:
            changes = self.aggregator.changes()
            decision = self._gate.decide(self.holds_lease)
            if decision is Publish.WITHHOLD:
                self.lease.withheld += len(changes)
                return
            if decision is Publish.TAKEOVER:
                self.lease.takeovers += 1
                current = self.aggregator.current()
                current.update((best.instrument, best) for best in changes)
                changes = list(current.values())
                logger.info("aggregator %s holds the lease: publishing %d best prices", self.owner, len(changes))
            if not changes:
                return
            self._cycle.add_best(changes)
            cycle = self._cycle.take(now_ns())
            if self.backup is not None:
                self.backup.commit(cycle)
            await self.publisher.publish(cycle)

    async def _hold_lease(self) -> None:
        """Take or renew the lease, then publish (a takeover publishes at once); runs until cancelled."""
        assert self._claim is not None
        ttl_s = self.config.lease.ttl_s
        while True:
            try:
                owner = await asyncio.wait_for(self._claim.acquire(), ttl_s)
            except (NatsError, TimeoutError, OSError) as exc:
                self.lease.errors += 1
                self.lease.answered = False
                self._lease_log.warning(
                    "aggregator %s: lease %s not answered (%s); attempts failed so far: %d",
                    self.owner,
                    self.config.lease.key,
                    type(exc).__name__,
                    self.lease.errors,
                )
            else:
                shown = self.owner if owner is None else owner.decode(errors="replace")[:200]
                if shown != self.lease.owner and owner is not None:
                    logger.info("aggregator %s is the standby: the lease is held by %s", self.owner, shown)
                self.lease.owner = shown
                self.lease.answered = True
            try:
                await self.publish()
            except Exception:  # a publishing failure must not end the lease task
                logger.exception("aggregator %s: publishing failed", self.owner)
            await asyncio.sleep(renew_interval_s(ttl_s, self.holds_lease))

    async def _expire_stale_quotes(self) -> None:
        """Take quotes that went stale out of the best price (every tenth of the window); log refusals (throttled)."""
        stale_after_s = self.config.best_price.stale_after_ms / 1000
        interval_s = min(EXPIRY_INTERVAL_MAX_S, max(EXPIRY_INTERVAL_MIN_S, stale_after_s / 10))
        while True:
            await asyncio.sleep(interval_s)
            try:
                now = now_ns()
                self.aggregator.expire(now)
                self.feed.expire_suspects(now - self.config.best_price.stale_after_ms * NS_PER_MS)
                if self.aggregator.has_changes:
                    await self.publish()
            except Exception:
                logger.exception("aggregator %s: best-price expiry failed", self.owner)
            stats = self.feed.stats
            if stats.refused > self._refused_logged and self._refusal_log.warning(
                "aggregator %s: refused input: %s; refused so far: %d", self.owner, stats.last_refusal, stats.refused
            ):
                self._refused_logged = stats.refused

    async def _deliver_to_kafka(self, backup: KafkaBackup) -> None:
        """The Kafka writer; if it fails, log it and start it again (the spool keeps what it has not sent)."""
        while True:
            try:
                await backup.run()
            except Exception:  # service loop top: log and restart
                logger.exception("aggregator %s: the Kafka writer failed; restarting it", self.owner)
                await asyncio.sleep(KAFKA_RESTART_S)

    def _log_gap(self, gap: Gap) -> None:
        self._gap_log.warning(
            "aggregator %s: %s lost %d messages (batch_seq gap, session %d); its quotes leave the best price until"
            " its next tick; gaps so far: %d",
            self.owner,
            gap.source,
            gap.missed,
            gap.session_id,
            self.feed.stats.gaps,
        )


async def _bounded(step: Coroutine[Any, Any, None], timeout_s: float) -> bool:
    """Run a NATS shutdown step for at most ``timeout_s``; whether it finished without an error.

    Not ``asyncio.wait_for``: nats-py's drain and flush can swallow their cancellation, and wait_for then waits
    for them for ever; this leaves such a step behind, cancelled, and goes on.
    """
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        task.cancel()
        return False
    with contextlib.suppress(asyncio.CancelledError):
        return task.exception() is None
    return False
