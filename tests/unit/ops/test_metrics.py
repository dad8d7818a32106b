"""gateway.ops.metrics: every metric of a hand-built snapshot, exposed and parsed back as Prometheus text."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.ops.metrics import GatewayMetrics
from gateway.ops.snapshot import GatewaySnapshot, SourceSnapshot
from tests.unit.ops.samples import (
    DISCONNECTED,
    NONE_YET,
    OANDA,
    RECONNECTED,
    REJECTED,
    SIM,
    UNAUTHORIZED,
    kafka,
    oanda,
    snapshot,
)


def scrape(state: GatewaySnapshot) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Expose through a registry of its own and parse the text back: sample name and labels -> value."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayMetrics(lambda: state))
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def source_label(source: str, **more: str) -> frozenset[tuple[str, str]]:
    return frozenset({"source": source, **more}.items())


NO_LABELS: frozenset[tuple[str, str]] = frozenset()


def test_metrics_read_every_counter_of_the_snapshot() -> None:
    state = snapshot(
        nats_ticks_dropped=9,
        sources={"sim": SIM, "oanda-a": oanda(connection=UNAUTHORIZED, unauthorized=True)},
        kafka=kafka(
            connected=False,
            spool_pending_records=321,
            spool_pending_bytes=1_048_000,
            spool_full=True,
            records_dropped=17,
            ticks_dropped=4000,
        ),
    )
    assert scrape(state) == {
        ("fxgw_ticks_accepted_total", source_label("sim")): 500,
        ("fxgw_ticks_accepted_total", source_label("oanda-a")): 900,
        ("fxgw_ticks_rejected_total", source_label("sim", reason="CROSSED")): 3,
        ("fxgw_source_connected", source_label("sim")): 1,
        ("fxgw_source_connected", source_label("oanda-a")): 0,
        ("fxgw_source_unauthorized", source_label("sim")): 0,
        ("fxgw_source_unauthorized", source_label("oanda-a")): 1,
        ("fxgw_nats_connected", NO_LABELS): 1,
        ("fxgw_nats_ticks_dropped_total", NO_LABELS): 9,
        ("fxgw_nats_items_dropped_total", frozenset({("kind", "best_price")})): 0,
        ("fxgw_nats_items_dropped_total", frozenset({("kind", "rejection")})): 0,
        ("fxgw_nats_items_dropped_total", frozenset({("kind", "status")})): 0,
        ("fxgw_nats_items_dropped_total", frozenset({("kind", "external")})): 0,
        ("fxgw_nats_outages_total", NO_LABELS): 0,
        ("fxgw_nats_unconfirmed_at_outages_total", NO_LABELS): 0,
        ("fxgw_uptime_seconds", NO_LABELS): 12.3456,
        ("fxgw_kafka_connected", NO_LABELS): 0,
        ("fxgw_kafka_spool_pending_records", NO_LABELS): 321,
        ("fxgw_kafka_spool_pending_bytes", NO_LABELS): 1_048_000,
        ("fxgw_kafka_spool_full", NO_LABELS): 1,
        ("fxgw_kafka_records_dropped_total", NO_LABELS): 17,
        ("fxgw_kafka_ticks_dropped_total", NO_LABELS): 4000,
        ("fxgw_kafka_records_sent_total", NO_LABELS): 40,
        ("fxgw_kafka_oldest_unacked_age_seconds", NO_LABELS): 0,
        ("fxgw_kafka_records_set_aside_total", NO_LABELS): 0,
        ("fxgw_kafka_spool_corrupt_records_total", NO_LABELS): 0,
        ("fxgw_kafka_writer_running", NO_LABELS): 1,
        ("fxgw_kafka_writer_restarts_total", NO_LABELS): 1,
    }


def test_metrics_leave_out_kafka_when_the_backup_is_disabled() -> None:
    names = {name for name, _ in scrape(snapshot())}
    assert names and not any(name.startswith("fxgw_kafka_") for name in names)


@pytest.mark.parametrize(
    ("source", "connected"),
    [
        (SIM, 1),
        (dataclasses.replace(SIM, state="failed"), 0),
        (dataclasses.replace(SIM, state="finished"), 0),
        (OANDA, 1),
        (oanda(connection=RECONNECTED), 1),
        (oanda(connection=NONE_YET), 0),
        (oanda(connection=DISCONNECTED), 0),
        (oanda(connection=REJECTED), 0),
        (oanda(unauthorized=True), 0),
    ],
    ids=[
        "simulated-running",
        "failed",
        "finished",
        "connected",
        "reconnected",
        "not-yet",
        "disconnected",
        "rejected",
        "unauthorized",
    ],
)
def test_source_connected_metric_agrees_with_health(source: SourceSnapshot, connected: int) -> None:
    assert scrape(snapshot(sources={"x": source}))[("fxgw_source_connected", source_label("x"))] == connected
