"""The running gateway: NATS connection, Kafka backup, pipeline, supervised collectors, timers.

Lifecycle: :meth:`Gateway.start` opens the Kafka spool (when ``kafka.enabled``),
connects to NATS, binds the port of /health and /metrics (when ``http.enabled``;
gateway.ops.server) and starts one named task per enabled broker and per enabled
external collector (``external:``; they publish through the same pipeline), the best-price
expiry timer, the lingering publisher, the Kafka writer and the HTTP server. With ``central_hub.enabled`` it
registers with the Central Hub before the collectors start (a broker source the hub says another instance owns
is not started) and heartbeats (gateway.registration); it always answers NATS service discovery;
:meth:`Gateway.stop` stops the HTTP server, cancels the collectors, publishes
what is pending, gives the writer the timeout to deliver the spool (the rest
waits there for the next start), drains the NATS connection within the timeout
and closes it. A collector that fails is logged, taken out of the best
price (a broker) and restarted with capped exponential backoff and jitter; its state and
last error are kept in :attr:`Gateway.collectors` (:attr:`Gateway.external` for
external collectors) for status and health.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.micro.service import Service

from collectors.base import Collector
from collectors.external.base import ExternalCollector
from collectors.registry import COLLECTORS, EXTERNAL_COLLECTORS
from gateway.aggregator import BestPriceAggregator
from gateway.backoff import Backoff
from gateway.broker_quality import BrokerQuality
from gateway.clock import NS_PER_S, now_ns
from gateway.config import GatewayConfig
from gateway.echo import clip
from gateway.errors import ConfigError, GatewayError, HttpBindError, NatsUnavailableError, SpoolError
from gateway.kafka.backup import KafkaBackup
from gateway.nats_connect import connect_nats
from gateway.ops.activity import RecentActivity
from gateway.ops.health import assess
from gateway.ops.server import HealthServer
from gateway.ops.snapshot import (
    ExternalSnapshot,
    GatewaySnapshot,
    HubSnapshot,
    NatsSnapshot,
    SourceSnapshot,
    kafka_snapshot,
)
from gateway.pipeline import ExternalSourceStats, Pipeline, SourceStats
from gateway.placement import Placement, apply_placement, place_other_threads, placement_for
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate
from gateway.registration import HubRegistration, build_record, start_discovery
from gateway.secrets import display_url, environment_secret, redact, remember_url_credentials

logger = logging.getLogger(__name__)

RESTART_BACKOFF_MIN_S: Final = 1.0
RESTART_BACKOFF_MAX_S: Final = 60.0
HEALTHY_RUN_S: Final = 60.0
"""A collector that ran this long before failing restarts after the minimum backoff again."""
STOP_TIMEOUT_S: Final = 5.0
NATS_CONFIRM_INTERVAL_S: Final = 1.0
"""How often nats-server confirms what was published: at most this much of a stream is unconfirmed at an outage."""
NATS_CONFIRM_TIMEOUT_S: Final = 2
QUALITY_INTERVAL_S: Final = 1.0
"""How often broker quality accounts uptime, completeness and scores (the spread samples assume 1 s)."""
"""Seconds a confirmation (PING) may take before it is given up; the next one tries again."""


class CollectorState(enum.Enum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(slots=True)
class CollectorStatus:
    source: str
    kind: str
    priority: int
    state: CollectorState = CollectorState.RUNNING
    restarts: int = 0
    last_error: str = ""


class Gateway:
    """Wires config -> collectors -> pipeline -> NATS and runs them until stopped."""

    def __init__(
        self,
        config: GatewayConfig,
        nats_url: str | None = None,
        collector_classes: Mapping[str, type[Collector]] = COLLECTORS,
        external_classes: Mapping[str, type[ExternalCollector[Any]]] = EXTERNAL_COLLECTORS,
    ) -> None:
        """``collector_classes`` and ``external_classes`` map kinds to collectors (the registry, unless embedding
        or testing)."""
        self.config = config
        self.nats_url = remember_url_credentials(nats_url or config.nats.url)
        self._collector_classes = collector_classes
        self._external_classes = external_classes
        self.started_ns = 0
        self.collectors: dict[str, CollectorStatus] = {}
        self.collector_instances: dict[str, Collector] = {}
        self.external: dict[str, CollectorStatus] = {}
        self.external_instances: dict[str, ExternalCollector[Any]] = {}
        self.pipeline: Pipeline | None = None
        self._nats: NatsClient | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._service_tasks: list[asyncio.Task[None]] = []
        self.backup: KafkaBackup | None = None
        self._backup_task: asyncio.Task[None] | None = None
        self._http: HealthServer | None = None
        self._stopping = False
        self.registration: HubRegistration | None = None
        self._discovery: Service | None = None
        self.placement: Placement | None = None
        """Where the event loop and the rest run (config ``cpus``); None: wherever the OS puts them."""

    async def start(self) -> None:
        """Connect to NATS and start every enabled collector; raises on a config, spool, NATS or HTTP port problem."""
        brokers = self.config.enabled_brokers
        external = self.config.enabled_external
        unsupported = [(entry.id, entry.kind) for entry in brokers if entry.kind not in self._collector_classes] + [
            (entry.id, entry.kind) for entry in external if entry.kind not in self._external_classes
        ]
        if unsupported:
            names = ", ".join(f"{source} (kind {kind})" for source, kind in unsupported)
            raise ConfigError(f"no collector is available in this version for: {names}; set enabled: false for them")
        if not brokers and not external:
            raise ConfigError("every broker and external collector is disabled: nothing to collect")
        for entry in external:  # a key missing stops the start, as a broker's token does (exit status 2)
            for variable in entry.environment_variables:
                environment_secret(variable, f"external {entry.id}")
        self.started_ns = now_ns()
        self.placement = placement_for(self.config.cpus.event_loop)
        if self.placement is not None:
            apply_placement(self.placement, asyncio.get_running_loop())
            logger.info("gateway %s: %s", self.config.instance_id, self.placement.describe())
        self.backup = self._open_backup() if self.config.kafka.enabled else None
        try:
            self._nats = await self._connect_nats()
        except (NatsUnavailableError, ConfigError):  # unreachable, or a credential variable is not set
            if self.backup is not None:
                self.backup.spool.close()
            raise
        publisher = NatsPublisher(self._nats, subject_prefix=self.config.nats.subject_prefix)
        aggregator = BestPriceAggregator(
            {broker.id: broker.priority for broker in brokers}, self.config.best_price.stale_after_ms
        )
        instruments = {broker.id: broker.instruments for broker in brokers}
        gate = QualityGate(self.config.quality.to_policy(), instruments)
        quality = BrokerQuality(
            self.config.broker_quality.to_policy(self.config.best_price.stale_after_ms), instruments, gate.pip_px
        )
        self.pipeline = Pipeline(
            gate,
            aggregator,
            publisher,
            self.config.nats.linger_ms,
            self.backup,
            session_id=self.started_ns,
            max_batch_ticks=self.config.nats.max_batch_ticks,
            quality=quality,
            publish_best=self.config.best_price.publish,
        )
        try:
            collectors = [self._collector_classes[broker.kind](broker, self.pipeline) for broker in brokers]
            state_dir = self.config.state_dir
            external_collectors = [
                self._external_classes[entry.kind](entry, self.pipeline, state_dir) for entry in external
            ]
            http = self.config.http
            self._http = (
                HealthServer(self.snapshot, http.host, http.port, live_page=http.live_page) if http.enabled else None
            )
        except (ConfigError, HttpBindError):
            await self._nats.close()
            if self.backup is not None:
                self.backup.spool.close()
            raise
        refused = await self._register() if self.config.central_hub.enabled else frozenset()
        for collector in collectors:
            config = collector.config
            if config.id in refused:
                continue
            self.collector_instances[config.id] = collector
            self.collectors[config.id] = CollectorStatus(config.id, collector.kind, config.priority)
            self._tasks[config.id] = asyncio.create_task(
                self._supervise(config.id, collector.run, self.collectors[config.id], broker=True),
                name=f"collector:{config.id}",
            )
        for external_collector in external_collectors:
            source = external_collector.source_id
            self.pipeline.add_external_source(source)
            self.external_instances[source] = external_collector
            self.external[source] = status = CollectorStatus(source, external_collector.kind, 0)
            self._tasks[source] = asyncio.create_task(
                self._supervise(source, external_collector.run, status, broker=False), name=f"external:{source}"
            )
        self._service_tasks = [
            asyncio.create_task(self._confirm_nats_deliveries(), name="nats-confirm"),
            asyncio.create_task(self._expire_stale_quotes(), name="best-price-expiry"),
            asyncio.create_task(self._observe_quality(), name="broker-quality"),
            asyncio.create_task(
                self._keep_running(self.pipeline.publish_lingering, "publish-lingering"), name="publish-lingering"
            ),
        ]
        if self.registration is not None:
            self._service_tasks.append(
                asyncio.create_task(self._keep_running(self.registration.run, "hub-heartbeat"), name="hub-heartbeat")
            )
        if self.backup is not None:
            self._backup_task = asyncio.create_task(self._keep_running(self.backup.run, "kafka-writer"), name="kafka")
            sync_interval_s = self.config.kafka.spool.fsync_interval_ms / 1000
            self._service_tasks.append(
                asyncio.create_task(self.backup.sync_periodically(sync_interval_s), name="spool-sync")
            )
        logger.info(
            "gateway %s started: %d collectors, %d external collectors, publishing to %s",
            self.config.instance_id,
            len(brokers),
            len(external),
            display_url(self.nats_url),
        )
        if self._http is not None:
            self._http.start()
            logger.info("gateway %s: /health and /metrics on %s", self.config.instance_id, self._http.url)
        if self.placement is not None:  # threads started from the event loop meanwhile (the libuv pool, on DNS)
            place_other_threads(self.placement.others)
        try:
            self._discovery = await start_discovery(self._nats, self._discovered_record)
        except (NatsError, TimeoutError, OSError) as exc:  # discovery is a convenience: never a reason not to run
            logger.warning("gateway %s: NATS service discovery not started: %r", self.config.instance_id, exc)

    def _discovered_record(self) -> dict[str, Any]:
        """What ``fxgw.info`` answers: the record the hub is sent, the same sources left out."""
        return self._record(self.registration.excluded if self.registration is not None else frozenset())

    async def _register(self) -> frozenset[str]:
        """Register with the Central Hub before the collectors start; the sources not to start (owned elsewhere)."""
        assert self.pipeline is not None
        self.registration = HubRegistration(self.config, self.pipeline.session_id, self._record)
        return await self.registration.register_at_start()

    def _record(self, excluded: frozenset[str]) -> dict[str, Any]:
        """This gateway's Central Hub record now, with the status and problems of its /health."""
        assert self.pipeline is not None
        status: str = "starting"
        problems: tuple[str, ...] = ()
        if self._tasks:  # the collectors run: /health has something to say
            report = self._http.report() if self._http is not None else assess(self.snapshot(), RecentActivity())
            status, problems = report.status.value, report.problems
        return build_record(self.config, self.pipeline.session_id, self.http_port, status, problems, excluded)

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the HTTP server and the collectors, publish what is pending, drain and close NATS."""
        self._stopping = True
        if self._http is not None:
            await self._http.stop(timeout_s)
        tasks = [*self._tasks.values(), *self._service_tasks]
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=timeout_s)
            if stuck:  # a task that swallowed its cancellation (nats-py's flush does): leave it, stop the rest
                names = ", ".join(sorted(task.get_name() for task in stuck))
                logger.warning(
                    "gateway %s: tasks did not stop within %.0f s: %s", self.config.instance_id, timeout_s, names
                )
        if self.pipeline is not None:
            await self.pipeline.publish_pending()
        if self.registration is not None:
            await self.registration.deregister(timeout_s)
        if self._discovery is not None:
            with contextlib.suppress(NatsError, OSError, RuntimeError, TimeoutError):
                await asyncio.wait_for(self._discovery.stop(), timeout_s)
        if self.backup is not None and self._backup_task is not None:
            await self.backup.drain(timeout_s)
            self._backup_task.cancel()
            await asyncio.gather(self._backup_task, return_exceptions=True)
            try:
                self.backup.spool.close()
            except SpoolError as exc:  # a full or failing disk: what is on it stays for the next start
                logger.error("gateway %s: %s", self.config.instance_id, exc)
        if self._nats is not None and not self._nats.is_closed:
            try:
                await asyncio.wait_for(self._nats.drain(), timeout_s)
            except (TimeoutError, NatsError, OSError, RuntimeError) as exc:
                logger.warning(
                    "gateway %s: NATS drain did not finish (%s); closing", self.config.instance_id, type(exc).__name__
                )
                # Closing a connection that is already lost raises from nats-py's transport (RuntimeError on uvloop).
                with contextlib.suppress(NatsError, OSError, RuntimeError, TimeoutError):
                    await asyncio.wait_for(self._nats.close(), timeout_s)
        logger.info("gateway %s stopped", self.config.instance_id)

    def _open_backup(self) -> KafkaBackup:
        """The Kafka writer and its spool; what an earlier run left in the spool is delivered first."""
        writer_cpus = self.placement.others if self.placement is not None else None
        backup = KafkaBackup.from_config(self.config.kafka, self.config.instance_id, writer_cpus)
        if backup.spool.pending_records:
            logger.info(
                "gateway %s: spool %s holds %d undelivered records from an earlier run; they go to Kafka first",
                self.config.instance_id,
                self.config.kafka.spool.dir,
                backup.spool.pending_records,
            )
        return backup

    async def _connect_nats(self) -> NatsClient:
        settings = self.config.nats
        instance = self.config.instance_id

        async def on_disconnected() -> None:
            if self._stopping:
                return
            unconfirmed = self.pipeline.publisher.connection_lost() if self.pipeline is not None else 0
            logger.warning(
                "gateway %s: NATS disconnected; buffering up to %d bytes; %d messages sent just before were not "
                "confirmed and may be lost (consumers see a batch_seq gap)",
                instance,
                settings.pending_bytes,
                unconfirmed,
            )

        async def on_reconnected() -> None:
            logger.info("gateway %s: NATS reconnected", instance)

        return await connect_nats(
            self.nats_url,
            name=instance,
            connect_timeout_s=settings.connect_timeout_s,
            reconnect_wait_s=settings.reconnect_wait_ms / 1000,
            pending_bytes=settings.pending_bytes,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            credentials=settings.credentials(),
        )

    async def _supervise(
        self, source: str, run: Callable[[], Awaitable[None]], status: CollectorStatus, *, broker: bool
    ) -> None:
        """Run a collector; on failure log, drop it from the best price (a broker) and restart with backoff.

        A failure that is a non-retriable GatewayError (a ConfigError, say) is final: the same
        collector would fail the same way again, so it stays FAILED and /health says why.
        """
        assert self.pipeline is not None
        backoff = Backoff(RESTART_BACKOFF_MIN_S, RESTART_BACKOFF_MAX_S)
        while True:
            started = time.monotonic()
            status.state = CollectorState.RUNNING
            try:
                await run()
            except Exception as exc:
                status.state = CollectorState.FAILED
                status.last_error = clip(redact(f"{type(exc).__name__}: {exc}"))
                status.restarts += 1
                if isinstance(exc, GatewayError) and not exc.retriable:
                    logger.error("collector %s failed and is not restarted: %s", source, exc)
                    if broker:
                        await self.pipeline.source_down(source, now_ns())
                    return
                if time.monotonic() - started >= HEALTHY_RUN_S:
                    backoff.reset()
                delay_s = backoff.next_delay()
                logger.exception("collector %s failed; restarting in %.1f s", source, delay_s)
            else:
                logger.info("collector %s finished: its source has no more data", source)
                status.state = CollectorState.FINISHED
                if broker:
                    await self.pipeline.source_down(source, now_ns())
                return
            if broker:
                await self.pipeline.source_down(source, now_ns())
            await asyncio.sleep(delay_s)

    async def _keep_running(self, service: Callable[[], Awaitable[None]], name: str) -> None:
        """Run a gateway service coroutine; if it fails, log it and start it again."""
        while True:
            try:
                await service()
            except Exception:  # service loop top: log and restart
                logger.exception("gateway %s: %s failed; restarting it", self.config.instance_id, name)
                await asyncio.sleep(RESTART_BACKOFF_MIN_S)

    async def _confirm_nats_deliveries(self) -> None:
        """Once a second, have nats-server confirm what was published (PING/PONG), so an outage can count its loss."""
        assert self.pipeline is not None and self._nats is not None
        publisher, client = self.pipeline.publisher, self._nats
        while True:
            await asyncio.sleep(NATS_CONFIRM_INTERVAL_S)
            if not client.is_connected:
                continue
            try:
                await publisher.confirm(lambda: client.flush(timeout=NATS_CONFIRM_TIMEOUT_S))
            except (NatsError, TimeoutError, OSError, RuntimeError) as exc:  # the outage itself reports
                logger.debug("gateway %s: NATS confirmation: %r", self.config.instance_id, exc)

    async def _expire_stale_quotes(self) -> None:
        """Take quotes that went stale out of the best price, a few times per staleness window."""
        assert self.pipeline is not None
        interval_s = min(1.0, max(0.05, self.config.best_price.stale_after_ms / 4 / 1000))
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.pipeline.expire(now_ns())
            except Exception:
                logger.exception("gateway %s: best-price expiry failed", self.config.instance_id)

    async def _observe_quality(self) -> None:
        """Once a second, the broker-quality figures that need time to pass (gateway.broker_quality.observe)."""
        assert self.pipeline is not None
        while True:
            await asyncio.sleep(QUALITY_INTERVAL_S)
            try:
                delivering = {
                    source_id: self._source_snapshot(
                        status, self.pipeline.sources.get(source_id) or SourceStats()
                    ).delivering
                    for source_id, status in self.collectors.items()
                }
                now = now_ns()
                self.pipeline.quality.observe(now, delivering, self.pipeline.aggregator.time_at_best(now))
            except Exception:  # timer top: keep measuring
                logger.exception("gateway %s: broker quality failed", self.config.instance_id)

    @property
    def http_port(self) -> int | None:
        """The port of /health and /metrics (the one chosen when ``http.port`` is 0); None when disabled."""
        return self._http.port if self._http is not None else None

    @property
    def nats_connected(self) -> bool:
        return self._nats is not None and self._nats.is_connected

    def uptime_ns(self) -> int:
        return now_ns() - self.started_ns if self.started_ns else 0

    def snapshot(self) -> GatewaySnapshot:
        """The counters of the started gateway's parts, copied now: what /health, /metrics and the status line show.

        Taken when asked (an HTTP request, the once-a-second samplers of gateway.ops), never on the tick path.
        """
        pipeline = self.pipeline
        assert pipeline is not None, "a snapshot needs a started gateway"
        published = pipeline.publisher.stats
        return GatewaySnapshot(
            instance_id=self.config.instance_id,
            session_id=pipeline.session_id,
            uptime_s=self.uptime_ns() / NS_PER_S,
            nats=NatsSnapshot(
                connected=self.nats_connected,
                url=display_url(self.nats_url),
                messages=published.messages,
                ticks=published.ticks,
                ticks_dropped=published.ticks_dropped,
                best_prices_dropped=published.best_prices_dropped,
                rejections_dropped=published.rejections_dropped,
                statuses_dropped=published.statuses_dropped,
                external_dropped=published.external_dropped,
                unconfirmed_at_outages=published.unconfirmed_at_outages,
                outages=published.outages,
            ),
            sources={
                source_id: self._source_snapshot(status, pipeline.sources.get(source_id) or SourceStats())
                for source_id, status in self.collectors.items()
            },
            kafka=kafka_snapshot(self.backup, self.config.kafka.max_unacked_age_s) if self.backup is not None else None,
            best=tuple(pipeline.aggregator.current().values()),
            external={
                source_id: self._external_snapshot(status, pipeline.external.get(source_id) or ExternalSourceStats())
                for source_id, status in self.external.items()
            },
            quality=pipeline.quality.report(now_ns()),
            hub=self._hub_snapshot(self.registration) if self.registration is not None else None,
            placement=self.placement,
        )

    def _hub_snapshot(self, registration: HubRegistration) -> HubSnapshot:
        stats = registration.stats
        return HubSnapshot(
            url=registration.hub_url,
            registered=stats.registered,
            heartbeats=stats.heartbeats,
            failures=stats.failures,
            last_error=stats.last_error,
            refused_sources=dict(stats.refused_sources),
            contested_sources=dict(stats.contested_sources),
        )

    def _external_snapshot(self, status: CollectorStatus, counted: ExternalSourceStats) -> ExternalSnapshot:
        stats = self.external_instances[status.source].stats
        last_error = stats.last_error if status.state is CollectorState.RUNNING else status.last_error
        return ExternalSnapshot(
            kind=status.kind,
            state=status.state.value,
            status=stats.state,
            connection=counted.status,
            published=counted.published,
            polls_ok=stats.polls_ok,
            polls_failed=stats.polls_failed,
            polls_not_modified=stats.polls_not_modified,
            items_new=stats.items_new,
            items_updated=stats.items_updated,
            items_unchanged=stats.items_unchanged,
            items_current=stats.items_current,
            problems=dict(sorted(stats.problems.items())),
            last_error=clip(redact(last_error or status.last_error)),
            last_success_ns=stats.last_success_ns,
        )

    def _source_snapshot(self, status: CollectorStatus, counted: SourceStats) -> SourceSnapshot:
        connection = self.collector_instances[status.source].connection
        last_error = status.last_error  # why the collector last failed; while it runs, why its connection ended
        if connection is not None and status.state is CollectorState.RUNNING:
            last_error = connection.last_error or last_error
        return SourceSnapshot(
            kind=status.kind,
            priority=status.priority,
            state=status.state.value,
            connection=counted.status,
            has_connection=connection is not None,
            accepted=counted.accepted,
            rejected={
                reason.removeprefix("REJECTION_REASON_"): count for reason, count in sorted(counted.rejected.items())
            },
            unauthorized=connection is not None and connection.unauthorized,
            last_error=clip(redact(last_error)),
            unavailable_instruments=connection.unavailable_instruments if connection is not None else (),
        )
