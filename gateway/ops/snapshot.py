"""The read model of operations: what the gateway counted, copied into frozen values at one moment.

The gateway takes a :class:`GatewaySnapshot` when asked (``Gateway.snapshot``,
gateway.app): per request of /health or /metrics, once a second for the rate
sampling and the status line. Nothing is copied on the tick path. /health
(gateway.ops.health), /metrics (gateway.ops.metrics) and the status line
(gateway.ops.status_line) render from a snapshot and know nothing else of the
gateway; what they report over time (rates, recent drops) comes from
successive snapshots (gateway.ops.activity).

New measures of the gateway (latency, spread, completeness, ...) join as fields
of these classes, filled by ``Gateway.snapshot``; the renderers then show them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.aggregator import BestQuote
from gateway.broker_quality import QualityReport
from gateway.echo import clip
from gateway.events import connection_delivers
from gateway.placement import Placement
from gateway.schema.market.v1.market_pb2 import SourceStatus
from gateway.secrets import redact

if TYPE_CHECKING:
    from gateway.kafka.backup import KafkaBackup

_STATE_PREFIX = "STATE_"


@dataclass(slots=True, frozen=True)
class SourceSnapshot:
    """One configured source: its collector, its connection and the pipeline's counters for it.

    ``state`` is the collector's (``running``, ``failed``, ``finished``). ``connection`` is the last
    SourceStatus the source published, STATE_UNSPECIFIED before any and for sources that publish none;
    ``has_connection`` tells whether the collector has a connection to a provider at all (OANDA does; the
    simulated and recorded-file collectors do not). ``rejected`` counts rejected quotes and input by reason,
    named without the ``REJECTION_REASON_`` prefix (``CROSSED``). ``last_error`` is why the collector last
    failed or, while it runs with a connection, why its connection last ended.
    """

    kind: str
    priority: int = 0
    state: str = "running"
    connection: SourceStatus.State = SourceStatus.STATE_UNSPECIFIED
    has_connection: bool = False
    accepted: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)
    unauthorized: bool = False
    """The provider refuses the credentials (401/403): the collector's own finding."""
    last_error: str = ""
    unavailable_instruments: tuple[str, ...] = ()
    """Configured instruments the account does not offer."""

    @property
    def connection_name(self) -> str | None:
        """The published connection state in lower case (``connected``, ``unauthorized``, ...); None before any."""
        if self.connection == SourceStatus.STATE_UNSPECIFIED:
            return None
        return SourceStatus.State.Name(self.connection).removeprefix(_STATE_PREFIX).lower()

    @property
    def token_refused(self) -> bool:
        """The collector found its token refused, or the source published UNAUTHORIZED."""
        return self.unauthorized or self.connection == SourceStatus.STATE_UNAUTHORIZED

    @property
    def delivering(self) -> bool:
        """The collector runs, its token is not refused and its connection delivers.

        With a connection, the last published state decides by gateway.events.connection_delivers (none
        published yet: not delivering); a source without a connection delivers while its collector runs.
        """
        if self.state != "running" or self.token_refused:
            return False
        if self.connection == SourceStatus.STATE_UNSPECIFIED:
            return not self.has_connection
        return connection_delivers(self.connection)


@dataclass(slots=True, frozen=True)
class ExternalSnapshot:
    """One configured external collector: its task, its own findings (gateway.events.ExternalStats) and what the
    pipeline published for it.

    ``state`` is the collector task's (``running``, ``failed``, ``finished``); ``status`` the collector's own
    (``starting``, ``ok``, ``unauthorized``, ``rate_limited``, ``refused``, ``failing``, ``malformed``);
    ``connection`` the last SourceStatus it published.
    """

    kind: str
    state: str = "running"
    status: str = "starting"
    connection: SourceStatus.State = SourceStatus.STATE_UNSPECIFIED
    published: int = 0
    polls_ok: int = 0
    polls_failed: int = 0
    polls_not_modified: int = 0
    items_new: int = 0
    items_updated: int = 0
    items_unchanged: int = 0
    items_current: int = 0
    problems: Mapping[str, int] = field(default_factory=dict)
    last_error: str = ""
    last_success_ns: int = 0

    @property
    def delivering(self) -> bool:
        """The task runs and its last poll brought data."""
        return self.state == "running" and self.status == "ok"

    @property
    def connection_name(self) -> str | None:
        """The published connection state in lower case; None before any."""
        if self.connection == SourceStatus.STATE_UNSPECIFIED:
            return None
        return SourceStatus.State.Name(self.connection).removeprefix(_STATE_PREFIX).lower()


@dataclass(slots=True, frozen=True)
class NatsSnapshot:
    """The NATS connection and what the publisher counted since start."""

    connected: bool
    url: str
    messages: int = 0
    ticks: int = 0
    ticks_dropped: int = 0
    """Ticks in messages NATS did not take (its buffer was full while disconnected)."""
    best_prices_dropped: int = 0
    rejections_dropped: int = 0
    statuses_dropped: int = 0
    external_dropped: int = 0
    """External items in messages NATS did not take."""
    unconfirmed_at_outages: int = 0
    """Messages published but not yet confirmed by nats-server when a connection dropped: possibly lost."""
    outages: int = 0
    """Connections to NATS lost since start."""


@dataclass(slots=True, frozen=True)
class KafkaSnapshot:
    """The Kafka backup and its spool; the counts are since start."""

    connected: bool
    spool_pending_records: int = 0
    spool_pending_bytes: int = 0
    spool_full: bool = False
    records_dropped: int = 0
    """Records left out of the Kafka copy (spool full or a spool write failed)."""
    ticks_dropped: int = 0
    records_sent: int = 0
    last_error: str = ""
    last_spool_error: str = ""
    oldest_unacked_age_s: float = 0.0
    """Seconds the oldest spooled record has waited for Kafka's acknowledgement (0 when none waits)."""
    max_unacked_age_s: float = 5.0
    """Beyond this wait Kafka counts as stalled (config ``kafka.max_unacked_age_s``)."""
    records_set_aside: int = 0
    """Records Kafka refused as too large, left out of the Kafka copy so the rest goes on."""
    last_set_aside: str = ""
    spool_corrupt_records: int = 0
    """Records the spool found damaged on disk when it was opened (lost from the Kafka copy; see README)."""
    writer_pid: int | None = None
    """The Kafka writer process (gateway.kafka.writer), while one runs."""
    writer_restarts: int = 0
    """Writer processes started again after one exited (killed or crashed)."""

    @property
    def stalled(self) -> bool:
        """Records wait for Kafka longer than the limit: connected or not, the copy is not keeping up."""
        return self.oldest_unacked_age_s > self.max_unacked_age_s


@dataclass(slots=True, frozen=True)
class HubSnapshot:
    """The registration with the Central Hub (gateway.registration), when ``central_hub.enabled``."""

    url: str
    registered: bool
    heartbeats: int = 0
    failures: int = 0
    """Registrations and heartbeats that did not get through since start."""
    last_error: str = ""
    refused_sources: Mapping[str, str] = field(default_factory=dict)
    """Sources not started because another instance owns them: source id -> owner."""
    contested_sources: Mapping[str, str] = field(default_factory=dict)
    """Sources running here although the hub names another owner (learned after start): source id -> owner."""


@dataclass(slots=True, frozen=True)
class GatewaySnapshot:
    """The whole gateway at one moment."""

    instance_id: str
    session_id: int
    uptime_s: float
    nats: NatsSnapshot
    sources: Mapping[str, SourceSnapshot]
    """By source id, in configuration order."""
    kafka: KafkaSnapshot | None = None
    """None when the Kafka backup is disabled."""
    best: tuple[BestQuote, ...] = ()
    """The best price of every instrument with a live source; the aggregator never changes a reported BestQuote."""
    external: Mapping[str, ExternalSnapshot] = field(default_factory=dict)
    """External collectors by id, in configuration order."""
    hub: HubSnapshot | None = None
    """None when ``central_hub`` is disabled."""
    quality: QualityReport | None = None
    """Broker quality figures and recommendations (gateway.broker_quality); None when not measured."""
    placement: Placement | None = None
    """Where the event loop and the rest run (config ``cpus``); None: wherever the OS puts them."""

    def accepted_counts(self) -> dict[str, int]:
        """Ticks accepted since start, by source."""
        return {source_id: source.accepted for source_id, source in self.sources.items()}

    @property
    def rejected_total(self) -> int:
        """Quotes and input rejected since start, all sources and reasons."""
        return sum(sum(source.rejected.values()) for source in self.sources.values())


def kafka_snapshot(backup: KafkaBackup, max_unacked_age_s: float) -> KafkaSnapshot:
    """The Kafka backup's counters now (a gateway's or the standalone aggregator's); errors redacted and clipped."""
    stats = backup.stats
    return KafkaSnapshot(
        connected=stats.connected,
        spool_pending_records=backup.spool.pending_records,
        spool_pending_bytes=backup.spool.pending_bytes,
        spool_full=backup.spool.full,
        records_dropped=stats.records_dropped,
        ticks_dropped=stats.ticks_dropped,
        records_sent=stats.records_sent,
        last_error=clip(redact(stats.last_error)),
        last_spool_error=stats.last_spool_error,
        oldest_unacked_age_s=backup.oldest_pending_age_s(),
        max_unacked_age_s=max_unacked_age_s,
        records_set_aside=stats.records_set_aside,
        last_set_aside=stats.last_set_aside,
        spool_corrupt_records=backup.spool.stats.corrupt_records,
        writer_pid=stats.writer_pid,
        writer_restarts=stats.writer_restarts,
    )
