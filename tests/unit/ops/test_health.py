"""gateway.ops.server's pure parts: the /health status rules, its document, the metrics, the rate window, the config."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import parse_config
from gateway.errors import ConfigError
from gateway.ops.server import (
    GatewayMetrics,
    GatewaySnapshot,
    HealthStatus,
    KafkaSnapshot,
    NatsSnapshot,
    RateWindow,
    SourceSnapshot,
    assess,
)

NATS_URL = "nats://127.0.0.1:4222"
NS_PER_S = 1_000_000_000

SIM = SourceSnapshot(kind="simulated", priority=1, accepted=500, rejected={"CROSSED": 3}, ticks_per_s=50.0)
OANDA = SourceSnapshot(kind="oanda", priority=20, connection="connected", has_connection=True, accepted=900)
KAFKA = KafkaSnapshot(connected=True, records_sent=40)


def snapshot(
    *,
    nats_connected: bool = True,
    nats_ticks_dropped: int = 0,
    nats_dropped_earlier: int = 0,
    sources: Mapping[str, SourceSnapshot] | None = None,
    kafka: KafkaSnapshot | None = None,
) -> GatewaySnapshot:
    return GatewaySnapshot(
        instance_id="fxgw-test",
        session_id=1_700_000_000_000_000_000,
        uptime_s=12.3456,
        nats=NatsSnapshot(
            nats_connected,
            NATS_URL,
            messages=70,
            ticks=1400,
            ticks_dropped=nats_ticks_dropped + nats_dropped_earlier,
            ticks_dropped_recently=nats_ticks_dropped,
        ),
        sources={"sim": SIM, "oanda-a": OANDA} if sources is None else sources,
        kafka=kafka,
    )


def oanda(**changes: object) -> SourceSnapshot:
    return dataclasses.replace(OANDA, **changes)  # type: ignore[arg-type]


def kafka(**changes: object) -> KafkaSnapshot:
    return dataclasses.replace(KAFKA, **changes)  # type: ignore[arg-type]


OK, DEGRADED, DOWN = HealthStatus.OK, HealthStatus.DEGRADED, HealthStatus.DOWN
FAILED_SIM = dataclasses.replace(SIM, state="failed", last_error="SourceError: feed dropped")

CASES = [
    pytest.param(snapshot(), OK, [], id="all-delivering"),
    pytest.param(snapshot(kafka=KAFKA), OK, [], id="kafka-connected"),
    pytest.param(snapshot(sources={"oanda-a": oanda(connection="reconnected")}), OK, [], id="oanda-reconnected"),
    pytest.param(snapshot(sources={"sim": SIM}), OK, [], id="source-without-connection-running"),
    # down: NATS, or no source delivering
    pytest.param(snapshot(nats_connected=False), DOWN, [f"nats disconnected ({NATS_URL})"], id="nats-disconnected"),
    pytest.param(snapshot(sources={}), DOWN, ["no source connected or running"], id="no-sources"),
    pytest.param(
        snapshot(sources={"sim": FAILED_SIM}),
        DOWN,
        ["no source connected or running", "collector sim failed: SourceError: feed dropped"],
        id="only-source-failed",
    ),
    pytest.param(
        snapshot(sources={"oanda-a": oanda(connection="unauthorized", unauthorized=True)}),
        DOWN,
        ["no source connected or running", "oanda-a: token refused (UNAUTHORIZED)"],
        id="only-source-unauthorized",
    ),
    pytest.param(
        snapshot(sources={"oanda-a": oanda(connection=None)}),
        DOWN,
        ["no source connected or running", "oanda-a: not connected yet"],
        id="only-source-not-connected-yet",
    ),
    pytest.param(
        snapshot(nats_connected=False, kafka=kafka(spool_full=True, records_dropped=1234)),
        DOWN,
        [f"nats disconnected ({NATS_URL})", "kafka spool full: 1,234 records dropped from the Kafka copy"],
        id="down-problems-first-then-degraded-ones",
    ),
    # degraded: sources
    pytest.param(
        snapshot(sources={"sim": FAILED_SIM, "oanda-a": OANDA}),
        DEGRADED,
        ["collector sim failed: SourceError: feed dropped"],
        id="collector-failed",
    ),
    pytest.param(
        snapshot(sources={"replay": dataclasses.replace(SIM, kind="replay", state="finished"), "oanda-a": OANDA}),
        DEGRADED,
        ["collector replay finished: its source has no more data"],
        id="collector-finished",
    ),
    pytest.param(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(connection="unauthorized", unauthorized=True)}),
        DEGRADED,
        ["oanda-a: token refused (UNAUTHORIZED)"],
        id="unauthorized",
    ),
    pytest.param(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(unauthorized=True)}),
        DEGRADED,
        ["oanda-a: token refused (UNAUTHORIZED)"],
        id="unauthorized-flag-alone",
    ),
    pytest.param(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(connection="unauthorized")}),
        DEGRADED,
        ["oanda-a: token refused (UNAUTHORIZED)"],
        id="unauthorized-status-alone",
    ),
    pytest.param(
        snapshot(
            sources={"sim": SIM, "oanda-a": oanda(connection="disconnected", last_error="stream silent for 15 s")}
        ),
        DEGRADED,
        ["oanda-a: disconnected (stream silent for 15 s)"],
        id="disconnected",
    ),
    pytest.param(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(connection="disconnected")}),
        DEGRADED,
        ["oanda-a: disconnected"],
        id="disconnected-without-error",
    ),
    pytest.param(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(connection="rejected", last_error="HTTP 400: bad request")}),
        DEGRADED,
        ["oanda-a: request refused by the broker (REJECTED) (HTTP 400: bad request)"],
        id="rejected",
    ),
    pytest.param(
        snapshot(sources={"sim": SIM, "oanda-a": oanda(connection=None)}),
        DEGRADED,
        ["oanda-a: not connected yet"],
        id="not-connected-yet",
    ),
    pytest.param(
        snapshot(sources={"oanda-a": oanda(unavailable_instruments=("FOO_BAR", "XAU_EUR"))}),
        DEGRADED,
        ["oanda-a: the account does not offer FOO_BAR, XAU_EUR"],
        id="unavailable-instruments",
    ),
    pytest.param(
        snapshot(
            sources={
                "sim": SIM,
                "oanda-a": oanda(connection="disconnected", last_error="cut", unavailable_instruments=("FOO_BAR",)),
            }
        ),
        DEGRADED,
        ["oanda-a: disconnected (cut)", "oanda-a: the account does not offer FOO_BAR"],
        id="disconnected-and-unavailable-instruments",
    ),
    # degraded: Kafka and NATS drops
    pytest.param(
        snapshot(kafka=kafka(connected=False, last_error="KafkaConnectionError: refused", spool_pending_records=4321)),
        DEGRADED,
        ["kafka unreachable (KafkaConnectionError: refused); 4,321 records wait in the spool"],
        id="kafka-unreachable",
    ),
    pytest.param(
        snapshot(kafka=kafka(connected=False)),
        DEGRADED,
        ["kafka not connected yet; 0 records wait in the spool"],
        id="kafka-not-connected-yet",
    ),
    pytest.param(
        snapshot(kafka=kafka(spool_full=True, records_dropped=1234, ticks_dropped=50_000)),
        DEGRADED,
        ["kafka spool full: 1,234 records dropped from the Kafka copy"],
        id="spool-full",
    ),
    pytest.param(
        snapshot(kafka=kafka(records_dropped=7, ticks_dropped=300, records_dropped_recently=2)),
        DEGRADED,
        ["kafka copy incomplete: 2 records dropped in the last 5 min (7 records, 300 ticks since start)"],
        id="records-dropped-recently",
    ),
    pytest.param(
        snapshot(kafka=kafka(records_dropped=7, ticks_dropped=300)),
        OK,
        [],
        id="records-dropped-longer-ago-no-longer-degrade",
    ),
    pytest.param(
        snapshot(
            kafka=kafka(
                records_dropped=7, ticks_dropped=300, records_dropped_recently=7, last_spool_error="spool: disk full"
            )
        ),
        DEGRADED,
        [
            "kafka copy incomplete: 7 records dropped in the last 5 min (7 records, 300 ticks since start) "
            "(spool: disk full)"
        ],
        id="records-dropped-by-a-disk-error",
    ),
    pytest.param(
        snapshot(nats_ticks_dropped=2500),
        DEGRADED,
        ["nats dropped 2,500 ticks in the last 5 min (buffer full while disconnected)"],
        id="nats-dropped-ticks",
    ),
    pytest.param(snapshot(nats_dropped_earlier=2500), OK, [], id="nats-drops-longer-ago-no-longer-degrade"),
]


@pytest.mark.parametrize(("state", "status", "problems"), CASES)
def test_health_status_and_problems_follow_the_rules(
    state: GatewaySnapshot, status: HealthStatus, problems: list[str]
) -> None:
    report = assess(state)
    assert (report.status, list(report.problems)) == (status, problems)
    assert report.document["status"] == status.value
    assert report.document["problems"] == problems


@pytest.mark.parametrize(("status", "code"), [(OK, 200), (DEGRADED, 200), (DOWN, 503)])
def test_only_down_answers_503(status: HealthStatus, code: int) -> None:
    assert status.http_status == code


def test_health_document_has_every_field_and_is_json() -> None:
    state = snapshot(
        sources={
            "sim": SIM,
            "oanda-a": oanda(
                connection="disconnected",
                last_error="cut",
                unavailable_instruments=("FOO_BAR",),
                rejected={"MALFORMED": 1},
                ticks_per_s=12.345,
            ),
        },
        kafka=kafka(spool_pending_records=10, spool_pending_bytes=2048, last_error="timeout"),
    )
    document = assess(state).document
    assert json.loads(json.dumps(document)) == document
    assert document == {
        "status": "degraded",
        "problems": ["oanda-a: disconnected (cut)", "oanda-a: the account does not offer FOO_BAR"],
        "uptime_s": 12.346,
        "instance_id": "fxgw-test",
        "session_id": 1_700_000_000_000_000_000,
        "nats": {"connected": True, "url": NATS_URL, "messages": 70, "ticks": 1400, "ticks_dropped": 0},
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
        },
    }


def test_health_document_has_kafka_null_when_the_backup_is_disabled() -> None:
    assert assess(snapshot()).document["kafka"] is None


def test_unauthorized_in_the_document_is_true_for_the_published_status_alone() -> None:
    source = assess(snapshot(sources={"oanda-a": oanda(connection="unauthorized")})).document["sources"]["oanda-a"]
    assert source["unauthorized"] is True


# -- metrics ---------------------------------------------------------------------------------------------------


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
        sources={"sim": SIM, "oanda-a": oanda(connection="unauthorized", unauthorized=True)},
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
        ("fxgw_uptime_seconds", NO_LABELS): 12.3456,
        ("fxgw_kafka_connected", NO_LABELS): 0,
        ("fxgw_kafka_spool_pending_records", NO_LABELS): 321,
        ("fxgw_kafka_spool_pending_bytes", NO_LABELS): 1_048_000,
        ("fxgw_kafka_spool_full", NO_LABELS): 1,
        ("fxgw_kafka_records_dropped_total", NO_LABELS): 17,
        ("fxgw_kafka_ticks_dropped_total", NO_LABELS): 4000,
        ("fxgw_kafka_records_sent_total", NO_LABELS): 40,
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
        (oanda(connection="reconnected"), 1),
        (oanda(connection=None), 0),
        (oanda(connection="disconnected"), 0),
        (oanda(connection="rejected"), 0),
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


# -- rates -----------------------------------------------------------------------------------------------------


def test_rate_is_zero_without_an_earlier_sample() -> None:
    window = RateWindow()
    assert window.rates(5 * NS_PER_S, {"sim": 100}) == {"sim": 0.0}
    window.observe(5 * NS_PER_S, {"sim": 100})
    assert window.rates(5 * NS_PER_S, {"sim": 100}) == {"sim": 0.0}


def test_rate_runs_from_the_oldest_sample_to_now_while_the_window_fills() -> None:
    window = RateWindow(window_s=10)
    window.observe(0, {"sim": 0})
    window.observe(1 * NS_PER_S, {"sim": 100})
    assert window.rates(2 * NS_PER_S, {"sim": 300}) == {"sim": 150.0}


def test_rate_forgets_samples_older_than_the_window() -> None:
    window = RateWindow(window_s=10)
    for second in range(16):  # 1,000 ticks/s for 10 s, then 100 ticks/s
        window.observe(second * NS_PER_S, {"sim": 1000 * min(second, 10) + 100 * max(second - 10, 0)})
    # At 15.5 s the oldest sample kept is the one at 6 s (9.5 s ago): 4 s at 1,000 and 5.5 s at 100.
    rates = window.rates(15_500_000_000, {"sim": 10_550})
    assert rates["sim"] == pytest.approx((10_550 - 6000) / 9.5)


def test_rate_when_sampling_stalled_runs_from_the_newest_sample() -> None:
    window = RateWindow(window_s=10)
    window.observe(0, {"sim": 0})
    window.observe(1 * NS_PER_S, {"sim": 100})
    assert window.rates(21 * NS_PER_S, {"sim": 2100}) == {"sim": 100.0}


def test_rate_of_a_source_that_appeared_inside_the_window_counts_from_zero() -> None:
    window = RateWindow()
    window.observe(0, {"sim": 50})
    assert window.rates(2 * NS_PER_S, {"sim": 250, "late": 40}) == {"sim": 100.0, "late": 20.0}


# -- configuration ---------------------------------------------------------------------------------------------

BROKERS = [{"id": "sim", "kind": "simulated"}]


def test_http_is_on_by_default_on_loopback_port_8080() -> None:
    http = parse_config({"brokers": BROKERS}).http
    assert (http.enabled, http.host, http.port) == (True, "127.0.0.1", 8080)


def test_http_port_0_and_other_settings_are_taken() -> None:
    http = parse_config({"http": {"enabled": False, "host": "0.0.0.0", "port": 0}, "brokers": BROKERS}).http
    assert (http.enabled, http.host, http.port) == (False, "0.0.0.0", 0)


@pytest.mark.parametrize(
    ("http", "expected"),
    [
        ({"port": 70000}, "http.port: 70000 is not allowed"),
        ({"port": -1}, "http.port: -1 is not allowed"),
        ({"host": "not a host"}, "http.host: 'not a host' is not allowed"),
        ({"prot": 8080}, "http.prot: unknown key; allowed keys: enabled, host, port"),
    ],
    ids=["port-too-high", "port-negative", "host-with-spaces", "unknown-key"],
)
def test_bad_http_settings_are_named(http: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError, match="invalid configuration") as caught:
        parse_config({"http": http, "brokers": BROKERS}, "gw.yaml")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("samples", "now_s", "counts", "expected"),
    [
        pytest.param([], 1, {"nats": 5}, {"nats": 5}, id="no-sample-yet-all-of-it-is-recent"),
        pytest.param([(0, {"nats": 5})], 100, {"nats": 5}, {"nats": 0}, id="nothing-since-the-first-sample"),
        pytest.param([(0, {"nats": 0}), (200, {"nats": 5})], 250, {"nats": 9}, {"nats": 9}, id="all-within-window"),
        pytest.param(
            [(0, {"nats": 0}), (200, {"nats": 5}), (400, {"nats": 9})],
            450,
            {"nats": 9},
            {"nats": 4},
            id="older-growth-forgotten",
        ),
        pytest.param([(0, {})], 10, {"kafka": 3}, {"kafka": 3}, id="counter-new-since-the-sample"),
    ],
)
def test_increases_are_what_counters_grew_by_within_the_window(
    samples: list[tuple[int, dict[str, int]]], now_s: int, counts: dict[str, int], expected: dict[str, int]
) -> None:
    window = RateWindow(window_s=300)
    for second, sample in samples:
        window.observe(second * NS_PER_S, sample)
    assert window.increases(now_s * NS_PER_S, counts) == expected
