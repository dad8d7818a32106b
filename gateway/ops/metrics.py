"""The /metrics answer (pure): Prometheus metric families from a snapshot, and the collector that serves them.

Nothing is counted twice: a scrape takes a snapshot of the gateway's own
counters (gateway.ops.snapshot) through :class:`GatewayMetrics`, registered on a
registry of the HTTP server's own (not prometheus-client's global one).
README "Health and metrics" lists every metric; a new one is a family here,
read from a snapshot field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from gateway.clock import NS_PER_S
from gateway.ops import broker_quality
from gateway.ops.snapshot import GatewaySnapshot, HubSnapshot, KafkaSnapshot, NatsSnapshot


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
        _nats_dropped(nats),
        CounterMetricFamily("fxgw_nats_outages_total", "NATS connections lost since start.", value=nats.outages),
        CounterMetricFamily(
            "fxgw_nats_unconfirmed_at_outages_total",
            "Messages not yet confirmed by nats-server when a connection dropped: at most this many were lost.",
            value=nats.unconfirmed_at_outages,
        ),
        GaugeMetricFamily("fxgw_uptime_seconds", "Seconds since the gateway started.", value=snapshot.uptime_s),
    ]
    if snapshot.quality is not None:
        families += broker_quality.metric_families(snapshot.quality)
    if snapshot.external:
        families += _external_families(snapshot)
    if snapshot.kafka is not None:
        families += kafka_families(snapshot.kafka)
    if snapshot.hub is not None:
        families += _hub_families(snapshot.hub)
    return families


def _hub_families(hub: HubSnapshot) -> list[Metric]:
    """The ``fxgw_hub_registration_*`` families, only when ``central_hub.enabled``."""
    return [
        GaugeMetricFamily(
            "fxgw_hub_registered", "1 while the Central Hub accepted the last heartbeat.", value=int(hub.registered)
        ),
        CounterMetricFamily(
            "fxgw_hub_heartbeat_failures_total",
            "Registrations and heartbeats that did not get through to the Central Hub.",
            value=hub.failures,
        ),
    ]


def _external_families(snapshot: GatewaySnapshot) -> list[Metric]:
    """The ``fxgw_external_*`` families; labels are bounded: ids from the config, results and change kinds fixed,
    problem reasons at most MAX_PROBLEM_REASONS per collector (collectors.external.base)."""
    polls = CounterMetricFamily(
        "fxgw_external_polls_total",
        "Requests of external collectors, by result (ok, failed, not_modified: 304).",
        labels=["source", "result"],
    )
    items = CounterMetricFamily(
        "fxgw_external_items_total",
        "Items seen by external collectors, by change (new, updated, unchanged: not published, current).",
        labels=["source", "change"],
    )
    published = CounterMetricFamily(
        "fxgw_external_published_total", "ExternalData messages published.", labels=["source"]
    )
    problems = CounterMetricFamily(
        "fxgw_external_problems_total", "Items and answers refused, by reason.", labels=["source", "reason"]
    )
    ok = GaugeMetricFamily(
        "fxgw_external_ok", "1 while the collector runs and its last poll brought data.", labels=["source"]
    )
    last_success = GaugeMetricFamily(
        "fxgw_external_last_success_seconds",
        "Unix time of the last answer with data (0 before the first).",
        labels=["source"],
    )
    for source_id, collector in snapshot.external.items():
        for result, count in (
            ("ok", collector.polls_ok),
            ("failed", collector.polls_failed),
            ("not_modified", collector.polls_not_modified),
        ):
            polls.add_metric([source_id, result], count)
        for change, count in (
            ("new", collector.items_new),
            ("updated", collector.items_updated),
            ("unchanged", collector.items_unchanged),
            ("current", collector.items_current),
        ):
            items.add_metric([source_id, change], count)
        published.add_metric([source_id], collector.published)
        for reason, count in collector.problems.items():
            problems.add_metric([source_id, reason], count)
        ok.add_metric([source_id], int(collector.delivering))
        last_success.add_metric([source_id], collector.last_success_ns / NS_PER_S)
    return [polls, items, published, problems, ok, last_success]


def kafka_families(kafka: KafkaSnapshot) -> list[Metric]:
    """The ``fxgw_kafka_*`` families of a Kafka backup (a gateway's or the standalone aggregator's)."""
    return [
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
        GaugeMetricFamily(
            "fxgw_kafka_oldest_unacked_age_seconds",
            "Seconds the oldest spooled record has waited for Kafka's acknowledgement (0 when none waits).",
            value=kafka.oldest_unacked_age_s,
        ),
        CounterMetricFamily(
            "fxgw_kafka_records_set_aside_total",
            "Records Kafka refused as too large, left out of the Kafka copy (also in records_dropped).",
            value=kafka.records_set_aside,
        ),
        CounterMetricFamily(
            "fxgw_kafka_spool_corrupt_records_total",
            "Records the spool found damaged on disk when it was opened.",
            value=kafka.spool_corrupt_records,
        ),
        GaugeMetricFamily(
            "fxgw_kafka_writer_running",
            "1 while the Kafka writer process runs.",
            value=int(kafka.writer_pid is not None),
        ),
        CounterMetricFamily(
            "fxgw_kafka_writer_restarts_total",
            "Kafka writer processes started again after one exited (killed or crashed).",
            value=kafka.writer_restarts,
        ),
    ]


class GatewayMetrics:
    """A prometheus-client collector that takes a snapshot of the gateway at scrape time."""

    def __init__(self, snapshot: Callable[[], GatewaySnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        return metric_families(self._snapshot())


def _nats_dropped(nats: NatsSnapshot) -> CounterMetricFamily:
    """Best prices, rejections and statuses in messages NATS did not take, by kind (ticks have their own counter)."""
    family = CounterMetricFamily(
        "fxgw_nats_items_dropped_total", "Items in messages NATS did not take (buffer full), by kind.", labels=["kind"]
    )
    for kind, count in (
        ("best_price", nats.best_prices_dropped),
        ("rejection", nats.rejections_dropped),
        ("status", nats.statuses_dropped),
        ("external", nats.external_dropped),
    ):
        family.add_metric([kind], count)
    return family
