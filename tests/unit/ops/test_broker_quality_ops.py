"""Broker quality in /health, /metrics and the live page, rendered from a hand-built snapshot."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.aggregator import BestPriceAggregator
from gateway.broker_quality import BrokerQuality, BrokerQualityPolicy
from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.events import Quote
from gateway.instruments import default_pip_px
from gateway.ops.health import assess
from gateway.ops.metrics import metric_families
from gateway.ops.server import HealthServer
from gateway.ops.snapshot import GatewaySnapshot
from tests.unit.ops.samples import NOTHING_RECENT, snapshot

T0 = 1_700_000_000 * NS_PER_S


def measured() -> GatewaySnapshot:
    """``sim`` quoted EUR_USD for 3 s, 2 ms late, 1.2 pips wide, and was the best price throughout."""
    quality = BrokerQuality(BrokerQualityPolicy(window_s=60), {"sim": ["EUR_USD"]}, default_pip_px)
    aggregator = BestPriceAggregator({"sim": 0})
    for step in range(31):
        ts_ns = T0 + step * 100 * NS_PER_MS
        quote = Quote("EUR_USD", "sim", 1_085_000_000, 1_085_120_000, 1, 1, ts_ns - 2 * NS_PER_MS, ts_ns)
        quality.observe_quote(quote)
        aggregator.update(quote)
        aggregator.changes()
        if step % 10 == 0:
            quality.observe(ts_ns, {"sim": True}, aggregator.time_at_best(ts_ns))
    return dataclasses.replace(
        snapshot(), best=tuple(aggregator.current().values()), quality=quality.report(T0 + 3 * NS_PER_S)
    )


def test_health_shows_quality_in_ms_pips_and_percent() -> None:
    document = assess(measured(), NOTHING_RECENT).document
    sim = document["sources"]["sim"]["quality"]
    assert 1 < sim["quote_age_ms"]["p50"] <= 2.5 and sim["quote_age_ms"]["includes_clock_offset"] is True
    assert sim["clock_offset_ms"] == 2.0 and sim["uptime_percent"] == 100.0 and sim["disconnects"] == 0
    eurusd = sim["instruments"]["EUR_USD"]
    assert eurusd["ticks"] == 31 and eurusd["spread_pips"]["tick_weighted"] == 1.2
    assert eurusd["spread_pips"]["time_weighted"] == eurusd["spread_pips"]["p95"] == 1.2
    assert (eurusd["completeness_percent"], eurusd["at_best_percent"], eurusd["eligible"]) == (100.0, 100.0, True)
    assert document["sources"]["oanda-a"]["quality"] is None  # no figures yet
    assert document["best"]["EUR_USD"] == {
        "bid": "1.08500",
        "bid_source": "sim",
        "ask": "1.08512",
        "ask_source": "sim",
        "live_sources": 1,
        "crossed": False,
    }
    assert document["recommendations"]["instruments"]["EUR_USD"]["source"] == "sim"
    assert document["recommendations"]["completeness_floor_percent"] == 80.0


def test_metrics_are_in_base_units_with_bounded_labels() -> None:
    families = {family.name: family for family in metric_families(measured())}
    age = families["fxgw_quote_age_seconds"]
    buckets = {sample.labels["le"]: sample.value for sample in age.samples if sample.name.endswith("_bucket")}
    assert buckets["0.001"] == 0 and buckets["0.0025"] == buckets["+Inf"] == 31
    assert {sample.name: sample.value for sample in age.samples}["fxgw_quote_age_seconds_sum"] == 31 * 0.002
    spread = {sample.name: sample.value for sample in families["fxgw_spread_pips_sum"].samples}
    assert spread["fxgw_spread_pips_sum_total"] == pytest.approx(31 * 1.2)
    assert [sample.value for sample in families["fxgw_best_bid_seconds"].samples] == [3.0]
    assert [sample.labels for sample in families["fxgw_broker_recommended"].samples] == [
        {"source": "sim", "instrument": "EUR_USD"}
    ]
    missing = families["fxgw_missing_seconds"].samples
    assert {sample.labels["cause"] for sample in missing} == {"disconnected", "not_tradeable", "stale"}
    text = "".join(f"{sample.name} {sample.value}\n" for family in families.values() for sample in family.samples)
    assert list(text_string_to_metric_families(text))


async def test_live_page_is_served_with_its_script_hash_and_can_be_turned_off() -> None:
    for live_page, expected in ((True, 200), (False, 404)):
        server = HealthServer(lambda: measured(), "127.0.0.1", 0, live_page=live_page)
        server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
                response = await client.get("/")
        finally:
            await server.stop(timeout_s=5)
        assert response.status_code == expected
        if live_page:
            script = re.search(r"<script>(.*)</script>", response.text, re.S)
            assert script is not None
            digest = base64.b64encode(hashlib.sha256(script[1].encode()).digest()).decode()
            assert f"script-src 'sha256-{digest}'" in response.headers["content-security-policy"]
            assert "innerHTML" not in response.text and "textContent" in response.text
