"""gateway.ops.server: the HTTP routes of a HealthServer over a loopback socket, the bound port, the http config."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import parse_config
from gateway.errors import ConfigError, HttpBindError
from gateway.ops.server import HealthServer, bind_socket
from gateway.ops.snapshot import GatewaySnapshot
from tests.unit.ops.samples import snapshot


@asynccontextmanager
async def serving(state: GatewaySnapshot) -> AsyncIterator[httpx.AsyncClient]:
    server = HealthServer(lambda: state, "127.0.0.1", 0)
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            yield client
    finally:
        await server.stop(timeout_s=5)


async def test_health_renders_a_snapshot_taken_per_request() -> None:
    async with serving(snapshot()) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    health = response.json()
    assert (health["status"], health["instance_id"], list(health["sources"])) == ("ok", "fxgw-test", ["sim", "oanda-a"])


async def test_health_answers_503_when_down() -> None:
    async with serving(snapshot(nats_connected=False)) as client:
        response = await client.get("/health")
    assert response.status_code == 503 and response.json()["status"] == "down"


async def test_metrics_are_prometheus_text_of_the_snapshot() -> None:
    async with serving(snapshot(nats_ticks_dropped=6)) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if not sample.labels
    }
    assert (samples["fxgw_nats_ticks_dropped_total"], samples["fxgw_uptime_seconds"]) == (6, 12.3456)


def test_port_0_binds_a_free_port_and_a_taken_one_is_named() -> None:
    with bind_socket("127.0.0.1", 0) as taken:
        taken.listen()
        port = taken.getsockname()[1]
        assert port != 0
        with pytest.raises(HttpBindError, match=f"cannot listen on 127.0.0.1:{port} .*http.port"):
            bind_socket("127.0.0.1", port)


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
        ({"prot": 8080}, "http.prot: unknown key; allowed keys: enabled, host, live_page, port"),
    ],
    ids=["port-too-high", "port-negative", "host-with-spaces", "unknown-key"],
)
def test_bad_http_settings_are_named(http: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError, match="invalid configuration") as caught:
        parse_config({"http": http, "brokers": BROKERS}, "gw.yaml")
    assert expected in str(caught.value)
