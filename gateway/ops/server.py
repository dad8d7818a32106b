"""Operations endpoint: GET /health and GET /metrics, served by uvicorn inside the gateway's event loop.

Shape: :func:`take_snapshot` copies the gateway's own counters into frozen
dataclasses (:class:`GatewaySnapshot`); two pure functions answer from a
snapshot: :func:`assess` gives the /health status, problems and document,
:func:`metric_families` the Prometheus metrics. Nothing is counted twice:
/metrics reads the same counters at scrape time, through a prometheus-client
collector on a registry of this server's own (not the global one).

Status rules; ``problems`` has one sentence per finding and is empty exactly when the status is ``ok``:

- ``down`` (HTTP 503): NATS is not connected, or no source is delivering. A
  source delivers while its collector runs and, if it has a connection
  (OANDA), that connection is CONNECTED or RECONNECTED; sources without one
  (simulated, replay) deliver while their collector runs.
- ``degraded`` (HTTP 200): a source does not deliver (collector failed or
  finished, disconnected, token refused, request rejected, not connected
  yet) or its account lacks configured instruments; Kafka is unreachable;
  the spool is full, or records were dropped from the Kafka copy in the last
  ``DROP_MEMORY_S`` (5 min); NATS dropped ticks in that time. The totals since
  start stay in the document and in /metrics; only recent drops degrade, so
  the status clears once the hole is that old.
- ``ok`` otherwise.

``ticks_per_s`` is the rate over a rolling window of the last 10 s (shorter
right after start), from the accepted counters sampled once a second: unlike
a rate since the previous call, it does not depend on who else asks.

The listening socket is bound when :class:`HealthServer` is created, so a
busy port fails the gateway's start before anything else is opened, as an
:class:`HttpBindError` naming the address.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from gateway.clock import NS_PER_S
from gateway.errors import HttpBindError
from gateway.schema.market.v1.market_pb2 import SourceStatus

if TYPE_CHECKING:
    from gateway.app import Gateway

logger = logging.getLogger(__name__)

RATE_WINDOW_S: Final = 10
DROP_MEMORY_S: Final = 300
"""How long a drop (NATS or the Kafka copy) keeps /health degraded."""
RATE_SAMPLE_INTERVAL_S: Final = 1.0
SHUTDOWN_GRACE_S: Final = 2
"""Longest wait for open HTTP requests when the gateway stops."""
_DELIVERING: Final = frozenset({"connected", "reconnected"})
_REASON_PREFIX: Final = "REJECTION_REASON_"
_STATE_PREFIX: Final = "STATE_"


class HealthStatus(enum.Enum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def http_status(self) -> int:
        """200 while the gateway publishes (even degraded), 503 when it does not."""
        return 503 if self is HealthStatus.DOWN else 200


# -- snapshots: plain values, read from the gateway at one moment ----------------------------------------------


@dataclass(slots=True, frozen=True)
class SourceSnapshot:
    """One configured source.

    ``state`` is the collector's (``running``, ``failed``, ``finished``); ``connection`` the last SourceStatus
    it published, lowercased (``connected``, ``unauthorized``, ...), or None before any or for sources
    without a connection, which ``has_connection`` tells apart. ``rejected`` counts by reason name.
    """

    kind: str
    priority: int = 0
    state: str = "running"
    connection: str | None = None
    has_connection: bool = False
    accepted: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)
    ticks_per_s: float = 0.0
    unauthorized: bool = False
    last_error: str = ""
    unavailable_instruments: tuple[str, ...] = ()

    @property
    def token_refused(self) -> bool:
        return self.unauthorized or self.connection == "unauthorized"

    @property
    def delivering(self) -> bool:
        if self.state != "running" or self.token_refused:
            return False
        return not self.has_connection if self.connection is None else self.connection in _DELIVERING


@dataclass(slots=True, frozen=True)
class NatsSnapshot:
    connected: bool
    url: str
    messages: int = 0
    ticks: int = 0
    ticks_dropped: int = 0
    ticks_dropped_recently: int = 0
    """Within the last DROP_MEMORY_S."""


@dataclass(slots=True, frozen=True)
class KafkaSnapshot:
    """The Kafka backup and its spool; ``records_*``/``ticks_dropped`` count since start, ``*_recently`` within
    the last DROP_MEMORY_S."""

    connected: bool
    spool_pending_records: int = 0
    spool_pending_bytes: int = 0
    spool_full: bool = False
    records_dropped: int = 0
    ticks_dropped: int = 0
    records_dropped_recently: int = 0
    records_sent: int = 0
    last_error: str = ""
    last_spool_error: str = ""


@dataclass(slots=True, frozen=True)
class GatewaySnapshot:
    instance_id: str
    session_id: int
    uptime_s: float
    nats: NatsSnapshot
    sources: Mapping[str, SourceSnapshot]
    kafka: KafkaSnapshot | None = None
    """None when the Kafka backup is disabled."""


@dataclass(slots=True, frozen=True)
class HealthReport:
    status: HealthStatus
    problems: tuple[str, ...]
    document: dict[str, Any]
    """The /health JSON body."""


# -- the pure answers -------------------------------------------------------------------------------------------


def assess(snapshot: GatewaySnapshot) -> HealthReport:
    """The /health answer for a snapshot: status by the module docstring's rules, problems, JSON document."""
    down: list[str] = []
    degraded: list[str] = []
    nats = snapshot.nats
    if not nats.connected:
        down.append(f"nats disconnected ({nats.url})")
    if not any(source.delivering for source in snapshot.sources.values()):
        down.append("no source connected or running")
    for source_id, source in snapshot.sources.items():
        degraded.extend(_source_problems(source_id, source))
    if snapshot.kafka is not None:
        degraded.extend(_kafka_problems(snapshot.kafka))
    if nats.ticks_dropped_recently:
        degraded.append(
            f"nats dropped {nats.ticks_dropped_recently:,} ticks in the last {DROP_MEMORY_S // 60} min "
            f"(buffer full while disconnected)"
        )
    status = HealthStatus.DOWN if down else HealthStatus.DEGRADED if degraded else HealthStatus.OK
    problems = (*down, *degraded)
    document = {
        "status": status.value,
        "problems": list(problems),
        "uptime_s": round(snapshot.uptime_s, 3),
        "instance_id": snapshot.instance_id,
        "session_id": snapshot.session_id,
        "nats": {
            "connected": nats.connected,
            "url": nats.url,
            "messages": nats.messages,
            "ticks": nats.ticks,
            "ticks_dropped": nats.ticks_dropped,
        },
        "sources": {source_id: _source_document(source) for source_id, source in snapshot.sources.items()},
        "kafka": _kafka_document(snapshot.kafka) if snapshot.kafka is not None else None,
    }
    return HealthReport(status, problems, document)


def _source_problems(source_id: str, source: SourceSnapshot) -> Iterator[str]:
    if source.state == "failed":
        yield f"collector {source_id} failed: {source.last_error}"
    elif source.state == "finished":
        yield f"collector {source_id} finished: its source has no more data"
    elif source.token_refused:
        yield f"{source_id}: token refused (UNAUTHORIZED)"
    elif source.connection == "rejected":
        yield f"{source_id}: request refused by the broker (REJECTED)" + _because(source.last_error)
    elif source.connection == "disconnected":
        yield f"{source_id}: disconnected" + _because(source.last_error)
    elif source.has_connection and source.connection is None:
        yield f"{source_id}: not connected yet"
    if source.unavailable_instruments:
        yield f"{source_id}: the account does not offer {', '.join(source.unavailable_instruments)}"


def _kafka_problems(kafka: KafkaSnapshot) -> Iterator[str]:
    if not kafka.connected:
        what = "kafka unreachable" + _because(kafka.last_error) if kafka.last_error else "kafka not connected yet"
        yield f"{what}; {kafka.spool_pending_records:,} records wait in the spool"
    if kafka.spool_full:
        yield f"kafka spool full: {kafka.records_dropped:,} records dropped from the Kafka copy"
    elif kafka.records_dropped_recently:
        yield (
            f"kafka copy incomplete: {kafka.records_dropped_recently:,} records dropped in the last "
            f"{DROP_MEMORY_S // 60} min ({kafka.records_dropped:,} records, {kafka.ticks_dropped:,} ticks since start)"
            + _because(kafka.last_spool_error)
        )


def _because(error: str) -> str:
    return f" ({error})" if error else ""


def _source_document(source: SourceSnapshot) -> dict[str, Any]:
    return {
        "kind": source.kind,
        "priority": source.priority,
        "state": source.state,
        "connection": source.connection,
        "accepted": source.accepted,
        "rejected": dict(source.rejected),
        "ticks_per_s": round(source.ticks_per_s, 1),
        "unauthorized": source.token_refused,
        "last_error": source.last_error,
        "unavailable_instruments": list(source.unavailable_instruments),
    }


def _kafka_document(kafka: KafkaSnapshot) -> dict[str, Any]:
    return {
        "enabled": True,
        "connected": kafka.connected,
        "spool_pending_records": kafka.spool_pending_records,
        "spool_pending_bytes": kafka.spool_pending_bytes,
        "spool_full": kafka.spool_full,
        "records_dropped": kafka.records_dropped,
        "ticks_dropped": kafka.ticks_dropped,
        "records_sent": kafka.records_sent,
        "last_error": kafka.last_error,
        "last_spool_error": kafka.last_spool_error,
    }


def metric_families(snapshot: GatewaySnapshot) -> list[Metric]:
    """The Prometheus metrics of a snapshot; the ``fxgw_kafka_*`` ones only when the Kafka backup is enabled."""
    accepted = CounterMetricFamily(
        "fxgw_ticks_accepted_total", "Ticks accepted by the quality gate.", labels=["source"]
    )
    rejected = CounterMetricFamily(
        "fxgw_ticks_rejected_total", "Quotes and input rejected, by reason.", labels=["source", "reason"]
    )
    connected = GaugeMetricFamily(
        "fxgw_source_connected",
        "1 while the source delivers: connection CONNECTED or RECONNECTED (without a connection: collector running).",
        labels=["source"],
    )
    unauthorized = GaugeMetricFamily(
        "fxgw_source_unauthorized", "1 while the broker refuses the source's token (401/403).", labels=["source"]
    )
    for source_id, source in snapshot.sources.items():
        accepted.add_metric([source_id], source.accepted)
        for reason, count in source.rejected.items():
            rejected.add_metric([source_id, reason], count)
        connected.add_metric([source_id], int(source.delivering))
        unauthorized.add_metric([source_id], int(source.token_refused))
    nats = snapshot.nats
    families: list[Metric] = [
        accepted,
        rejected,
        connected,
        unauthorized,
        GaugeMetricFamily("fxgw_nats_connected", "1 while connected to NATS.", value=int(nats.connected)),
        CounterMetricFamily(
            "fxgw_nats_ticks_dropped_total", "Ticks NATS did not take (buffer full).", value=nats.ticks_dropped
        ),
        GaugeMetricFamily("fxgw_uptime_seconds", "Seconds since the gateway started.", value=snapshot.uptime_s),
    ]
    kafka = snapshot.kafka
    if kafka is not None:
        families += [
            GaugeMetricFamily("fxgw_kafka_connected", "1 while Kafka takes records.", value=int(kafka.connected)),
            GaugeMetricFamily(
                "fxgw_kafka_spool_pending_records",
                "Records in the spool not yet in Kafka.",
                value=kafka.spool_pending_records,
            ),
            GaugeMetricFamily(
                "fxgw_kafka_spool_pending_bytes", "Spool bytes not yet in Kafka.", value=kafka.spool_pending_bytes
            ),
            GaugeMetricFamily(
                "fxgw_kafka_spool_full",
                "1 while the spool is full: new records skip Kafka.",
                value=int(kafka.spool_full),
            ),
            CounterMetricFamily(
                "fxgw_kafka_records_dropped_total", "Records left out of the Kafka copy.", value=kafka.records_dropped
            ),
            CounterMetricFamily(
                "fxgw_kafka_ticks_dropped_total", "Ticks left out of the Kafka copy.", value=kafka.ticks_dropped
            ),
            CounterMetricFamily("fxgw_kafka_records_sent_total", "Records Kafka confirmed.", value=kafka.records_sent),
        ]
    return families


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


# -- reading the gateway ----------------------------------------------------------------------------------------


@runtime_checkable
class ConnectionStats(Protocol):
    """What a collector with a connection to its broker exposes as ``stats`` (OANDA's StreamStats)."""

    unauthorized: bool
    last_error: str
    unavailable_instruments: tuple[str, ...]


def accepted_counts(gateway: Gateway) -> dict[str, int]:
    pipeline = gateway.pipeline
    return {source: stats.accepted for source, stats in pipeline.sources.items()} if pipeline is not None else {}


def drop_counts(gateway: Gateway) -> dict[str, int]:
    """Totals of what was dropped since start: NATS ticks and records of the Kafka copy."""
    pipeline = gateway.pipeline
    counts = {"nats": pipeline.publisher.stats.ticks_dropped if pipeline is not None else 0}
    if gateway.backup is not None:
        counts["kafka"] = gateway.backup.stats.records_dropped
    return counts


def take_snapshot(
    gateway: Gateway, rates: Mapping[str, float], recent_drops: Mapping[str, int] | None = None
) -> GatewaySnapshot:
    """Copy what /health and /metrics report from a started gateway's counters.

    ``rates`` are ticks/s by source; ``recent_drops`` what :func:`drop_counts` grew by lately (default: all of it).
    """
    recent = drop_counts(gateway) if recent_drops is None else recent_drops
    pipeline = gateway.pipeline
    sources = pipeline.sources if pipeline is not None else {}
    publish = pipeline.publisher.stats if pipeline is not None else None
    snapshots: dict[str, SourceSnapshot] = {}
    for source_id, status in gateway.collectors.items():
        stats = sources.get(source_id)
        connection_stats = getattr(gateway.collector_instances.get(source_id), "stats", None)
        if not isinstance(connection_stats, ConnectionStats):
            connection_stats = None
        connection = None
        if stats is not None and stats.status != SourceStatus.STATE_UNSPECIFIED:
            connection = SourceStatus.State.Name(stats.status).removeprefix(_STATE_PREFIX).lower()
        last_error = status.last_error  # why the collector last failed; while it runs, its stream's last error
        if connection_stats is not None and status.state.value == "running":
            last_error = connection_stats.last_error or last_error
        snapshots[source_id] = SourceSnapshot(
            kind=status.kind,
            priority=status.priority,
            state=status.state.value,
            connection=connection,
            has_connection=connection_stats is not None,
            accepted=stats.accepted if stats is not None else 0,
            rejected={reason.removeprefix(_REASON_PREFIX): n for reason, n in sorted(stats.rejected.items())}
            if stats is not None
            else {},
            ticks_per_s=rates.get(source_id, 0.0),
            unauthorized=connection_stats is not None and connection_stats.unauthorized,
            last_error=last_error,
            unavailable_instruments=connection_stats.unavailable_instruments if connection_stats is not None else (),
        )
    kafka = None
    backup = gateway.backup
    if backup is not None:
        kafka_stats = backup.stats
        kafka = KafkaSnapshot(
            connected=kafka_stats.connected,
            spool_pending_records=backup.spool.pending_records,
            spool_pending_bytes=backup.spool.pending_bytes,
            spool_full=kafka_stats.spool_full,
            records_dropped=kafka_stats.records_dropped,
            ticks_dropped=kafka_stats.ticks_dropped,
            records_dropped_recently=recent.get("kafka", 0),
            records_sent=kafka_stats.records_sent,
            last_error=kafka_stats.last_error,
            last_spool_error=kafka_stats.last_spool_error,
        )
    return GatewaySnapshot(
        instance_id=gateway.config.instance_id,
        session_id=gateway.started_ns,
        uptime_s=gateway.uptime_ns() / NS_PER_S,
        nats=NatsSnapshot(
            connected=gateway.nats_connected,
            url=gateway.nats_url,
            messages=publish.messages if publish is not None else 0,
            ticks=publish.ticks if publish is not None else 0,
            ticks_dropped=publish.ticks_dropped if publish is not None else 0,
            ticks_dropped_recently=recent.get("nats", 0),
        ),
        sources=snapshots,
        kafka=kafka,
    )


class GatewayMetrics:
    """A prometheus-client collector that reads the gateway's counters at scrape time."""

    def __init__(self, snapshot: Callable[[], GatewaySnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        return metric_families(self._snapshot())


# -- the server -------------------------------------------------------------------------------------------------


def create_app(report: Callable[[], HealthReport], registry: CollectorRegistry) -> FastAPI:
    """The HTTP routes. Handlers are coroutines, so they run on the gateway's event loop, never in a thread."""
    app = FastAPI(title="fxgw", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    async def health() -> JSONResponse:
        answer = report()
        return JSONResponse(answer.document, status_code=answer.status.http_status)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0 = any free port), not yet listening; raises HttpBindError."""
    address = f"{host}:{port}"
    try:
        family, kind, protocol, _, sockaddr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise HttpBindError(f"cannot listen on {address} for /health and /metrics: {exc.strerror}") from exc
    sock = socket.socket(family, kind, protocol)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio does: a restart need not wait
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        raise HttpBindError(
            f"cannot listen on {address} for /health and /metrics (http.host, http.port): {exc.strerror}"
        ) from exc
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: SIGINT and SIGTERM belong to the gateway, which stops this server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HealthServer:
    """/health and /metrics for one gateway: binds at creation, serves from :meth:`start` until :meth:`stop`."""

    def __init__(self, gateway: Gateway, host: str, port: int) -> None:
        """Binds the socket now; raises HttpBindError when the address is not available."""
        self._gateway = gateway
        self._socket = bind_socket(host, port)
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        self._rates = RateWindow()
        self._drops = RateWindow(DROP_MEMORY_S)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(GatewayMetrics(self.snapshot))
        config = uvicorn.Config(
            create_app(self.report, self.registry),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        )
        self._server = _Server(config)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def snapshot(self) -> GatewaySnapshot:
        gateway = self._gateway
        now_ns = time.monotonic_ns()
        rates = self._rates.rates(now_ns, accepted_counts(gateway))
        return take_snapshot(gateway, rates, self._drops.increases(now_ns, drop_counts(gateway)))

    def report(self) -> HealthReport:
        return assess(self.snapshot())

    def start(self) -> None:
        """Serve and sample rates, as two named tasks of the running loop."""
        self._tasks = [
            asyncio.create_task(self._serve(), name="http"),
            asyncio.create_task(self._sample_rates(), name="http-rates"),
        ]

    async def stop(self, timeout_s: float) -> None:
        """Stop accepting, let open requests finish within ``timeout_s``, then cancel what is left."""
        self._server.should_exit = True
        serving = self._tasks[:1]
        if serving:
            _, pending = await asyncio.wait(serving, timeout=timeout_s)
            if pending:
                logger.warning("http %s: did not stop within %.0f s; cancelled", self.url, timeout_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.close()

    def close(self) -> None:
        """Release the socket (also when the server never started)."""
        self._socket.close()

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._socket])
        except Exception:  # task top: /health is gone, the gateway keeps publishing; say so
            logger.exception("http %s: the server failed; /health and /metrics are unavailable", self.url)

    async def _sample_rates(self) -> None:
        while True:
            try:
                now_ns = time.monotonic_ns()
                self._rates.observe(now_ns, accepted_counts(self._gateway))
                self._drops.observe(now_ns, drop_counts(self._gateway))
            except Exception:  # task top: keep sampling
                logger.exception("http %s: sampling tick rates failed", self.url)
            await asyncio.sleep(RATE_SAMPLE_INTERVAL_S)
