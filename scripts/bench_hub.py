"""Central Hub benchmark: registrations/s, heartbeats/s, list latency with 1,000 gateways, kill -9 to removal.

Usage (from the repository root)::

    python scripts/bench_hub.py [--quick] [--instances N] [--concurrency N] [--kills N]

What runs, all on this machine: a private ``nats-server -js`` (store in a temporary directory) and the hub as
``fxgw hub`` in a process of its own (uvicorn, one event loop), driven over HTTP by this process (httpx, on
``--concurrency`` connections):

1. registrations: ``--instances`` gateways (each with two broker sources, so three bucket writes each plus
   the claims' reads) registered once: registrations/s = instances / wall time;
2. heartbeats: every gateway registered again by the same session (the full record, as gateways do);
3. list: ``GET /v1/gateways`` of all of them, ``LIST_REQUESTS`` times one after the other: median and p99;
4. kill -9: ``fxgw run`` (a simulated broker, ``central_hub.heartbeat_interval_s`` 1 s) registered with a second
   hub whose records live 3 heartbeats, killed with SIGKILL (no deregistration); a blocking list query
   (``?index=N&wait=``) measures the time from the kill to the removal, ``--kills`` times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import httpx
from benchkit import REPO_ROOT, Table, environment, nats_server_version, percentile, progress

from gateway.nats_server import NatsServer
from tests.support import free_port, hub_record

LIST_REQUESTS: Final = 200
BULK_HEARTBEAT_S: Final = 60.0
"""The heartbeat of the 1,000 registered gateways: their records outlive the benchmark's phases."""
KILL_HEARTBEAT_S: Final = 1.0


def start_hub(nats_url: str, port: int, heartbeat_s: float, bucket: str) -> subprocess.Popen[bytes]:
    """``fxgw hub`` in its own process; returns once it answers /health."""
    command = [sys.executable, "-m", "gateway.cli", "--log-level", "WARNING", "hub", "--nats", nats_url]
    command += ["--port", str(port), "--heartbeat-s", str(heartbeat_s), "--bucket", bucket]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.kill()
    raise SystemExit("the hub did not start within 30 s")


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def put_all(http: httpx.AsyncClient, records: Sequence[dict[str, object]], concurrency: int) -> tuple[float, int]:
    """PUT every record, ``concurrency`` at a time: (seconds, failures)."""
    queue = list(records)
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while queue:
            record = queue.pop()
            answer = await http.put(f"/v1/gateways/{record['instance_id']}", json=record)
            failures += answer.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, failures


async def bulk(url: str, instances: int, concurrency: int, table: Table) -> None:
    records = [
        hub_record(f"gw-{n:04d}", session_id=1, sources=[f"src-{n:04d}-a", f"src-{n:04d}-b"], heartbeat_s=30.0)
        for n in range(instances)
    ]
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        seconds, failed = await put_all(http, records, concurrency)
        table.row("registrations/s", f"{instances / seconds:,.0f}", f"{instances:,} gateways, {failed} failed")
        seconds, failed = await put_all(http, records, concurrency)
        table.row("heartbeats/s", f"{instances / seconds:,.0f}", f"full record re-sent, {failed} failed")
        latencies: list[int] = []
        size = 0
        for _ in range(LIST_REQUESTS):
            started = time.perf_counter_ns()
            answer = await http.get("/v1/gateways")
            latencies.append(time.perf_counter_ns() - started)
            size = len(answer.content)
            assert len(answer.json()["gateways"]) == instances
        latencies.sort()
        note = f"{LIST_REQUESTS} sequential requests, {size / 1024:,.0f} KiB body"
        table.row(f"list of {instances:,}, median", f"{statistics.median(latencies) / 1e6:,.1f} ms", note)
        table.row(f"list of {instances:,}, p99", f"{percentile(latencies, 0.99) / 1e6:,.1f} ms")


async def kill_to_removal(nats_url: str, hub_url: str, folder: Path) -> float:
    """Seconds from SIGKILL of a registered ``fxgw run`` to its removal from the hub's list."""
    config = folder / "gw.yaml"
    config.write_text(
        f"instance_id: gw-kill\nnats: {{url: '{nats_url}'}}\nhttp: {{port: 0}}\n"
        "brokers: [{id: kill-sim, kind: simulated, ticks_per_second: 50}]\n"
        f"central_hub: {{enabled: true, url: '{hub_url}', heartbeat_interval_s: {KILL_HEARTBEAT_S}}}\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run", "--config", str(config)],
        cwd=REPO_ROOT,
        stderr=subprocess.DEVNULL,
    )
    async with httpx.AsyncClient(base_url=hub_url, timeout=60) as http:
        while True:
            listed = (await http.get("/v1/gateways")).json()
            if any(gateway["instance_id"] == "gw-kill" for gateway in listed["gateways"]):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(KILL_HEARTBEAT_S * 1.5)  # a few heartbeats: a running gateway, not one just started
        index = (await http.get("/v1/gateways")).json()["index"]
        os.kill(process.pid, signal.SIGKILL)
        killed = time.monotonic()
        process.wait()
        while True:
            answer = (await http.get("/v1/gateways", params={"index": index, "wait": "30s"})).json()
            index = answer["index"]
            if all(gateway["instance_id"] != "gw-kill" for gateway in answer["gateways"]):
                return time.monotonic() - killed


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 gateways, one kill")
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args(argv)
    instances, kills = (100, 1) if args.quick else (args.instances, args.kills)
    say = progress()
    table = Table()
    with (
        tempfile.TemporaryDirectory(prefix="bench-hub-") as folder,
        NatsServer(extra_args=("-js", "-sd", folder)) as nats,
    ):
        port = free_port()
        hub = start_hub(nats.url, port, BULK_HEARTBEAT_S, "bench_bulk")
        try:
            say(f"registering {instances:,} gateways")
            await bulk(f"http://127.0.0.1:{port}", instances, args.concurrency, table)
        finally:
            stop(hub)
        port = free_port()
        hub = start_hub(nats.url, port, KILL_HEARTBEAT_S, "bench_kill")
        try:
            removals = []
            for attempt in range(kills):
                say(f"kill -9 {attempt + 1} of {kills}")
                removals.append(await kill_to_removal(nats.url, f"http://127.0.0.1:{port}", Path(folder)))
        finally:
            stop(hub)
    expiry_s = 3 * KILL_HEARTBEAT_S
    table.row(
        "kill -9 to removal",
        " / ".join(f"{seconds:.2f} s" for seconds in removals),
        f"heartbeat {KILL_HEARTBEAT_S:g} s, records expire {expiry_s:g} s after the last one",
    )
    table.show("Central Hub", environment(nats_server_version(), f"httpx {httpx.__version__}"), "notes")


if __name__ == "__main__":
    asyncio.run(main())
