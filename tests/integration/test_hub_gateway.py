"""The gateway's side of the Central Hub, with a real nats-server -js, a real hub and real gateways.

Registration, heartbeats and deregistration (``fxgw run`` in a subprocess, stopped by SIGTERM), a source
another instance owns not started, ticks flowing while the hub is down, and NATS service discovery.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from central_hub.service import Hub, HubSettings
from gateway.app import Gateway
from gateway.config import parse_config
from gateway.nats_server import NatsServer
from tests.servers.http_provider import Fault, ProviderServer, Reply
from tests.support import REPO_ROOT, Recorder, free_port, wait_until

HEARTBEAT_S = 0.5
_buckets = itertools.count()


@pytest.fixture(scope="module")
def jetstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(extra_args=("-js", "-sd", str(tmp_path_factory.mktemp("js")))) as server:
        yield server


@asynccontextmanager
async def running_hub(nats_url: str, port: int = 0, heartbeat_s: float = HEARTBEAT_S) -> AsyncIterator[Hub]:
    hub = Hub(HubSettings(nats_url, port=port, heartbeat_s=heartbeat_s, bucket=f"gwhub_{next(_buckets)}"))
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


def gateway_settings(nats_url: str, instance_id: str, hub_url: str | None, *sources: str) -> dict[str, Any]:
    return {
        "instance_id": instance_id,
        "nats": {"url": nats_url},
        "http": {"port": 0},
        "brokers": [
            {"id": source, "kind": "simulated", "ticks_per_second": 200, "instruments": ["EUR_USD"]}
            for source in sources
        ],
        "central_hub": {"enabled": hub_url is not None, "url": hub_url or "http://127.0.0.1:1"}
        | {"heartbeat_interval_s": HEARTBEAT_S},
    }


@asynccontextmanager
async def running_gateway(settings: dict[str, Any]) -> AsyncIterator[Gateway]:
    gateway = Gateway(parse_config(settings))
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


async def listed(hub: Hub) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        answer = await http.get("/v1/gateways")
    assert answer.status_code == 200, answer.text
    return {gateway["instance_id"]: gateway for gateway in answer.json()["gateways"]}


async def test_a_source_another_instance_owns_is_not_started_and_health_names_the_owner(
    jetstream: NatsServer,
) -> None:
    async with (
        running_hub(jetstream.url) as hub,
        running_gateway(gateway_settings(jetstream.url, "gw-a", hub.url, "sim-x")) as first,
        running_gateway(gateway_settings(jetstream.url, "gw-b", hub.url, "sim-x", "sim-y")) as second,
    ):
        assert list(first.snapshot().sources) == ["sim-x"]
        assert list(second.snapshot().sources) == ["sim-y"]  # sim-x never started here
        assert second.registration is not None and second.registration.stats.refused_sources == {"sim-x": "gw-a"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{second.http_port}", timeout=5) as http:
            health = (await http.get("/health")).json()
        assert health["status"] == "degraded"
        assert "sim-x: not started: the central hub says instance gw-a owns it" in health["problems"]
        registry = await listed(hub)
        assert [source["id"] for source in registry["gw-b"]["sources"]] == ["sim-y"]
        assert "market.sim-x.ticks" not in registry["gw-b"]["subjects"]
        assert registry["gw-a"]["health_url"] == f"http://127.0.0.1:{first.http_port}/health"


async def test_ticks_keep_flowing_while_the_hub_is_down_and_the_gateway_registers_again(
    jetstream: NatsServer,
) -> None:
    port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    settings = HubSettings(jetstream.url, port=port, heartbeat_s=HEARTBEAT_S, bucket=f"gwhub_{next(_buckets)}")
    hub = Hub(settings)
    await hub.start()
    recorder = await Recorder().start(jetstream.url, "market.sim.ticks")
    try:
        async with running_gateway(gateway_settings(jetstream.url, "gw-a", hub_url, "sim")) as gateway:
            registration = gateway.registration
            assert registration is not None and "gw-a" in await listed(hub)
            await hub.stop()
            await wait_until(lambda: registration.stats.failures > 0, "a heartbeat to the stopped hub failed")
            before = len(recorder.ticks("sim"))
            await recorder.wait_for(lambda r: len(r.ticks("sim")) >= before + 100)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.http_port}", timeout=5) as http:
                health = (await http.get("/health")).json()
                metrics = (await http.get("/metrics")).text.splitlines()
            assert health["status"] == "degraded" and health["central_hub"]["registered"] is False
            assert any(problem.startswith(f"central hub {hub_url}: not registered") for problem in health["problems"])
            assert "fxgw_hub_registered 0.0" in metrics
            failures = [line for line in metrics if line.startswith("fxgw_hub_heartbeat_failures_total ")]
            assert len(failures) == 1 and float(failures[0].split()[1]) >= 1
            hub = Hub(settings)  # back on the same port: the next heartbeat registers the full record again
            await hub.start()
            await wait_until(lambda: registration.stats.registered, "registered with the restarted hub")
            assert "gw-a" in await listed(hub)
    finally:
        await recorder.stop()
        await hub.stop()


async def test_a_source_found_owned_elsewhere_after_start_keeps_running_and_health_says_so(
    jetstream: NatsServer,
) -> None:
    port = free_port()
    # Claims live 15 s: the first gateway's claim outlasts the hub's absence.
    settings = HubSettings(jetstream.url, port=port, heartbeat_s=5.0, bucket=f"gwhub_{next(_buckets)}")
    hub_url = f"http://127.0.0.1:{port}"
    hub = Hub(settings)
    await hub.start()
    try:
        async with running_gateway(gateway_settings(jetstream.url, "gw-a", hub_url, "sim-x")):
            await hub.stop()  # the second gateway starts while the hub is down: it starts every source
            async with running_gateway(gateway_settings(jetstream.url, "gw-b", hub_url, "sim-x", "sim-y")) as second:
                registration = second.registration
                assert registration is not None and registration.stats.refused_sources == {}
                hub = Hub(settings)
                await hub.start()
                await wait_until(lambda: registration.stats.registered, "the second gateway registered")
                assert registration.stats.contested_sources == {"sim-x": "gw-a"}
                assert list(second.snapshot().sources) == ["sim-x", "sim-y"]  # still running: the operator decides
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{second.http_port}", timeout=5) as http:
                    problems = (await http.get("/health")).json()["problems"]
                assert "sim-x: runs here, but the central hub says instance gw-a owns it: stop one of them" in problems
                registry = await listed(hub)
                assert [source["id"] for source in registry["gw-b"]["sources"]] == ["sim-y"]
    finally:
        await hub.stop()


HOSTILE_HUB_ANSWERS = [
    Reply(409, json.dumps({"error": "x", "owners": {"not-ours": "gw-x", "sim-h": 5, "": None}}).encode()),
    Reply(200, b"{" + b" " * (2 * 1024 * 1024) + b"}"),  # an accepted heartbeat with a 2 MiB body
    Reply(500, b"[" * 200_000),
    Reply(409, json.dumps({"error": "e" * 1_000_000}).encode()),
    Reply(503, b"<html><body>Service Unavailable</body></html>", content_type="text/html"),
    Reply(409, b'{"owners": []}'),
]


async def test_hostile_hub_answers_are_counted_bounded_and_never_stop_the_ticks(
    jetstream: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = await Recorder().start(jetstream.url, "market.sim-h.ticks")
    async with ProviderServer() as hub:
        hub.inject("/v1/gateways/gw-h", *(Fault.answer(reply) for reply in HOSTILE_HUB_ANSWERS))
        async with running_gateway(gateway_settings(jetstream.url, "gw-h", hub.base_url, "sim-h")) as gateway:
            registration = gateway.registration
            assert registration is not None
            await wait_until(lambda: len(hub.requests) > len(HOSTILE_HUB_ANSWERS), "every hostile answer was read")
            await recorder.wait_for(lambda r: len(r.ticks("sim-h")) >= 100)
            stats = registration.stats
            assert list(gateway.snapshot().sources) == ["sim-h"]  # nothing named a source of ours with an owner
            assert stats.refused_sources == {} and stats.contested_sources == {}
            assert stats.failures >= len(HOSTILE_HUB_ANSWERS) - 1 and stats.heartbeats == 1
            assert len(stats.last_error) < 400 and not stats.registered  # the later 405s: still counted
    await recorder.stop()
    assert all(request.method == "PUT" for request in hub.requests)
    assert "failed; restarting it" not in caplog.text  # the heartbeat loop never broke


async def test_nats_service_discovery_carries_the_subjects_and_the_record(jetstream: NatsServer) -> None:
    settings = gateway_settings(jetstream.url, "gw-disc", None, "sim-a", "sim-b")
    async with running_gateway(settings) as gateway:
        client = await nats.connect(jetstream.url)
        try:
            ping = json.loads((await client.request("$SRV.PING.fxgw", b"", timeout=2)).data)
            info = json.loads((await client.request("$SRV.INFO.fxgw", b"", timeout=2)).data)
            stats = json.loads((await client.request("$SRV.STATS.fxgw", b"", timeout=2)).data)
            record = json.loads((await client.request("fxgw.info.gw-disc", b"", timeout=2)).data)
        finally:
            await client.close()
    assert ping["name"] == "fxgw" and ping["metadata"]["instance_id"] == "gw-disc"
    subjects = info["metadata"]["subjects"].split(",")
    assert {"market.sim-a.ticks", "market.sim-b.status", "market.best.ticks", "market.rejected"} <= set(subjects)
    assert info["metadata"]["health_url"] == f"http://127.0.0.1:{gateway.http_port}/health"
    assert [endpoint["subject"] for endpoint in info["endpoints"]] == ["fxgw.info.gw-disc"]
    assert stats["endpoints"][0]["num_requests"] >= 0
    assert record["instance_id"] == "gw-disc" and record["subjects"] == subjects
    assert record["session_id"] == gateway.snapshot().session_id


def test_fxgw_run_registers_with_the_hub_and_sigterm_deregisters(jetstream: NatsServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        # The hub keeps records 15 s: a removal within seconds of SIGTERM is the deregistration, not the expiry.
        async with running_hub(jetstream.url, heartbeat_s=5.0) as hub:
            config = tmp_path / "gw.yaml"
            config.write_text(
                f"instance_id: gw-run\nnats: {{url: '{jetstream.url}'}}\nhttp: {{port: 0}}\n"
                "brokers: [{id: run-sim, kind: simulated, ticks_per_second: 100}]\n"
                f"central_hub: {{enabled: true, url: '{hub.url}', heartbeat_interval_s: {HEARTBEAT_S}}}\n"
            )
            process = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "run", "--config", str(config)],
                stderr=subprocess.PIPE,
                text=True,
                cwd=REPO_ROOT,
            )
            try:
                registry: dict[str, dict[str, Any]] = {}
                for _ in range(300):
                    registry = await listed(hub)
                    if registry.get("gw-run", {}).get("status") == "ok":  # /health's status after start
                        break
                    await asyncio.sleep(0.05)
                assert registry["gw-run"]["listed_status"] == "passing", registry
                assert [source["id"] for source in registry["gw-run"]["sources"]] == ["run-sim"]
                os.kill(process.pid, signal.SIGTERM)
                await wait_until(lambda: process.poll() is not None, "fxgw run exited", timeout_s=15)
                assert await listed(hub) == {}  # deregistered at once, not expired
            finally:
                if process.poll() is None:
                    process.kill()
                _, errors = process.communicate(timeout=10)
            assert process.returncode == 0, errors
            assert "registered with the central hub" in errors
            assert "deregistered from the central hub" in errors
            assert "Traceback" not in errors

    asyncio.run(scenario())
