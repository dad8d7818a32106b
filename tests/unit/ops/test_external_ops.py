"""External collectors in /health, /metrics and the status line, from hand-built snapshots."""

from __future__ import annotations

import dataclasses

from gateway.ops.activity import RecentActivity
from gateway.ops.health import HealthStatus, assess
from gateway.ops.snapshot import ExternalSnapshot
from gateway.ops.status_line import StatusLine
from gateway.schema.market.v1.market_pb2 import SourceStatus
from tests.unit.ops.samples import snapshot
from tests.unit.ops.test_metrics import scrape, source_label

FRED = ExternalSnapshot(
    kind="fred",
    status="ok",
    connection=SourceStatus.STATE_CONNECTED,
    published=316,
    polls_ok=3,
    polls_failed=1,
    polls_not_modified=2,
    items_new=315,
    items_updated=1,
    items_unchanged=629,
    problems={"bad_number": 2},
    last_success_ns=1_800_000_000 * 10**9,
)
REFUSED = dataclasses.replace(
    FRED, status="unauthorized", connection=SourceStatus.STATE_UNAUTHORIZED, last_error="key refused"
)


def test_the_health_document_has_a_block_per_external_collector() -> None:
    report = assess(snapshot(external={"fred": FRED}), RecentActivity())
    assert report.status is HealthStatus.OK
    assert report.document["external"] == {
        "fred": {
            "kind": "fred",
            "state": "running",
            "status": "ok",
            "connection": "connected",
            "last_success_ns": 1_800_000_000 * 10**9,
            "last_success": "2027-01-15T08:00:00+00:00",
            "polls": {"ok": 3, "failed": 1, "not_modified": 2},
            "items": {"new": 315, "updated": 1, "unchanged": 629, "current": 0},
            "published": 316,
            "problems": {"bad_number": 2},
            "last_error": "",
        }
    }


def test_an_external_collector_not_ok_degrades_with_its_reason() -> None:
    failed = dataclasses.replace(FRED, state="failed", last_error="ConfigError: FRED_API_KEY is not set")
    starting = dataclasses.replace(FRED, status="starting", last_success_ns=0)
    report = assess(snapshot(external={"fred": REFUSED, "fred-b": failed, "fred-c": starting}), RecentActivity())
    assert report.status is HealthStatus.DEGRADED
    assert report.problems == (
        "fred: unauthorized (key refused)",
        "external collector fred-b failed: ConfigError: FRED_API_KEY is not set",
        "fred-c: not polled yet",
    )
    assert report.document["external"]["fred-c"]["last_success"] is None


def test_a_gateway_of_external_collectors_only_is_down_when_none_has_data() -> None:
    assert assess(snapshot(sources={}, external={"fred": FRED}), RecentActivity()).status is HealthStatus.OK
    down = assess(snapshot(sources={}, external={"fred": REFUSED}), RecentActivity())
    assert down.status is HealthStatus.DOWN and down.problems[0] == "no external collector has data"


def test_brokers_decide_down_when_there_are_brokers() -> None:
    failed_sim = dataclasses.replace(snapshot().sources["sim"], state="failed")
    state = snapshot(sources={"sim": failed_sim}, external={"fred": FRED})
    assert assess(state, RecentActivity()).status is HealthStatus.DOWN


def test_metrics_of_external_collectors() -> None:
    samples = scrape(snapshot(external={"fred": FRED}))
    external = {key: value for key, value in samples.items() if key[0].startswith("fxgw_external_")}
    assert external == {
        ("fxgw_external_polls_total", source_label("fred", result="ok")): 3,
        ("fxgw_external_polls_total", source_label("fred", result="failed")): 1,
        ("fxgw_external_polls_total", source_label("fred", result="not_modified")): 2,
        ("fxgw_external_items_total", source_label("fred", change="new")): 315,
        ("fxgw_external_items_total", source_label("fred", change="updated")): 1,
        ("fxgw_external_items_total", source_label("fred", change="unchanged")): 629,
        ("fxgw_external_items_total", source_label("fred", change="current")): 0,
        ("fxgw_external_published_total", source_label("fred")): 316,
        ("fxgw_external_problems_total", source_label("fred", reason="bad_number")): 2,
        ("fxgw_external_ok", source_label("fred")): 1,
        ("fxgw_external_last_success_seconds", source_label("fred")): 1_800_000_000,
    }
    assert not any(name.startswith("fxgw_external_") for name, _ in scrape(snapshot()))


def test_the_status_line_shows_items_and_a_state_that_is_not_ok() -> None:
    line = StatusLine().render(snapshot(sources={}, external={"fred": FRED, "fred-b": REFUSED}))
    assert "fred 316 items | fred-b 316 items unauthorized" in line
