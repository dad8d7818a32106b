"""gateway.ops.health: the /health status rules, its problems and its document, from hand-built snapshots."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gateway.ops.activity import RecentActivity
from gateway.ops.health import HealthStatus, assess
from gateway.ops.snapshot import GatewaySnapshot, HubSnapshot
from gateway.placement import Placement
from tests.unit.ops.samples import (
    DISCONNECTED,
    KAFKA,
    NATS_URL,
    NONE_YET,
    NOTHING_RECENT,
    OANDA,
    RECONNECTED,
    REJECTED,
    SIM,
    UNAUTHORIZED,
    kafka,
    oanda,
    snapshot,
)

OK, DEGRADED, DOWN = HealthStatus.OK, HealthStatus.DEGRADED, HealthStatus.DOWN
FAILED_SIM = dataclasses.replace(SIM, state="failed", last_error="SourceError: feed dropped")


def case(
    state: GatewaySnapshot,
    status: HealthStatus,
    problems: list[str],
    *,
    id: str,
    recent: RecentActivity = NOTHING_RECENT,
) -> object:
    """A row of CASES; no drop is recent unless ``recent`` says so."""
    return pytest.param(state, recent, status, problems, id=id)


CASES = [
    case(snapshot(), OK, [], id="all-delivering"),
    case(snapshot(kafka=KAFKA), OK, [], id="kafka-connected"),
    case(snapshot(sources={"oanda-a": oanda(connection=RECONNECTED)}), OK, [], id="oanda-reconnected"),
    case(snapshot(sources={"sim": SIM}), OK, [], id="source-without-connection-running"),
    # down: NATS, or no source delivering
    case(snapshot(nats_connected=False), DOWN, [f"nats disconnected ({NATS_URL})"], id="nats-disconnected"),
    case(snapshot(sources={}), DOWN, ["no source connected or running"], id="no-sources"),
    case(
        snapshot(sources={"sim": FAILED_SIM}),
        DOWN,
        ["no source connected or running", "collector sim failed: SourceError: feed dropped"],
        id="only-source-failed",
    ),
    case(
        snapshot(sources={"oanda-a": oanda(connection=UNAUTHORIZED, unauthorized=True)}),
        DOWN,
        ["no source connected or running", "oanda-a: token refused (UNAUTHORIZED)"],
        id="only-source-unauthorized",
    ),
    case(
        snapshot(sources={"oanda-a": oanda(connection=NONE_YET)}),
        DOWN,
        ["no source connected or running", "oanda-a: not connected yet"],
        id="only-source-not-connected-yet",
    ),
    case(
        snapshot(nats_connected=False, kafka=kafka(spool_full=True, records_dropped=1234)),
        DOWN,
        [f"nats disconnected ({NATS_URL})", "kafka spool full: 1,234 records dropped from the Kafka copy"],
        id="down-problems-first-then-degraded-ones",
    ),
    # degraded: sources
    case(
        snapshot(sources={"sim": FAILED_SIM, "oanda-a": OANDA}),
        DEGRADED,
        ["collector sim failed: SourceError: feed dropped"],
        id="collector-failed",
    ),
    case(
        snapshot(sources={"replay": dataclasses.replace(SIM, kind="replay", state="finished"), "oanda-a": OANDA}),
        DEGRADED,
        ["collector replay finished: its source has no more data"],
        id="collector-finished",
    ),
    case(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(connection=UNAUTHORIZED, unauthorized=True)}),
        DEGRADED,
        ["oanda-a: token refused (UNAUTHORIZED)"],
        id="unauthorized",
    ),
    case(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(unauthorized=True)}),
        DEGRADED,
        ["oanda-a: token refused (UNAUTHORIZED)"],
        id="unauthorized-flag-alone",
    ),
    case(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(connection=UNAUTHORIZED)}),
        DEGRADED,
        ["oanda-a: token refused (UNAUTHORIZED)"],
        id="unauthorized-status-alone",
    ),
    case(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(connection=DISCONNECTED, last_error="stream silent for 15 s")}),
        DEGRADED,
        ["oanda-a: disconnected (stream silent for 15 s)"],
        id="disconnected",
    ),
    case(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(connection=DISCONNECTED)}),
        DEGRADED,
        ["oanda-a: disconnected"],
        id="disconnected-without-error",
    ),
    case(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(connection=REJECTED, last_error="HTTP 400: bad request")}),
        DEGRADED,
        ["oanda-a: request refused by the broker (REJECTED) (HTTP 400: bad request)"],
        id="rejected",
    ),
    case(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(connection=NONE_YET)}),
        DEGRADED,
        ["oanda-a: not connected yet"],
        id="not-connected-yet",
    ),
    case(
        snapshot(sources={"oanda-a": oanda(unavailable_instruments=("FOO_BAR", "XAU_EUR"))}),
        DEGRADED,
        ["oanda-a: the account does not offer FOO_BAR, XAU_EUR"],
        id="unavailable-instruments",
    ),
    case(
        snapshot(
            sources={
                "sim": SIM,
                "oanda-a": oanda(connection=DISCONNECTED, last_error="cut", unavailable_instruments=("FOO_BAR",)),
            }
        ),
        DEGRADED,
        ["oanda-a: disconnected (cut)", "oanda-a: the account does not offer FOO_BAR"],
        id="disconnected-and-unavailable-instruments",
    ),
    # degraded: Kafka and NATS drops
    case(
        snapshot(kafka=kafka(connected=False, last_error="KafkaConnectionError: refused", spool_pending_records=4321)),
        DEGRADED,
        ["kafka unreachable (KafkaConnectionError: refused); 4,321 records wait in the spool"],
        id="kafka-unreachable",
    ),
    case(
        snapshot(kafka=kafka(connected=False)),
        DEGRADED,
        ["kafka not connected yet; 0 records wait in the spool"],
        id="kafka-not-connected-yet",
    ),
    case(
        snapshot(kafka=kafka(spool_full=True, records_dropped=1234, ticks_dropped=50_000)),
        DEGRADED,
        ["kafka spool full: 1,234 records dropped from the Kafka copy"],
        id="spool-full",
    ),
    case(
        snapshot(kafka=kafka(records_dropped=7, ticks_dropped=300)),
        DEGRADED,
        ["kafka copy incomplete: 2 records dropped in the last 5 min (7 records, 300 ticks since start)"],
        id="records-dropped-recently",
        recent=RecentActivity(kafka_records_dropped=2),
    ),
    case(
        snapshot(kafka=kafka(records_dropped=7, ticks_dropped=300)),
        OK,
        [],
        id="records-dropped-longer-ago-no-longer-degrade",
    ),
    case(
        snapshot(kafka=kafka(records_dropped=7, ticks_dropped=300, last_spool_error="spool: disk full")),
        DEGRADED,
        [
            "kafka copy incomplete: 7 records dropped in the last 5 min (7 records, 300 ticks since start) "
            "(spool: disk full)"
        ],
        id="records-dropped-by-a-disk-error",
        recent=RecentActivity(kafka_records_dropped=7),
    ),
    case(
        snapshot(nats_ticks_dropped=2500),
        DEGRADED,
        ["nats dropped 2,500 ticks in the last 5 min (buffer full while disconnected)"],
        id="nats-dropped-ticks",
        recent=RecentActivity(nats_ticks_dropped=2500),
    ),
    case(snapshot(nats_ticks_dropped=2500), OK, [], id="nats-drops-longer-ago-no-longer-degrade"),
]


@pytest.mark.parametrize(("state", "recent", "status", "problems"), CASES)
def test_health_status_and_problems_follow_the_rules(
    state: GatewaySnapshot, recent: RecentActivity, status: HealthStatus, problems: list[str]
) -> None:
    report = assess(state, recent)
    assert (report.status, list(report.problems)) == (status, problems)
    assert report.document["status"] == status.value
    assert report.document["problems"] == problems


@pytest.mark.parametrize(("status", "code"), [(OK, 200), (DEGRADED, 200), (DOWN, 503)])
def test_only_down_answers_503(status: HealthStatus, code: int) -> None:
    assert status.http_status == code


def test_health_document_says_where_the_event_loop_and_the_rest_run() -> None:
    placed = dataclasses.replace(snapshot(), placement=Placement(frozenset({3}), frozenset({2, 0, 1})))
    document = assess(placed, RecentActivity()).document
    assert document["cpus"] == {"event_loop": [3], "others": [0, 1, 2]}
    assert assess(snapshot(), RecentActivity()).document["cpus"] is None


def test_health_document_has_every_field_and_is_json() -> None:
    state = snapshot(
        sources={
            "sim": SIM,
            "oanda-a": oanda(
                connection=DISCONNECTED,
                last_error="cut",
                unavailable_instruments=("FOO_BAR",),
                rejected={"MALFORMED": 1},
            ),
        },
        kafka=kafka(spool_pending_records=10, spool_pending_bytes=2048, last_error="timeout"),
    )
    document = assess(state, RecentActivity(ticks_per_s={"sim": 50.0, "oanda-a": 12.345})).document
    assert json.loads(json.dumps(document)) == document
    assert document == {
        "status": "degraded",
        "problems": ["oanda-a: disconnected (cut)", "oanda-a: the account does not offer FOO_BAR"],
        "uptime_s": 12.346,
        "instance_id": "fxgw-test",
        "session_id": 1_700_000_000_000_000_000,
        "nats": {
            "connected": True,
            "url": NATS_URL,
            "messages": 70,
            "ticks": 1400,
            "ticks_dropped": 0,
            "best_prices_dropped": 0,
            "rejections_dropped": 0,
            "statuses_dropped": 0,
            "outages": 0,
            "unconfirmed_at_outages": 0,
        },
        "sources": {
            "sim": {
                "kind": "simulated",
                "priority": 1,
                "state": "running",
                "connection": None,
                "accepted": 500,
                "rejected": {"CROSSED": 3},
                "ticks_per_s": 50.0,
                "unauthorized": False,
                "last_error": "",
                "unavailable_instruments": [],
            },
            "oanda-a": {
                "kind": "oanda",
                "priority": 20,
                "state": "running",
                "connection": "disconnected",
                "accepted": 900,
                "rejected": {"MALFORMED": 1},
                "ticks_per_s": 12.3,
                "unauthorized": False,
                "last_error": "cut",
                "unavailable_instruments": ["FOO_BAR"],
            },
        },
        "external": {},
        "central_hub": None,
        "cpus": None,
        "kafka": {
            "enabled": True,
            "connected": True,
            "spool_pending_records": 10,
            "spool_pending_bytes": 2048,
            "spool_full": False,
            "records_dropped": 0,
            "ticks_dropped": 0,
            "records_sent": 40,
            "last_error": "timeout",
            "last_spool_error": "",
            "oldest_unacked_age_s": 0.0,
            "records_set_aside": 0,
            "last_set_aside": "",
            "spool_corrupt_records": 0,
            "writer_pid": 4242,
            "writer_restarts": 1,
        },
    }


def test_ticks_per_s_is_0_for_a_source_without_a_rate_yet() -> None:
    document = assess(snapshot(), NOTHING_RECENT).document
    assert [source["ticks_per_s"] for source in document["sources"].values()] == [0.0, 0.0]


def test_health_document_has_kafka_null_when_the_backup_is_disabled() -> None:
    assert assess(snapshot(), NOTHING_RECENT).document["kafka"] is None


def test_unauthorized_in_the_document_is_true_for_the_published_status_alone() -> None:
    state = snapshot(sources={"oanda-a": oanda(connection=UNAUTHORIZED)})
    source = assess(state, NOTHING_RECENT).document["sources"]["oanda-a"]
    assert source["unauthorized"] is True


def test_the_central_hub_unreachable_or_owning_a_source_elsewhere_degrades_and_is_named() -> None:
    hub = HubSnapshot(
        url="http://hub:7000",
        registered=False,
        heartbeats=3,
        failures=2,
        last_error="ConnectError: refused",
        refused_sources={"oanda-b": "gw-2"},
        contested_sources={"oanda-c": "gw-3"},
    )
    report = assess(dataclasses.replace(snapshot(sources={"sim": SIM}), hub=hub), NOTHING_RECENT)
    assert (report.status, list(report.problems)) == (
        DEGRADED,
        [
            "oanda-b: not started: the central hub says instance gw-2 owns it",
            "oanda-c: runs here, but the central hub says instance gw-3 owns it: stop one of them",
            "central hub http://hub:7000: not registered (ConnectError: refused)",
        ],
    )
    assert report.document["central_hub"] == {
        "url": "http://hub:7000",
        "registered": False,
        "heartbeats": 3,
        "failures": 2,
        "last_error": "ConnectError: refused",
        "refused_sources": {"oanda-b": "gw-2"},
        "contested_sources": {"oanda-c": "gw-3"},
    }
    registered = dataclasses.replace(hub, registered=True, refused_sources={}, contested_sources={})
    assert assess(dataclasses.replace(snapshot(sources={"sim": SIM}), hub=registered), NOTHING_RECENT).status is OK
