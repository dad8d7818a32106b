"""What the benchmark scripts share: paths, the subscriber process, CPU meters, the recorded quotes fed through
the pipeline, the report table and the command line.

Each ``scripts/bench_*.py`` imports what it needs from here and keeps only its own benchmark. Importing this
module puts the repository root on ``sys.path``: ``tests.servers`` and ``tests.support`` are not part of the
installed package.

The subscriber (:class:`SubscriberProcess`) runs in a separate process (``multiprocessing``, spawned) on
``market.*.ticks``, driven phase by phase over a pipe: it decodes every MarketDataStream, counts ticks and best
prices, and, where asked, records the latency ``time.time_ns() at receipt - tick.ts_recv_ns`` of every tick.
CPU is ``time.process_time`` for this process and the subscriber, ``/proc/<pid>/stat`` for a child server
(:class:`CpuMeter`). Peak RSS is ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import cProfile
import io
import math
import multiprocessing
import os
import platform
import pstats
import re
import resource
import select
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import nats
import uvloop
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from pydantic import ValidationError

from collectors.base import MAX_EVENTS_PER_SUBMIT
from collectors.recorded import quote_files, read_lines
from collectors.recorded_parsing import parse_quote_line
from gateway.aggregator import BestPriceAggregator
from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.config import DEFAULT_PENDING_BYTES, CpusConfig
from gateway.errors import BadValueError, ConfigError, MalformedInputError, NatsServerError
from gateway.events import Quote
from gateway.nats_server import find_binary
from gateway.pipeline import CycleSpool, Pipeline
from gateway.placement import Placement, apply_placement, place_threads, placement_for
from gateway.publisher import NatsPublishClient, NatsPublisher
from gateway.quality import QualityGate, QualityPolicy
from gateway.schema.market.v1.market_pb2 import MarketDataStream

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
SERVER_READY_TIMEOUT_S: Final = 60.0
"""Longest wait for a local provider server to load its quotes and print READY."""
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # tests.servers and tests.support are not part of the installed package
DEFAULT_DATA: Final = REPO_ROOT.parent / "shared" / "data" / "oanda-eurusd-ticks"

SOURCE: Final = "oanda-replay"
"""The source the recorded quotes are fed as."""
INSTRUMENT: Final = "EUR_USD"
SUBJECTS: Final = "market.*.ticks"
SUBSCRIBER_READY_TIMEOUT_S: Final = 30.0
SUBSCRIBER_IDLE_S: Final = 2.0
"""The subscriber reports a phase once this long passes without a message (if not all arrived)."""
SUBSCRIBER_PHASE_TIMEOUT_S: Final = 60.0
PROFILE_TOP: Final = 30
"""Functions in a cProfile listing."""

# The recorded quotes have spreads of up to 15 pips and moves of up to 21 pips between
# consecutive quotes (including the gaps between days): these limits pass all of them.
BENCH_POLICY: Final = QualityPolicy(max_spread_pips=50.0, max_jump_pips=200.0)

THROUGHPUT_TARGET_TICKS_PER_S: Final = 150_000
"""Ticks/s the pipeline must deliver to a NATS subscriber."""


class BenchmarkError(Exception):
    """The benchmark itself could not run (a process did not answer, a server did not start, ...)."""


# -- the subscriber process -----------------------------------------------------------------------------------


@dataclass(slots=True)
class PhaseReport:
    """What the subscriber received in one phase."""

    ticks: int
    best_prices: int
    messages: int
    first_ns: int
    """``time.time_ns()`` at the first message with ticks; 0 if none came."""
    last_ns: int
    """``time.time_ns()`` at the last message with ticks; 0 if none came."""
    errors: list[str]
    cpu_s: float
    peak_rss_mb: float
    latency_ms: dict[str, float] = field(default_factory=dict)
    """Of the ticks' latencies, where recorded: p50, p99, p99.9, max and min."""

    def ticks_per_s(self, start_ns: int) -> float:
        """Ticks received per second from ``start_ns`` (``time.time_ns()``) to the last receipt; 0 if none."""
        span_ns = self.last_ns - start_ns
        return self.ticks * NS_PER_S / span_ns if self.ticks and span_ns > 0 else 0.0


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
    latencies_ns: array.array[int] = field(default_factory=lambda: array.array("q"))


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
                self._conn.send(("stopped", peak_rss_mb()))
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

    async def _finish_phase(self, expected_ticks: int) -> PhaseReport:
        """Wait for ``expected_ticks`` (or for the stream to go quiet), then summarise the phase."""
        phase = self._phase
        deadline = time.monotonic() + SUBSCRIBER_PHASE_TIMEOUT_S
        while phase.ticks < expected_ticks:
            now = time.monotonic()
            if now > deadline or now - phase.last_monotonic > SUBSCRIBER_IDLE_S:
                break
            await asyncio.sleep(0.005)
        report = PhaseReport(
            ticks=phase.ticks,
            best_prices=phase.best_prices,
            messages=phase.messages,
            first_ns=phase.first_ns,
            last_ns=phase.last_ns,
            errors=list(self._errors),
            cpu_s=time.process_time() - phase.cpu_start_s,
            peak_rss_mb=peak_rss_mb(),
        )
        if phase.latencies_ns:
            ordered = sorted(phase.latencies_ns)
            report.latency_ms = {
                name: percentile(ordered, q) / NS_PER_MS for name, q in (("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999))
            } | {"max": ordered[-1] / NS_PER_MS, "min": ordered[0] / NS_PER_MS}
        self._errors.clear()
        return report


def percentile(ordered: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of an ascending sequence."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def host_steal_s() -> float:
    """CPU seconds the hypervisor has taken from this machine's CPUs since boot (``steal`` in /proc/stat), summed
    over the CPUs; NaN where it cannot be read.

    On a virtual machine whose host is busy, a run loses wall time this way that no process's own CPU time shows
    (up to 1.4 s during one bench_kafka invocation here): read a run's steal before its throughput.
    """
    try:
        with open("/proc/stat", "rb") as stat:
            fields = stat.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def _subscriber_main(url: str, conn: Connection) -> None:
    """Entry point of the subscriber process."""
    uvloop.run(_Subscriber(conn).run(url))


class ReadyServerProcess:
    """A local provider server (``python -m tests.servers.<name> ...``) that prints ``READY <fields>`` once it serves;
    :meth:`stop` terminates it however the run ends and removes its temporary folder ``directory``."""

    def __init__(
        self,
        name: str,
        module: str,
        arguments: Sequence[str],
        env: dict[str, str],
        directory: tempfile.TemporaryDirectory[str],
    ) -> None:
        self.name = name
        self._directory = directory
        self._started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *arguments], cwd=REPO_ROOT, env=os.environ | env, stdout=subprocess.PIPE
        )
        self.ready_s = 0.0
        """Seconds from the start until READY (the server loads and renders its quotes first)."""

    def wait_ready(self) -> list[str]:
        """Wait for ``READY ...``; the fields after READY. Raises BenchmarkError after SERVER_READY_TIMEOUT_S."""
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], SERVER_READY_TIMEOUT_S)
        line = self.process.stdout.readline() if readable else b""
        if not line.startswith(b"READY "):
            raise BenchmarkError(
                f"the {self.name} server printed {line!r} instead of READY (exit status {self.process.poll()})"
            )
        self.ready_s = time.perf_counter() - self._started
        return line.decode().split()[1:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._directory.cleanup()


class SubscriberProcess:
    """The benchmark's handle on the subscriber process; as a context manager, stopped however the run ends."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no copy of our memory
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_subscriber_main, args=(url, child_conn), name="bench-subscriber")
        self._process.start()
        child_conn.close()
        self.peak_rss_mb = 0.0

    def __enter__(self) -> SubscriberProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def wait_ready(self) -> None:
        self._expect("ready", SUBSCRIBER_READY_TIMEOUT_S)

    async def begin(self, *, record_latency: bool) -> None:
        self._conn.send(("begin", record_latency))
        await asyncio.to_thread(self._expect, "begun", SUBSCRIBER_READY_TIMEOUT_S)

    async def end(self, expected_ticks: int) -> PhaseReport:
        """The phase's report, once ``expected_ticks`` arrived or the stream went quiet."""
        self._conn.send(("end", expected_ticks))
        report: PhaseReport = (await asyncio.to_thread(self._expect, "report", SUBSCRIBER_PHASE_TIMEOUT_S + 10))[1]
        self.peak_rss_mb = report.peak_rss_mb
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
        message: tuple[Any, ...] = self._conn.recv()
        if message[0] != kind:
            raise BenchmarkError(f"subscriber process sent {message!r}, expected {kind!r}")
        return message


# -- CPU ------------------------------------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds used since ``start()`` by this process and by another one (a child server)."""

    def __init__(self, server_pid: int | None) -> None:
        self._server_pid = server_pid
        self._gateway_start = 0.0
        self._server_start = 0.0

    def start(self) -> None:
        self._gateway_start = time.process_time()
        self._server_start = self._server_cpu_s()

    def read(self) -> tuple[float, float]:
        """(this process, the other one); the other's is NaN where it cannot be read."""
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


# -- CPU placement (--event-loop-cpus) -------------------------------------------------------------------------


def add_placement_argument(parser: argparse.ArgumentParser) -> None:
    """``--event-loop-cpus LIST``: the benchmark's gateway placed as config ``cpus.event_loop`` places a gateway."""
    parser.add_argument(
        "--event-loop-cpus",
        type=cpu_numbers,
        default=(),
        metavar="LIST",
        help="run the gateway's event loop alone on these CPUs (e.g. 1 or 2,3), as config cpus.event_loop does, "
        "and everything else (nats-server and the subscriber too) on the others (default: the OS places everything)",
    )


def cpu_numbers(text: str) -> tuple[int, ...]:
    """``--event-loop-cpus``: comma-separated CPU numbers, checked as config ``cpus.event_loop`` is."""
    parts = text.split(",")
    if not all(re.fullmatch(r"[0-9]{1,5}", part.strip()) for part in parts):
        raise argparse.ArgumentTypeError(f"not a comma-separated list of CPU numbers: {text[:40]!r}")
    try:
        return CpusConfig(event_loop=tuple(int(part) for part in parts)).event_loop
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: {exc.errors()[0]['msg']}") from exc


def placement_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Placement | None:
    """The placement ``--event-loop-cpus`` asks for on this machine; exits with status 2 and why when it cannot be."""
    try:
        return placement_for(args.event_loop_cpus)
    except ConfigError as exc:
        parser.error(str(exc).replace("cpus.event_loop", "--event-loop-cpus"))


def place_benchmark(placement: Placement, service_pids: Sequence[int | None]) -> None:
    """This process placed as a gateway is (gateway.placement: its event loop's thread alone on
    ``placement.event_loop``), and the benchmark's services (nats-server, tansu, the subscriber) on
    ``placement.others``, as an operator places co-located services (``taskset -a``). Call it on the loop."""
    apply_placement(placement, asyncio.get_running_loop())
    for pid in service_pids:
        if pid is not None:
            place_threads(pid, placement.others)


def placement_text(placement: Placement | None) -> str:
    """The report's line on the placement."""
    return "none: the OS places every process" if placement is None else placement.describe()


# -- the recorded quotes through the pipeline -----------------------------------------------------------------


@dataclass(slots=True)
class Quotes:
    """The recorded quote lines (raw CSV bytes, as read from the files) and each one's day start."""

    lines: list[bytes] = field(default_factory=list)
    day_starts: array.array[int] = field(default_factory=lambda: array.array("q"))
    files: int = 0
    bad_lines: int = 0
    load_s: float = 0.0

    def __len__(self) -> int:
        return len(self.lines)


def load_quotes(folder: Path) -> Quotes:
    """Read every quote file in ``folder``; lines the recorded-file parser refuses are counted and left out."""
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


async def connect_gateway_client(url: str, errors: list[str]) -> NatsClient:
    """The gateway side's NATS client, as the gateway configures it; its errors are appended to ``errors``."""

    async def on_error(exc: Exception) -> None:
        errors.append(f"gateway nats client: {exc!r}")

    return await nats.connect(
        url, name="bench-gateway", pending_size=DEFAULT_PENDING_BYTES, max_reconnect_attempts=0, error_cb=on_error
    )


def make_pipeline(
    client: NatsPublishClient, linger_ms: float, spool: CycleSpool | None = None, session_id: int | None = None
) -> Pipeline:
    """The gateway's pipeline for :data:`SOURCE` alone, with :data:`BENCH_POLICY`."""
    gate, aggregator = QualityGate(BENCH_POLICY), BestPriceAggregator({SOURCE: 0})
    return Pipeline(gate, aggregator, NatsPublisher(client), linger_ms, spool, session_id=session_id)


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
    """Parse lines [start, stop) as the recorded-file collector does, each stamped with the time it is read."""
    lines, day_starts, time_ns = quotes.lines, quotes.day_starts, time.time_ns
    batch = []
    for i in range(start, stop):
        received_ns = time_ns()
        recorded = parse_quote_line(lines[i], day_starts[i])
        batch.append(Quote(INSTRUMENT, SOURCE, recorded.bid_px, recorded.ask_px, 0, 0, received_ns, received_ns))
    return batch


async def feed_all(pipeline: Pipeline, quotes: Quotes, count: int) -> None:
    """The first ``count`` quotes, as fast as the pipeline takes them, in collector-sized batches.

    The pipeline's deferred publishing runs meanwhile (:func:`lingering_publisher`); on return every tick has
    been handed to the NATS client.
    """
    submit = pipeline.submit
    async with lingering_publisher(pipeline):
        for start in range(0, count, MAX_EVENTS_PER_SUBMIT):
            await submit(make_batch(quotes, start, min(start + MAX_EVENTS_PER_SUBMIT, count)))


@dataclass(slots=True)
class FeedRun:
    """Quotes fed through the pipeline as fast as it takes them (:func:`feed_all`), and what the subscriber got."""

    fed: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    best_prices_published: int = 0
    best_prices_delivered: int = 0
    messages: int = 0
    publish_drops: int = 0
    feed_s: float = 0.0
    """From the start of feeding until every tick was submitted and flushed to nats-server."""
    ticks_per_s: float = 0.0
    """Ticks the subscriber received per second, from the start of feeding to the last receipt."""

    @property
    def lost(self) -> int:
        return self.accepted - self.delivered

    def count(self, pipeline: Pipeline, fed: int, report: PhaseReport, start_ns: int) -> None:
        """Take the pipeline's counters for :data:`SOURCE` and the subscriber's report of the run."""
        stats, publish = pipeline.sources[SOURCE], pipeline.publisher.stats
        self.fed, self.accepted, self.rejected = fed, stats.accepted, stats.rejected
        self.delivered, self.best_prices_delivered = report.ticks, report.best_prices
        self.best_prices_published, self.messages = publish.best_prices, publish.messages
        self.publish_drops = publish.ticks_dropped + publish.best_prices_dropped
        self.ticks_per_s = report.ticks_per_s(start_ns)

    def add_rows(self, table: Table, heading: str) -> None:
        """The run's rows, the first named ``heading``: fed, accepted, delivered and the throughput."""
        row, lost = table.row, self.lost
        row(f"{heading}: fed / accepted / rejected", f"{self.fed:,} / {self.accepted:,} / {self.rejected.total():,}")
        if self.rejected:
            by_reason = ", ".join(f"{reason} {count:,}" for reason, count in self.rejected.most_common())
            row("  rejected by reason", by_reason)
        row(
            "  accepted / delivered to the subscriber (lost)",
            f"{self.accepted:,} / {self.delivered:,} ({lost:,})",
            f"zero loss: {met(lost == 0 and not self.publish_drops)}",
        )
        row("  best prices published / delivered", f"{self.best_prices_published:,} / {self.best_prices_delivered:,}")
        row("  NATS messages published / publish drops", f"{self.messages:,} / {self.publish_drops:,}")
        row("  feed time (all submitted and flushed)", f"{self.feed_s:.2f} s")
        row(
            "  NATS delivered throughput",
            f"{self.ticks_per_s:,.0f} ticks/s",
            f">= {THROUGHPUT_TARGET_TICKS_PER_S:,}: {met(self.ticks_per_s >= THROUGHPUT_TARGET_TICKS_PER_S)}",
        )


# -- command line and report ----------------------------------------------------------------------------------


def argument_parser(doc: str, quick_help: str) -> argparse.ArgumentParser:
    """The options every benchmark script takes: ``--quick`` and ``--data`` (the recorded quotes' folder)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of OANDA YYYYMMDD_quote.zip files")
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; exits with status 2 and the usage where ``--data`` is not a folder."""
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"no quote folder at {args.data} (use --data)")
    return args


def progress() -> Callable[[str], None]:
    """``say(text)``: prints ``[seconds since this call] text`` to stderr, for the run's progress."""
    started = time.perf_counter()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - started:5.1f} s] {text}", file=sys.stderr, flush=True)

    return say


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def nats_server_version() -> str:
    try:
        return subprocess.run([find_binary(), "--version"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError, NatsServerError):
        return "nats-server ?"


def environment(*versions: str) -> str:
    """The line under a report's title: CPUs, Python, uvloop, then ``versions``."""
    return ", ".join(
        (f"{os.cpu_count()} CPUs", f"Python {platform.python_version()}", f"uvloop {uvloop.__version__}", *versions)
    )


class Table:
    """A report: one row per figure, with its value and a note (the target and whether it is met, a comparison)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def row(self, name: str, value: str, note: str = "") -> None:
        self.rows.append((name, value, note))

    def show(self, title: str, environment: str, note_heading: str = "target") -> None:
        """Print the title, the environment line and the rows in aligned columns to stdout."""
        width = max(len(name) for name, _, _ in self.rows)
        value_width = max(len(value) for _, value, _ in self.rows)
        note_width = max(len(note) for _, _, note in [*self.rows, ("", "", note_heading)])
        print()
        print(title)
        print(environment)
        print(f"{'figure':<{width}}  {'value':<{value_width}}  {note_heading}")
        print("-" * (width + value_width + note_width + 4))
        for name, value, note in self.rows:
            print(f"{name:<{width}}  {value:<{value_width}}  {note}".rstrip())


def profile_listing(profiler: cProfile.Profile, key: pstats.SortKey, *restrictions: int | str) -> str:
    """pstats' listing of ``profiler`` sorted by ``key``, cut by ``restrictions`` (a count, a regular expression)."""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(*restrictions)
    return out.getvalue()
