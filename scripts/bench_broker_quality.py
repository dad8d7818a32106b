"""What broker quality costs the tick path: the same pipeline with and without it, in one process, alternating.

Usage (from the repository root)::

    python scripts/bench_broker_quality.py [--quick] [--data DIR]

Recorded EUR/USD quotes (parsed up front, as ``scripts/bench_pipeline.py`` does) go through the real
Pipeline (gate, best price, cycle, NatsPublisher on a stubbed NATS client) twice per run: once with the
gateway's BrokerQuality, once with a BrokerQuality whose per-tick and per-publish methods do nothing. Runs
alternate so that both see the same machine load; each figure is the minimum of the runs (CPU time of this
process per tick, ``time.process_time_ns``). Two shapes: collector-sized submits of 1,000 quotes and single-quote
submits (a quiet stream). The aggregator's time at best (one addition per reported best-price change) is in both
pipelines, so it is not in the difference.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import uvloop
from benchkit import (
    BENCH_POLICY,
    SOURCE,
    Table,
    argument_parser,
    environment,
    load_quotes,
    make_batch,
    parse_args,
    progress,
)

from gateway.aggregator import BestPriceAggregator
from gateway.broker_quality import BrokerQuality
from gateway.events import Event, Quote
from gateway.pipeline import Pipeline
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate
from tests.support import RecordingNatsClient

TARGET_US: float = 0.5
"""The most broker quality may add per tick (issue #12)."""


class Unmeasured(BrokerQuality):
    """Broker quality that does nothing on the tick path: the baseline."""

    def observe_quote(self, quote: Quote) -> None:
        return None

    def flush(self, at_least: int = 1) -> None:
        return None


def cpu_per_tick_us(quality_class: type[BrokerQuality], batches: Sequence[list[Event]], ticks: int) -> float:
    gate = QualityGate(BENCH_POLICY)
    pipeline = Pipeline(
        gate,
        BestPriceAggregator({SOURCE: 0}),
        NatsPublisher(RecordingNatsClient()),
        quality=quality_class(pip_px=gate.pip_px),
    )
    loop = uvloop.new_event_loop()

    async def feed() -> None:
        for batch in batches:
            await pipeline.submit(batch)

    try:
        started = time.process_time_ns()
        loop.run_until_complete(feed())
        used_ns = time.process_time_ns() - started
    finally:
        loop.close()
    accepted = pipeline.sources[SOURCE].accepted
    if accepted != ticks:
        raise SystemExit(f"only {accepted:,} of {ticks:,} quotes accepted: the benchmark's quotes are wrong")
    return used_ns / ticks / 1000


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argument_parser(__doc__ or "", "fewer quotes and runs"), argv)
    say = progress()
    quotes = load_quotes(args.data)
    count, runs = (20_000, 5) if args.quick else (100_000, 15)
    say(f"{len(quotes.lines):,} quotes loaded; {count:,} per run, {runs} runs per pipeline and shape")
    table = Table()
    for size, ticks in ((1000, count), (1, count // 20)):
        batches: list[list[Event]] = [
            list(make_batch(quotes, start, min(start + size, ticks))) for start in range(0, ticks, size)
        ]
        measured, baseline = [], []
        for _ in range(runs):
            measured.append(cpu_per_tick_us(BrokerQuality, batches, ticks))
            baseline.append(cpu_per_tick_us(Unmeasured, batches, ticks))
        added = min(measured) - min(baseline)
        shape = f"submits of {size:,}"
        table.row(f"{shape}: with / without broker quality", f"{min(measured):.3f} / {min(baseline):.3f} us/tick")
        note = f"<= {TARGET_US} us: {'met' if added <= TARGET_US else 'NOT met'}" if size > 1 else "per submit"
        table.row(f"{shape}: added", f"{added:+.3f} us/tick", note)
        say(f"{shape} done")
    table.show("broker quality on the tick path", environment())
    return 0


if __name__ == "__main__":
    sys.exit(main())
