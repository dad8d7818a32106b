"""cTrader benchmark: local Open API server -> the real gateway's CtraderCollector -> nats-server, beside OANDA.

Usage (from the repository root)::

    python scripts/bench_ctrader.py [--quick] [--duration S] [--data DIR] [--profile]

About 40 s in all, ``--quick`` about 20 s.

What runs, all on this machine:

- the local cTrader Open API server (``python -m tests.servers.ctrader``) in its own process: TLS, the official
  messages, the recorded EUR/USD quotes (``--data``, the first ``SERVER_QUOTES``, cycled) as spot events
  (one side when only one changed), as fast as the reader takes them;
- the local OANDA v20 server (scripts/bench_oanda.py's :class:`OandaServerProcess`), the same quotes as price
  lines at the same pace;
- a private ``nats-server`` and a subscriber process on ``market.*.ticks`` (``benchkit.SubscriberProcess``);
- the real gateway in this process, on uvloop, with every setting at its default but the quality limits.

Phases, each ``WARM_UP_S`` of streaming and then ``--duration`` seconds measured (default 8, ``--quick`` 3):

1. **cTrader alone**: one ``ctrader`` broker. Spot events/s the collector framed (its ``stats.prices``) and
   CPU of this process per event (``time.process_time``: TLS, framing, quality gate, best price, publishing);
   then the subscriber must have received every tick the pipeline accepted (zero loss).
2. **OANDA alone**: one ``oanda`` broker, the same figures per price line: the reference.
3. **Both in one gateway**: the two brokers side by side; each one's events/s and the gateway's CPU per event.

With ``--profile``, phase 1 runs under cProfile and the functions with the most own time go to stderr.
"""

from __future__ import annotations

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

import uvloop
from bench_oanda import ACCOUNT as OANDA_ACCOUNT
from bench_oanda import TOKEN_ENV as OANDA_TOKEN_ENV
from bench_oanda import OandaServerProcess, machine_busy_s
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

from collectors.base import Collector
from collectors.ctrader.collector import CtraderCollector
from collectors.ctrader.config import CtraderConfig
from collectors.oanda.collector import OandaCollector
from collectors.oanda.config import OandaConfig
from collectors.streaming import StreamingCollector
from gateway.app import Gateway
from gateway.config import GatewayConfig, parse_config
from gateway.events import TickSink
from gateway.nats_server import NatsServer

CT_ACCOUNT: Final = 1_000_001
CT_ENV: Final = ("FXGW_BENCH_CT_ID", "FXGW_BENCH_CT_SECRET", "FXGW_BENCH_CT_TOKEN")
CT_SOURCE: Final = "ctrader-bench"
OANDA_SOURCE: Final = "oanda-bench"
SERVER_QUOTES: Final = 200_000
"""Recorded quotes the cTrader server renders (about 2 s); cycled."""
STREAM_OPEN_TIMEOUT_S: Final = 15.0
WARM_UP_S: Final = 1.0
DURATION_S: Final = 8.0
QUICK_DURATION_S: Final = 3.0
TARGET_EVENTS_PER_S: Final = 100_000


class CtraderServerProcess(ReadyServerProcess):
    """``python -m tests.servers.ctrader`` at ``--rate max``; terminated however the run ends."""

    def __init__(self, quotes: Path, env: dict[str, str]) -> None:
        directory = tempfile.TemporaryDirectory(prefix="bench-ctrader-")
        arguments = [
            "--dir", directory.name, "--account", str(CT_ACCOUNT), "--client-id-env", CT_ENV[0],
            "--client-secret-env", CT_ENV[1], "--token-env", CT_ENV[2], "--rate", "max",
            "--limit", str(SERVER_QUOTES), "--quotes", str(quotes),
        ]  # fmt: skip
        super().__init__("cTrader", "tests.servers.ctrader", arguments, env, directory)
        self.port = 0
        self.ca_file = ""

    def wait_ready(self) -> list[str]:
        """Wait for ``READY <port> <ca_file>``."""
        fields = super().wait_ready()
        self.port, self.ca_file = int(fields[0]), fields[1]
        return fields


class Tracked:
    """Keeps each collector the gateway builds, so that the benchmark can read its stats."""

    instances: ClassVar[list[StreamingCollector[Any]]] = []


class TrackedCtrader(CtraderCollector):
    def __init__(self, config: CtraderConfig, sink: TickSink) -> None:
        super().__init__(config, sink)
        Tracked.instances.append(self)


class TrackedOanda(OandaCollector):
    def __init__(self, config: OandaConfig, sink: TickSink) -> None:
        super().__init__(config, sink)
        Tracked.instances.append(self)


def gateway_config(ctrader: CtraderServerProcess | None, oanda: OandaServerProcess | None) -> GatewayConfig:
    brokers: list[dict[str, Any]] = []
    if ctrader is not None:
        brokers.append(
            {
                "id": CT_SOURCE,
                "kind": "ctrader",
                "account_id": CT_ACCOUNT,
                "client_id_env": CT_ENV[0],
                "client_secret_env": CT_ENV[1],
                "access_token_env": CT_ENV[2],
                "host": "127.0.0.1",
                "port": ctrader.port,
                "ca_file": ctrader.ca_file,
                "instruments": [INSTRUMENT],
            }
        )
    if oanda is not None:
        brokers.append(
            {
                "id": OANDA_SOURCE,
                "kind": "oanda",
                "account_id": OANDA_ACCOUNT,
                "token_env": OANDA_TOKEN_ENV,
                "rest_url": oanda.url,
                "stream_url": oanda.url,
                "instruments": [INSTRUMENT],
            }
        )
    # The recorded quotes cycle: the jump from the last quote back to the first passes these limits.
    quality = {"max_spread_pips": 50.0, "max_jump_pips": 2000.0}
    return parse_config(
        {"instance_id": "bench-ctrader", "http": {"port": 0}, "quality": quality, "brokers": brokers}, "<bench>"
    )


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """One phase's window: events/s per source, CPU of this process per event, and the run's delivery."""

    events_per_s: dict[str, float]
    cpu_per_event_us: float
    accepted: dict[str, int]
    delivered: int
    rejected: int
    others_cpu: float
    """CPU seconds per second that processes other than this run's used in the window (1.0 = one CPU)."""


async def run_phase(
    nats_url: str,
    subscriber: SubscriberProcess,
    ctrader: CtraderServerProcess | None,
    oanda: OandaServerProcess | None,
    duration_s: float,
    profiler: cProfile.Profile | None = None,
) -> PhaseResult:
    Tracked.instances.clear()
    classes: dict[str, type[Collector[Any]]] = {"ctrader": TrackedCtrader, "oanda": TrackedOanda}
    gateway = Gateway(gateway_config(ctrader, oanda), nats_url, classes)
    await subscriber.begin(record_latency=False)
    await gateway.start()
    pipeline = gateway.pipeline
    assert pipeline is not None
    try:
        deadline = time.monotonic() + STREAM_OPEN_TIMEOUT_S
        while not Tracked.instances or any(collector.stats.prices == 0 for collector in Tracked.instances):
            if time.monotonic() > deadline:
                errors = [collector.connection.last_error for collector in Tracked.instances]
                raise BenchmarkError(f"no price within {STREAM_OPEN_TIMEOUT_S:g} s: {errors}")
            await asyncio.sleep(0.01)
        await asyncio.sleep(WARM_UP_S)
        cpu = CpuMeter(None)
        pids = (server.process.pid for server in (ctrader, oanda) if server is not None)
        children = [CpuMeter(pid) for pid in (*pids, find_child_pid("nats-server"), subscriber.pid)]
        first = {collector.source_id: collector.stats.prices for collector in Tracked.instances}
        for meter in (cpu, *children):
            meter.start()
        machine_start_s = machine_busy_s()
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        await asyncio.sleep(duration_s)
        if profiler is not None:
            profiler.disable()
        window_s = time.perf_counter() - started
        cpu_s = cpu.read()[0]
        ours_s = cpu_s + sum(meter.read()[1] for meter in children)
        others_cpu = max(machine_busy_s() - machine_start_s - ours_s, 0.0) / window_s
        last = {collector.source_id: collector.stats.prices for collector in Tracked.instances}
    finally:
        await gateway.stop()
    events = {source: last[source] - first[source] for source in last}
    accepted = {source: stats.accepted for source, stats in pipeline.sources.items()}
    rejected = sum(sum(stats.rejected.values()) for stats in pipeline.sources.values())
    report = await subscriber.end(sum(accepted.values()))
    return PhaseResult(
        {source: count / window_s for source, count in events.items()},
        cpu_s / max(sum(events.values()), 1) * 1e6,
        accepted,
        report.ticks,
        rejected,
        others_cpu,
    )


def print_report(results: Sequence[tuple[str, PhaseResult]], duration_s: float) -> None:
    table = Table()
    for name, result in results:
        for source, rate in result.events_per_s.items():
            note = f">= {TARGET_EVENTS_PER_S:,}/s {met(rate >= TARGET_EVENTS_PER_S)}" if source == CT_SOURCE else ""
            table.row(f"{name}: {source} events/s", f"{rate:,.0f}", note)
        table.row(f"{name}: CPU per event (gateway process)", f"{result.cpu_per_event_us:.2f} us")
        lost = sum(result.accepted.values()) - result.delivered
        table.row(
            f"{name}: ticks accepted / delivered",
            f"{sum(result.accepted.values()):,} / {result.delivered:,}",
            met(lost == 0),
        )
        table.row(f"{name}: rejected by the quality gate", f"{result.rejected:,}")
        table.row(f"{name}: CPU of other processes (noise)", f"{result.others_cpu:.2f} CPUs", "small = trustworthy")
    title = f"cTrader collector beside OANDA: {duration_s:g} s measured per phase"
    table.show(title, environment(nats_server_version()), "note")


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__, "shorter phases: about 20 s in all")
    parser.add_argument("--duration", type=float, default=None, help="measured window of each phase, s")
    parser.add_argument("--profile", action="store_true", help="cProfile phase 1; print to stderr")
    args = parse_args(parser, argv)
    duration_s = args.duration or (QUICK_DURATION_S if args.quick else DURATION_S)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    say = progress()
    env = {name: secrets.token_hex(12) for name in CT_ENV}
    oanda_token = secrets.token_hex(16)
    os.environ.update(env | {OANDA_TOKEN_ENV: oanda_token})  # the collectors read them from here
    profiler = cProfile.Profile() if args.profile else None
    ctrader = CtraderServerProcess(args.data, env)
    oanda = OandaServerProcess(args.data, oanda_token)
    results: list[tuple[str, PhaseResult]] = []
    try:
        with NatsServer() as nats_server, SubscriberProcess(nats_server.url) as subscriber:
            say(f"nats-server on {nats_server.url}; servers loading {args.data}")
            subscriber.wait_ready()
            ctrader.wait_ready()
            oanda.wait_ready()
            say(f"cTrader server on port {ctrader.port}, OANDA server on {oanda.url}")
            phases: list[tuple[str, CtraderServerProcess | None, OandaServerProcess | None]] = [
                ("cTrader alone", ctrader, None),
                ("OANDA alone", None, oanda),
                ("both", ctrader, oanda),
            ]
            for name, ctrader_server, oanda_server in phases:
                say(f"{name}: {WARM_UP_S:g} s warm-up, then {duration_s:g} s measured ...")
                phase_profiler = profiler if name == "cTrader alone" else None
                phase = run_phase(nats_server.url, subscriber, ctrader_server, oanda_server, duration_s, phase_profiler)
                result = uvloop.run(phase)
                results.append((name, result))
    finally:
        ctrader.stop()
        oanda.stop()
        for name in (*CT_ENV, OANDA_TOKEN_ENV):
            with contextlib.suppress(KeyError):
                del os.environ[name]
    say("done; servers stopped")
    if profiler is not None:
        print(profile_listing(profiler, pstats.SortKey.TIME, PROFILE_TOP), file=sys.stderr)
    print_report(results, duration_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
