"""The /health answer (pure): status, problems and JSON document from a snapshot and the recent activity.

Status rules; ``problems`` has one sentence per finding and is empty exactly when the status is ``ok``:

- ``down`` (HTTP 503): NATS is not connected, or no source is delivering. A
  source delivers while its collector runs and, if it has a connection
  (OANDA), that connection is CONNECTED or RECONNECTED
  (gateway.events.connection_delivers); sources without one (simulated,
  recorded files) deliver while their collector runs. When brokers are
  configured, they decide (a gateway whose ticks stopped is down, whatever
  its external collectors do); a gateway of external collectors only is
  down when none of them had data at its last poll.
- ``degraded`` also when an external collector is not ``ok``: its task
  failed, it has not polled yet, or its last poll failed (key refused,
  request refused, rate limited, failing, malformed answers). Items it
  refused are counted in the document and /metrics, not a degradation.
- ``degraded`` (HTTP 200): a source does not deliver (collector failed or
  finished, disconnected, token refused, request rejected, not connected
  yet) or its account lacks configured instruments; Kafka is unreachable;
  the spool is full, or records were dropped from the Kafka copy in the last
  ``DROP_MEMORY_S`` (5 min); NATS dropped ticks in that time. The totals since
  start stay in the document and in /metrics; only recent drops degrade, so
  the status clears once the hole is that old.
- ``degraded`` also when the Central Hub is enabled and the gateway is not registered (hub unreachable,
  refusing), or a source was not started because the hub names another instance as its owner.
- ``ok`` otherwise.

``ticks_per_s`` is the rate over a rolling window of the last 10 s (shorter
right after start), from the accepted counters sampled once a second: unlike
a rate since the previous call, it does not depend on who else asks
(gateway.ops.activity).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.clock import NS_PER_S
from gateway.ops import broker_quality
from gateway.ops.activity import DROP_MEMORY_S, RecentActivity
from gateway.ops.snapshot import ExternalSnapshot, GatewaySnapshot, HubSnapshot, KafkaSnapshot, SourceSnapshot
from gateway.placement import Placement
from gateway.schema.market.v1.market_pb2 import SourceStatus


class HealthStatus(enum.Enum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def http_status(self) -> int:
        """200 while the gateway publishes (even degraded), 503 when it does not."""
        return 503 if self is HealthStatus.DOWN else 200


@dataclass(slots=True, frozen=True)
class HealthReport:
    status: HealthStatus
    problems: tuple[str, ...]
    document: dict[str, Any]
    """The /health JSON body."""


def _cpus_document(placement: Placement) -> dict[str, list[int]]:
    return {"event_loop": sorted(placement.event_loop), "others": sorted(placement.others)}


def assess(snapshot: GatewaySnapshot, recent: RecentActivity) -> HealthReport:
    """The /health answer: status by the module docstring's rules, problems, JSON document."""
    down: list[str] = []
    degraded: list[str] = []
    nats = snapshot.nats
    if not nats.connected:
        down.append(f"nats disconnected ({nats.url})")
    if snapshot.sources or not snapshot.external:
        if not any(source.delivering for source in snapshot.sources.values()):
            down.append("no source connected or running")
    elif not any(collector.delivering for collector in snapshot.external.values()):
        down.append("no external collector has data")
    for source_id, source in snapshot.sources.items():
        degraded.extend(_source_problems(source_id, source))
    for source_id, collector in snapshot.external.items():
        degraded.extend(_external_problems(source_id, collector))
    if snapshot.kafka is not None:
        degraded.extend(kafka_problems(snapshot.kafka, recent.kafka_records_dropped))
    if recent.nats_ticks_dropped:
        degraded.append(
            f"nats dropped {recent.nats_ticks_dropped:,} ticks in the last {DROP_MEMORY_S // 60} min "
            f"(buffer full while disconnected)"
        )
    if recent.nats_other_dropped:
        degraded.append(
            f"nats dropped {recent.nats_other_dropped:,} best prices, rejections or statuses in the last "
            f"{DROP_MEMORY_S // 60} min (buffer full while disconnected)"
        )
    if recent.nats_unconfirmed:
        degraded.append(
            f"nats connection lost in the last {DROP_MEMORY_S // 60} min: up to {recent.nats_unconfirmed:,} messages "
            f"sent just before were not confirmed and may be lost (consumers see batch_seq gaps)"
        )
    if snapshot.hub is not None:
        degraded.extend(_hub_problems(snapshot.hub))
    status = HealthStatus.DOWN if down else HealthStatus.DEGRADED if degraded else HealthStatus.OK
    problems = (*down, *degraded)
    document: dict[str, Any] = {
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
            "best_prices_dropped": nats.best_prices_dropped,
            "rejections_dropped": nats.rejections_dropped,
            "statuses_dropped": nats.statuses_dropped,
            "outages": nats.outages,
            "unconfirmed_at_outages": nats.unconfirmed_at_outages,
        },
        "sources": {
            source_id: _source_document(source, recent.ticks_per_s.get(source_id, 0.0))
            for source_id, source in snapshot.sources.items()
        },
        "kafka": kafka_document(snapshot.kafka) if snapshot.kafka is not None else None,
        "external": {source_id: _external_document(collector) for source_id, collector in snapshot.external.items()},
        "central_hub": _hub_document(snapshot.hub) if snapshot.hub is not None else None,
        "cpus": _cpus_document(snapshot.placement) if snapshot.placement is not None else None,
    }
    quality = snapshot.quality
    if quality is not None:
        for source_id, source_document in document["sources"].items():
            figures = quality.sources.get(source_id)
            source_document["quality"] = broker_quality.source_document(figures) if figures is not None else None
        document["best"] = broker_quality.best_document(snapshot.best)
        document["recommendations"] = broker_quality.recommendations_document(quality)
        document["recent"] = broker_quality.recent_document(quality)
    return HealthReport(status, problems, document)


def _source_problems(source_id: str, source: SourceSnapshot) -> Iterator[str]:
    if source.state == "failed":
        yield f"collector {source_id} failed: {source.last_error}"
    elif source.state == "finished":
        yield f"collector {source_id} finished: its source has no more data"
    elif source.token_refused:
        yield f"{source_id}: token refused (UNAUTHORIZED)"
    elif source.connection == SourceStatus.STATE_REJECTED:
        yield f"{source_id}: request refused by the broker (REJECTED)" + _because(source.last_error)
    elif source.connection == SourceStatus.STATE_DISCONNECTED:
        yield f"{source_id}: disconnected" + _because(source.last_error)
    elif source.has_connection and source.connection == SourceStatus.STATE_UNSPECIFIED:
        yield f"{source_id}: not connected yet"
    if source.unavailable_instruments:
        yield f"{source_id}: the account does not offer {', '.join(source.unavailable_instruments)}"


def _external_problems(source_id: str, collector: ExternalSnapshot) -> Iterator[str]:
    if collector.state == "failed":
        yield f"external collector {source_id} failed: {collector.last_error}"
    elif collector.state == "finished":
        yield f"external collector {source_id} finished"
    elif collector.status == "starting":
        yield f"{source_id}: not polled yet"
    elif collector.status != "ok":
        yield f"{source_id}: {collector.status.replace('_', ' ')}" + _because(collector.last_error)


def kafka_problems(kafka: KafkaSnapshot, records_dropped_recently: int) -> Iterator[str]:
    """The Kafka findings of /health (a gateway's or the standalone aggregator's); all degrade."""
    waited = (
        f"; the oldest has waited {kafka.oldest_unacked_age_s:,.1f} s (limit {kafka.max_unacked_age_s:g} s)"
        if kafka.stalled
        else ""
    )
    if not kafka.connected:
        what = "kafka unreachable" + _because(kafka.last_error) if kafka.last_error else "kafka not connected yet"
        yield f"{what}; {kafka.spool_pending_records:,} records wait in the spool{waited}"
    elif kafka.stalled:
        yield f"kafka not acknowledging: {kafka.spool_pending_records:,} records wait in the spool{waited}"
    if kafka.spool_full:
        yield f"kafka spool full: {kafka.records_dropped:,} records dropped from the Kafka copy"
    elif records_dropped_recently:
        yield (
            f"kafka copy incomplete: {records_dropped_recently:,} records dropped in the last "
            f"{DROP_MEMORY_S // 60} min ({kafka.records_dropped:,} records, {kafka.ticks_dropped:,} ticks since start)"
            + _because("; ".join(error for error in (kafka.last_spool_error, kafka.last_set_aside) if error))
        )


def _hub_problems(hub: HubSnapshot) -> Iterator[str]:
    for source_id, owner in hub.refused_sources.items():
        yield f"{source_id}: not started: the central hub says instance {owner} owns it"
    for source_id, owner in hub.contested_sources.items():
        yield f"{source_id}: runs here, but the central hub says instance {owner} owns it: stop one of them"
    if not hub.registered:
        yield f"central hub {hub.url}: not registered" + _because(hub.last_error)


def _hub_document(hub: HubSnapshot) -> dict[str, Any]:
    return {
        "url": hub.url,
        "registered": hub.registered,
        "heartbeats": hub.heartbeats,
        "failures": hub.failures,
        "last_error": hub.last_error,
        "refused_sources": dict(hub.refused_sources),
        "contested_sources": dict(hub.contested_sources),
    }


def _because(error: str) -> str:
    return f" ({error})" if error else ""


def _source_document(source: SourceSnapshot, ticks_per_s: float) -> dict[str, Any]:
    return {
        "kind": source.kind,
        "priority": source.priority,
        "state": source.state,
        "connection": source.connection_name,
        "accepted": source.accepted,
        "rejected": dict(source.rejected),
        "ticks_per_s": round(ticks_per_s, 1),
        "unauthorized": source.token_refused,
        "last_error": source.last_error,
        "unavailable_instruments": list(source.unavailable_instruments),
    }


def _external_document(collector: ExternalSnapshot) -> dict[str, Any]:
    last_success = collector.last_success_ns
    return {
        "kind": collector.kind,
        "state": collector.state,
        "status": collector.status,
        "connection": collector.connection_name,
        "last_success_ns": last_success or None,
        "last_success": (
            datetime.fromtimestamp(last_success / NS_PER_S, UTC).isoformat(timespec="seconds") if last_success else None
        ),
        "polls": {
            "ok": collector.polls_ok,
            "failed": collector.polls_failed,
            "not_modified": collector.polls_not_modified,
        },
        "items": {
            "new": collector.items_new,
            "updated": collector.items_updated,
            "unchanged": collector.items_unchanged,
            "current": collector.items_current,
        },
        "published": collector.published,
        "problems": dict(collector.problems),
        "last_error": collector.last_error,
    }


def kafka_document(kafka: KafkaSnapshot) -> dict[str, Any]:
    """The ``kafka`` part of the /health document."""
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
        "oldest_unacked_age_s": round(kafka.oldest_unacked_age_s, 3),
        "records_set_aside": kafka.records_set_aside,
        "last_set_aside": kafka.last_set_aside,
        "spool_corrupt_records": kafka.spool_corrupt_records,
        "writer_pid": kafka.writer_pid,
        "writer_restarts": kafka.writer_restarts,
    }
