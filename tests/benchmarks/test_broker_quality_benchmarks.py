"""What broker quality adds per tick: BrokerQuality.observe_quote over real EUR/USD quotes (gateway.broker_quality).

The pipeline calls it once per accepted tick; the rest of broker quality runs once a second. Compare with
``test_full_path_parse_gate_aggregate_serialize`` (the whole per-tick path, which includes this call).
"""

from __future__ import annotations

from typing import Any

from collectors.recorded_parsing import RecordedQuote
from gateway.broker_quality import BrokerQuality
from gateway.events import Quote
from gateway.instruments import default_pip_px
from tests.benchmarks.conftest import PerTick
from tests.benchmarks.test_core_benchmarks import SOURCE, _event_times, _tick, eurusd_quotes

__all__ = ["eurusd_quotes"]  # the fixture, shared


def test_observe_quote_of_real_quotes(benchmark: Any, per_tick: PerTick, eurusd_quotes: list[RecordedQuote]) -> None:
    """observe_quote for every quote, two sources alternating (as a gateway with two brokers sees them)."""
    ticks: list[Quote] = []
    for index, (quote, ts) in enumerate(zip(eurusd_quotes, _event_times(len(eurusd_quotes)), strict=True)):
        tick = _tick(quote, f"{SOURCE}-{index % 2}", ts)
        tick.ts_recv_ns += 1_000_000 + index % 7 * 100_000  # ages of 1 to 1.6 ms
        ticks.append(tick)

    def fresh() -> tuple[tuple[BrokerQuality], dict[str, Any]]:
        return (BrokerQuality(pip_px=default_pip_px),), {}

    def observe_all(quality: BrokerQuality) -> BrokerQuality:
        observe = quality.observe_quote
        for tick in ticks:
            observe(tick)
        return quality

    quality = benchmark.pedantic(observe_all, setup=fresh, rounds=30, warmup_rounds=2)

    report = quality.report(ticks[-1].ts_recv_ns)
    assert sum(source.age_count for source in report.sources.values()) == len(ticks)
    assert all(source.negative_ages == 0 for source in report.sources.values())
    per_tick(len(ticks))
