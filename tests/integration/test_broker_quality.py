"""Broker quality of a running gateway: two simulated brokers on a real nats-server, one goes silent and comes back.

The windows are short (config ``broker_quality``) so the recommendation moves within seconds; /metrics is checked
by ``promtool check metrics`` (Debian package ``prometheus``) and the Grafana dashboard's queries against it.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from collectors.simulated import SimulatedCollector
from gateway.app import Gateway
from gateway.config import parse_config
from tests.servers.oanda_v20 import OandaV20Server

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = REPO_ROOT / "grafana" / "fxgw-broker-quality.json"


def two_brokers(nats_url: str) -> dict[str, Any]:
    """Broker ``tight`` quotes the same market as ``wide`` with a narrower spread: the better one while it quotes."""
    broker = {"kind": "simulated", "ticks_per_second": 100, "instruments": ["EUR_USD"], "market_seed": 7}
    return {
        "nats": {"url": nats_url},
        "http": {"port": 0},
        "best_price": {"stale_after_ms": 300},
        "broker_quality": {"window_s": 4, "switch_hold_s": 1},
        "brokers": [
            {**broker, "id": "tight", "seed": 1, "spread_factor": 1.0},
            {**broker, "id": "wide", "seed": 2, "spread_factor": 1.6},
        ],
    }


async def recommended(client: httpx.AsyncClient) -> str | None:
    choice = (await client.get("/health")).json()["recommendations"]["instruments"].get("EUR_USD")
    return None if choice is None else choice["source"]  # type: ignore[no-any-return]


async def watch_until(client: httpx.AsyncClient, wanted: str, seen: list[str | None], timeout_s: float = 20) -> None:
    """Poll the recommendation every 0.1 s into ``seen`` until it is ``wanted``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen.append(await recommended(client))
        if seen[-1] == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the recommendation never became {wanted}: {seen[-10:]}")


def collapsed(values: list[str | None]) -> list[str | None]:
    return [value for index, value in enumerate(values) if index == 0 or values[index - 1] != value]


async def test_recommendation_moves_to_the_other_broker_and_back_without_flapping(nats_url: str) -> None:
    gateway = Gateway(parse_config(two_brokers(nats_url)))
    await gateway.start()
    seen: list[str | None] = []
    try:
        tight = gateway.collector_instances["tight"]
        assert isinstance(tight, SimulatedCollector)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.http_port}", timeout=5) as client:
            await watch_until(client, "tight", seen)
            tight.pause()
            await watch_until(client, "wide", seen)
            paused = (await client.get("/health")).json()["sources"]["tight"]["quality"]["instruments"]["EUR_USD"]
            tight.resume()
            await watch_until(client, "tight", seen)
            for _ in range(20):  # it stays
                seen.append(await recommended(client))
                await asyncio.sleep(0.1)
            health = (await client.get("/health")).json()
            metrics = (await client.get("/metrics")).text
    finally:
        await gateway.stop()

    assert collapsed([value for value in seen if value is not None]) == ["tight", "wide", "tight"]
    assert paused["missing_now"] == "stale" and paused["completeness_percent"] < 80 and not paused["eligible"]
    events = [(event["source"], event["kind"]) for event in health["recent"]]
    assert ("tight", "stale") in events and ("tight", "back") in events
    figures = health["sources"]["tight"]["quality"]
    assert figures["disconnects"] == 0 and figures["uptime_percent"] == 100.0  # silent, not disconnected
    assert figures["instruments"]["EUR_USD"]["missing_s"]["stale"] > 0
    wide = health["sources"]["wide"]["quality"]["instruments"]["EUR_USD"]["spread_pips"]["time_weighted"]
    assert wide > figures["instruments"]["EUR_USD"]["spread_pips"]["time_weighted"]
    assert health["best"]["EUR_USD"]["live_sources"] == 2
    assert re.search(r'^fxgw_broker_recommended\{instrument="EUR_USD",source="tight"\} 1\.0$', metrics, re.M)
    assert re.search(r'^fxgw_broker_recommended\{instrument="EUR_USD",source="wide"\} 0\.0$', metrics, re.M)

    promtool_accepts(metrics)


def promtool_accepts(metrics: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: apt-get install prometheus (.ci/run does)"
    checked = subprocess.run([promtool, "check", "metrics"], input=metrics, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def dashboard_metrics() -> set[str]:
    """The metric names every panel of the Grafana dashboard queries."""
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert expressions and dashboard["title"]
    return {name for expression in expressions for name in re.findall(r"\b(fxgw_[a-z_]+)", expression)}


async def test_oanda_heartbeats_give_a_heartbeat_age_and_the_clock_offset_and_the_dashboard_has_its_metrics(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FXGW_TEST_QUALITY_TOKEN", "tok-right-51c0ffee")
    account = "101-004-1234567-001"
    async with OandaV20Server(accounts={account: "tok-right-51c0ffee"}, heartbeat_interval_s=0.05) as server:
        oanda = {
            "id": "oanda-a",
            "kind": "oanda",
            "account_id": account,
            "token_env": "FXGW_TEST_QUALITY_TOKEN",
            "rest_url": server.rest_url,
            "stream_url": server.stream_url,
            "instruments": ["EUR_USD"],
        }
        sim = {"id": "sim", "kind": "simulated", "ticks_per_second": 50, "instruments": ["EUR_USD"]}
        settings = {"nats": {"url": nats_url}, "http": {"port": 0}, "brokers": [oanda, sim]}
        gateway = Gateway(parse_config(settings))
        await gateway.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.http_port}", timeout=5) as client:
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    sources = (await client.get("/health")).json()["sources"]
                    figures = sources["oanda-a"]["quality"]
                    sim_measured = sources["sim"]["quality"]["instruments"]["EUR_USD"]["completeness_percent"]
                    if figures["clock_offset_from"] == "heartbeats" and figures["heartbeats"] >= 5 and sim_measured:
                        break
                    await asyncio.sleep(0.1)
                metrics = (await client.get("/metrics")).text
        finally:
            await gateway.stop()

    assert figures["clock_offset_from"] == "heartbeats"
    assert figures["clock_offset_ms"] is not None and -1000 < figures["clock_offset_ms"] < 1000
    counted = re.search(r'^fxgw_heartbeat_age_seconds_count\{source="oanda-a"\} (\S+)$', metrics, re.M)
    assert counted is not None and float(counted[1]) >= 5
    promtool_accepts(metrics)
    exposed = set(re.findall(r"^(fxgw_[a-z_]+)", metrics, re.M))
    queried = dashboard_metrics()
    assert queried and queried <= exposed, queried - exposed
