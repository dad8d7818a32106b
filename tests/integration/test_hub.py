"""The Central Hub's HTTP API against a real nats-server with JetStream: the hub listens on port 0.

Heartbeats are short (0.5 s, so records expire 1.5 s after their last write) to keep the suite fast.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nats
import pytest
from nats.js.errors import NoKeysError

from central_hub.service import Hub, HubSettings
from gateway.kv import read_live
from gateway.nats_server import NatsServer
from tests.support import REPO_ROOT, free_port, fxgw, hub_record, wait_until

HEARTBEAT_S = 0.5
EXPIRY_S = 3 * HEARTBEAT_S
_buckets = itertools.count()


@pytest.fixture(scope="module")
def jetstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(extra_args=("-js", "-sd", str(tmp_path_factory.mktemp("js")))) as server:
        yield server


def settings(url: str, bucket: str | None = None, heartbeat_s: float = HEARTBEAT_S) -> HubSettings:
    return HubSettings(url, port=0, heartbeat_s=heartbeat_s, bucket=bucket or f"hub_{next(_buckets)}")


@pytest.fixture
async def hub(jetstream: NatsServer) -> AsyncIterator[Hub]:
    hub = Hub(settings(jetstream.url))
    await hub.start()
    yield hub
    await hub.stop()


@pytest.fixture
async def http(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        yield client


def names(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [gateway["instance_id"] for gateway in answer.json()["gateways"]]


async def test_register_refresh_list_get_and_filters(http: httpx.AsyncClient) -> None:
    first = await http.put("/v1/gateways/gw-a", json=hub_record("gw-a", sources=["oanda-a"], instruments=["EUR_USD"]))
    assert first.status_code == 200, first.text
    assert first.json()["listed_status"] == "passing"
    other = hub_record("gw-b", sources=["oanda-b"], instruments=["USD_JPY"], external=["fred"])
    assert (await http.put("/v1/gateways/gw-b", json=other)).status_code == 200
    await asyncio.sleep(0.05)
    refreshed = await http.put("/v1/gateways/gw-a", json=hub_record("gw-a", sources=["oanda-a"]))
    assert refreshed.json()["registered_at"] == first.json()["registered_at"]  # same session: a heartbeat
    assert refreshed.json()["last_heartbeat"] > first.json()["last_heartbeat"]
    assert names(await http.get("/v1/gateways")) == ["gw-a", "gw-b"]
    assert names(await http.get("/v1/gateways?source=oanda-b")) == ["gw-b"]
    assert names(await http.get("/v1/gateways?instrument=EUR_USD")) == ["gw-a"]
    assert names(await http.get("/v1/gateways?status=passing")) == ["gw-a", "gw-b"]
    assert names(await http.get("/v1/gateways?status=stale")) == []
    one = await http.get("/v1/gateways/gw-b")
    assert one.status_code == 200 and one.json()["kafka"]["ticks_topic"] == "market.ticks"
    assert (await http.get("/v1/gateways/gw-zzz")).status_code == 404

    routes = (await http.get("/v1/routes?instrument=USD_JPY")).json()["routes"]
    assert {(route["instance_id"], route["source"], route["subject"], route["kafka_topic"]) for route in routes} == {
        ("gw-a", "oanda-a", "market.oanda-a.ticks", "market.ticks"),
        ("gw-a", "best", "market.best.ticks", "market.best"),
        ("gw-b", "oanda-b", "market.oanda-b.ticks", "market.ticks"),
        ("gw-b", "best", "market.best.ticks", "market.best"),
    }
    assert all(route["kafka_key"] == "USD_JPY" for route in routes)
    assert (await http.get("/v1/routes?instrument=EURUSD")).status_code == 422
    health = await http.get("/health")
    assert health.status_code == 200 and health.json()["gateways"] == 2
    metrics = (await http.get("/metrics")).text
    assert 'fxgw_hub_gateways{status="passing"} 2.0' in metrics
    assert 'fxgw_hub_requests_total{operation="register",outcome="ok"} 3.0' in metrics


async def test_a_second_instance_claiming_the_same_source_gets_409_naming_the_owner(http: httpx.AsyncClient) -> None:
    owner = hub_record("gw-a", sources=["oanda-primary"], external=["fred"])
    assert (await http.put("/v1/gateways/gw-a", json=owner)).status_code == 200
    second = await http.put(
        "/v1/gateways/gw-b", json=hub_record("gw-b", sources=["oanda-primary", "oanda-b"], external=["fred"])
    )
    assert second.status_code == 409
    assert second.json()["owners"] == {"oanda-primary": "gw-a"}  # the external collector is not exclusive
    assert "oanda-primary (owned by gw-a)" in second.json()["error"]
    assert (await http.put("/v1/gateways/gw-a", json=owner)).status_code == 200  # the owner's heartbeat renews
    alone = await http.put("/v1/gateways/gw-b", json=hub_record("gw-b", sources=["oanda-b"], external=["fred"]))
    assert alone.status_code == 200


async def test_a_zombie_session_is_refused_and_a_newer_session_takes_over(http: httpx.AsyncClient) -> None:
    assert (await http.put("/v1/gateways/gw-a", json=hub_record("gw-a", session_id=200))).status_code == 200
    zombie = await http.put("/v1/gateways/gw-a", json=hub_record("gw-a", session_id=100))
    assert zombie.status_code == 409 and "zombie" in zombie.json()["error"]
    restarted = await http.put("/v1/gateways/gw-a", json=hub_record("gw-a", session_id=300))
    assert restarted.status_code == 200 and restarted.json()["session_id"] == 300  # its own claims adopted


async def test_heartbeats_stop_stale_then_gone_within_expiry_and_a_blocking_query_wakes(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.put("/v1/gateways/gw-a", json=hub_record("gw-a"))).status_code == 200
    last_write = time.monotonic()
    listed = await http.get("/v1/gateways")  # a PUT answers once the hub's cache shows it
    assert names(listed) == ["gw-a"]
    index = listed.json()["index"]
    assert listed.headers["X-Fxgw-Index"] == str(index)
    await asyncio.sleep(1.5 * HEARTBEAT_S)
    assert names(await http.get("/v1/gateways?status=stale")) == ["gw-a"]
    woken = await http.get(f"/v1/gateways?index={index}&wait=10s")  # returns at the removal, not after 10 s
    removed_after_s = time.monotonic() - last_write
    assert names(woken) == [] and woken.json()["index"] > index
    assert removed_after_s < EXPIRY_S + 1.0
    unchanged = await http.get(f"/v1/gateways?index={woken.json()['index']}&wait=200ms")
    assert names(unchanged) == [] and unchanged.json()["index"] == woken.json()["index"]
    assert (await http.put("/v1/gateways/gw-b", json=hub_record("gw-b"))).status_code == 200  # oanda-a is free


async def test_deregister_only_by_the_same_session_and_the_claims_are_released(
    hub: Hub, http: httpx.AsyncClient
) -> None:
    assert (await http.put("/v1/gateways/gw-a", json=hub_record("gw-a", session_id=7))).status_code == 200
    refused = await http.delete("/v1/gateways/gw-a", params={"session_id": "6"})
    assert refused.status_code == 409 and "session 7" in refused.json()["error"]
    assert (await http.delete("/v1/gateways/gw-a", params={"session_id": "7"})).status_code == 204
    assert (await http.delete("/v1/gateways/gw-a", params={"session_id": "7"})).status_code == 404
    for bad in ("", "x", "²", "1" * 20):
        assert (await http.delete("/v1/gateways/gw-a", params={"session_id": bad})).status_code == 422
    await wait_until(lambda: hub.registry is not None and not hub.registry.gateways, "removal seen by the watcher")
    assert (await http.put("/v1/gateways/gw-b", json=hub_record("gw-b"))).status_code == 200  # oanda-a released


async def test_a_hub_started_later_lists_the_existing_entries_at_once_and_sees_the_other_hubs_writes(
    jetstream: NatsServer,
) -> None:
    first = Hub(settings(jetstream.url))
    await first.start()
    async with httpx.AsyncClient(base_url=first.url, timeout=10) as http:
        for instance in ("gw-a", "gw-b", "gw-c"):
            answer = await http.put(f"/v1/gateways/{instance}", json=hub_record(instance, sources=[f"s-{instance}"]))
            assert answer.status_code == 200
    second = Hub(settings(jetstream.url, bucket=first.settings.bucket))
    await second.start()
    try:
        async with (
            httpx.AsyncClient(base_url=second.url, timeout=10) as http,
            httpx.AsyncClient(base_url=first.url, timeout=10) as other,
        ):
            listed = await http.get("/v1/gateways")
            assert names(listed) == ["gw-a", "gw-b", "gw-c"]  # its first answer
            waiting = asyncio.create_task(http.get(f"/v1/gateways?index={listed.json()['index']}&wait=10s"))
            await asyncio.sleep(0.1)
            assert (await other.put("/v1/gateways/gw-d", json=hub_record("gw-d", sources=["s-d"]))).status_code == 200
            assert names(await waiting) == ["gw-a", "gw-b", "gw-c", "gw-d"]  # a write through the other hub
    finally:
        await second.stop()
        await first.stop()


async def test_nats_restart_keeps_the_entries_answers_503_meanwhile_and_a_later_expiry_is_seen(
    tmp_path: Path,
) -> None:
    port, store = free_port(), tmp_path / "js"
    arguments = ("-js", "-sd", str(store))
    server = NatsServer(port=port, extra_args=arguments).start()
    hub = Hub(settings(server.url, heartbeat_s=1.0))  # records live 3 s: the restart takes well under that
    await hub.start()
    try:
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
            assert (await http.put("/v1/gateways/gw-a", json=hub_record("gw-a", heartbeat_s=1.0))).status_code == 200
            server.stop()
            unavailable = await http.put("/v1/gateways/gw-a", json=hub_record("gw-a", heartbeat_s=1.0))
            assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "2"
            assert (await http.get("/v1/gateways")).status_code == 503
            assert (await http.get("/health")).status_code == 503
            server = NatsServer(port=port, extra_args=arguments).start()
            await wait_until(lambda: hub.registry is not None and hub.registry.synced, "the hub resynced")
            assert names(await http.get("/v1/gateways")) == ["gw-a"]  # survived, in the new watcher's snapshot
            index = (await http.get("/v1/gateways")).json()["index"]
            woken = await http.get(f"/v1/gateways?index={index}&wait=10s")
            assert names(woken) == []  # the new watcher saw the expiry
    finally:
        await hub.stop()
        server.stop()


BAD_BODIES: list[tuple[str, bytes | dict[str, object]]] = [
    ("not json", b"{not json"),
    ("empty", b""),
    ("a list", b"[]"),
    ("deep nesting", b'{"instance_id":' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ("nested sources", {**hub_record("gw-a"), "sources": [[[[{"id": "x"}]]]]}),
    ("NaN heartbeat", b'{"heartbeat_interval_s": NaN}'),
    ("unknown key", {**hub_record("gw-a"), "admin": True}),
    ("path mismatch", hub_record("gw-other")),
    ("hub-stamped time", {**hub_record("gw-a"), "last_heartbeat_ns": 1}),
    ("heartbeat longer than the hub's", hub_record("gw-a", heartbeat_s=10.0)),
    ("duplicate sources", hub_record("gw-a", sources=["s", "s"])),
    ("bad instrument", hub_record("gw-a", instruments=["EUR/USD"])),
    ("too many instruments", hub_record("gw-a", instruments=["EUR_USD"] * 600)),
    ("huge string", {**hub_record("gw-a"), "host": "h" * 100_000}),
    ("session as text", {**hub_record("gw-a"), "session_id": "1"}),
    ("negative session", {**hub_record("gw-a"), "session_id": -1}),
    ("session beyond int64", {**hub_record("gw-a"), "session_id": 2**70}),
    ("url with spaces", {**hub_record("gw-a"), "health_url": "http://a b/health"}),
    ("other protocol", {**hub_record("gw-a"), "protocol": "grpc"}),
]


def generated_bodies() -> Iterator[tuple[str, dict[str, object]]]:
    """Every field missing in turn, and every field given each value of the wrong type."""
    valid = hub_record("gw-a")
    for field in valid:
        if field not in ("http_port", "health_url", "metrics_url", "kafka", "problems", "protocol"):
            yield f"missing {field}", {key: value for key, value in valid.items() if key != field}
        wrong_values: tuple[object, ...] = (None, True, 1.5, "x", [], {}, [{"a": 1}])
        for wrong in wrong_values:
            if wrong is None and field in ("http_port", "health_url", "metrics_url", "kafka"):
                continue
            if type(wrong) is type(valid[field]) or (field == "heartbeat_interval_s" and wrong == 1.5):
                continue
            if field in ("subjects", "problems") and wrong == []:
                continue
            yield f"{field}={wrong!r}", {**valid, field: wrong}


async def test_bad_records_get_422_and_nothing_is_stored(hub: Hub, http: httpx.AsyncClient) -> None:
    corpus = [*BAD_BODIES, *generated_bodies()]
    for name, body in corpus:
        content = body if isinstance(body, bytes) else httpx.Request("PUT", "/", json=body).content
        answer = await http.put("/v1/gateways/gw-a", content=content)
        assert answer.status_code == 422, (name, answer.text)
        assert len(answer.content) < 4096, name  # the error names what is wrong without echoing the input
    huge = await http.put("/v1/gateways/gw-a", content=b" " * (200 * 1024))
    assert huge.status_code == 422 and "larger than" in huge.json()["error"]
    for query in ("wait=forever", "index=-1", "status=alive", "index=²"):
        assert (await http.get(f"/v1/gateways?{query}")).status_code == 422, query
    assert hub.registry is not None and not hub.registry.gateways
    client = await nats.connect(hub.settings.nats_url)
    kv = await client.jetstream().key_value(hub.settings.bucket)
    with pytest.raises(NoKeysError):
        await kv.keys()
    assert (await read_live(kv, "gateways.gw-a")).value is None
    await client.close()
    invalid = f'fxgw_hub_requests_total{{operation="register",outcome="invalid"}} {len(corpus) + 1}.0'
    assert invalid in (await http.get("/metrics")).text


def test_fxgw_hub_serves_hub_ls_prints_the_table_and_sigterm_stops_it(jetstream: NatsServer) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "hub", "--nats", jetstream.url, "--port", "0", "--heartbeat-s", "5"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert process.stderr is not None
        lines: list[str] = []
        while not any("Central Hub: " in line for line in lines):
            line = process.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        url = lines[-1].split("Central Hub: ")[1].strip()
        answer = httpx.put(f"{url}/v1/gateways/gw-cli", json=hub_record("gw-cli", sources=["s-cli"], heartbeat_s=5))
        assert answer.status_code == 200, answer.text
        listing = fxgw("hub", "ls", "--url", url)
        assert listing.returncode == 0, listing.stderr
        header, row = listing.stdout.splitlines()[:2]
        assert header.split() == ["INSTANCE", "STATUS", "HEALTH", "AGE_S", "SOURCES", "HEALTH_URL"]
        assert row.split()[:3] == ["gw-cli", "passing", "ok"] and "s-cli" in row
        assert row.split()[-1] == "http://gw-host-1:8080/health"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_fxgw_hub_explains_a_missing_url_jetstream_off_and_an_unreachable_hub(nats_url: str) -> None:
    missing = fxgw("hub", "--nats", "")
    assert missing.returncode == 2 and "give --nats URL" in missing.stderr
    without_jetstream = fxgw("hub", "--nats", nats_url, "--port", "0")
    assert without_jetstream.returncode == 1
    assert "is JetStream enabled, nats-server -js?" in without_jetstream.stderr, without_jetstream.stderr
    assert "Traceback" not in without_jetstream.stderr
    unreachable = fxgw("hub", "ls", "--url", f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 1 and "fxgw hub ls:" in unreachable.stderr
    with_password = fxgw("hub", "ls", "--url", f"http://ops:hub-password-1234@127.0.0.1:{free_port()}")
    assert with_password.returncode == 1 and "fxgw hub ls: 'http://***@127.0.0.1:" in with_password.stderr
    assert "hub-password-1234" not in with_password.stderr


def test_fxgw_hub_on_a_busy_port_exits_1_naming_the_address_and_the_flags(jetstream: NatsServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = fxgw("hub", "--nats", jetstream.url, "--port", str(port))
    assert busy.returncode == 1, busy.stderr
    assert f"cannot listen on 127.0.0.1:{port} for the hub's API (--host, --port)" in busy.stderr
    assert "Traceback" not in busy.stderr
