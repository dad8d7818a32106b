"""Central Hub records, status, filters, routes and the gateway's record builder (pure: no server)."""

from __future__ import annotations

import json

import pytest

from central_hub.app import MAX_WAIT_S, parse_wait
from central_hub.models import Filters, GatewayRecord, Status, StoredGateway, routes, status_of, table
from gateway.config import parse_config
from gateway.registration import build_record
from tests.support import hub_record

S = 1_000_000_000


def stored(instance_id: str = "gw-a", heartbeat_s: float = 2.0, **changes: object) -> StoredGateway:
    record = GatewayRecord.model_validate_json(
        json.dumps({**hub_record(instance_id, heartbeat_s=heartbeat_s), **changes})
    )
    return StoredGateway(record=record, registered_ns=100 * S, last_heartbeat_ns=100 * S)


def test_listed_status_turns_stale_after_one_and_a_half_heartbeats() -> None:
    gateway = stored(heartbeat_s=2.0)
    assert status_of(gateway, 103 * S) is Status.PASSING
    assert status_of(gateway, 103 * S + 1) is Status.STALE


def test_filters_by_source_instrument_and_status() -> None:
    gateway = stored()
    assert Filters(source="oanda-a").match(gateway, 100 * S)
    assert not Filters(source="oanda-b").match(gateway, 100 * S)
    assert Filters(instrument="USD_JPY").match(gateway, 100 * S)
    assert not Filters(instrument="GBP_USD").match(gateway, 100 * S)
    assert Filters(status=Status.STALE).match(gateway, 200 * S)
    assert not Filters(status=Status.PASSING).match(gateway, 200 * S)


def test_routes_name_subject_topic_and_key_and_none_without_kafka() -> None:
    found = routes([stored(), stored("gw-b", kafka=None)], "EUR_USD", 100 * S)
    assert [(r["instance_id"], r["source"], r["subject"], r["kafka_topic"], r["kafka_key"]) for r in found] == [
        ("gw-a", "oanda-a", "market.oanda-a.ticks", "market.ticks", "EUR_USD"),
        ("gw-a", "best", "market.best.ticks", "market.best", "EUR_USD"),
        ("gw-b", "oanda-a", "market.oanda-a.ticks", None, None),
        ("gw-b", "best", "market.best.ticks", None, None),
    ]
    assert routes([stored()], "GBP_USD", 100 * S) == []


def test_a_gateway_whose_best_price_a_standalone_aggregator_publishes_lists_no_best_route() -> None:
    config = parse_config({"brokers": [{"id": "sim-a", "kind": "simulated"}], "best_price": {"publish": False}})
    record = GatewayRecord.model_validate_json(json.dumps(build_record(config, 42, 8081, "ok", ())))
    assert record.subjects == ("market.sim-a.ticks", "market.sim-a.status", "market.rejected")
    found = routes([StoredGateway(record=record, registered_ns=100 * S, last_heartbeat_ns=100 * S)], "EUR_USD", 100 * S)
    assert [(r["source"], r["subject"]) for r in found] == [("sim-a", "market.sim-a.ticks")]


def test_stored_records_that_are_not_ours_decode_to_none() -> None:
    gateway = stored()
    assert StoredGateway.decode(gateway.encode()) == gateway
    for garbage in (b"", b"{}", b"\xff\xfe", b"[1]", b'{"record": 1}'):
        assert StoredGateway.decode(garbage) is None


def test_table_has_one_aligned_line_per_gateway() -> None:
    lines = table(
        [
            {
                "instance_id": "gw-a",
                "listed_status": "passing",
                "status": "ok",
                "last_heartbeat_age_s": 0.5,
                "sources": [{"id": "s1"}, {"id": "s2"}],
                "health_url": "http://h:1/health",
            },
            {"instance_id": "gw-long-name", "listed_status": "stale", "sources": "not a list"},
        ]
    ).splitlines()
    assert lines[0].split() == ["INSTANCE", "STATUS", "HEALTH", "AGE_S", "SOURCES", "HEALTH_URL"]
    assert lines[1].split() == ["gw-a", "passing", "ok", "0.5", "s1,s2", "http://h:1/health"]
    assert lines[2].split()[:2] == ["gw-long-name", "stale"] and lines[2].endswith("-")
    assert lines[1].index("passing") == lines[2].index("stale")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(None, 30.0), ("30s", 30.0), ("500ms", 0.5), ("1m", 60.0), ("10", 10.0), ("2.5s", 2.5), ("1000m", MAX_WAIT_S)],
)
def test_wait_durations(text: str | None, seconds: float) -> None:
    assert parse_wait(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "-1s", "1h", "1e9", "１s", "1" * 10, "nan"])
def test_malformed_waits_are_refused(text: str) -> None:
    assert parse_wait(text) is None


def test_the_gateways_record_is_one_the_hub_accepts() -> None:
    config = parse_config(
        {
            "instance_id": "gw.eu-1",
            "nats": {"url": "nats://user:secret-password@nats-1:4222", "subject_prefix": "fx"},
            "http": {"host": "0.0.0.0", "port": 8081},
            "kafka": {"enabled": True, "bootstrap_servers": "k1:9092,k2:9092"},
            "brokers": [
                {"id": "sim-a", "kind": "simulated", "instruments": ["EUR_USD"]},
                {"id": "sim-b", "kind": "simulated", "instruments": ["USD_JPY"]},
                {"id": "sim-off", "kind": "simulated", "enabled": False},
            ],
            "external": [{"id": "sessions", "kind": "market_sessions"}],
            "central_hub": {"enabled": True, "heartbeat_interval_s": 5},
        },
        "test",
    )
    document = build_record(config, 42, 8081, "degraded", ("sim-b: disconnected",), frozenset({"sim-b"}))
    record = GatewayRecord.model_validate_json(json.dumps(document))  # as the hub reads it
    assert record.nats_url == "nats://***@nats-1:4222"  # no credentials
    assert [source.id for source in record.sources] == ["sim-a", "sessions"]
    assert record.subjects == (
        "fx.sim-a.ticks",
        "fx.sim-a.status",
        "fx.best.ticks",
        "fx.rejected",
        "fx.sessions.status",
        "fx.external.market_sessions",
    )
    assert record.kafka is not None and record.kafka.bootstrap == "k1:9092,k2:9092"
    assert record.health_url == f"http://{record.host}:8081/health"  # the host name, not 0.0.0.0
    assert (record.session_id, record.status, record.heartbeat_interval_s) == (42, "degraded", 5.0)
