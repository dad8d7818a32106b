"""OANDA benchmark: local v20 server -> the real gateway's OandaCollector -> nats-server -> a subscriber process.

Usage (from the repository root)::

    python scripts/bench_oanda.py [--quick] [--duration S] [--data DIR] [--profile]

About 30 s in all, ``--quick`` about 15 s; a third of either is the OANDA server loading the quotes.

What runs, all on this machine:

- the local OANDA v20 server (``python -m tests.servers.oanda_v20``) in its own process, streaming the
  recorded EUR/USD quotes (``--data``, all 532,903 of them, cycled) as fast as the reader takes them;
- a private ``nats-server`` on a free port (:class:`gateway.nats_server.NatsServer`);
- a subscriber in a separate process on ``market.*.ticks`` (``benchkit.SubscriberProcess``): it
  decodes every MarketDataStream, counts the ticks and records each one's latency from ``ts_recv_ns``;
- the real gateway in this process, on uvloop: :class:`gateway.app.Gateway` with one ``oanda`` broker whose
  REST and stream URLs are the local server, its token in an environment variable set here, and every other
  setting at its default (``nats.linger_ms``, the quality gate's limits, no Kafka).

Phases:

1. gateway (started, then its garbage collector set as ``fxgw run`` sets it, ``gateway.gc_tuning``): after
   ``WARM_UP_S`` of streaming, for ``--duration`` seconds (default 10, ``--quick`` 4),
   the price lines the collector parsed per second (its ``stats.prices``), the ticks the pipeline accepted
   and rejected (by reason), and CPU per line of this process (``time.process_time``), of the OANDA server,
   nats-server and the subscriber (``/proc/<pid>/stat``), and what other processes used (``/proc/stat``:
   the machine is shared, so a run is only as good as that figure is small). Then the gateway is stopped
   (which publishes what is pending and drains NATS) and the subscriber must have every tick accepted
   since the start: zero loss over the whole run. Its rate is its ticks over first to last receipt.
2. parsers: ``PARSE_LINES`` stream lines are read from the same server (raw httpx, no parsing) and parsed
   by ``collectors.oanda.parsing.parse_stream_line`` and by the line parser of OANDA's ``v20`` package:
   the class ``v20.pricing.EntitySpec.stream`` builds and hands to its Request, obtained here without
   network by calling ``ctx.pricing.stream`` on a ``v20.Context`` whose ``request`` only keeps the Request.
   Best of ``PARSE_ROUNDS`` passes each, in turn; then both parsers' results are compared line by line.
3. v20 streaming client: ``ctx.pricing.stream(...)`` against the server, iterating ``response.parts()``
   (requests, ``iter_lines`` with the Context's default 512-byte chunks, the Parser above) for
   ``V20_STREAM_S`` seconds; lines/s and this process's CPU per line.

With ``--profile``, phase 1's window runs under cProfile (this process's event loop thread only) and the
functions with the most own time are printed to stderr; the figures of that run are then slower than usual.
The OANDA server, nats-server and the subscriber are stopped however the run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import os
import pstats
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar, Final

import httpx
import uvloop
import v20
from benchkit import (
    INSTRUMENT,
    PROFILE_TOP,
    BenchmarkError,
    CpuMeter,
    ReadyServerProcess,
    SubscriberProcess,
    Table,
    argument_parser,
    environment,
    find_child_pid,
    met,
    nats_server_version,
    parse_args,
    profile_listing,
    progress,
)

from collectors.oanda.collector import OandaCollector
from collectors.oanda.config import OandaConfig
from collectors.oanda.parsing import Heartbeat, parse_stream_line
from gateway.app import Gateway
from gateway.clock import parse_time_ns
from gateway.config import GatewayConfig, parse_config
from gateway.events import Quote, TickSink
from gateway.gc_tuning import tune_after_start
from gateway.nats_server import NatsServer
from gateway.prices import PRICE_SCALE
from tests.servers.oanda_v20 import V20LineParser, v20_stream_line_parser

SERVER_DATA_FOLDER: Final = "oanda-eurusd-ticks"
"""The name the server's ``--data`` folder must give the quote files' folder."""
SOURCE: Final = "oanda-bench"
ACCOUNT: Final = "101-004-1234567-001"
TOKEN_ENV: Final = "FXGW_BENCH_OANDA_TOKEN"
HEARTBEAT_S: Final = 5.0

STREAM_OPEN_TIMEOUT_S: Final = 15.0
WARM_UP_S: Final = 1.0
DURATION_S: Final = 10.0
QUICK_DURATION_S: Final = 4.0
PARSE_LINES: Final = 150_000
QUICK_PARSE_LINES: Final = 30_000
PARSE_ROUNDS: Final = 3
V20_STREAM_S: Final = 3.0
QUICK_V20_STREAM_S: Final = 1.5

TARGET_LINES_PER_S: Final = 250_000
TARGET_TIMES_V20: Final = 2.5
"""Issue #15's target: at least TARGET_LINES_PER_S, or at least TARGET_TIMES_V20 x v20's client in the same run."""


# -- the OANDA server process ---------------------------------------------------------------------------------


class OandaServerProcess(ReadyServerProcess):
    """``python -m tests.servers.oanda_v20`` at ``--rate max``; terminated however the run ends."""

    def __init__(self, data: Path, token: str) -> None:
        # The server reads <--data>/oanda-eurusd-ticks: a folder of another name is linked under that name.
        directory = tempfile.TemporaryDirectory(prefix="bench-oanda-")
        (Path(directory.name) / SERVER_DATA_FOLDER).symlink_to(data.resolve(), target_is_directory=True)
        arguments = [
            "--port", "0", "--account", ACCOUNT, "--token-env", TOKEN_ENV, "--feed", "eurusd", "--rate", "max",
            "--heartbeat-s", str(HEARTBEAT_S), "--data", directory.name,
        ]  # fmt: skip
        super().__init__("OANDA", "tests.servers.oanda_v20", arguments, {TOKEN_ENV: token}, directory)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> list[str]:
        """Wait for ``READY <port>``."""
        fields = super().wait_ready()
        self.port = int(fields[0])
        return fields


# -- CPU accounting -------------------------------------------------------------------------------------------


def machine_busy_s() -> float:
    """CPU seconds all CPUs of the machine spent busy so far (not idle, not waiting for I/O): /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """CPU the machine spends beyond this process and the OANDA server: the noise in a phase's figures."""

    def __init__(self, server_pid: int) -> None:
        self._ours = CpuMeter(server_pid)
        self._machine_start_s = 0.0
        self._wall_start_s = 0.0

    def start(self) -> None:
        self._ours.start()
        self._machine_start_s = machine_busy_s()
        self._wall_start_s = time.perf_counter()

    def share(self) -> float:
        """CPU seconds of other processes per second since ``start()``: 1.0 is one CPU kept busy."""
        others_s = machine_busy_s() - self._machine_start_s - sum(self._ours.read())
        return max(others_s, 0.0) / (time.perf_counter() - self._wall_start_s)


# -- phase 1: the gateway -------------------------------------------------------------------------------------


class TrackedOandaCollector(OandaCollector):
    """The real collector; keeps a reference to each instance so that the benchmark can read its stats."""

    instances: ClassVar[list[OandaCollector]] = []

    def __init__(self, config: OandaConfig, sink: TickSink) -> None:
        super().__init__(config, sink)
        self.instances.append(self)


def gateway_config(server_url: str) -> GatewayConfig:
    return parse_config(
        {
            "instance_id": "bench-oanda",
            "http": {"port": 0},
            "brokers": [
                {
                    "id": SOURCE,
                    "kind": "oanda",
                    "account_id": ACCOUNT,
                    "token_env": TOKEN_ENV,
                    "rest_url": server_url,
                    "stream_url": server_url,
                    "instruments": [INSTRUMENT],
                }
            ],
        },
        "<bench_oanda>",
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The gateway's counters and CPU seconds (since the meters started) at one moment."""

    wall_s: float
    gateway_cpu_s: float
    server_cpu_s: float
    nats_cpu_s: float
    subscriber_cpu_s: float
    machine_busy_s: float
    lines: int
    prices: int
    heartbeats: int
    malformed: int
    accepted: int
    rejected: Counter[str]
    messages: int


class CpuMeters:
    """CPU seconds since ``start()`` of this process, the OANDA server, nats-server, the subscriber, the machine."""

    def __init__(self, server_pid: int, nats_pid: int | None, subscriber_pid: int | None) -> None:
        self._meters = [CpuMeter(pid) for pid in (server_pid, nats_pid, subscriber_pid)]
        self._machine_start_s = 0.0

    def start(self) -> None:
        for meter in self._meters:
            meter.start()
        self._machine_start_s = machine_busy_s()

    def read(self) -> tuple[float, float, float, float, float]:
        gateway_s, server_s = self._meters[0].read()
        return (
            gateway_s,
            server_s,
            self._meters[1].read()[1],
            self._meters[2].read()[1],
            machine_busy_s() - self._machine_start_s,
        )


@dataclass(slots=True)
class GatewayResult:
    """The steady window (``first`` to ``last``) and the whole run."""

    first: Snapshot
    last: Snapshot
    run_accepted: int = 0
    run_rejected: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    delivered_per_s: float = 0.0
    publish_drops: int = 0
    connects: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def window_s(self) -> float:
        return self.last.wall_s - self.first.wall_s

    def delta(self, name: str) -> Any:
        """The window's increase of a Snapshot field."""
        return getattr(self.last, name) - getattr(self.first, name)

    @property
    def prices_per_s(self) -> float:
        return self.delta("prices") / self.window_s

    def cpu_per_price_us(self, name: str) -> float:
        return self.delta(name) / max(self.delta("prices"), 1) * 1e6

    def cpu_share(self, name: str) -> float:
        """CPU seconds per second of the window: 1.0 is one CPU kept busy."""
        return self.delta(name) / self.window_s


async def run_gateway(
    nats_url: str,
    server: OandaServerProcess,
    subscriber: SubscriberProcess,
    duration_s: float,
    profiler: cProfile.Profile | None,
) -> GatewayResult:
    """Phase 1 (module docstring)."""
    cpu = CpuMeters(server.process.pid, find_child_pid("nats-server"), subscriber.pid)
    TrackedOandaCollector.instances.clear()
    gateway = Gateway(gateway_config(server.url), nats_url, {"oanda": TrackedOandaCollector})
    await subscriber.begin(record_latency=True)
    await gateway.start()
    tune_after_start()  # as fxgw run does once started
    pipeline = gateway.pipeline
    assert pipeline is not None
    try:
        collector = TrackedOandaCollector.instances[0]
        deadline = time.monotonic() + STREAM_OPEN_TIMEOUT_S
        while collector.stats.prices == 0:
            if time.monotonic() > deadline:
                raise BenchmarkError(f"no price within {STREAM_OPEN_TIMEOUT_S:g} s: {collector.connection.last_error}")
            await asyncio.sleep(0.01)
        await asyncio.sleep(WARM_UP_S)

        def snapshot() -> Snapshot:
            stats = collector.stats
            source = pipeline.sources[SOURCE]
            return Snapshot(
                time.perf_counter(),
                *cpu.read(),
                stats.messages,
                stats.prices,
                stats.heartbeats,
                stats.malformed,
                source.accepted,
                source.rejected.copy(),
                pipeline.publisher.stats.messages,
            )

        cpu.start()
        if profiler is not None:
            profiler.enable()
        first = snapshot()
        await asyncio.sleep(duration_s)
        last = snapshot()
        if profiler is not None:
            profiler.disable()
    finally:
        await gateway.stop()
    result = GatewayResult(first, last)
    source = pipeline.sources[SOURCE]
    publish = pipeline.publisher.stats
    result.run_accepted = source.accepted
    result.run_rejected = source.rejected
    result.connects = collector.stats.connects
    result.publish_drops = publish.ticks_dropped + publish.best_prices_dropped
    report = await subscriber.end(source.accepted)
    result.delivered = report.ticks
    result.delivered_per_s = report.ticks_per_s(report.first_ns)
    result.latency_ms = report.latency_ms
    result.errors = report.errors
    return result


# -- phase 2: the parsers -------------------------------------------------------------------------------------


def capture_lines(server_url: str, token: str, count: int) -> list[bytes]:
    """The next ``count`` lines of the server's stream, without their newlines, as raw bytes."""
    lines: list[bytes] = []
    partial = b""
    url = f"{server_url}/v3/accounts/{ACCOUNT}/pricing/stream"
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(headers=headers, trust_env=False) as client,
        client.stream("GET", url, params={"instruments": INSTRUMENT, "snapshot": "true"}) as response,
    ):
        if response.status_code != 200:
            raise BenchmarkError(f"capturing stream lines: HTTP {response.status_code}: {response.read()!r}")
        for chunk in response.iter_raw():
            pieces = chunk.split(b"\n")
            pieces[0] = partial + pieces[0]
            partial = pieces.pop()
            lines += pieces
            if len(lines) >= count:
                break
    return lines[:count]


def time_per_line(parsers: Sequence[Callable[[bytes], object]], lines: list[bytes], rounds: int) -> list[float]:
    """Seconds per line of each parser over ``lines``: best of ``rounds`` passes, taken in turn.

    Wall clock of this process; the parsers take turns so that a slow spell of the machine hits all of them.
    """
    best = [float("inf")] * len(parsers)
    for _ in range(rounds):
        for index, parse in enumerate(parsers):
            started = time.perf_counter()
            for line in lines:
                parse(line)
            best[index] = min(best[index], time.perf_counter() - started)
    return [seconds / len(lines) for seconds in best]


def disagreements(lines: list[bytes], v20_parse: V20LineParser) -> list[str]:
    """Lines on which the two parsers differ: kind, instrument, best bid/ask and their liquidity, time, tradeable."""
    found = []
    for line in lines:
        ours = parse_stream_line(line, SOURCE, 0)
        kind, theirs = v20_parse(line)
        if isinstance(ours, Heartbeat):
            same = kind == "pricing.PricingHeartbeat" and parse_time_ns(theirs.time) == ours.ts_event_ns
        else:
            bid, ask = theirs.bids[0], theirs.asks[0]
            same = kind == "pricing.ClientPrice" and (
                theirs.instrument,
                round(bid.price * PRICE_SCALE),
                round(ask.price * PRICE_SCALE),
                bid.liquidity,
                ask.liquidity,
                parse_time_ns(theirs.time),
                theirs.tradeable,
            ) == (
                ours.instrument,
                ours.bid_px,
                ours.ask_px,
                ours.bid_liquidity,
                ours.ask_liquidity,
                ours.ts_event_ns,
                ours.tradeable,
            )
        if not same:
            found.append(line.decode(errors="replace"))
    return found


@dataclass(slots=True)
class ParseResult:
    lines: int = 0
    prices: int = 0
    ours_s_per_line: float = 0.0
    v20_s_per_line: float = 0.0
    other_load: float = 0.0
    disagreements: list[str] = field(default_factory=list)


def compare_parsers(server: OandaServerProcess, token: str, count: int) -> ParseResult:
    """Phase 2 (module docstring)."""
    lines = capture_lines(server.url, token, count)
    v20_parse = v20_stream_line_parser()
    result = ParseResult(lines=len(lines))
    load = OtherLoad(server.process.pid)
    load.start()
    result.ours_s_per_line, result.v20_s_per_line = time_per_line(
        [lambda line: parse_stream_line(line, SOURCE, 0), v20_parse], lines, PARSE_ROUNDS
    )
    result.other_load = load.share()
    result.prices = sum(isinstance(parse_stream_line(line, SOURCE, 0), Quote) for line in lines)
    result.disagreements = disagreements(lines, v20_parse)
    return result


# -- phase 3: v20's streaming client --------------------------------------------------------------------------


@dataclass(slots=True)
class V20StreamResult:
    seconds: float = 0.0
    prices: int = 0
    heartbeats: int = 0
    cpu_s: float = 0.0
    chunk_size: int = 0
    other_load: float = 0.0

    @property
    def prices_per_s(self) -> float:
        return self.prices / self.seconds if self.seconds else 0.0


def run_v20_stream(server: OandaServerProcess, token: str, duration_s: float) -> V20StreamResult:
    """Phase 3 (module docstring): the whole v20 client, HTTP included, as its users read a stream."""
    ctx = v20.Context("127.0.0.1", server.port, ssl=False, application="fxgw-bench", token=token)
    result = V20StreamResult(chunk_size=ctx.stream_chunk_size)
    response = ctx.pricing.stream(ACCOUNT, instruments=INSTRUMENT, snapshot=True)
    if response.status != 200:
        raise BenchmarkError(f"v20 stream: HTTP {response.status}")
    parts: Generator[tuple[str, Any], None, None] = response.parts()
    load = OtherLoad(server.process.pid)
    load.start()
    cpu_start = time.process_time()
    started = time.perf_counter()
    deadline = started + duration_s
    try:
        for kind, _ in parts:
            if kind == "pricing.ClientPrice":
                result.prices += 1
                if not result.prices % 1024 and time.perf_counter() >= deadline:
                    break
            else:
                result.heartbeats += 1
    finally:
        result.seconds = time.perf_counter() - started
        result.cpu_s = time.process_time() - cpu_start
        result.other_load = load.share()
        parts.close()
        ctx._session.close()  # v20 keeps the requests Session private; this closes the stream's connection
    return result


# -- report ---------------------------------------------------------------------------------------------------


def print_report(
    gateway: GatewayResult,
    parsing: ParseResult,
    stream: V20StreamResult,
    server: OandaServerProcess,
    args: argparse.Namespace,
) -> None:
    table = Table()
    row = table.row

    def by_reason(counts: Counter[str]) -> str:
        return ", ".join(f"{reason} {count:,}" for reason, count in counts.most_common()) or "none"

    lost = gateway.run_accepted - gateway.delivered
    noise = f"of {os.cpu_count()} CPUs; above ~10%: a noisy figure"
    ours_per_s = 1 / parsing.ours_s_per_line if parsing.ours_s_per_line else 0.0
    v20_per_s = 1 / parsing.v20_s_per_line if parsing.v20_s_per_line else 0.0
    row("OANDA server: recorded EUR/USD quotes, rate max", f"{args.data} (ready in {server.ready_s:.1f} s)")
    row(
        f"GATEWAY, {gateway.window_s:.1f} s after {WARM_UP_S:g} s warm-up",
        "collector -> pipeline -> NATS",
        "(cProfile on: slower)" if args.profile else "",
    )
    row(
        "  price lines/s through the collector",
        f"{gateway.prices_per_s:,.0f}/s",
        f">= {TARGET_LINES_PER_S:,}: {met(gateway.prices_per_s >= TARGET_LINES_PER_S)}",
    )
    row(
        "  price lines / heartbeats / malformed",
        f"{gateway.delta('prices'):,} / {gateway.delta('heartbeats'):,} / {gateway.delta('malformed'):,}",
    )
    rejected = gateway.delta("rejected")
    row("  accepted / rejected", f"{gateway.delta('accepted'):,} / {rejected.total():,}", by_reason(rejected))
    row(
        "  NATS messages, ticks per message",
        f"{gateway.delta('messages'):,}, {gateway.delta('accepted') / max(gateway.delta('messages'), 1):.1f}",
    )
    processes = ("gateway_cpu_s", "server_cpu_s", "nats_cpu_s", "subscriber_cpu_s")
    row(
        "  CPU per line: gateway / OANDA server / nats / subscriber",
        " / ".join(f"{gateway.cpu_per_price_us(name):.2f}" for name in processes) + " us",
    )
    row("  CPU share of the same", " / ".join(f"{gateway.cpu_share(name):.0%}" for name in processes), "100% = 1 CPU")
    others = max(gateway.cpu_share("machine_busy_s") - sum(gateway.cpu_share(name) for name in processes), 0.0)
    row("  CPU of other processes on the machine", f"{others:.0%}", noise)
    row("WHOLE RUN, start to stop", f"{gateway.connects} stream(s) opened")
    row(
        "  accepted / delivered to subscriber (lost)",
        f"{gateway.run_accepted:,} / {gateway.delivered:,} ({lost:,})",
        f"zero loss: {met(lost == 0 and not gateway.publish_drops)}",
    )
    row("  rejected", f"{gateway.run_rejected.total():,}", by_reason(gateway.run_rejected))
    row("  subscriber: ticks/s, first to last receipt", f"{gateway.delivered_per_s:,.0f}/s")
    if gateway.latency_ms:
        lat = gateway.latency_ms
        row(
            "  latency line read -> subscriber p50 / p99 / max",
            f"{lat['p50']:.1f} / {lat['p99']:.1f} / {lat['max']:.1f} ms",
        )
    row(f"PARSERS on {parsing.lines:,} captured stream lines", f"{parsing.prices:,} prices, best of {PARSE_ROUNDS}")
    row("  ours: parse_stream_line", f"{parsing.ours_s_per_line * 1e6:.2f} us/line ({ours_per_s:,.0f}/s)")
    row(
        "  v20: pricing.stream's line parser",
        f"{parsing.v20_s_per_line * 1e6:.2f} us/line ({v20_per_s:,.0f}/s)",
        f"ours / v20: {ours_per_s / v20_per_s:.1f}x" if v20_per_s else "",
    )
    row(
        "  lines on which they disagree",
        f"{len(parsing.disagreements):,}",
        "kind, instrument, best bid/ask and liquidity, time, tradeable",
    )
    row("  CPU of other processes on the machine", f"{parsing.other_load:.0%}", noise)
    row(f"V20 STREAMING CLIENT, {stream.seconds:.1f} s", f"response.parts(), {stream.chunk_size}-byte chunks")
    row(
        "  price lines/s",
        f"{stream.prices_per_s:,.0f}/s",
        (
            f"collector / v20: {gateway.prices_per_s / stream.prices_per_s:.1f}x "
            f"(>= {TARGET_TIMES_V20:g}x: {met(gateway.prices_per_s >= TARGET_TIMES_V20 * stream.prices_per_s)})"
        )
        if stream.prices_per_s
        else "",
    )
    row("  CPU per line (this process)", f"{stream.cpu_s / max(stream.prices, 1) * 1e6:.2f} us")
    row("  CPU of other processes on the machine", f"{stream.other_load:.0%}", noise)

    table.show(
        f"fxgw OANDA benchmark{' (--quick)' if args.quick else ''}",
        environment(f"httpx {httpx.__version__}", f"v20 {version('v20')}", nats_server_version()),
        "target / comparison",
    )
    for line in parsing.disagreements[:5]:
        print(f"parsers disagree on: {line[:200]}")
    for error in gateway.errors:
        print(f"error: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__, "shorter phases: about 15 s in all")
    parser.add_argument("--duration", type=float, default=None, help="measured window of the gateway phase, s")
    parser.add_argument("--profile", action="store_true", help="cProfile the gateway's window; print to stderr")
    args = parse_args(parser, argv)
    duration_s = args.duration or (QUICK_DURATION_S if args.quick else DURATION_S)
    parse_lines = QUICK_PARSE_LINES if args.quick else PARSE_LINES
    v20_stream_s = QUICK_V20_STREAM_S if args.quick else V20_STREAM_S
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    say = progress()
    token = secrets.token_hex(16)
    os.environ[TOKEN_ENV] = token  # the collector reads it from here, as from the gateway's environment
    profiler = cProfile.Profile() if args.profile else None
    oanda = OandaServerProcess(args.data, token)
    try:
        with NatsServer() as nats_server, SubscriberProcess(nats_server.url) as subscriber:
            say(f"nats-server on {nats_server.url}; OANDA server loading {args.data}")
            subscriber.wait_ready()
            oanda.wait_ready()
            say(f"OANDA server on {oanda.url} (ready after {oanda.ready_s:.1f} s)")
            say(f"gateway: {WARM_UP_S:g} s warm-up, then {duration_s:g} s measured ...")
            gateway = uvloop.run(run_gateway(nats_server.url, oanda, subscriber, duration_s, profiler))
        say(f"parsers: capturing {parse_lines:,} stream lines, then ours and v20's on them ...")
        parsing = compare_parsers(oanda, token, parse_lines)
        say(f"v20 streaming client for {v20_stream_s:g} s ...")
        stream = run_v20_stream(oanda, token, v20_stream_s)
    finally:
        oanda.stop()
        with contextlib.suppress(KeyError):
            del os.environ[TOKEN_ENV]
    say("done; servers stopped")
    if profiler is not None:
        print(profile_listing(profiler, pstats.SortKey.TIME, PROFILE_TOP), file=sys.stderr)
    print_report(gateway, parsing, stream, oanda, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
