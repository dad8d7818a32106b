"""gateway.aggregate.ops: the aggregator's /health status rules and /metrics families, from snapshots."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.aggregate.ops import (
    MAX_SUSPECTS_SHOWN,
    AggregateMetrics,
    AggregateSnapshot,
    SourceSequence,
    assess,
    metric_families,
)
from gateway.ops.health import HealthStatus
from gateway.ops.snapshot import KafkaSnapshot

HOLDER = AggregateSnapshot(
    instance_id="agg-a",
    owner="agg-a:1",
    nats_url="nats://***@nats-1:4222",
    nats_connected=True,
    holds_lease=True,
    lease_owner="agg-a:1",
    lease_answered=True,
    takeovers=1,
    withheld=0,
    lease_errors=0,
    messages=10,
    ticks=100,
    statuses=1,
    gaps=0,
    messages_missed=0,
    repeats=0,
    refused=0,
    last_refusal="",
    uptime_s=12.5,
    sources={"gw-1": SourceSequence(7, 10)},
)


def _with(**changes: object) -> AggregateSnapshot:
    return dataclasses.replace(HOLDER, **changes)  # type: ignore[arg-type]


def test_a_holder_and_a_standby_reading_messages_are_ok() -> None:
    assert assess(HOLDER).status is HealthStatus.OK and assess(HOLDER).problems == ()
    standby = assess(_with(holds_lease=False, lease_owner="agg-b:2", withheld=40, takeovers=0))
    assert standby.status is HealthStatus.OK
    assert standby.document["lease"] == {
        "role": "standby", "owner": "agg-a:1", "holder": "agg-b:2", "takeovers": 0, "withheld": 40, "errors": 0
    }  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "status", "problem"),
    [
        ({"nats_connected": False}, HealthStatus.DOWN, "nats disconnected (nats://***@nats-1:4222)"),
        ({"lease_answered": False, "holds_lease": False, "lease_errors": 3}, HealthStatus.DEGRADED,
         "lease not answered: 3 attempts failed so far"),
        ({"sources": {}}, HealthStatus.DEGRADED, "no gateway message read yet"),
        ({"sources": {"gw-1": SourceSequence(7, 10, 2)}}, HealthStatus.DEGRADED,
         "suspect after a batch_seq gap, out of the best price until they quote again: gw-1"),
        ({"kafka": KafkaSnapshot(connected=False, spool_pending_records=5)}, HealthStatus.DEGRADED,
         "kafka not connected yet; 5 records wait in the spool"),
    ],
)  # fmt: skip
def test_each_finding_sets_the_status_and_is_named(
    changes: dict[str, object], status: HealthStatus, problem: str
) -> None:
    report = assess(_with(**changes))
    assert (report.status, report.problems) == (status, (problem,))
    assert report.document["status"] == status.value and report.document["problems"] == [problem]
    assert status.http_status == (503 if status is HealthStatus.DOWN else 200)


def test_an_unanswered_lease_is_an_unknown_role() -> None:
    assert assess(_with(lease_answered=False, holds_lease=False)).document["lease"]["role"] == "unknown"


def test_many_suspects_are_counted_not_all_named() -> None:
    sources = {f"gw-{n:04}": SourceSequence(1, 1, 1) for n in range(4096)}
    (problem,) = assess(_with(sources=sources)).problems
    assert problem.endswith(f"gw-{MAX_SUSPECTS_SHOWN - 1:04} and {4096 - MAX_SUSPECTS_SHOWN:,} more")
    assert len(problem) < 1000


def test_metrics_have_base_units_one_label_and_the_kafka_families_only_with_kafka() -> None:
    names = {family.name for family in metric_families(HOLDER)}
    assert "fxgw_aggregate_uptime_seconds" in names and not any(name.startswith("fxgw_kafka_") for name in names)
    with_kafka = {family.name for family in metric_families(_with(kafka=KafkaSnapshot(connected=True)))}
    assert "fxgw_kafka_spool_pending_records" in with_kafka
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AggregateMetrics(lambda: _with(sources={"gw-1": SourceSequence(7, 10, 2)})))
    parsed = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert {tuple(s.labels) for family in parsed.values() for s in family.samples} <= {(), ("source",)}
    suspect = parsed["fxgw_aggregate_source_suspect_instruments"].samples
    assert [(s.labels, s.value) for s in suspect] == [({"source": "gw-1"}, 2.0)]
    assert parsed["fxgw_aggregate_lease_takeovers"].samples[0].value == 1.0
