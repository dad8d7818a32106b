"""Poll cost of each external collector: CPU ms to parse its recorded answer and judge what changed.

Usage (from the repository root)::

    python scripts/bench_external.py [--quick]

For every registered external collector's recorded answers (its ``bench_samples``, scripts/external_samples.py),
on this process's CPU clock (``time.process_time``), repeated until ``MIN_CPU_S`` of CPU or ``MAX_REPEATS``:

- parse: ``collector.parse(response, recv_ns)`` alone (bytes in, validated items out);
- first poll: parse, then ``publish`` with an empty change tracker (every item NEW: checks, diff, field texts,
  envelopes, the hand-over to a sink that only counts);
- steady poll: parse, then ``publish`` when the tracker already holds them (every item unchanged: the cost of
  a poll that finds nothing new, which is almost every poll).

No HTTP and no state file: what is measured is the CPU a poll costs the gateway's event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from benchkit import Table, environment
from external_samples import Sample, load_samples

from collectors.external.changes import ChangeTracker
from gateway.clock import now_ns
from gateway.events import StatusChange
from gateway.schema.market.v1.market_pb2 import ExternalData

MIN_CPU_S: Final = 1.0
QUICK_MIN_CPU_S: Final = 0.2
MAX_REPEATS: Final = 2000


class CountingSink:
    """An ExternalSink that only counts: the benchmark measures the collector, not a publisher."""

    def __init__(self) -> None:
        self.messages = 0

    async def publish_external(self, messages: Sequence[ExternalData]) -> None:
        self.messages += len(messages)

    async def report_status(self, source: str, change: StatusChange) -> None:
        return None


async def cpu_ms(work: Callable[[], Awaitable[None]], min_cpu_s: float) -> tuple[float, int]:
    """Mean CPU milliseconds of ``work`` and how often it ran (until ``min_cpu_s`` of CPU or MAX_REPEATS)."""
    repeats = 0
    start = time.process_time()
    while repeats < MAX_REPEATS and (time.process_time() - start < min_cpu_s or repeats < 3):
        await work()
        repeats += 1
    return (time.process_time() - start) / repeats * 1e3, repeats


async def measure(sample: Sample, min_cpu_s: float) -> tuple[int, int, float, float, float]:
    """(items, problems, parse ms, first poll ms, steady poll ms) of one sample."""
    collector, response = sample.collector, sample.response
    recv_ns = now_ns()
    parsed = collector.parse(response, recv_ns)

    async def parse() -> None:
        collector.parse(response, recv_ns)

    async def first_poll() -> None:
        collector.tracker = ChangeTracker(collector.source_id, collector.kind, None, collector.config.max_items)
        await collector.publish(collector.parse(response, recv_ns).items, recv_ns)

    async def steady_poll() -> None:
        await collector.publish(collector.parse(response, recv_ns).items, recv_ns)

    parse_ms, _ = await cpu_ms(parse, min_cpu_s)
    first_ms, _ = await cpu_ms(first_poll, min_cpu_s)
    steady_ms, _ = await cpu_ms(steady_poll, min_cpu_s)
    return len(parsed.items), len(parsed.problems), parse_ms, first_ms, steady_ms


async def run(min_cpu_s: float) -> Table:
    samples = load_samples(lambda source: CountingSink())
    table = Table()
    for sample in samples.found:
        items, problems, parse_ms, first_ms, steady_ms = await measure(sample, min_cpu_s)
        size = len(sample.response.body)
        table.row(
            sample.name,
            f"{parse_ms:7.3f} / {first_ms:7.3f} / {steady_ms:7.3f} ms",
            f"{size:,} bytes, {items} items, {problems} refused",
        )
    for kind in samples.without:
        table.row(kind, "not polled over HTTP, or no recorded answer (bench_samples)", "")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MIN_CPU_S:g} s of CPU per figure")
    args = parser.parse_args(argv)
    table = asyncio.run(run(QUICK_MIN_CPU_S if args.quick else MIN_CPU_S))
    table.show(
        "external collectors: CPU per poll, parse / first poll (all new) / steady poll (nothing new)",
        environment(),
        "the answer",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
