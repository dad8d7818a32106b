"""Benchmark of the standalone aggregator (fxgw aggregate): throughput from NATS, failover, end-to-end latency.

Usage: ``make bench-aggregate`` or ``.venv/bin/python scripts/bench_aggregate.py [--quick]``; one nats-server with
JetStream is started for the run. Three phases:

1. **Throughput**: a publisher process sends gateway-encoded MarketDataStream messages (``--ticks-per-message``
   ticks of 8 instruments, 8 sources, ``batch_seq`` in order) as fast as it can; the aggregator
   (:class:`AggregatorService`, holding the lease and publishing its best prices) runs in this process. Figures:
   the ticks it read per second, its CPU, and the messages it lost (the ``batch_seq`` gaps it counted: a
   consumer too slow for the offer loses messages at nats-server or in nats-py's buffer).
2. **Failover**: two ``fxgw aggregate`` processes (lease 3 s) and a feed of 2,000 ticks/s; the holder is killed
   (SIGKILL) and the time until the first best price of the other one on ``market.best.ticks`` is measured,
   ``--failovers`` times (the killed one restarted as the standby each time).
3. **Latency**: one ``fxgw run`` gateway (4 simulated brokers, 10,000 ticks/s in all, its own best price on)
   and one ``fxgw aggregate``; a subscriber here takes ``time.time_ns() at receipt - BestPrice.ts_ns`` (the
   gateway's receive time of the quote that made it) of every best price, per publisher: the gateway's
   in-process aggregator, and gateway -> NATS -> aggregator -> subscriber. Same host, same clock.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Final

import nats
import uvloop
import yaml
from benchkit import REPO_ROOT, Table, environment, met, nats_server_version, percentile, progress
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.errors import BucketNotFoundError

from gateway.aggregate.config import parse_aggregate_config
from gateway.aggregate.service import AggregatorService
from gateway.events import Quote
from gateway.kv import read_live
from gateway.nats_server import NatsServer
from gateway.schema.market.v1.market_pb2 import MarketDataStream
from gateway.wire import TickRecordEncoder, stream_header

INSTRUMENTS: Final = ("EUR_USD", "GBP_USD", "USD_JPY", "AUD_USD", "USD_CHF", "USD_CAD", "NZD_USD", "EUR_JPY")
SOURCES: Final = tuple(f"bench-{n}" for n in range(8))
THROUGHPUT_TARGET: Final = 300_000
LEASE_S: Final = 3.0
BODIES_PER_SOURCE: Final = 32
IN_FLIGHT: Final = 256
"""Messages the throughput publisher may be ahead of the aggregator (about 12 MB at 512 ticks a message)."""
FAILOVER_FEED_TICKS_PER_S: Final = 2000
LATENCY_RATE: Final = 10_000


def _bodies(source: str, ticks_per_message: int, seed: int) -> list[bytes]:
    """Encoded ticks of ``source`` (a random walk over the instruments), ready to follow a stream header."""
    generator = random.Random(seed)
    encoder = TickRecordEncoder()
    mids = dict.fromkeys(INSTRUMENTS, 1_000_000_000)
    bodies = []
    for _ in range(BODIES_PER_SOURCE):
        records = []
        for n in range(ticks_per_message):
            instrument = INSTRUMENTS[n % len(INSTRUMENTS)]
            mids[instrument] += generator.randint(-3, 3) * 10_000
            spread = generator.randint(5, 15) * 10_000
            now = time.time_ns()
            quote = Quote(instrument, source, mids[instrument], mids[instrument] + spread, 1, 1, now, now)
            records.append(encoder.encode(quote, n + 1))
        bodies.append(b"".join(records))
    return bodies


def _blast_main(url: str, ticks_per_message: int, seconds: float, conn: Connection, read: Synchronized[int]) -> None:
    """The throughput phase's publisher process: sends for ``seconds``, then reports the messages sent.

    At most :data:`IN_FLIGHT` messages ahead of what the aggregator has read (``read``, kept up to date by the
    benchmark's process): an offer beyond what a consumer takes grows nats-server's buffer for it until the
    server cuts it off as a slow consumer, which measures the server's limit, not the aggregator's.
    """

    async def blast() -> int:
        client = await nats.connect(url, pending_size=64 * 1024 * 1024)
        bodies = {source: _bodies(source, ticks_per_message, seed) for seed, source in enumerate(SOURCES)}
        session = time.time_ns()
        conn.send("ready")
        conn.recv()
        sent = 0
        deadline = time.monotonic() + seconds
        for batch_seq in itertools.count(1):
            while sent - read.value > IN_FLIGHT:
                await asyncio.sleep(0.0005)
            for source in SOURCES:
                body = bodies[source][batch_seq % BODIES_PER_SOURCE]
                header = stream_header(source, time.time_ns(), batch_seq, session)
                await client.publish(f"market.{source}.ticks", header + body)
                sent += 1
            if batch_seq % 8 == 0 and time.monotonic() > deadline:
                break
        await client.flush()
        await client.close()
        return sent

    conn.send(uvloop.run(blast()))


def _aggregate_config(url: str, name: str, folder: Path) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump({"instance_id": name, "nats": {"url": url}, "lease": {"ttl_s": LEASE_S}, "http": {"port": 0}})
    )
    return path


def _spawn(command: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", command, "--config", str(config)],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )


async def _holder(client: NatsClient) -> tuple[str, int] | None:
    """The lease holder's instance id and session (the lease's value is ``<instance_id>:<session_id>``)."""
    try:
        bucket = await client.jetstream().key_value("fxgw_aggregate")
    except BucketNotFoundError:  # no aggregator has started yet
        return None
    value = (await read_live(bucket, "best")).value
    if not value:
        return None
    name, _, session = value.decode().partition(":")
    return name, int(session)


async def _wait_for_holder(client: NatsClient, timeout_s: float = 15.0) -> tuple[str, int]:
    deadline = time.monotonic() + timeout_s
    while (holder := await _holder(client)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no aggregator took the lease within {timeout_s:g} s")
        await asyncio.sleep(0.05)
    return holder


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BestWatch:
    """``market.best.ticks``: receipt times per session, and the latency of every best price."""

    def __init__(self) -> None:
        self.first_seen: dict[int, float] = {}
        self.latency_ns: dict[int, list[int]] = {}

    async def on_message(self, message: Msg) -> None:
        received_ns = time.time_ns()
        stream = MarketDataStream.FromString(message.data)
        self.first_seen.setdefault(stream.session_id, time.monotonic())
        self.latency_ns.setdefault(stream.session_id, []).extend(
            received_ns - best.ts_ns for best in stream.best_prices
        )


async def _feed(client: NatsClient, ticks_per_s: int) -> None:
    """Two gateway-like sources at ``ticks_per_s`` in all, 20 ticks a message; runs until cancelled."""
    encoder = TickRecordEncoder()
    generator = random.Random(7)
    session = time.time_ns()
    per_message = 20
    for batch_seq in itertools.count(1):
        for source in ("feed-a", "feed-b"):
            now = time.time_ns()
            records = b""
            for n in range(per_message):
                bid = 1_000_000_000 + generator.randint(-50, 50) * 10_000
                quote = Quote(INSTRUMENTS[n % 3], source, bid, bid + 100_000, 1, 1, now, now)
                records += encoder.encode(quote, batch_seq * per_message + n)
            await client.publish(f"market.{source}.ticks", stream_header(source, now, batch_seq, session) + records)
        await asyncio.sleep(2 * per_message / ticks_per_s)


class Benchmark:
    def __init__(self, url: str, folder: Path, args: argparse.Namespace) -> None:
        self.url = url
        self.folder = folder
        self.args = args
        self.say = progress()
        self.table = Table()

    async def throughput(self) -> None:
        config = parse_aggregate_config(
            {"instance_id": "bench", "nats": {"url": self.url}, "lease": {"ttl_s": 3}, "http": {"port": 0}}
        )
        service = AggregatorService(config)
        await service.start()
        await asyncio.sleep(0.5)  # the lease taken: the service publishes what it computes, as in production
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        seconds = self.args.seconds
        read = context.Value("q", 0, lock=False)
        publisher = context.Process(
            target=_blast_main, args=(self.url, self.args.ticks_per_message, seconds + 1.0, theirs, read), daemon=True
        )
        publisher.start()

        async def report_progress() -> None:
            while True:
                read.value = service.feed.stats.messages
                await asyncio.sleep(0.002)

        reporter = asyncio.create_task(report_progress())
        await asyncio.to_thread(ours.recv)
        ours.send("go")
        await asyncio.sleep(1.0)  # warm-up
        stats = service.feed.stats
        ticks0, cpu0, t0 = stats.ticks, time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        ticks1, cpu1, t1 = stats.ticks, time.process_time(), time.perf_counter()
        sent = await asyncio.to_thread(ours.recv)
        reporter.cancel()
        publisher.join(10)
        await asyncio.sleep(0.5)
        rate = (ticks1 - ticks0) / (t1 - t0)
        cpu = (cpu1 - cpu0) / (t1 - t0)
        self.say(f"throughput: {rate:,.0f} ticks/s at {cpu:.0%} CPU; published {sent:,} messages")
        self.table.row(
            f"ticks/s one aggregator reads from NATS ({self.args.ticks_per_message} ticks/msg)",
            f"{rate:,.0f}",
            f">= {THROUGHPUT_TARGET:,}: {met(rate >= THROUGHPUT_TARGET)}",
        )
        self.table.row("  aggregator CPU (this process, 1 core = 100%)", f"{cpu:.0%}", "")
        self.table.row("  ticks per CPU-second", f"{(ticks1 - ticks0) / max(cpu1 - cpu0, 1e-9):,.0f}", "")
        self.table.row(
            "  messages lost to the aggregator (batch_seq gaps)",
            f"{stats.messages_missed:,} of {sent:,}",
            f"{stats.gaps:,} gaps; best prices published: {service.publisher.stats.best_prices:,}"
            if service.publisher
            else "",
        )
        await service.stop()

    async def failover(self) -> None:
        client = await nats.connect(self.url)
        watch = BestWatch()
        await client.subscribe("market.best.ticks", cb=watch.on_message)
        feed = asyncio.create_task(_feed(client, FAILOVER_FEED_TICKS_PER_S))
        names = ("agg-1", "agg-2")
        processes = {
            name: _spawn("aggregate", _aggregate_config(self.url, name, self.folder), self.folder / f"{name}.log")
            for name in names
        }
        times: list[float] = []
        try:
            for _ in range(self.args.failovers):
                name, session = await _wait_for_holder(client)
                await asyncio.sleep(2.0)  # the standby started and warm
                killed_at = time.monotonic()
                processes[name].kill()
                processes[name].wait()
                while not any(s != session and t >= killed_at for s, t in watch.first_seen.items()):
                    if time.monotonic() - killed_at > 3 * LEASE_S:
                        raise RuntimeError("the standby did not take over")
                    await asyncio.sleep(0.005)
                took = min(t for s, t in watch.first_seen.items() if s != session and t >= killed_at) - killed_at
                times.append(took)
                self.say(f"failover: {name} killed; the standby published after {took:.2f} s")
                processes[name] = _spawn(
                    "aggregate", self.folder / f"{name}.yaml", self.folder / f"{name}.log"
                )  # the next standby
        finally:
            feed.cancel()
            for process in processes.values():
                process.send_signal(signal.SIGTERM)
            for process in processes.values():
                process.wait(10)
            await client.close()
        figures = ", ".join(f"{t:.2f}" for t in times)
        self.table.row(
            f"failover, kill -9 -> first publish by the standby (lease {LEASE_S:g} s)",
            f"{figures} s",
            f"<= lease + 1 s: {met(max(times) <= LEASE_S + 1)}",
        )

    async def latency(self) -> None:
        per_broker = LATENCY_RATE // 4
        gateway_config = {
            "instance_id": "bench-gw",
            "nats": {"url": self.url},
            "http": {"enabled": False},
            "state_dir": None,
            "brokers": [
                {"id": f"sim-{n}", "kind": "simulated", "instruments": list(INSTRUMENTS[:6]), "seed": n + 1}
                | {"ticks_per_second": per_broker}
                for n in range(4)
            ],
        }
        gateway_path = self.folder / "gateway.yaml"
        gateway_path.write_text(yaml.safe_dump(gateway_config))
        client = await nats.connect(self.url)
        watch = BestWatch()
        await client.subscribe("market.best.ticks", cb=watch.on_message)
        aggregator = _spawn("aggregate", _aggregate_config(self.url, "agg-latency", self.folder), self.folder / "l.log")
        gateway = _spawn("run", gateway_path, self.folder / "gateway.log")
        try:
            holder = await _wait_for_holder(client)
            await asyncio.sleep(2.0)  # the gateway's brokers started
            watch.latency_ns.clear()
            before = {name: _cpu_s(process.pid) for name, process in (("gateway", gateway), ("aggregator", aggregator))}
            await asyncio.sleep(self.args.seconds)
            sessions = dict(watch.latency_ns)
            used = {
                name: (_cpu_s(process.pid) - before[name]) / self.args.seconds
                for name, process in (("gateway", gateway), ("aggregator", aggregator))
            }
        finally:
            for process in (gateway, aggregator):
                process.send_signal(signal.SIGTERM)
                process.wait(10)
            await client.close()
        self.say(f"latency phase CPU: gateway {used['gateway']:.0%}, aggregator {used['aggregator']:.0%}")
        self.table.row(
            "  CPU in the latency phase: gateway / aggregator", f"{used['gateway']:.0%} / {used['aggregator']:.0%}"
        )
        standalone = sorted(sessions.pop(holder[1], []))
        in_process = sorted(latency for values in sessions.values() for latency in values)
        for label, values in (("gateway's in-process aggregator", in_process), ("standalone aggregator", standalone)):
            if not values:
                raise RuntimeError(f"no best prices from the {label}")
            p50, p99 = percentile(values, 0.5) / 1e6, percentile(values, 0.99) / 1e6
            self.say(f"latency via the {label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({len(values):,} best prices)")
            self.table.row(
                f"latency at {LATENCY_RATE:,} ticks/s, {label}",
                f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
                f"{len(values):,} best prices",
            )

    async def run(self) -> None:
        phases = {"throughput": self.throughput, "failover": self.failover, "latency": self.latency}
        for name in self.args.phases or phases:
            await phases[name]()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases and one failover (about 30 s in all)")
    parser.add_argument("--ticks-per-message", type=int, default=512, help="ticks per MarketDataStream (throughput)")
    parser.add_argument("phases", nargs="*", help="throughput, failover, latency (default: all three)")
    args = parser.parse_args(argv)
    unknown = set(args.phases) - {"throughput", "failover", "latency"}
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    args.seconds = 4.0 if args.quick else 10.0
    args.failovers = 1 if args.quick else 3
    with tempfile.TemporaryDirectory() as folder, NatsServer(extra_args=("-js", "-sd", f"{folder}/js")) as server:
        benchmark = Benchmark(server.url, Path(folder), args)
        benchmark.say(f"nats-server with JetStream on {server.url}")
        uvloop.run(benchmark.run())
    benchmark.table.show(
        "fxgw aggregate: the standalone best-price aggregator", environment(nats_server_version()), "notes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
