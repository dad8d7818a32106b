"""The standalone aggregator's /health and /metrics answers (pure): rendered from an :class:`AggregateSnapshot`.

The HTTP endpoint itself is the gateway's (gateway.ops.server.HttpEndpoint, without the live page); the
Kafka part renders as a gateway's does (gateway.ops.health, gateway.ops.metrics), so the ``fxgw_kafka_*``
metrics mean the same in both. Status rules; ``problems`` has one sentence per finding and is empty exactly
when the status is ``ok``:

- ``down`` (HTTP 503): NATS is not connected (nothing is read, nothing is published).
- ``degraded`` (HTTP 200): the last lease attempt was not answered (neither holder nor standby knows it may
  publish); no gateway message has been read yet; a source is suspect (a ``batch_seq`` gap took its quotes out
  of the best price, and it has not quoted those instruments since); Kafka unreachable, stalled or its spool
  full (gateway.ops.health's rules).
- ``ok`` otherwise. A standby is ``ok``: it computes and waits, which is its job.

Labels are bounded: ``source`` by gateway.aggregate.feed.MAX_SOURCES; no instrument label (the suspect
instruments are counted per source).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from gateway.ops.health import HealthReport, HealthStatus, kafka_document, kafka_problems
from gateway.ops.metrics import kafka_families
from gateway.ops.snapshot import KafkaSnapshot

MAX_SUSPECTS_SHOWN = 20
"""Suspect sources named in /health's problems (all are in the document and /metrics)."""


@dataclass(slots=True, frozen=True)
class SourceSequence:
    """The last message read of one source (a gateway's broker)."""

    session_id: int
    batch_seq: int
    suspect_instruments: int = 0
    """Instruments a gap took out of the best price and the source has not quoted since."""


@dataclass(slots=True, frozen=True)
class AggregateSnapshot:
    """The aggregator's counters at one moment (``AggregatorService.snapshot``)."""

    instance_id: str
    owner: str
    """This aggregator's lease value (``<instance_id>:<session_id>``)."""
    nats_url: str
    """Credentials hidden."""
    nats_connected: bool
    holds_lease: bool
    lease_owner: str
    """Who held the lease at the last answered attempt ("" before one was answered)."""
    lease_answered: bool
    """Whether the last lease attempt was answered."""
    takeovers: int
    withheld: int
    lease_errors: int
    messages: int
    ticks: int
    statuses: int
    gaps: int
    messages_missed: int
    repeats: int
    refused: int
    last_refusal: str
    uptime_s: float
    sources: Mapping[str, SourceSequence] = field(default_factory=dict)
    kafka: KafkaSnapshot | None = None


def assess(snapshot: AggregateSnapshot) -> HealthReport:
    """The /health answer: status by the module docstring's rules, problems, JSON document."""
    down: list[str] = []
    degraded: list[str] = []
    if not snapshot.nats_connected:
        down.append(f"nats disconnected ({snapshot.nats_url})")
    if not snapshot.lease_answered:
        degraded.append(f"lease not answered: {snapshot.lease_errors:,} attempts failed so far")
    if not snapshot.sources:
        degraded.append("no gateway message read yet")
    suspects = sorted(source for source, sequence in snapshot.sources.items() if sequence.suspect_instruments)
    if suspects:
        shown = ", ".join(suspects[:MAX_SUSPECTS_SHOWN]) + (
            f" and {len(suspects) - MAX_SUSPECTS_SHOWN:,} more" if len(suspects) > MAX_SUSPECTS_SHOWN else ""
        )
        degraded.append(f"suspect after a batch_seq gap, out of the best price until they quote again: {shown}")
    if snapshot.kafka is not None:
        degraded.extend(kafka_problems(snapshot.kafka, 0))
    status = HealthStatus.DOWN if down else HealthStatus.DEGRADED if degraded else HealthStatus.OK
    problems = (*down, *degraded)
    document: dict[str, Any] = {
        "status": status.value,
        "problems": list(problems),
        "instance_id": snapshot.instance_id,
        "uptime_s": round(snapshot.uptime_s, 3),
        "nats": {"connected": snapshot.nats_connected, "url": snapshot.nats_url},
        "lease": {
            "role": _role(snapshot),
            "owner": snapshot.owner,
            "holder": snapshot.lease_owner,
            "takeovers": snapshot.takeovers,
            "withheld": snapshot.withheld,
            "errors": snapshot.lease_errors,
        },
        "input": {
            "messages": snapshot.messages,
            "ticks": snapshot.ticks,
            "statuses": snapshot.statuses,
            "gaps": snapshot.gaps,
            "messages_missed": snapshot.messages_missed,
            "repeats": snapshot.repeats,
            "refused": snapshot.refused,
            "last_refusal": snapshot.last_refusal,
        },
        "sources": {
            source: {
                "session_id": sequence.session_id,
                "batch_seq": sequence.batch_seq,
                "suspect_instruments": sequence.suspect_instruments,
            }
            for source, sequence in sorted(snapshot.sources.items())
        },
        "kafka": kafka_document(snapshot.kafka) if snapshot.kafka is not None else {"enabled": False},
    }
    return HealthReport(status, problems, document)


def _role(snapshot: AggregateSnapshot) -> str:
    """``holder`` (publishes), ``standby`` (computes, another holds the lease) or ``unknown`` (not answered)."""
    if snapshot.holds_lease:
        return "holder"
    return "standby" if snapshot.lease_answered and snapshot.lease_owner else "unknown"


def metric_families(snapshot: AggregateSnapshot) -> list[Metric]:
    """The Prometheus metrics of a snapshot (base units); the ``fxgw_kafka_*`` ones only with ``kafka.enabled``."""
    batch_seq = GaugeMetricFamily(
        "fxgw_aggregate_source_batch_seq", "batch_seq of the source's last message read.", labels=["source"]
    )
    suspect = GaugeMetricFamily(
        "fxgw_aggregate_source_suspect_instruments",
        "Instruments a batch_seq gap took out of the best price that the source has not quoted since.",
        labels=["source"],
    )
    for source, sequence in snapshot.sources.items():
        batch_seq.add_metric([source], sequence.batch_seq)
        suspect.add_metric([source], sequence.suspect_instruments)
    families: list[Metric] = [
        GaugeMetricFamily(
            "fxgw_aggregate_nats_connected", "1 while connected to NATS.", value=int(snapshot.nats_connected)
        ),
        GaugeMetricFamily(
            "fxgw_aggregate_lease_held",
            "1 while this aggregator holds the lease (publishes).",
            value=int(snapshot.holds_lease),
        ),
        CounterMetricFamily(
            "fxgw_aggregate_lease_takeovers_total",
            "Times this aggregator became the publisher.",
            value=snapshot.takeovers,
        ),
        CounterMetricFamily(
            "fxgw_aggregate_lease_errors_total",
            "Lease attempts NATS or JetStream did not answer.",
            value=snapshot.lease_errors,
        ),
        CounterMetricFamily(
            "fxgw_aggregate_best_prices_withheld_total",
            "Best-price changes computed while not holding the lease (a standby's normal work).",
            value=snapshot.withheld,
        ),
        CounterMetricFamily("fxgw_aggregate_messages_total", "Gateway tick messages read.", value=snapshot.messages),
        CounterMetricFamily("fxgw_aggregate_ticks_total", "Ticks in the messages read.", value=snapshot.ticks),
        CounterMetricFamily("fxgw_aggregate_statuses_total", "Source statuses read.", value=snapshot.statuses),
        CounterMetricFamily("fxgw_aggregate_gaps_total", "batch_seq gaps seen.", value=snapshot.gaps),
        CounterMetricFamily(
            "fxgw_aggregate_messages_missed_total",
            "Messages lost in the gaps, by batch_seq.",
            value=snapshot.messages_missed,
        ),
        CounterMetricFamily(
            "fxgw_aggregate_repeats_total",
            "Messages dropped as repeated or of an older session.",
            value=snapshot.repeats,
        ),
        CounterMetricFamily(
            "fxgw_aggregate_refused_total", "Messages or ticks refused as invalid.", value=snapshot.refused
        ),
        batch_seq,
        suspect,
        GaugeMetricFamily(
            "fxgw_aggregate_uptime_seconds", "Seconds since the aggregator started.", value=snapshot.uptime_s
        ),
    ]
    if snapshot.kafka is not None:
        families += kafka_families(snapshot.kafka)
    return families


class AggregateMetrics:
    """A prometheus-client collector: a snapshot per scrape, rendered by :func:`metric_families`."""

    def __init__(self, snapshot: Callable[[], AggregateSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        return metric_families(self._snapshot())
