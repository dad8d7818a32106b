"""collectors.simulated: the seeded random-walk broker (RandomWalk) and its config."""

from __future__ import annotations

import asyncio
import math
import re

import pytest
from pydantic import ValidationError

from collectors.simulated import MARKETS, RandomWalk, SimulatedCollector, SimulatedConfig
from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.events import Quote
from gateway.instruments import default_pip_px
from tests.support import RecordingSink

T0 = 1_700_000_000 * NS_PER_S
ALL_MARKETS = tuple(MARKETS)


def config(**fields: object) -> SimulatedConfig:
    return SimulatedConfig(**{"id": "sim", **fields})  # type: ignore[arg-type]


def run(walk: RandomWalk, count: int, step_ms: int = 50, start_ns: int = T0) -> list[Quote]:
    return [walk.next_tick(start_ns + i * step_ms * NS_PER_MS) for i in range(count)]


def mid_pips(tick: Quote) -> float:
    return (tick.bid_px + tick.ask_px) / 2 / default_pip_px(tick.instrument)


def test_same_config_and_start_give_the_same_quotes() -> None:
    settings = config(seed=7, market_seed=3, instruments=("EUR_USD", "USD_JPY"))
    first = run(RandomWalk(settings, T0), 400)
    second = run(RandomWalk(settings, T0), 400)
    assert first == second
    assert len({(t.bid_px, t.ask_px) for t in first}) > 100  # and they do move


def test_different_seed_gives_different_quotes() -> None:
    first = run(RandomWalk(config(seed=1), T0), 100)
    second = run(RandomWalk(config(seed=2), T0), 100)
    assert [(t.bid_px, t.ask_px) for t in first] != [(t.bid_px, t.ask_px) for t in second]


@pytest.mark.parametrize("instruments", [("EUR_USD",), ("USD_JPY", "EUR_GBP"), ALL_MARKETS], ids=["one", "two", "all"])
def test_brokers_with_the_same_market_seed_quote_mids_within_a_pip_of_each_other(
    instruments: tuple[str, ...],
) -> None:
    # 10 simulated seconds at the same timestamps; spreads and noise differ, the market does not.
    first = run(RandomWalk(config(seed=1, market_seed=9, instruments=instruments), T0), 200 * len(instruments))
    second = run(
        RandomWalk(config(seed=2, market_seed=9, instruments=instruments, spread_factor=2.0), T0),
        200 * len(instruments),
    )
    for a, b in zip(first, second, strict=True):
        assert a.instrument == b.instrument
        assert abs(mid_pips(a) - mid_pips(b)) < 1.0


def test_brokers_with_the_same_market_seed_agree_whatever_their_rate() -> None:
    fast = RandomWalk(config(seed=1, market_seed=4), T0)
    slow = RandomWalk(config(seed=2, market_seed=4), T0)
    fast_ticks = {tick.ts_event_ns: tick for tick in run(fast, 1_000, step_ms=10)}
    for tick in run(slow, 20, step_ms=500):
        assert abs(mid_pips(tick) - mid_pips(fast_ticks[tick.ts_event_ns])) < 1.0


def test_a_broker_started_later_starts_its_walk_at_the_start_price() -> None:
    # Documented: the walk starts where the collector starts, so a late or restarted broker begins at the
    # start price rather than where an earlier broker's market has wandered to.
    late_ns = T0 + 30 * 60 * NS_PER_S
    late = RandomWalk(config(seed=2, market_seed=7, start_prices={"EUR_USD": 1.2}), late_ns)
    assert abs(mid_pips(late.next_tick(late_ns)) - 12_000) < 1.0


def test_different_market_seeds_are_different_markets() -> None:
    first = run(RandomWalk(config(seed=1, market_seed=1), T0), 200, step_ms=500)
    second = run(RandomWalk(config(seed=1, market_seed=2), T0), 200, step_ms=500)
    assert max(abs(mid_pips(a) - mid_pips(b)) for a, b in zip(first, second, strict=True)) > 1.0


@pytest.mark.parametrize(
    ("seed", "spread_factor"),
    [
        pytest.param(1, 1.0, id="typical_spread"),
        pytest.param(2, 0.01, id="hundredth_of_typical_spread"),
        pytest.param(3, 25.0, id="wide_spread"),
    ],
)
def test_clean_quotes_are_never_crossed_or_locked_and_sit_on_the_pipette_grid(seed: int, spread_factor: float) -> None:
    walk = RandomWalk(config(seed=seed, instruments=ALL_MARKETS, spread_factor=spread_factor), T0)
    for tick in run(walk, 3_000, step_ms=10):
        pipette_px = default_pip_px(tick.instrument) // 10
        assert 0 < tick.bid_px < tick.ask_px
        assert tick.bid_px % pipette_px == 0
        assert tick.ask_px % pipette_px == 0


@pytest.mark.parametrize("instrument", ALL_MARKETS)
def test_quotes_start_at_the_typical_mid_with_a_plausible_spread(instrument: str) -> None:
    tick = RandomWalk(config(instruments=(instrument,)), T0).next_tick(T0)
    pip_px = default_pip_px(instrument)
    typical_mid_pips = MARKETS[instrument].mid * 1e9 / pip_px
    assert abs(mid_pips(tick) - typical_mid_pips) < 1.0
    assert 0 < (tick.ask_px - tick.bid_px) / pip_px < 4 * MARKETS[instrument].typical_spread_pips + 0.2


def test_configured_start_price_is_the_starting_mid() -> None:
    tick = RandomWalk(config(start_prices={"EUR_USD": 1.2}), T0).next_tick(T0)
    assert abs(mid_pips(tick) - 12_000.0) < 1.0


def test_quotes_go_round_robin_over_instruments_and_carry_the_broker_fields() -> None:
    walk = RandomWalk(config(id="sim-b", instruments=("EUR_USD", "USD_JPY", "GBP_USD")), T0)
    ticks = run(walk, 6, step_ms=100)
    assert [t.instrument for t in ticks] == ["EUR_USD", "USD_JPY", "GBP_USD"] * 2
    for i, tick in enumerate(ticks):
        assert tick.source == "sim-b"
        assert tick.ts_event_ns == tick.ts_recv_ns == T0 + i * 100 * NS_PER_MS
        assert tick.tradeable is True
        assert tick.bid_liquidity == tick.ask_liquidity == 1_000_000


def test_every_quote_is_bad_when_the_bad_tick_ratio_is_one() -> None:
    walk = RandomWalk(config(bad_tick_ratio=1.0), T0)
    ticks = run(walk, 400)
    crossed = [t for t in ticks if t.bid_px > t.ask_px]
    spikes = [t for t in ticks if t.bid_px < t.ask_px]
    assert crossed and spikes
    assert len(crossed) + len(spikes) == len(ticks)
    for tick in spikes:  # 1% above a market that hardly moves in 20 s
        assert mid_pips(tick) > MARKETS["EUR_USD"].mid * 1.005 * 10_000


def test_some_quotes_are_bad_at_a_small_bad_tick_ratio() -> None:
    ticks = run(RandomWalk(config(bad_tick_ratio=0.1), T0), 1_000)
    crossed = sum(t.bid_px > t.ask_px for t in ticks)
    assert 0 < crossed < 200


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"instruments": ("XAU_USD",)}, "no simulated market for XAU_USD; available: EUR_USD", id="metal"),
        pytest.param({"instruments": ("EUR_USD", "USD_TRY")}, "no simulated market for USD_TRY", id="exotic_pair"),
        pytest.param({"instruments": ("EURUSD",)}, "not of the form BASE_QUOTE", id="bad_name"),
        pytest.param({"instruments": ()}, "at least 1 item", id="no_instruments"),
        pytest.param({"start_prices": {"EUR_USD": -1.0}}, "start price EUR_USD=-1.0", id="negative_start_price"),
        pytest.param({"start_prices": {"EUR_USD": 0.0}}, "start price EUR_USD=0.0", id="zero_start_price"),
        pytest.param({"start_prices": {"EUR_USD": math.nan}}, "start price EUR_USD=nan", id="nan_start_price"),
        pytest.param({"start_prices": {"EUR_USD": math.inf}}, "start price EUR_USD=inf", id="inf_start_price"),
        pytest.param({"start_prices": {"XAU_USD": 1900.0}}, "start price XAU_USD=1900.0", id="start_price_of_metal"),
        pytest.param({"ticks_per_second": 0}, "greater than 0", id="zero_rate"),
        pytest.param({"spread_factor": 0}, "greater than 0", id="zero_spread_factor"),
        pytest.param({"bad_tick_ratio": 1.5}, "less than or equal to 1", id="bad_tick_ratio_above_one"),
        pytest.param({"bad_tick_ratio": -0.1}, "greater than or equal to 0", id="negative_bad_tick_ratio"),
        pytest.param({"id": "best"}, "reserved", id="reserved_id"),
        pytest.param({"speed": 2}, "Extra inputs are not permitted", id="unknown_key"),
    ],
)
def test_invalid_simulated_config_is_rejected_with_a_reason(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        config(**fields)


def test_valid_config_keeps_its_values() -> None:
    settings = config(
        instruments=["EUR_USD", "USD_JPY"], ticks_per_second=250, seed=5, market_seed=6, start_prices={"USD_JPY": 151.5}
    )
    assert settings.instruments == ("EUR_USD", "USD_JPY")
    assert (settings.kind, settings.ticks_per_second, settings.seed, settings.market_seed) == ("simulated", 250, 5, 6)
    assert settings.start_prices == {"USD_JPY": 151.5}


# -- the collector, against a sink that records what it hands over ---------------------------------------


async def test_simulated_broker_emits_its_instruments_at_its_rate_in_bursts() -> None:
    sink = RecordingSink(wanted=300)
    config = SimulatedConfig(id="sim", kind="simulated", instruments=("EUR_USD", "USD_JPY"), ticks_per_second=5000)
    task = asyncio.create_task(SimulatedCollector(config, sink).run(), name="simulated")
    try:
        await asyncio.wait_for(sink.enough.wait(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    quotes = [e for e in sink.events if isinstance(e, Quote)]
    assert {q.instrument for q in quotes} == {"EUR_USD", "USD_JPY"}
    assert sink.batches < len(quotes)  # at 5,000/s several quotes share a hand-over
    event_times = [q.ts_event_ns for q in quotes]
    assert event_times == sorted(event_times) and len(set(event_times)) == len(event_times)
