"""Python's cyclic garbage collector set for a long-running tick path (``fxgw run``, ``fxgw aggregate``, the Kafka
writer process).

CPython collects its youngest generation after every 700 allocations of container objects, and the whole heap
every hundredth time when enough has survived since the last full collection. A gateway's heap is mostly what
its start built (modules, classes, config, collectors, the bench's loaded quotes), which lives as long as the
process and is never garbage, yet a full collection scans it all: on the event loop, between two ticks.
After the start, :func:`tune_after_start`:

- freezes every object alive (``gc.freeze``): no collection scans them again;
- raises the youngest generation's threshold to GEN0_THRESHOLD allocations. Most of a tick's containers are
  freed by reference counting at once; a collection only walks the survivors, so collecting 28 times less
  often costs little memory (peak RSS unchanged in the benchmarks) and saves the per-collection work.

Measured with ``scripts/bench_pipeline.py`` (532,903 recorded quotes, 2 CPUs, 5 December 2026; the default
collector and the tuned one alternated in one sitting): see README, "Benchmarks".
"""

from __future__ import annotations

import gc
from typing import Final

GEN0_THRESHOLD: Final = 20_000
"""Allocations of container objects between two collections of the youngest generation (CPython's default: 700)."""


def tune_after_start() -> None:
    """Freeze what the start built and collect the youngest generation less often; call once, once started."""
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
