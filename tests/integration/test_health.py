"""/health and /metrics of a running gateway: real nats-server, simulated and OANDA v20 brokers, real HTTP.

Every gateway here listens on port 0 (a free port, read back from ``gateway.http_port``).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import Gateway
from gateway.config import parse_config
from gateway.errors import HttpBindError
from gateway.nats_server import NatsServer
from gateway.ops.status_line import StatusLine
from tests.servers.oanda_v20 import OandaV20Server
from tests.support import Recorder, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
HTTP_ANY_PORT = {"port": 0}
SIM: dict[str, Any] = {
    "id": "sim",
    "kind": "simulated",
    "ticks_per_second": 400,
    "instruments": ["EUR_USD", "USD_JPY"],
    "bad_tick_ratio": 0.05,
}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@asynccontextmanager
async def running(settings: dict[str, Any]) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    gateway = Gateway(parse_config(settings))
    await gateway.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.http_port}", timeout=5) as client:
            yield gateway, client
    finally:
        await gateway.stop()


async def metrics(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def health_until(
    client: httpx.AsyncClient, condition: Callable[[dict[str, Any]], bool], timeout_s: float = 10.0
) -> httpx.Response:
    """Ask /health until its document satisfies ``condition``: the state it reports has no event to await."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get("/health")
        if condition(response.json()) or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.05)


def labels(**names: str) -> frozenset[tuple[str, str]]:
    return frozenset(names.items())


async def test_health_is_ok_and_metrics_count_what_the_gateway_counted(nats_url: str) -> None:
    recorder = await Recorder().start(nats_url, "market.sim.ticks")
    try:
        async with running({"nats": {"url": nats_url}, "http": HTTP_ANY_PORT, "brokers": [SIM]}) as (gateway, client):
            assert gateway.http_port not in (None, 0)
            await recorder.wait_for(lambda r: len(r.ticks("sim")) >= 200)
            await asyncio.sleep(1.1)  # one rate sample after the first: ticks_per_s over about a second

            response = await client.get("/health")
            samples = await metrics(client)
            state = gateway.snapshot()
            assert gateway.pipeline is not None
            counted = gateway.pipeline.sources["sim"]
            port = gateway.http_port
    finally:
        await recorder.stop()

    assert response.status_code == 200
    health = response.json()
    assert (health["status"], health["problems"], health["kafka"]) == ("ok", [], None)
    assert health["instance_id"] == "fxgw" and health["session_id"] == gateway.started_ns
    assert health["nats"]["connected"] is True and health["nats"]["url"] == nats_url
    assert health["nats"]["ticks"] >= 200 and health["nats"]["ticks_dropped"] == 0
    sim = health["sources"]["sim"]
    assert (sim["kind"], sim["state"], sim["connection"], sim["unauthorized"]) == ("simulated", "running", None, False)
    assert 200 <= sim["accepted"] <= counted.accepted
    assert 200 < sim["ticks_per_s"] < 800  # configured: 400 ticks/s, some rejected
    assert set(sim["rejected"]) <= {"CROSSED", "PRICE_JUMP", "SPREAD_TOO_WIDE", "BAD_VALUE", "LOCKED", "MALFORMED"}

    assert sim["accepted"] <= samples[("fxgw_ticks_accepted_total", labels(source="sim"))] <= counted.accepted
    rejected = {
        dict(key)["reason"]: value for (name, key), value in samples.items() if name == "fxgw_ticks_rejected_total"
    }
    assert rejected and sum(rejected.values()) <= counted.rejected_total
    assert samples[("fxgw_source_connected", labels(source="sim"))] == 1
    assert samples[("fxgw_source_unauthorized", labels(source="sim"))] == 0
    assert samples[("fxgw_nats_connected", labels())] == 1
    assert samples[("fxgw_nats_ticks_dropped_total", labels())] == 0
    assert 1 < samples[("fxgw_uptime_seconds", labels())] < 60
    assert not any(name.startswith("fxgw_kafka_") for name, _ in samples)

    # The snapshot all three render from, taken after them: the same counters, the status line's best prices.
    assert state.sources["sim"].delivering and sim["accepted"] <= state.sources["sim"].accepted <= counted.accepted
    assert state.session_id == gateway.started_ns and state.nats.ticks >= health["nats"]["ticks"]
    assert {best.instrument for best in state.best} == {"EUR_USD", "USD_JPY"}
    line = StatusLine().render(state)
    assert line.startswith("[") and " | sim 0 t/s | rejected " in line and "EUR_USD " in line
    with pytest.raises(httpx.ConnectError):  # stopped with the gateway
        httpx.get(f"http://127.0.0.1:{port}/health")


async def test_health_is_down_with_503_while_nats_is_gone() -> None:
    with NatsServer() as server:
        settings = {"nats": {"url": server.url, "reconnect_wait_ms": 50}, "http": HTTP_ANY_PORT, "brokers": [SIM]}
        async with running(settings) as (_, client):
            assert (await client.get("/health")).status_code == 200
            server.stop()
            response = await health_until(client, lambda health: health["status"] == "down")
            samples = await metrics(client)

    assert response.status_code == 503
    health = response.json()
    assert health["problems"][0] == f"nats disconnected ({server.url})" and health["nats"]["connected"] is False
    assert samples[("fxgw_nats_connected", labels())] == 0


async def test_full_spool_makes_health_degraded_and_the_metric_1(nats_url: str, tmp_path: Path) -> None:
    settings = {
        "nats": {"url": nats_url},
        "http": HTTP_ANY_PORT,
        "brokers": [{**SIM, "ticks_per_second": 40_000, "bad_tick_ratio": 0}],
        "kafka": {
            "enabled": True,
            "bootstrap_servers": f"127.0.0.1:{free_port()}",  # nothing listens: every record stays in the spool
            "request_timeout_ms": 1000,
            "spool": {"dir": str(tmp_path / "spool"), "max_bytes": 1024**2, "segment_bytes": 256 * 1024},
        },
    }
    async with running(settings) as (_, client):
        response = await health_until(
            client, lambda health: health["kafka"]["spool_full"] and health["kafka"]["last_error"]
        )
        samples = await metrics(client)

    assert response.status_code == 200
    health = response.json()
    kafka = health["kafka"]
    assert health["status"] == "degraded"
    assert (kafka["enabled"], kafka["connected"], kafka["spool_full"], kafka["records_sent"]) == (True, False, True, 0)
    assert kafka["records_dropped"] > 0 and kafka["ticks_dropped"] > 0
    assert 0.9 * 1024**2 < kafka["spool_pending_bytes"] <= 1024**2
    assert f"kafka spool full: {kafka['records_dropped']:,} records dropped from the Kafka copy" in health["problems"]
    assert any(problem.startswith("kafka unreachable") for problem in health["problems"])
    assert health["sources"]["sim"]["state"] == "running" and health["nats"]["ticks_dropped"] == 0

    assert samples[("fxgw_kafka_spool_full", labels())] == 1
    assert samples[("fxgw_kafka_connected", labels())] == 0
    assert samples[("fxgw_kafka_records_dropped_total", labels())] >= kafka["records_dropped"]
    assert samples[("fxgw_kafka_ticks_dropped_total", labels())] >= kafka["ticks_dropped"]
    assert samples[("fxgw_kafka_spool_pending_bytes", labels())] > 0.9 * 1024**2
    assert samples[("fxgw_kafka_spool_pending_records", labels())] > 0
    assert samples[("fxgw_kafka_records_sent_total", labels())] == 0


async def test_refused_oanda_token_is_named_in_health_and_metrics(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FXGW_TEST_HEALTH_TOKEN", "tok-wrong-0d4c7a2e")
    account = "101-004-7654321-001"
    async with OandaV20Server(accounts={account: "tok-right-9b1e5f3a"}) as server:
        oanda = {
            "id": "oanda-a",
            "kind": "oanda",
            "account_id": account,
            "token_env": "FXGW_TEST_HEALTH_TOKEN",
            "rest_url": server.rest_url,
            "stream_url": server.stream_url,
            "instruments": ["EUR_USD"],
        }
        settings = {"nats": {"url": nats_url}, "http": HTTP_ANY_PORT, "brokers": [SIM, oanda]}
        async with running(settings) as (_, client):
            response = await health_until(client, lambda health: health["sources"]["oanda-a"]["unauthorized"])
            samples = await metrics(client)

    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "degraded"
    assert health["problems"] == ["oanda-a: token refused (UNAUTHORIZED)"]
    source = health["sources"]["oanda-a"]
    assert (source["kind"], source["state"], source["connection"]) == ("oanda", "running", "unauthorized")
    assert "tok-" not in response.text  # never the token
    assert samples[("fxgw_source_unauthorized", labels(source="oanda-a"))] == 1
    assert samples[("fxgw_source_connected", labels(source="oanda-a"))] == 0
    assert samples[("fxgw_source_connected", labels(source="sim"))] == 1


async def test_busy_port_fails_the_start_naming_the_address_and_leaves_nothing_open(nats_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        gateway = Gateway(parse_config({"nats": {"url": nats_url}, "http": {"port": port}, "brokers": [SIM]}))
        with pytest.raises(HttpBindError, match=f"cannot listen on 127.0.0.1:{port} .*http.port"):
            await gateway.start()
    assert not gateway.nats_connected and not gateway.collectors


def test_fxgw_run_with_a_busy_port_exits_1_with_the_address(tmp_path: Path, nats_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "gw.yaml"
        config.write_text(
            f"nats: {{url: '{nats_url}'}}\nhttp: {{port: {port}}}\nbrokers: [{{id: a, kind: simulated}}]\n"
        )
        result = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO_ROOT,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
