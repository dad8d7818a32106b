"""``fxgw``: run the gateway, try it out, watch its subjects, replay ticks from Kafka, check a config.

Exit codes: 0 success, 1 runtime failure (NATS unreachable, ...), 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, TextIO

import uvloop
from nats.aio.msg import Msg
from tqdm import tqdm

from gateway.aggregate.config import AggregateConfig, load_aggregate_config
from gateway.aggregate.service import AggregatorService
from gateway.app import Gateway
from gateway.clock import NS_PER_MS, NS_PER_S, now_ns, parse_time_ns
from gateway.config import (
    DEFAULT_NATS_URL,
    SUBJECT_TOKEN,
    TOPIC_NAME,
    GatewayConfig,
    KafkaConfig,
    load_config,
    parse_config,
)
from gateway.echo import clip, shown
from gateway.errors import ConfigError, GatewayError, InputError, ReplayError
from gateway.gc_tuning import tune_after_start
from gateway.instruments import INSTRUMENT_PATTERN
from gateway.kafka.records import DEFAULT_TICKS_TOPIC
from gateway.kafka.replay.request import (
    DEFAULT_SUBJECT_PREFIX,
    DEFAULT_TIMEOUT_S,
    ECHO_CHARS,
    MAX_SPEED,
    MAX_SUBJECT_PREFIX_CHARS,
    MAX_TIMEOUT_S,
    MIN_SPEED,
    MIN_TIMEOUT_S,
    OutputFormat,
    ReplayRequest,
)
from gateway.kafka.replay.run import Progress, run_replay
from gateway.logs import configure_logging
from gateway.nats_connect import connect_nats
from gateway.nats_server import NatsServer
from gateway.ops.status_line import StatusLine
from gateway.secrets import display_url, redact, remember_url_credentials
from gateway.tail import describe
from gateway.wire import SOURCE_ID_PATTERN

if TYPE_CHECKING:
    from gateway.validation.feeds import FeedSpec
    from gateway.validation.series import TickSeries

logger = logging.getLogger("fxgw")

DEFAULT_REPLAY_DATA: Final = Path("../shared/data/oanda-eurusd-ticks")
STATUS_INTERVAL_S: Final = 1.0
TAIL_CONNECT_TIMEOUT_S: Final = 5.0
DEMO_REPLAY_SPEED: Final = 30
DEMO_HEARTBEAT_S: Final = 2.0
"""The demo gateway's heartbeat, and its hub's: a stopped demo gateway leaves the list within 6 s."""
EXIT_INTERRUPTED: Final = 130
"""Exit status when a second Ctrl-C cuts the shutdown short (128 + SIGINT, as shells report it)."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    configure_logging(getattr(logging, args.log_level))
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"fxgw: config error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except GatewayError as exc:
        print(f"fxgw: {redact(str(exc))}", file=sys.stderr)
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

    aggregate = commands.add_parser(
        "aggregate", help="the standalone best-price aggregator of gateways sharded by broker (run two: hot standby)"
    )
    aggregate.add_argument("--config", type=Path, default=Path("aggregate.yaml"))
    aggregate.add_argument("--nats-url", help="overrides nats.url from the config")
    aggregate.set_defaults(handler=_aggregate)

    check = commands.add_parser("check-config", help="validate a config file and summarise it")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=_check_config)

    _add_replay_parser(commands)
    _add_hub_parser(commands)
    _add_reference_parser(commands)
    _add_validate_parser(commands)
    return parser


def _add_replay_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = commands.add_parser(
        "replay",
        help="replay a time window of ticks from Kafka onto NATS or into a file",
        description="Replay the ticks whose event time is in [--since, --until) from the Kafka ticks topic, "
        "without duplicates and in event-time order, at the original pace times --speed or at full speed. "
        "Times: RFC 3339 (2026-11-21T10:00:00Z), Unix seconds, now, or before now (-30s, -15m, -2h, -1d).",
    )

    class StoreValue(argparse.Action):
        """Stores an option's value as given: argparse makes ``--option=--`` an empty list, taken back to ``--``."""

        def __call__(
            self,
            parser: argparse.ArgumentParser,
            namespace: argparse.Namespace,
            values: str | Sequence[Any] | None,
            option_string: str | None = None,
        ) -> None:
            setattr(namespace, self.dest, "--" if values == [] else values)

    replay.register("action", None, StoreValue)
    replay.add_argument("--since", required=True, help="start of the window, inclusive")
    replay.add_argument("--until", default="now", help="end of the window, exclusive (default: now)")
    replay.add_argument("--instruments", help="only these, comma-separated (e.g. EUR_USD,USD_JPY)")
    replay.add_argument("--sources", help="only these source ids, comma-separated")
    replay.add_argument(
        "--to",
        metavar="{" + ",".join(output.value for output in OutputFormat) + "}",
        default=OutputFormat.STDOUT.value,
        help="nats: republish on <subject-prefix>.<source>.ticks; stdout: readable lines; jsonl, csv: one tick "
        "per line (default: stdout)",
    )
    replay.add_argument(
        "--speed",
        default="max",
        help=f"max, or a factor of the original pace from {MIN_SPEED:g} to {MAX_SPEED:,.0f}: 1, 10, ...",
    )
    replay.add_argument("--subject-prefix", default=DEFAULT_SUBJECT_PREFIX, help="for --to nats (default: replay)")
    replay.add_argument("--output", help="file for --to jsonl or csv (default: standard output)")
    replay.add_argument("--config", help="take Kafka and NATS settings from this config file")
    replay.add_argument("--bootstrap", help="Kafka bootstrap servers, HOST:PORT[,...] (overrides --config)")
    replay.add_argument(
        "--spool", help="read a gateway's spool directory instead of Kafka (when there is no Kafka to read)"
    )
    replay.add_argument("--topic", help=f"ticks topic (overrides --config; default: {DEFAULT_TICKS_TOPIC})")
    replay.add_argument("--nats-url", help="overrides nats.url of --config, then $NATS_URL")
    replay.add_argument(
        "--timeout",
        default=f"{DEFAULT_TIMEOUT_S:g}",
        help=f"seconds Kafka or NATS may stay silent before the replay fails, {MIN_TIMEOUT_S:g} to "
        f"{MAX_TIMEOUT_S:g} (default: {DEFAULT_TIMEOUT_S:g})",
    )
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    # A relative time such as -15m must be taken as a value, not as an unknown option.
    replay._negative_number_matcher = RELATIVE_TIME

    def usage_error(message: str) -> NoReturn:
        """argparse's own errors (a missing value, an option taken for a value) as one short line, not the usage."""
        replay.exit(2, f"fxgw replay: error: {clip(message, ECHO_CHARS)} (see fxgw replay --help)\n")

    replay.error = usage_error  # type: ignore[method-assign]  # the sub-command's parser is argparse's to build
    replay.set_defaults(handler=_replay)


def _add_hub_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from central_hub.service import DEFAULT_BUCKET, DEFAULT_HEARTBEAT_S, DEFAULT_PORT

    hub = commands.add_parser(
        "hub",
        help="run the Central Hub (service registry), or list what it holds (hub ls)",
        description="Run the Central Hub: a registry of gateway instances kept in a NATS JetStream key-value "
        "bucket (nats-server -js), served over HTTP (/v1/gateways, /v1/routes, /health, /metrics).",
    )
    hub.add_argument("--nats", help="NATS URL with JetStream (default: $NATS_URL)")
    hub.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    hub.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"0 = any free port (default: {DEFAULT_PORT})")
    hub.add_argument(
        "--heartbeat-s",
        type=float,
        default=DEFAULT_HEARTBEAT_S,
        help=f"heartbeat expected of gateways; records expire after 3 (default: {DEFAULT_HEARTBEAT_S:g})",
    )
    hub.add_argument("--bucket", default=DEFAULT_BUCKET, help=f"key-value bucket (default: {DEFAULT_BUCKET})")
    hub.add_argument("--replicas", type=int, default=1, help="bucket replicas on a NATS cluster (default: 1)")
    hub.set_defaults(handler=_hub)
    actions = hub.add_subparsers(metavar="ACTION")
    listing = actions.add_parser("ls", help="print the registered gateways as a table")
    listing.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="the hub's HTTP address")
    listing.add_argument("--json", action="store_true", help="print the hub's JSON answer instead")
    listing.set_defaults(handler=_hub_ls)


def _hub(args: argparse.Namespace) -> int:
    """``fxgw hub``: serve until SIGINT/SIGTERM."""
    from central_hub.service import Hub, HubSettings

    nats_url = args.nats or os.environ.get("NATS_URL")
    if not nats_url:
        raise ConfigError("fxgw hub: give --nats URL (a nats-server with JetStream) or set NATS_URL")
    if not 0 <= args.port <= 65535 or not 0 < args.heartbeat_s <= 3600 or not 1 <= args.replicas <= 5:
        raise ConfigError("fxgw hub: --port 0-65535, --heartbeat-s above 0 up to 3600, --replicas 1-5")
    settings = HubSettings(nats_url, args.host, args.port, args.heartbeat_s, bucket=args.bucket, replicas=args.replicas)

    async def serve() -> None:
        stop = asyncio.Event()
        _on_stop_signals(stop)
        hub = Hub(settings)
        await hub.start()
        print(f"Central Hub: {hub.url}", file=sys.stderr, flush=True)
        try:
            await stop.wait()
        finally:
            await hub.stop()

    return _serve(serve)


def _hub_ls(args: argparse.Namespace) -> int:
    """``fxgw hub ls``: 0 with the table printed, 1 when the hub cannot answer."""
    import httpx

    from central_hub.models import table

    shown_url = shown(display_url(remember_url_credentials(args.url)), ECHO_CHARS)  # the URL may hold a password
    try:
        answer = httpx.get(f"{args.url.rstrip('/')}/v1/gateways", timeout=TAIL_CONNECT_TIMEOUT_S)
        answer.raise_for_status()
        body = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        print(f"fxgw hub ls: {shown_url}: {clip(redact(str(exc)), ECHO_CHARS)}", file=sys.stderr)
        return 1
    gateways = body.get("gateways") if isinstance(body, dict) else None
    if not isinstance(gateways, list):
        print(f"fxgw hub ls: {shown_url} did not answer a list of gateways", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2) if args.json else table([g for g in gateways if isinstance(g, dict)]))
    return 0


def _add_reference_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from collectors.dukascopy.fetch import DEFAULT_BASE_URL, DEFAULT_CONCURRENCY, MAX_CONCURRENCY

    reference = commands.add_parser("reference", help="historical reference data (Dukascopy)")
    actions = reference.add_subparsers(required=True, metavar="ACTION")
    fetch = actions.add_parser(
        "fetch",
        help="download Dukascopy hourly tick files for a window",
        description="Download the Dukascopy hourly tick files of [--since, --until) into DIR/SYMBOL/YYYY/MM/DD/ "
        "(0-based month, as Dukascopy). Files already there are kept; a 404 hour is counted. Times: RFC 3339, "
        "Unix seconds, now, or before now (-30s, -15m, -2h, -1d).",
    )
    fetch.add_argument("--instrument", required=True, help="e.g. EUR_USD")
    fetch.add_argument("--since", required=True, help="start of the window, inclusive")
    fetch.add_argument("--until", default="now", help="end of the window, exclusive (default: now)")
    fetch.add_argument("--dir", required=True, type=Path, help="directory of the files")
    fetch.add_argument("--base-url", default=DEFAULT_BASE_URL, help=f"default: {DEFAULT_BASE_URL}")
    fetch.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help=f"requests at once, 1 to {MAX_CONCURRENCY}"
    )
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch._negative_number_matcher = RELATIVE_TIME
    fetch.set_defaults(handler=_reference_fetch)


def _reference_fetch(args: argparse.Namespace) -> int:
    """``fxgw reference fetch``: 0 when every hour is settled (fetched, present or 404), 1 when some failed."""
    from collectors.dukascopy.fetch import FetchRequest, fetch_window
    from collectors.dukascopy.files import window_hours

    now = now_ns()
    request = FetchRequest(
        instrument=args.instrument,
        since_ns=parse_replay_time(args.since, now, "--since"),
        until_ns=parse_replay_time(args.until, now, "--until"),
        directory=args.dir,
        base_url=args.base_url,
        concurrency=args.concurrency,
    )
    bar = None
    if not args.quiet and sys.stderr.isatty():
        hours = len(window_hours(request.since_ns, request.until_ns))
        bar = tqdm(total=hours, unit=" hours", desc=f"fetch {args.instrument}", file=sys.stderr, leave=False)
    try:
        summary = uvloop.run(fetch_window(request, bar.update if bar is not None else None))
    finally:
        if bar is not None:
            bar.close()
    for failure in summary.failures[:10]:
        print(f"failed: {failure}", file=sys.stderr)
    print(summary.line(), file=sys.stderr)
    return 1 if summary.failed else 0


def _add_validate_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from gateway.validation.compare import DEFAULT_GRID_MS, DEFAULT_HOLE_S, DEFAULT_MAX_LAG_MS

    validate = commands.add_parser(
        "validate",
        help="compare a feed with a reference over a window: mid difference, spreads, lag, coverage, holes",
        description="Compare two feeds of one instrument over [--since, --until). A feed is dukascopy:DIR (Dukascopy "
        "hourly files), recorded:PATH (OANDA quote file or folder), spool:DIR#SOURCE (a source id in a gateway "
        "spool) or kafka:HOST:PORT#SOURCE (a source id on the Kafka ticks topic). Lag: positive when the source "
        "moves after the reference. Times: RFC 3339, Unix seconds, now, or before now (-30s, -15m, -2h, -1d).",
    )
    validate.add_argument("--reference", required=True, help="the feed trusted, e.g. dukascopy:data/dukascopy")
    validate.add_argument("--source", required=True, help="the feed checked, e.g. spool:spool#oanda-primary")
    validate.add_argument("--instrument", required=True, help="e.g. EUR_USD")
    validate.add_argument("--since", required=True, help="start of the window, inclusive")
    validate.add_argument("--until", required=True, help="end of the window, exclusive")
    validate.add_argument("--grid-ms", default=str(DEFAULT_GRID_MS), help=f"grid step (default {DEFAULT_GRID_MS})")
    validate.add_argument(
        "--max-lag-ms", default=str(DEFAULT_MAX_LAG_MS), help=f"lag searched either way (default {DEFAULT_MAX_LAG_MS})"
    )
    validate.add_argument(
        "--hole-s", default=f"{DEFAULT_HOLE_S:g}", help=f"a hole is a longer silence (default {DEFAULT_HOLE_S:g})"
    )
    validate.add_argument("--pip", help="pip size, e.g. 0.0001 (default: the instrument's, for currency pairs)")
    validate.add_argument("--point-size", help="Dukascopy point size, e.g. 0.001 (default: the instrument's)")
    validate.add_argument("--topic", default=DEFAULT_TICKS_TOPIC, help="ticks topic for spool: and kafka: feeds")
    validate.add_argument("--timeout", default=f"{DEFAULT_TIMEOUT_S:g}", help="seconds Kafka may stay silent")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.add_argument("--plot", help="write a PNG chart to this file")
    validate._negative_number_matcher = RELATIVE_TIME

    def usage_error(message: str) -> NoReturn:
        validate.exit(2, f"fxgw validate: error: {clip(message, ECHO_CHARS)} (see fxgw validate --help)\n")

    validate.error = usage_error  # type: ignore[method-assign]  # the sub-command's parser is argparse's to build
    validate.set_defaults(handler=_validate)


VALIDATE_LIMITS: Final = {"--grid-ms": (1, 60_000), "--max-lag-ms": (0, 600_000), "--hole-s": (1, 86_400)}
"""Ranges of ``fxgw validate``'s numeric options."""


def _validate(args: argparse.Namespace) -> int:
    """``fxgw validate``: 0 with the report printed; ConfigError (exit 2) for bad arguments or an empty feed."""
    from gateway.validation.compare import compare
    from gateway.validation.feeds import parse_feed
    from gateway.validation.report import report_json, report_table

    reference_spec = parse_feed(args.reference, "--reference")
    source_spec = parse_feed(args.source, "--source")
    instrument = args.instrument
    if INSTRUMENT_PATTERN.fullmatch(instrument) is None:
        raise ConfigError(f"--instrument: {shown(instrument, ECHO_CHARS)} is not an instrument such as EUR_USD")
    now = now_ns()
    since_ns = parse_replay_time(args.since, now, "--since")
    until_ns = parse_replay_time(args.until, now, "--until")
    if since_ns >= until_ns:
        raise ConfigError(f"the window is empty: --since {shown(args.since)} is not before --until {shown(args.until)}")
    grid_ms, max_lag_ms = (int(_validate_number(args, option)) for option in ("--grid-ms", "--max-lag-ms"))
    hole_s = _validate_number(args, "--hole-s")
    pip_px = _validate_price(args.pip, "--pip") if args.pip is not None else _default_pip(instrument)
    plot = _plot_path(args.plot) if args.plot is not None else None
    try:
        timeout_s = float(args.timeout)
    except ValueError as exc:
        raise ConfigError(f"--timeout: {shown(args.timeout, ECHO_CHARS)} is not a number of seconds") from exc
    if not MIN_TIMEOUT_S <= timeout_s <= MAX_TIMEOUT_S:
        raise ConfigError(f"--timeout: {timeout_s:g} s is out of range: {MIN_TIMEOUT_S:g} to {MAX_TIMEOUT_S:g} s")
    if re.fullmatch(TOPIC_NAME, args.topic) is None:
        raise ConfigError(
            f"--topic: {shown(args.topic, ECHO_CHARS)} is not a topic name (1 to 249 of A-Z a-z 0-9 . _ -)"
        )
    feeds = [
        _read_feed(spec, option, instrument, since_ns, until_ns, args, timeout_s)
        for spec, option in ((reference_spec, "--reference"), (source_spec, "--source"))
    ]
    report = compare(
        feeds[0],
        feeds[1],
        since_ns=since_ns,
        until_ns=until_ns,
        pip_px=pip_px,
        grid_ms=grid_ms,
        max_lag_ms=max_lag_ms,
        hole_s=hole_s,
    )
    print(report_json(report) if args.json else report_table(report))
    if plot is not None:
        from gateway.validation.plot import write_plot

        write_plot(report, feeds[0], feeds[1], plot)
        print(f"chart written to {shown(str(plot), ECHO_CHARS)}", file=sys.stderr)
    return 0


def _validate_number(args: argparse.Namespace, option: str) -> float:
    text = getattr(args, option.lstrip("-").replace("-", "_"))
    low, high = VALIDATE_LIMITS[option]
    try:
        value = float(text)
    except ValueError as exc:
        raise ConfigError(f"{option}: {shown(text, ECHO_CHARS)} is not a number") from exc
    if not low <= value <= high or (option != "--hole-s" and not value.is_integer()):
        kind = "a number" if option == "--hole-s" else "a whole number"
        raise ConfigError(f"{option}: {shown(text, ECHO_CHARS)} is not {kind} from {low:,} to {high:,}")
    return value


def _validate_price(text: str, option: str) -> int:
    from gateway.prices import parse_price

    try:
        value = parse_price(text)
    except InputError as exc:
        raise ConfigError(f"{option}: {shown(text, ECHO_CHARS)} is not a decimal size such as 0.0001") from exc
    if value <= 0:
        raise ConfigError(f"{option}: {shown(text, ECHO_CHARS)} is not positive")
    return value


def _default_pip(instrument: str) -> int:
    from gateway.instruments import default_pip_px

    try:
        return default_pip_px(instrument)
    except InputError as exc:
        raise ConfigError(f"--instrument {instrument}: no pip size is known; give --pip (e.g. --pip 0.01)") from exc


def _plot_path(text: str) -> Path:
    path = Path(text)
    try:
        usable = bool(text) and "\x00" not in text and path.parent.is_dir() and not path.is_dir()
    except (OSError, ValueError):  # a name too long, a lone surrogate
        usable = False
    if not usable:
        raise ConfigError(f"--plot: {shown(text, ECHO_CHARS)} is not a file in an existing directory")
    return path


def _read_feed(
    spec: FeedSpec,
    option: str,
    instrument: str,
    since_ns: int,
    until_ns: int,
    args: argparse.Namespace,
    timeout_s: float,
) -> TickSeries:
    """The feed's ticks in the window; collectors' readers for files, the replay's for spool and Kafka."""
    from gateway.validation.feeds import FeedKind, check_directory, read_gateway_feed

    if spec.kind is FeedKind.DUKASCOPY:
        from collectors.dukascopy.files import read_window

        point_px = _validate_price(args.point_size, "--point-size") if args.point_size is not None else None
        try:
            window = read_window(check_directory(spec, option), instrument, since_ns, until_ns, point_px)
        except InputError as exc:  # an unknown point size, a damaged file
            raise ConfigError(f"{option}: {clip(str(exc), ECHO_CHARS)}") from exc
        if window.missing_hours:
            print(
                f"{option}: {len(window.missing_hours):,} of {window.hours:,} hours have no file (not fetched?)",
                file=sys.stderr,
            )
        return window.series
    if spec.kind is FeedKind.RECORDED:
        from collectors.recorded import read_window as read_recorded

        recorded = read_recorded(check_directory(spec, option), instrument, since_ns, until_ns)
        if recorded.bad_lines:
            print(f"{option}: {recorded.bad_lines:,} lines could not be read and were left out", file=sys.stderr)
        return recorded.series
    return uvloop.run(read_gateway_feed(spec, instrument, since_ns, until_ns, topic=args.topic, timeout_s=timeout_s))


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    return _serve(lambda: _run_gateway(config, args.nats_url, show_status=args.status))


def _aggregate(args: argparse.Namespace) -> int:
    config = load_aggregate_config(args.config)
    return _serve(lambda: _run_aggregator(config, args.nats_url))


async def _run_aggregator(config: AggregateConfig, nats_url: str | None) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly (the lease is released); a second signal stops at once."""
    stop = asyncio.Event()
    _on_stop_signals(stop)
    service = AggregatorService(config, nats_url)
    await service.start()
    tune_after_start()
    try:
        await stop.wait()
    finally:
        await service.stop()


def _serve(main_coroutine: Callable[[], Coroutine[Any, Any, None]]) -> int:
    """Run ``main_coroutine`` on uvloop; 0 when it ends, 130 when a second signal cut its shutdown short."""
    try:
        uvloop.run(main_coroutine())
    except asyncio.CancelledError:
        return EXIT_INTERRUPTED
    return 0


def _on_stop_signals(stop: asyncio.Event) -> None:
    """SIGINT or SIGTERM sets ``stop`` for a clean shutdown; a second one cancels the shutdown at once, quietly."""
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()

    def on_signal() -> None:
        if stop.is_set() and main_task is not None:
            main_task.cancel()
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)


async def _run_gateway(
    config: GatewayConfig, nats_url: str | None, *, show_status: bool, duration_s: float = 0.0
) -> None:
    """Run until SIGINT/SIGTERM (or ``duration_s``), then stop cleanly; a second signal stops at once."""
    stop = asyncio.Event()
    _on_stop_signals(stop)
    gateway = Gateway(config, nats_url)
    await gateway.start()
    tune_after_start()
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
    line.render(gateway.snapshot())  # the baseline for the first interval's rates
    interactive = sys.stderr.isatty()
    while True:
        await asyncio.sleep(STATUS_INTERVAL_S)
        text = line.render(gateway.snapshot())
        print(f"\r\x1b[K{text}" if interactive else text, end="" if interactive else "\n", file=sys.stderr, flush=True)


def demo_config(recorded_data: Path | None, rate: float, hub_url: str) -> GatewayConfig:
    """Two simulated brokers quoting one market with different priorities, when data is there, recorded quotes, and
    the FX market sessions (an external collector; its state is kept in memory, so the demo leaves no file),
    registered with the Central Hub at ``hub_url``.

    The simulated brokers share USD_JPY, GBP_USD and AUD_USD, so their best price shows priority and
    spread at work; the recorded 2014 quotes have EUR_USD to themselves, since a real market of 2014 and a
    random walk of today would cross each other all the time.
    """
    common = {"kind": "simulated", "ticks_per_second": rate, "instruments": ["USD_JPY", "GBP_USD", "AUD_USD"]}
    brokers: list[dict[str, object]] = [
        {"id": "sim-primary", "priority": 20, "seed": 1, "bad_tick_ratio": 0.01, **common},
        {"id": "sim-backup", "priority": 10, "seed": 2, "spread_factor": 1.3, **common},
    ]
    if recorded_data is not None:
        brokers.append(
            {
                "id": "recorded-eurusd",
                "kind": "recorded",
                "priority": 0,
                "path": str(recorded_data),
                "instruments": ["EUR_USD"],
                "speed": DEMO_REPLAY_SPEED,
                "loop": True,
            }
        )
    external = [{"id": "sessions", "kind": "market_sessions"}]  # computed from the time-zone rules: no network
    settings = {
        "instance_id": "fxgw-demo",
        "http": {"port": 0},
        "brokers": brokers,
        "external": external,
        "central_hub": {"enabled": True, "url": hub_url, "heartbeat_interval_s": DEMO_HEARTBEAT_S},
    }
    return parse_config({**settings, "state_dir": None}, "demo")


def _demo(args: argparse.Namespace) -> int:
    replay_data: Path | None = args.replay_data
    if replay_data is not None and not replay_data.is_dir():
        print(f"recorded source skipped: no quote files at {replay_data} (pass --replay-data FOLDER)", file=sys.stderr)
        replay_data = None
    with (
        tempfile.TemporaryDirectory(prefix="fxgw-demo-js-") as store,
        NatsServer(extra_args=("-js", "-sd", store)) as server,
    ):
        print(f"NATS is at {server.url}", file=sys.stderr)
        print(f"Watch it:   fxgw tail 'market.>' --url {server.url}", file=sys.stderr)
        subjects = (
            "market.<source>.ticks, market.best.ticks, market.rejected, market.<source>.status,"
            " market.external.market_sessions"
        )
        print(f"Subjects:   {subjects}", file=sys.stderr)
        print("Ctrl-C stops the demo.", file=sys.stderr)
        return _serve(lambda: _run_demo(replay_data, args.rate, server.url, args.duration))


async def _run_demo(replay_data: Path | None, rate: float, nats_url: str, duration_s: float) -> None:
    """A Central Hub on a free port of the demo's nats-server, then the demo gateway registered with it."""
    from central_hub.service import Hub, HubSettings

    hub = Hub(HubSettings(nats_url, port=0, heartbeat_s=DEMO_HEARTBEAT_S))
    await hub.start()
    print(f"Central Hub: {hub.url}", file=sys.stderr)
    print(f"List it:    fxgw hub ls --url {hub.url}", file=sys.stderr, flush=True)
    try:
        await _run_gateway(demo_config(replay_data, rate, hub.url), nats_url, show_status=True, duration_s=duration_s)
    finally:
        await hub.stop()


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
    """Options first, then the config file, then defaults; ConfigError names the first bad option and its value."""
    config = load_config(Path(args.config)) if args.config is not None else None
    kafka = config.kafka if config is not None else KafkaConfig()
    nats_url = args.nats_url or (
        config.nats.url if config is not None else os.environ.get("NATS_URL", DEFAULT_NATS_URL)
    )
    if len(args.subject_prefix) > MAX_SUBJECT_PREFIX_CHARS or re.fullmatch(SUBJECT_TOKEN, args.subject_prefix) is None:
        raise ConfigError(
            f"--subject-prefix: {shown(args.subject_prefix, ECHO_CHARS)} is not a subject prefix such as replay "
            f"(at most {MAX_SUBJECT_PREFIX_CHARS:,} characters)"
        )
    topic = args.topic if args.topic is not None else kafka.ticks_topic
    if re.fullmatch(TOPIC_NAME, topic) is None:
        raise ConfigError(f"--topic: {shown(topic, ECHO_CHARS)} is not a topic name (1 to 249 of A-Z a-z 0-9 . _ -)")
    try:
        output = OutputFormat(args.to)
    except ValueError as exc:
        choices = ", ".join(choice.value for choice in OutputFormat)
        raise ConfigError(f"--to: {shown(args.to, ECHO_CHARS)} is not one of {choices}") from exc
    try:
        timeout_s = float(args.timeout)
    except ValueError as exc:
        raise ConfigError(f"--timeout: {shown(args.timeout, ECHO_CHARS)} is not a number of seconds") from exc
    now = now_ns()
    return ReplayRequest(
        since_ns=parse_replay_time(args.since, now, "--since"),
        until_ns=parse_replay_time(args.until, now, "--until"),
        bootstrap_servers=args.bootstrap if args.bootstrap is not None else kafka.bootstrap_servers,
        topic=topic,
        instruments=parse_names(args.instruments, "--instruments", INSTRUMENT_PATTERN),
        sources=parse_names(args.sources, "--sources", re.compile(SOURCE_ID_PATTERN)),
        speed=parse_speed(args.speed),
        output=output,
        nats_url=nats_url,
        subject_prefix=args.subject_prefix,
        timeout_s=timeout_s,
        spool_dir=_replay_spool(args),
    )


def _replay_spool(args: argparse.Namespace) -> Path | None:
    if args.spool is not None and args.bootstrap is not None:
        raise ConfigError("give --spool or --bootstrap, not both")
    return Path(args.spool) if args.spool is not None else None


def _progress_bar(total_records: int) -> Progress:
    return tqdm(total=total_records or None, unit=" records", desc="replay", file=sys.stderr, leave=False)


@contextlib.contextmanager
def _replay_output(path: str | None) -> Iterator[TextIO]:
    """Standard output, or the file ``path`` created afresh and closed at the end.

    Raises ConfigError when the file cannot be created, ReplayError when its last
    write fails on closing. When the replay fails, what standard output still
    holds is flushed, or dropped if it cannot be (a full disk), so that Python
    does not report the same failure again at exit.
    """
    if path is None:
        try:
            yield sys.stdout
        except GatewayError:
            try:
                sys.stdout.flush()
            except OSError:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise
        return
    name = shown(path, ECHO_CHARS)
    try:
        stream = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115  # closed below, errors translated
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"--output {name}: cannot write ({reason})") from exc
    try:
        yield stream
    except BaseException:
        with contextlib.suppress(OSError):  # the error that stopped the replay is the one to report
            stream.close()
        raise
    try:
        stream.close()
    except OSError as exc:
        raise ReplayError(f"--output {name}: cannot write ({exc.strerror or exc})") from exc


RELATIVE_TIME: Final = re.compile(r"-([0-9]{1,9})(ms|s|m|h|d)")
"""A time before now, such as ``-15m``; argparse must take it as a value, not as an option."""
_UNIT_NS: Final = {"ms": NS_PER_MS, "s": NS_PER_S, "m": 60 * NS_PER_S, "h": 3600 * NS_PER_S, "d": 86400 * NS_PER_S}


def parse_replay_time(text: str, now: int, name: str = "time") -> int:
    """ns since the epoch of RFC 3339, Unix seconds, ``now`` or ``-<n><ms|s|m|h|d>`` before ``now`` (not before 1970).

    Raises ConfigError naming ``name`` (the option) and the forms accepted.
    """
    if text == "now":
        return now
    relative = RELATIVE_TIME.fullmatch(text)
    if relative is not None:
        return max(0, now - int(relative[1]) * _UNIT_NS[relative[2]])
    try:
        return parse_time_ns(text)
    except InputError as exc:
        raise ConfigError(
            f"{name}: {shown(text, ECHO_CHARS)} is not a time; use RFC 3339 (2026-11-21T10:00:00Z), Unix seconds, "
            "now, or a time before now (-30s, -15m, -2h, -1d)"
        ) from exc


def parse_speed(text: str) -> float | None:
    """``max`` (None: no pacing) or a factor of the pace (ReplayRequest checks its range); raises ConfigError."""
    if text == "max":
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise ConfigError(
            f"--speed: {shown(text, ECHO_CHARS)} is neither max nor a number (1 = original pace)"
        ) from exc


def parse_names(text: str | None, name: str, pattern: re.Pattern[str] | None = None) -> frozenset[str]:
    """A comma-separated list (None or empty: no filter); each item must match ``pattern``; raises ConfigError."""
    if not text:
        return frozenset()
    names = frozenset(item.strip() for item in text.split(","))
    bad = sorted(item for item in names if not item or (pattern is not None and pattern.fullmatch(item) is None))
    if bad:
        more = f" (and {len(bad) - 1:,} more)" if len(bad) > 1 else ""
        raise ConfigError(f"{name}: {shown(bad[0], ECHO_CHARS)}{more} is not a valid name in {shown(text, ECHO_CHARS)}")
    return names


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(f"{args.file}: valid. instance {config.instance_id}, NATS {display_url(config.nats.url)}")
    hub = config.central_hub
    if hub.enabled:
        print(f"  central hub {display_url(hub.url)}, heartbeat every {hub.heartbeat_interval_s:g} s")
    for variable in config.nats.environment_variables:
        if variable not in os.environ:
            print(f"  note: environment variable {variable} (nats) is not set here")
    for broker in config.brokers:
        state = "enabled" if broker.enabled else "disabled"
        print(f"  {broker.id}: {broker.kind}, priority {broker.priority}, {state}, {', '.join(broker.instruments)}")
        for variable in broker.environment_variables:
            if variable not in os.environ:
                print(f"    note: environment variable {variable} is not set here")
    if config.external:
        print(f"  external collectors (state in {config.state_dir or 'memory only'}):")
    for collector in config.external:
        state = "enabled" if collector.enabled else "disabled"
        variables = collector.environment_variables
        keys = f", keys from {', '.join(variables)}" if variables else ", no key"
        print(f"  {collector.id}: {collector.kind}, {state}{keys}")
        for variable in variables:
            if variable not in os.environ:
                print(f"    note: environment variable {variable} is not set here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
