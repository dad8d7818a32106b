"""``fxgw``: run the gateway, try it out, watch its subjects, replay ticks from Kafka, check a config.

Exit codes: 0 success, 1 runtime failure (NATS unreachable, ...), 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Final, TextIO

import uvloop
from nats.aio.msg import Msg
from tqdm import tqdm

from gateway.app import Gateway
from gateway.clock import now_ns
from gateway.config import DEFAULT_NATS_URL, SUBJECT_TOKEN, GatewayConfig, KafkaConfig, load_config, parse_config
from gateway.errors import ConfigError, GatewayError
from gateway.instruments import INSTRUMENT_PATTERN
from gateway.kafka.records import DEFAULT_TICKS_TOPIC
from gateway.kafka.replay import (
    DEFAULT_SUBJECT_PREFIX,
    DEFAULT_TIMEOUT_S,
    RELATIVE_TIME,
    OutputFormat,
    Progress,
    ReplayRequest,
    parse_names,
    parse_replay_time,
    parse_speed,
    run_replay,
)
from gateway.nats_connect import connect_nats
from gateway.nats_server import NatsServer
from gateway.ops.status_line import StatusLine
from gateway.tail import describe

logger = logging.getLogger("fxgw")

DEFAULT_REPLAY_DATA: Final = Path("../shared/data/oanda-eurusd-ticks")
STATUS_INTERVAL_S: Final = 1.0
TAIL_CONNECT_TIMEOUT_S: Final = 5.0
DEMO_REPLAY_SPEED: Final = 30


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"fxgw: config error: {exc}", file=sys.stderr)
        return 2
    except GatewayError as exc:
        print(f"fxgw: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``fxgw tail ... | head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fxgw", description="Forex tick gateway: brokers -> quality gate -> NATS.")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the gateway from a config file")
    run.add_argument("--config", type=Path, default=Path("brokers.yaml"))
    run.add_argument("--nats-url", help="overrides nats.url from the config")
    run.add_argument("--status", action="store_true", help="print a live status line")
    run.set_defaults(handler=_run)

    demo = commands.add_parser("demo", help="self-contained demo: own nats-server, simulated brokers, a replay")
    demo.add_argument("--replay-data", type=Path, default=DEFAULT_REPLAY_DATA, help="folder of OANDA quote files")
    demo.add_argument("--rate", type=float, default=20.0, help="ticks per second of each simulated broker")
    demo.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = Ctrl-C)")
    demo.set_defaults(handler=_demo)

    tail = commands.add_parser("tail", help="subscribe to a subject and print decoded messages")
    tail.add_argument("subject", help="e.g. 'market.*.ticks', 'market.rejected' or 'market.>'")
    tail.add_argument("--url", default=os.environ.get("NATS_URL", DEFAULT_NATS_URL))
    tail.add_argument("--count", type=int, default=0, help="stop after this many messages (0 = never)")
    tail.set_defaults(handler=_tail)

    check = commands.add_parser("check-config", help="validate a config file and summarise it")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=_check_config)

    _add_replay_parser(commands)
    return parser


def _add_replay_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = commands.add_parser(
        "replay",
        help="replay a time window of ticks from Kafka onto NATS or into a file",
        description="Replay the ticks whose event time is in [--since, --until) from the Kafka ticks topic, "
        "without duplicates and in event-time order, at the original pace times --speed or at full speed. "
        "Times: RFC 3339 (2026-11-21T10:00:00Z), Unix seconds, now, or before now (-30s, -15m, -2h, -1d).",
    )
    replay.add_argument("--since", required=True, help="start of the window, inclusive")
    replay.add_argument("--until", default="now", help="end of the window, exclusive (default: now)")
    replay.add_argument("--instruments", help="only these, comma-separated (e.g. EUR_USD,USD_JPY)")
    replay.add_argument("--sources", help="only these source ids, comma-separated")
    replay.add_argument(
        "--to",
        choices=[output.value for output in OutputFormat],
        default=OutputFormat.STDOUT.value,
        help="nats: republish on <subject-prefix>.<source>.ticks; stdout: readable lines; jsonl, csv: one tick "
        "per line (default: stdout)",
    )
    replay.add_argument("--speed", default="max", help="max, or a factor of the original pace: 1, 10, ...")
    replay.add_argument("--subject-prefix", default=DEFAULT_SUBJECT_PREFIX, help="for --to nats (default: replay)")
    replay.add_argument("--output", type=Path, help="file for --to jsonl or csv (default: standard output)")
    replay.add_argument("--config", type=Path, help="take Kafka and NATS settings from this config file")
    replay.add_argument("--bootstrap", help="Kafka bootstrap servers, HOST:PORT[,...] (overrides --config)")
    replay.add_argument(
        "--spool",
        type=Path,
        help="read a gateway's spool directory instead of Kafka (when there is no Kafka to read)",
    )
    replay.add_argument("--topic", help=f"ticks topic (overrides --config; default: {DEFAULT_TICKS_TOPIC})")
    replay.add_argument("--nats-url", help="overrides nats.url of --config, then $NATS_URL")
    replay.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds Kafka or NATS may stay silent before the replay fails (default: {DEFAULT_TIMEOUT_S:g})",
    )
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    # A relative time such as -15m must be taken as a value, not as an unknown option.
    replay._negative_number_matcher = RELATIVE_TIME
    replay.set_defaults(handler=_replay)


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    return _serve(lambda: _run_gateway(config, args.nats_url, show_status=args.status))


def _serve(main_coroutine: Callable[[], Coroutine[Any, Any, None]]) -> int:
    uvloop.run(main_coroutine())
    return 0


async def _run_gateway(
    config: GatewayConfig, nats_url: str | None, *, show_status: bool, duration_s: float = 0.0
) -> None:
    """Run until SIGINT/SIGTERM (or ``duration_s``), then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    gateway = Gateway(config, nats_url)
    await gateway.start()
    status_task = asyncio.create_task(_print_status(gateway), name="status-line") if show_status else None
    try:
        await asyncio.wait_for(stop.wait(), duration_s or None)
    except TimeoutError:
        pass
    finally:
        if status_task is not None:
            status_task.cancel()
            await asyncio.gather(status_task, return_exceptions=True)
        await gateway.stop()
        if show_status:
            print(file=sys.stderr)


async def _print_status(gateway: Gateway) -> None:
    line = StatusLine()
    line.render(gateway, now_ns())  # the baseline for the first interval's rates
    interactive = sys.stderr.isatty()
    while True:
        await asyncio.sleep(STATUS_INTERVAL_S)
        text = line.render(gateway, now_ns())
        print(f"\r\x1b[K{text}" if interactive else text, end="" if interactive else "\n", file=sys.stderr, flush=True)


def demo_config(replay_data: Path | None, rate: float) -> GatewayConfig:
    """Two simulated brokers quoting one market with different priorities and, when data is there, a replay.

    The simulated brokers share USD_JPY, GBP_USD and AUD_USD, so their best price shows priority and
    spread at work; the 2014 replay has EUR_USD to itself, since a real market of 2014 and a random walk
    of today would cross each other all the time.
    """
    common = {"kind": "simulated", "ticks_per_second": rate, "instruments": ["USD_JPY", "GBP_USD", "AUD_USD"]}
    brokers: list[dict[str, object]] = [
        {"id": "sim-primary", "priority": 20, "seed": 1, "bad_tick_ratio": 0.01, **common},
        {"id": "sim-backup", "priority": 10, "seed": 2, "spread_factor": 1.3, **common},
    ]
    if replay_data is not None:
        brokers.append(
            {
                "id": "replay-eurusd",
                "kind": "replay",
                "priority": 0,
                "path": str(replay_data),
                "instruments": ["EUR_USD"],
                "speed": DEMO_REPLAY_SPEED,
                "loop": True,
            }
        )
    return parse_config({"instance_id": "fxgw-demo", "http": {"port": 0}, "brokers": brokers}, "demo")


def _demo(args: argparse.Namespace) -> int:
    replay_data: Path | None = args.replay_data
    if replay_data is not None and not replay_data.is_dir():
        print(f"replay source skipped: no quote files at {replay_data} (pass --replay-data FOLDER)", file=sys.stderr)
        replay_data = None
    config = demo_config(replay_data, args.rate)
    with NatsServer() as server:
        print(f"NATS is at {server.url}", file=sys.stderr)
        print(f"Watch it:   fxgw tail 'market.>' --url {server.url}", file=sys.stderr)
        subjects = "market.<source>.ticks, market.best.ticks, market.rejected, market.<source>.status"
        print(f"Subjects:   {subjects}", file=sys.stderr)
        print("Ctrl-C stops the demo.", file=sys.stderr)
        return _serve(lambda: _run_gateway(config, server.url, show_status=True, duration_s=args.duration))


def _tail(args: argparse.Namespace) -> int:
    async def tail() -> None:
        client = await connect_nats(args.url, name="fxgw-tail", connect_timeout_s=TAIL_CONNECT_TIMEOUT_S)
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, done.set)
        received = 0

        async def show(message: Msg) -> None:
            nonlocal received
            for text in describe(message.subject, message.headers, message.data):
                print(text, flush=True)
            received += 1
            if args.count and received >= args.count:
                done.set()

        await client.subscribe(args.subject, cb=show)
        await done.wait()
        await client.drain()

    return _serve(tail)


def _replay(args: argparse.Namespace) -> int:
    request = _replay_request(args)
    if args.output is not None and request.output not in (OutputFormat.JSONL, OutputFormat.CSV):
        raise ConfigError(f"--output is for --to jsonl or csv, not --to {request.output.value}")
    progress = None if args.quiet or not sys.stderr.isatty() else _progress_bar
    with _replay_output(args.output) as stream:
        stats = uvloop.run(run_replay(request, stream, progress))
    print(stats.summary(), file=sys.stderr)
    return 0


def _replay_request(args: argparse.Namespace) -> ReplayRequest:
    """Options first, then the config file, then defaults."""
    config = load_config(args.config) if args.config is not None else None
    kafka = config.kafka if config is not None else KafkaConfig()
    nats_url = args.nats_url or (
        config.nats.url if config is not None else os.environ.get("NATS_URL", DEFAULT_NATS_URL)
    )
    if re.fullmatch(SUBJECT_TOKEN, args.subject_prefix) is None:
        raise ConfigError(f"--subject-prefix: {args.subject_prefix!r} is not a subject prefix such as replay")
    if not args.timeout > 0:
        raise ConfigError(f"--timeout: {args.timeout:g} is not a positive number of seconds")
    now = now_ns()
    return ReplayRequest(
        since_ns=parse_replay_time(args.since, now, "--since"),
        until_ns=parse_replay_time(args.until, now, "--until"),
        bootstrap_servers=args.bootstrap or kafka.bootstrap_servers,
        topic=args.topic or kafka.ticks_topic,
        instruments=parse_names(args.instruments, "--instruments", INSTRUMENT_PATTERN),
        sources=parse_names(args.sources, "--sources"),
        speed=parse_speed(args.speed),
        output=OutputFormat(args.to),
        nats_url=nats_url,
        subject_prefix=args.subject_prefix,
        timeout_s=args.timeout,
        spool_dir=_replay_spool(args),
    )


def _replay_spool(args: argparse.Namespace) -> Path | None:
    if args.spool is not None and args.bootstrap is not None:
        raise ConfigError("give --spool or --bootstrap, not both")
    return args.spool


def _progress_bar(total_records: int) -> Progress:
    return tqdm(total=total_records or None, unit=" records", desc="replay", file=sys.stderr, leave=False)


def _replay_output(path: Path | None) -> contextlib.AbstractContextManager[TextIO]:
    if path is None:
        return contextlib.nullcontext(sys.stdout)
    try:
        return path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"--output {path}: cannot write ({exc.strerror})") from exc


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(f"{args.file}: valid. instance {config.instance_id}, NATS {config.nats.url}")
    for broker in config.brokers:
        state = "enabled" if broker.enabled else "disabled"
        print(f"  {broker.id}: {broker.kind}, priority {broker.priority}, {state}, {', '.join(broker.instruments)}")
        for variable in _environment_variables(broker):
            if variable not in os.environ:
                print(f"    note: environment variable {variable} is not set here")
    return 0


def _environment_variables(broker: object) -> list[str]:
    names = [getattr(broker, "token_env", None), getattr(broker, "account_id_env", None)]
    return [name for name in names if name]


if __name__ == "__main__":
    sys.exit(main())
