"""Per-tick figures of the micro-benchmarks, printed after pytest-benchmark's own table.

pytest-benchmark reports the time of one round; several benchmarks run a whole
batch per round, so each records its per-tick figure with the ``per_tick`` fixture
(also kept in ``benchmark.extra_info`` for ``--benchmark-json``) and this
plugin prints them together at the end of the session.
"""

from __future__ import annotations

from typing import Any, Protocol

import pytest

PER_TICK_KEY = pytest.StashKey[list[tuple[str, dict[str, Any]]]]()


class PerTick(Protocol):
    def __call__(self, items_per_round: int, unit: str = "tick") -> None: ...


@pytest.fixture
def per_tick(request: pytest.FixtureRequest, benchmark: Any) -> PerTick:
    """``per_tick(items_per_round, unit)``: call after the benchmark to record its per-item figures.

    Divides the round statistics by ``items_per_round``. Does nothing when
    benchmarking is disabled (the default suite runs each benchmark once, as a
    smoke test, and has no statistics).
    """

    def record(items_per_round: int, unit: str = "tick") -> None:
        _record(request, benchmark, items_per_round, unit)

    return record


def _record(request: pytest.FixtureRequest, benchmark: Any, items_per_round: int, unit: str) -> None:
    metadata = benchmark.stats
    if metadata is None:
        return
    stats = metadata.stats
    figures = {
        f"us_per_{unit}_min": stats.min / items_per_round * 1e6,
        f"us_per_{unit}_median": stats.median / items_per_round * 1e6,
        f"us_per_{unit}_mean": stats.mean / items_per_round * 1e6,
        f"{unit}s_per_round": items_per_round,
        "rounds": stats.rounds,
    }
    benchmark.extra_info.update(figures)
    request.config.stash.setdefault(PER_TICK_KEY, []).append((request.node.name, figures))


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own table
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    results = config.stash.get(PER_TICK_KEY, [])
    if not results:
        return
    terminalreporter.section("per-item figures (round time / items per round)")
    width = max(len(name) for name, _ in results)
    terminalreporter.write_line(f"{'benchmark':<{width}}  {'min us':>8}  {'median us':>9}  {'mean us':>8}  per")
    for name, figures in results:
        unit = next(key for key in figures if key.endswith("_min"))[len("us_per_") : -len("_min")]
        terminalreporter.write_line(
            f"{name:<{width}}  {figures[f'us_per_{unit}_min']:8.3f}  {figures[f'us_per_{unit}_median']:9.3f}  "
            f"{figures[f'us_per_{unit}_mean']:8.3f}  {unit} ({figures[f'{unit}s_per_round']:,} per round, "
            f"{figures['rounds']} rounds)"
        )
