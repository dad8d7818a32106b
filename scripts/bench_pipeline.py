"""End-to-end benchmark: real OANDA quotes -> gateway Pipeline -> nats-server -> a subscriber process.

Usage (from the repository root)::

    python scripts/bench_pipeline.py [--quick] [--data DIR]

What runs, all on this machine:

- a private ``nats-server`` on a free port (:class:`gateway.nats_server.NatsServer`);
- the gateway side in this process, on uvloop: the real :class:`~gateway.pipeline.Pipeline`
  (QualityGate, BestPriceAggregator, NatsPublisher over a real ``nats.connect`` client);
- a subscriber in a separate process (``multiprocessing``, spawned) on ``market.*.ticks``:
  it decodes every MarketDataStream, counts ticks and best prices, and records the
  latency ``time.time_ns() at receipt - tick.ts_recv_ns`` of every tick.

Phases:

1. throughput: every quote through the pipeline as fast as it takes them, in batches of
   ``collectors.base.MAX_EVENTS_PER_SUBMIT``, each tick stamped ``ts_event_ns = ts_recv_ns = now``
   when it is built (as the replay collector does); delivered ticks/s = ticks received /
   (last receipt - start of feeding); zero loss means delivered == accepted.
2. raw baseline: the same batches re-serialized by the same publisher (NATS stubbed),
   then sent with plain ``await nc.publish(subject, payload)`` + ``flush``.
3. latency at offered rates of 1,000, 10,000 and 50,000 ticks/s: a paced feeder submits,
   at each wakeup, the ticks due since it started (at most
   ``collectors.base.MAX_EVENTS_PER_SUBMIT``), each stamped when it is built, then
   sleeps until the next tick is due but at least 1 ms (uvloop's timer resolution; a
   shorter sleep returns at once and would spin). Latency is from the tick's
   ``ts_recv_ns`` to its receipt by the subscriber.

The quote files are read and parsed (unzip + CSV, ``collectors.recorded``) before the
phases; that cost is printed but is not part of the gateway figures. CPU is
``time.process_time`` for this process and the subscriber, ``/proc/<pid>/stat`` for
nats-server. Peak RSS is ``ru_maxrss`` of each process: "after throughput" is the gateway
as it runs (plus the loaded quotes, 16 bytes each); "whole run" also holds the raw
baseline's captured payloads. The subscriber and nats-server are stopped however the run ends.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import math
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

import nats
import uvloop
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from collectors.base import MAX_EVENTS_PER_SUBMIT, MIN_SLEEP_S
from collectors.recorded import parse_quote_line, quote_files, read_lines
from gateway.aggregator import BestPriceAggregator
from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.config import DEFAULT_LINGER_MS, DEFAULT_PENDING_BYTES
from gateway.errors import BadValueError, MalformedInputError, NatsServerError
from gateway.events import Quote
from gateway.nats_server import NatsServer, find_binary
from gateway.pipeline import Pipeline
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate, QualityPolicy
from gateway.schema.market.v1.market_pb2 import MarketDataStream

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
DEFAULT_DATA: Final = REPO_ROOT.parent / "shared" / "data" / "oanda-eurusd-ticks"
SOURCE: Final = "oanda-replay"
INSTRUMENT: Final = "EUR_USD"
SUBJECTS: Final = "market.*.ticks"
RATES_PER_S: Final = (1_000, 10_000, 50_000)
LATENCY_PHASE_S: Final = 5.0
QUICK_LATENCY_PHASE_S: Final = 2.0
QUICK_THROUGHPUT_QUOTES: Final = 150_000
SUBSCRIBER_READY_TIMEOUT_S: Final = 30.0
SUBSCRIBER_IDLE_S: Final = 2.0
"""The subscriber reports a phase once this long passes without a message (if not all arrived)."""
SUBSCRIBER_PHASE_TIMEOUT_S: Final = 60.0

# The recorded quotes have spreads of up to 15 pips and moves of up to 21 pips between
# consecutive quotes (including the gaps between days): these limits pass all of them.
BENCH_POLICY: Final = QualityPolicy(max_spread_pips=50.0, max_jump_pips=200.0)

THROUGHPUT_TARGET_TICKS_PER_S: Final = 150_000
LATENCY_TARGET_RATE: Final = 10_000
LATENCY_TARGET_P99_MS: Final = 2.0


class BenchmarkError(Exception):
    """The benchmark itself could not run (the subscriber process did not answer)."""


# -- subscriber process ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Phase:
    record_latency: bool
    ticks: int = 0
    best_prices: int = 0
    messages: int = 0
    first_ns: int = 0
    last_ns: int = 0
    last_monotonic: float = 0.0
    cpu_start_s: float = field(default_factory=time.process_time)
    latencies_ns: array.array = field(default_factory=lambda: array.array("q"))


class _Subscriber:
    """Counts what arrives on ``market.*.ticks`` per phase; driven by commands over a pipe."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._phase = _Phase(record_latency=False)
        self._errors: list[str] = []

    async def run(self, url: str) -> None:
        async def on_error(exc: Exception) -> None:
            self._errors.append(repr(exc))

        nc = await nats.connect(url, name="bench-subscriber", error_cb=on_error, max_reconnect_attempts=0)
        # Unlimited client-side pending: a slow subscriber must show up as latency, not as loss here.
        await nc.subscribe(SUBJECTS, cb=self._on_message, pending_msgs_limit=0, pending_bytes_limit=0)
        await nc.flush()
        self._conn.send(("ready", os.getpid()))
        while True:
            # A thread waits on the pipe, so that the event loop stays free for messages.
            command = await asyncio.to_thread(self._conn.recv)
            if command[0] == "begin":
                self._phase = _Phase(record_latency=command[1], last_monotonic=time.monotonic())
                self._conn.send(("begun",))
            elif command[0] == "end":
                self._conn.send(("report", await self._finish_phase(command[1])))
            else:
                await nc.drain()
                self._conn.send(("stopped", _peak_rss_mb()))
                return

    async def _on_message(self, msg: Msg) -> None:
        received_ns = time.time_ns()
        stream = MarketDataStream.FromString(msg.data)
        phase = self._phase
        phase.messages += 1
        phase.last_monotonic = time.monotonic()
        ticks = stream.ticks
        if ticks:
            if not phase.first_ns:
                phase.first_ns = received_ns
            phase.last_ns = received_ns
            phase.ticks += len(ticks)
            if phase.record_latency:
                phase.latencies_ns.extend([received_ns - tick.ts_recv_ns for tick in ticks])
        phase.best_prices += len(stream.best_prices)

    async def _finish_phase(self, expected_ticks: int) -> dict[str, Any]:
        """Wait for ``expected_ticks`` (or for the stream to go quiet), then summarise the phase."""
        phase = self._phase
        deadline = time.monotonic() + SUBSCRIBER_PHASE_TIMEOUT_S
        while phase.ticks < expected_ticks:
            now = time.monotonic()
            if now > deadline or now - phase.last_monotonic > SUBSCRIBER_IDLE_S:
                break
            await asyncio.sleep(0.005)
        report: dict[str, Any] = {
            "ticks": phase.ticks,
            "best_prices": phase.best_prices,
            "messages": phase.messages,
            "first_ns": phase.first_ns,
            "last_ns": phase.last_ns,
            "errors": list(self._errors),
            "cpu_s": time.process_time() - phase.cpu_start_s,
            "peak_rss_mb": _peak_rss_mb(),
        }
        if phase.latencies_ns:
            ordered = sorted(phase.latencies_ns)
            report["latency_ms"] = {
                name: _percentile(ordered, q) / NS_PER_MS for name, q in (("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999))
            } | {"max": ordered[-1] / NS_PER_MS, "min": ordered[0] / NS_PER_MS}
        self._errors.clear()
        return report


def _percentile(ordered: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of an ascending sequence."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def _subscriber_main(url: str, conn: Connection) -> None:
    """Entry point of the subscriber process."""
    uvloop.run(_Subscriber(conn).run(url))


class SubscriberProcess:
    """The gateway side's handle on the subscriber process."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no copy of our memory
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_subscriber_main, args=(url, child_conn), name="bench-subscriber")
        self._process.start()
        child_conn.close()
        self.peak_rss_mb = 0.0

    def wait_ready(self) -> None:
        self._expect("ready", SUBSCRIBER_READY_TIMEOUT_S)

    async def begin(self, *, record_latency: bool) -> None:
        self._conn.send(("begin", record_latency))
        await asyncio.to_thread(self._expect, "begun", SUBSCRIBER_READY_TIMEOUT_S)

    async def end(self, expected_ticks: int) -> dict[str, Any]:
        self._conn.send(("end", expected_ticks))
        report: dict[str, Any] = (await asyncio.to_thread(self._expect, "report", SUBSCRIBER_PHASE_TIMEOUT_S + 10))[1]
        self.peak_rss_mb = report["peak_rss_mb"]
        return report

    def stop(self) -> None:
        """Ask the subscriber to exit; terminate it if it does not within a few seconds."""
        if self._process.is_alive():
            try:
                self._conn.send(("stop",))
                self.peak_rss_mb = self._expect("stopped", 5.0)[1]
            except (OSError, EOFError, BenchmarkError):
                pass
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()

    def _expect(self, kind: str, timeout_s: float) -> tuple[Any, ...]:
        if not self._conn.poll(timeout_s):
            raise BenchmarkError(
                f"subscriber process sent no {kind!r} within {timeout_s} s (alive: {self._process.is_alive()})"
            )
        message = self._conn.recv()
        if message[0] != kind:
            raise BenchmarkError(f"subscriber process sent {message!r}, expected {kind!r}")
        return message


# -- gateway side ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Quotes:
    """The recorded quote lines (raw CSV bytes, as read from the files) and each one's day start."""

    lines: list[bytes] = field(default_factory=list)
    day_starts: array.array = field(default_factory=lambda: array.array("q"))
    files: int = 0
    bad_lines: int = 0
    load_s: float = 0.0

    def __len__(self) -> int:
        return len(self.lines)


def load_quotes(folder: Path) -> Quotes:
    """Read every quote file in ``folder``; lines the replay parser refuses are counted and left out."""
    quotes = Quotes()
    started = time.perf_counter()
    for path, day_start_ns in quote_files(folder):
        quotes.files += 1
        for line in read_lines(path):
            try:
                parse_quote_line(line, day_start_ns)
            except (MalformedInputError, BadValueError):
                quotes.bad_lines += 1
                continue
            quotes.lines.append(line)
            quotes.day_starts.append(day_start_ns)
    quotes.load_s = time.perf_counter() - started
    return quotes


class CapturingClient:
    """A NATS client stand-in that keeps every (subject, payload) the publisher hands it."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    async def publish(
        self, subject: str, payload: bytes = b"", reply: str = "", headers: dict[str, str] | None = None
    ) -> None:
        self.messages.append((subject, payload))


async def connect_gateway_client(url: str, errors: list[str]) -> Any:
    """The gateway side's NATS client, as the gateway configures it; its errors are appended to ``errors``."""

    async def on_error(exc: Exception) -> None:
        errors.append(f"gateway nats client: {exc!r}")

    return await nats.connect(
        url, name="bench-gateway", pending_size=DEFAULT_PENDING_BYTES, max_reconnect_attempts=0, error_cb=on_error
    )


def make_pipeline(client: Any, linger_ms: float) -> Pipeline:
    return Pipeline(QualityGate(BENCH_POLICY), BestPriceAggregator({SOURCE: 0}), NatsPublisher(client), linger_ms)


@contextlib.asynccontextmanager
async def lingering_publisher(pipeline: Pipeline) -> AsyncIterator[None]:
    """Run the pipeline's deferred publishing as the gateway does; publish the rest at the end."""
    task = asyncio.create_task(pipeline.publish_lingering(), name="publish-lingering")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pipeline.publish_pending()


def make_batch(quotes: Quotes, start: int, stop: int) -> list[Quote]:
    """Parse lines [start, stop) as the replay collector does, each stamped with the time it is read."""
    lines, day_starts, time_ns = quotes.lines, quotes.day_starts, time.time_ns
    batch = []
    for i in range(start, stop):
        received_ns = time_ns()
        recorded = parse_quote_line(lines[i], day_starts[i])
        batch.append(Quote(INSTRUMENT, SOURCE, recorded.bid_px, recorded.ask_px, 0, 0, received_ns, received_ns))
    return batch


async def feed_all(pipeline: Pipeline, quotes: Quotes, count: int) -> None:
    submit = pipeline.submit
    for start in range(0, count, MAX_EVENTS_PER_SUBMIT):
        await submit(make_batch(quotes, start, min(start + MAX_EVENTS_PER_SUBMIT, count)))


class CpuMeter:
    """CPU seconds used since ``start()`` by this process and by the nats-server child."""

    def __init__(self, server_pid: int | None) -> None:
        self._server_pid = server_pid
        self._gateway_start = 0.0
        self._server_start = 0.0

    def start(self) -> None:
        self._gateway_start = time.process_time()
        self._server_start = self._server_cpu_s()

    def read(self) -> tuple[float, float]:
        return time.process_time() - self._gateway_start, self._server_cpu_s() - self._server_start

    def _server_cpu_s(self) -> float:
        if self._server_pid is None:
            return math.nan
        try:
            fields = Path(f"/proc/{self._server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def find_child_pid(name: str) -> int | None:
    """The pid of this process's child called ``name`` (Linux /proc), or None."""
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                    return int(pid)
            except OSError:
                continue
    return None


@dataclass(slots=True)
class PhaseCpu:
    """CPU seconds of the three processes over one phase, and its wall time."""

    wall_s: float
    gateway_s: float
    server_s: float
    subscriber_s: float

    def per_tick_us(self, ticks: int) -> tuple[float, float, float]:
        return tuple(cpu / max(ticks, 1) * 1e6 for cpu in (self.gateway_s, self.server_s, self.subscriber_s))  # type: ignore[return-value]

    def shares(self) -> tuple[float, float, float]:
        return tuple(cpu / self.wall_s for cpu in (self.gateway_s, self.server_s, self.subscriber_s))  # type: ignore[return-value]


@dataclass(slots=True)
class Result:
    """Every figure the run prints."""

    quotes: int = 0
    files: int = 0
    load_us_per_quote: float = 0.0
    fed: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    best_prices_published: int = 0
    best_prices_delivered: int = 0
    messages: int = 0
    publish_drops: int = 0
    feed_s: float = 0.0
    throughput_ticks_per_s: float = 0.0
    throughput_cpu: PhaseCpu | None = None
    throughput_latency_ms: dict[str, float] = field(default_factory=dict)
    stub_us_per_tick: float = 0.0
    raw_ticks: int = 0
    raw_delivered: int = 0
    raw_ticks_per_s: float = 0.0
    raw_cpu: PhaseCpu | None = None
    latency: list[dict[str, Any]] = field(default_factory=list)
    gateway_rss_after_throughput_mb: float = 0.0
    gateway_rss_mb: float = 0.0
    subscriber_rss_after_throughput_mb: float = 0.0
    subscriber_rss_mb: float = 0.0
    errors: list[str] = field(default_factory=list)


class Benchmark:
    """The phases, run in order on one gateway-side NATS connection."""

    def __init__(
        self,
        url: str,
        subscriber: SubscriberProcess,
        quotes: Quotes,
        cpu: CpuMeter,
        say: Callable[[str], None],
        linger_ms: float,
    ) -> None:
        self._url = url
        self._linger_ms = linger_ms
        self._subscriber = subscriber
        self._quotes = quotes
        self._cpu = cpu
        self._say = say
        self.result = Result(
            quotes=len(quotes), files=quotes.files, load_us_per_quote=quotes.load_s / max(len(quotes), 1) * 1e6
        )

    async def run(self, throughput_quotes: int, phase_s: float) -> Result:
        result = self.result

        nc = await connect_gateway_client(self._url, result.errors)
        try:
            await self._throughput(nc, throughput_quotes)
            result.gateway_rss_after_throughput_mb = _peak_rss_mb()
            result.subscriber_rss_after_throughput_mb = self._subscriber.peak_rss_mb
            await self._raw_baseline(nc, throughput_quotes)
            for rate in RATES_PER_S:
                await self._latency_at(nc, rate, phase_s)
        finally:
            await nc.drain()
        result.gateway_rss_mb = _peak_rss_mb()
        return result

    async def _begin(self, *, record_latency: bool) -> int:
        await self._subscriber.begin(record_latency=record_latency)
        self._cpu.start()
        return time.time_ns()

    async def _end(self, start_ns: int, expected_ticks: int) -> tuple[dict[str, Any], PhaseCpu]:
        """Stop the gateway-side clocks (all is published), then wait for the subscriber's report."""
        gateway_s, _ = self._cpu.read()
        end_ns = time.time_ns()
        report = await self._subscriber.end(expected_ticks)
        _, server_s = self._cpu.read()  # nats-server works until the subscriber has everything
        self.result.errors += report["errors"]
        wall_s = (max(end_ns, report["last_ns"]) - start_ns) / NS_PER_S
        return report, PhaseCpu(wall_s, gateway_s, server_s, report["cpu_s"])

    async def _throughput(self, nc: NatsClient, count: int) -> None:
        self._say(f"throughput: {count:,} quotes through the pipeline as fast as it takes them ...")
        result = self.result
        pipeline = make_pipeline(nc, self._linger_ms)
        start_ns = await self._begin(record_latency=True)
        async with lingering_publisher(pipeline):
            await feed_all(pipeline, self._quotes, count)
        await nc.flush()
        result.feed_s = (time.time_ns() - start_ns) / NS_PER_S
        stats = pipeline.sources[SOURCE]
        report, result.throughput_cpu = await self._end(start_ns, stats.accepted)
        publish = pipeline.publisher.stats
        result.fed = count
        result.accepted = stats.accepted
        result.rejected = stats.rejected
        result.delivered = report["ticks"]
        result.best_prices_published = publish.best_prices
        result.best_prices_delivered = report["best_prices"]
        result.messages = publish.messages
        result.publish_drops = publish.ticks_dropped + publish.best_prices_dropped
        result.throughput_ticks_per_s = _rate(report, start_ns)
        result.throughput_latency_ms = report.get("latency_ms", {})

    async def _raw_baseline(self, nc: NatsClient, count: int) -> None:
        self._say("raw baseline: re-serializing the same batches (NATS stubbed), then plain nc.publish ...")
        result = self.result
        client = CapturingClient()
        pipeline = make_pipeline(client, self._linger_ms)
        cpu_start = time.process_time()
        async with lingering_publisher(pipeline):
            await feed_all(pipeline, self._quotes, count)
        result.stub_us_per_tick = (time.process_time() - cpu_start) / count * 1e6
        payloads, client.messages = client.messages, []
        result.raw_ticks = pipeline.publisher.stats.ticks
        start_ns = await self._begin(record_latency=False)
        publish = nc.publish
        for subject, payload in payloads:
            await publish(subject, payload)
        await nc.flush()
        del payloads
        report, result.raw_cpu = await self._end(start_ns, result.raw_ticks)
        result.raw_delivered = report["ticks"]
        result.raw_ticks_per_s = _rate(report, start_ns)

    async def _latency_at(self, nc: NatsClient, rate: int, duration_s: float) -> None:
        quotes = self._quotes
        offered = int(rate * duration_s)
        self._say(f"latency: {rate:,} ticks/s offered for {duration_s:g} s ({offered:,} ticks) ...")
        pipeline = make_pipeline(nc, self._linger_ms)
        submit = pipeline.submit
        start_ns = await self._begin(record_latency=True)
        start = time.perf_counter_ns()
        submitted = 0
        submits = 0
        async with lingering_publisher(pipeline):
            while submitted < offered:
                due = min(int((time.perf_counter_ns() - start) * rate // NS_PER_S), offered) - submitted
                if due > 0:
                    first = submitted % len(quotes)
                    stop = min(first + due, first + MAX_EVENTS_PER_SUBMIT, len(quotes))
                    await submit(make_batch(quotes, first, stop))
                    submitted += stop - first
                    submits += 1
                else:
                    next_due_ns = start + (submitted + 1) * NS_PER_S / rate
                    await asyncio.sleep(max(MIN_SLEEP_S, (next_due_ns - time.perf_counter_ns()) / NS_PER_S))
        await nc.flush()
        elapsed_s = (time.perf_counter_ns() - start) / NS_PER_S
        stats = pipeline.sources[SOURCE]
        report, cpu = await self._end(start_ns, stats.accepted)
        self.result.latency.append(
            {
                "rate": rate,
                "offered": offered,
                "achieved_rate": submitted / elapsed_s,
                "accepted": stats.accepted,
                "delivered": report["ticks"],
                "ticks_per_submit": submitted / max(submits, 1),
                "cpu": cpu,
                "latency_ms": report.get("latency_ms", {}),
            }
        )


def _rate(report: dict[str, Any], start_ns: int) -> float:
    """Ticks received per second, from the start of publishing to the last receipt."""
    return report["ticks"] / ((report["last_ns"] - start_ns) / NS_PER_S) if report["ticks"] else 0.0


# -- report ---------------------------------------------------------------------------------------------------


def print_report(result: Result, quick: bool, nats_version: str) -> None:
    lost = result.accepted - result.delivered
    rows: list[tuple[str, str, str]] = []

    def row(name: str, value: str, verdict: str = "") -> None:
        rows.append((name, value, verdict))

    def met(ok: bool) -> str:
        return "met" if ok else "NOT met"

    def cpu_per_tick(cpu: PhaseCpu | None, ticks: int) -> str:
        if cpu is None:
            return "?"
        gateway, server, subscriber = cpu.per_tick_us(ticks)
        return f"{gateway:.2f} / {server:.2f} / {subscriber:.2f} us"

    def shares(cpu: PhaseCpu) -> str:
        return " / ".join(f"{share:.0%}" for share in cpu.shares())

    row("quotes loaded (files)", f"{result.quotes:,} ({result.files} files)")
    row("  read + CSV parse (not in the gateway figures)", f"{result.load_us_per_quote:.2f} us/quote")
    row(
        "THROUGHPUT: fed / accepted / rejected",
        f"{result.fed:,} / {result.accepted:,} / {sum(result.rejected.values()):,}",
    )
    if result.rejected:
        row("  rejected by reason", ", ".join(f"{reason} {count:,}" for reason, count in result.rejected.most_common()))
    row(
        "  accepted / delivered to subscriber (lost)",
        f"{result.accepted:,} / {result.delivered:,} ({lost:,})",
        f"zero loss: {met(lost == 0 and not result.publish_drops)}",
    )
    row("  best prices published / delivered", f"{result.best_prices_published:,} / {result.best_prices_delivered:,}")
    row("  NATS messages published / publish drops", f"{result.messages:,} / {result.publish_drops:,}")
    row("  feed time (all submitted and flushed)", f"{result.feed_s:.2f} s")
    row(
        "  delivered throughput",
        f"{result.throughput_ticks_per_s:,.0f} ticks/s",
        f">= {THROUGHPUT_TARGET_TICKS_PER_S:,}: {met(result.throughput_ticks_per_s >= THROUGHPUT_TARGET_TICKS_PER_S)}",
    )
    row("  CPU per tick: gateway / nats-server / subscriber", cpu_per_tick(result.throughput_cpu, result.fed))
    if result.throughput_latency_ms:
        lat = result.throughput_latency_ms
        row("  latency when saturated p50 / p99 / max", f"{lat['p50']:.1f} / {lat['p99']:.1f} / {lat['max']:.1f} ms")
    row("  same batches, NATS stubbed: gateway CPU per tick", f"{result.stub_us_per_tick:.2f} us")
    row("RAW nats-py publish of the same payloads", f"{result.raw_ticks_per_s:,.0f} ticks/s")
    row("  sent / delivered", f"{result.raw_ticks:,} / {result.raw_delivered:,}")
    row("  CPU per tick: publisher / nats-server / subscriber", cpu_per_tick(result.raw_cpu, result.raw_ticks))
    ratio = result.throughput_ticks_per_s / result.raw_ticks_per_s if result.raw_ticks_per_s else 0.0
    row("gateway / raw throughput", f"{ratio:.3f}")
    for phase in result.latency:
        lat = phase["latency_ms"]
        verdict = ""
        if phase["rate"] == LATENCY_TARGET_RATE:
            verdict = f"p99 < {LATENCY_TARGET_P99_MS:g} ms: {met(bool(lat) and lat['p99'] < LATENCY_TARGET_P99_MS)}"
        value = f"{lat['p50']:.3f} / {lat['p99']:.3f} / {lat['max']:.3f} ms" if lat else "no ticks received"
        row(f"LATENCY at {phase['rate']:,} ticks/s: p50 / p99 / max", value, verdict)
        row(
            "  offered / accepted / delivered",
            f"{phase['offered']:,} / {phase['accepted']:,} / {phase['delivered']:,}",
            f"zero loss: {met(phase['delivered'] == phase['accepted'] == phase['offered'])}",
        )
        row("  achieved rate, ticks per submit", f"{phase['achieved_rate']:,.0f}/s, {phase['ticks_per_submit']:.1f}")
        row("  CPU share: gateway / nats-server / subscriber", shares(phase["cpu"]))
    row(
        "peak RSS gateway: after throughput / whole run",
        f"{result.gateway_rss_after_throughput_mb:.1f} / {result.gateway_rss_mb:.1f} MB",
    )
    row(
        "peak RSS subscriber: after throughput / whole run",
        f"{result.subscriber_rss_after_throughput_mb:.1f} / {result.subscriber_rss_mb:.1f} MB",
    )

    print()
    print(f"fxgw end-to-end benchmark{' (--quick)' if quick else ''}")
    print(f"{os.cpu_count()} CPUs, Python {platform.python_version()}, uvloop {uvloop.__version__}, {nats_version}")
    width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    print(f"{'figure':<{width}}  {'value':<{value_width}}  target")
    print("-" * (width + value_width + 30))
    for name, value, verdict in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  {verdict}".rstrip())
    for error in result.errors:
        print(f"error: {error}")


def nats_server_version() -> str:
    try:
        return subprocess.run([find_binary(), "--version"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError, NatsServerError):
        return "nats-server ?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases: under ~20 s in all")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of OANDA YYYYMMDD_quote.zip files")
    parser.add_argument(
        "--linger-ms", type=float, default=DEFAULT_LINGER_MS, help="the pipeline's linger (nats.linger_ms)"
    )
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"bench_pipeline: no quote folder at {args.data} (use --data)", file=sys.stderr)
        return 2

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - started:5.1f} s] {text}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    with NatsServer() as server:
        say(f"nats-server on {server.url}")
        subscriber = SubscriberProcess(server.url)
        try:
            quotes = load_quotes(args.data)
            say(f"loaded {len(quotes):,} quotes from {quotes.files} files in {quotes.load_s:.1f} s")
            if quotes.bad_lines:
                say(f"skipped {quotes.bad_lines:,} lines that parse_quote_line refused")
            subscriber.wait_ready()
            throughput_quotes = min(len(quotes), QUICK_THROUGHPUT_QUOTES) if args.quick else len(quotes)
            phase_s = QUICK_LATENCY_PHASE_S if args.quick else LATENCY_PHASE_S
            cpu = CpuMeter(find_child_pid("nats-server"))
            benchmark = Benchmark(server.url, subscriber, quotes, cpu, say, args.linger_ms)
            say(f"pipeline linger: {args.linger_ms:g} ms")
            result = uvloop.run(benchmark.run(throughput_quotes, phase_s))
        finally:
            subscriber.stop()
        result.subscriber_rss_mb = subscriber.peak_rss_mb
    say("done; nats-server stopped")
    print_report(result, args.quick, nats_server_version())
    return 0


if __name__ == "__main__":
    sys.exit(main())
