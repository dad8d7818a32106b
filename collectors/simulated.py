"""A simulated broker: a seeded random walk with realistic spreads, no credentials needed.

The market itself is a random walk in fixed 100 ms steps whose increments depend
only on ``(market_seed, instrument, step index)``, so simulated brokers with the
same ``market_seed`` that start together (as one gateway starts them) quote the
same market, as real brokers do, whatever their rates. The walk starts at the
start price when the collector starts, so brokers started at different times,
or a restarted collector, drift apart like independent markets. Each broker adds its own spread (around the instrument's
typical spread, times ``spread_factor``) and a little noise from its own
``seed``. ``bad_tick_ratio`` injects crossed quotes and 1% spikes so the quality
gate has something to reject in demos.
"""

from __future__ import annotations

import asyncio
import math
import random
import zlib
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

from pydantic import Field, field_validator

from collectors.base import MAX_EVENTS_PER_SUBMIT, MIN_SLEEP_S, Collector, CollectorConfig
from gateway.clock import NS_PER_MS, NS_PER_S, now_ns
from gateway.events import Quote, TickSink
from gateway.instruments import default_pip_px

STEP_NS: Final = 100 * NS_PER_MS
"""Time step of the shared market walk."""
SIMULATED_LIQUIDITY: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class _Market:
    mid: float
    typical_spread_pips: float
    volatility_pips_per_s: float  # standard deviation of the mid's change over one second


MARKETS: Final = {
    "EUR_USD": _Market(1.0850, 0.8, 0.5),
    "GBP_USD": _Market(1.2700, 1.2, 0.7),
    "USD_JPY": _Market(150.20, 0.9, 0.7),
    "AUD_USD": _Market(0.6550, 1.0, 0.5),
    "USD_CHF": _Market(0.8800, 1.3, 0.5),
    "USD_CAD": _Market(1.3600, 1.5, 0.5),
    "NZD_USD": _Market(0.6000, 1.6, 0.5),
    "EUR_JPY": _Market(162.90, 1.5, 0.8),
    "EUR_GBP": _Market(0.8550, 1.1, 0.3),
    "GBP_JPY": _Market(190.70, 2.5, 1.0),
}


class SimulatedConfig(CollectorConfig):
    """A random-walk broker. ``ticks_per_second`` is the total rate over all instruments."""

    kind: Literal["simulated"] = "simulated"
    ticks_per_second: float = Field(default=10.0, gt=0, le=1_000_000)
    seed: int = Field(default=1, description="This broker's own spread and noise.")
    market_seed: int = Field(default=0, description="Brokers with the same market_seed quote the same market.")
    start_prices: dict[str, float] = Field(default_factory=dict, description="Starting mids; typical ones otherwise.")
    spread_factor: float = Field(default=1.0, gt=0, description="Multiplies every typical spread.")
    bad_tick_ratio: float = Field(default=0.0, ge=0, le=1, description="Share of deliberately bad quotes.")

    @field_validator("instruments")
    @classmethod
    def _simulated_markets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [instrument for instrument in value if instrument not in MARKETS]
        if unknown:
            raise ValueError(f"no simulated market for {', '.join(unknown)}; available: {', '.join(MARKETS)}")
        return value

    @field_validator("start_prices")
    @classmethod
    def _positive_prices(cls, value: dict[str, float]) -> dict[str, float]:
        for instrument, price in value.items():
            if instrument not in MARKETS or not (math.isfinite(price) and price > 0):
                raise ValueError(
                    f"start price {instrument}={price!r} needs a simulated instrument and a positive price"
                )
        return value


class MarketPath:
    """The shared mid of one instrument: a walk in STEP_NS steps, deterministic per step index."""

    def __init__(self, instrument: str, market_seed: int, start_mid: float, start_ns: int) -> None:
        market = MARKETS[instrument]
        self._salt = (market_seed << 32) ^ zlib.crc32(instrument.encode())
        self._step_sd = (
            market.volatility_pips_per_s * math.sqrt(STEP_NS / NS_PER_S) * default_pip_px(instrument) / NS_PER_S
        )
        self._step = start_ns // STEP_NS
        self.mid = start_mid

    def advance(self, ts_ns: int) -> float:
        """The mid at ``ts_ns`` (times only move forward)."""
        target = ts_ns // STEP_NS
        while self._step < target:
            self._step += 1
            self.mid += random.Random(self._salt ^ (self._step << 64)).gauss(0.0, self._step_sd)
        return self.mid


class RandomWalk:
    """Pure quote generator: call :meth:`next_tick` for the next quote, round-robin over instruments."""

    def __init__(self, config: SimulatedConfig, start_ns: int) -> None:
        self._config = config
        self._noise = random.Random(config.seed)
        self._instruments = config.instruments
        self._paths = {
            instrument: MarketPath(
                instrument, config.market_seed, config.start_prices.get(instrument, MARKETS[instrument].mid), start_ns
            )
            for instrument in config.instruments
        }
        self._pip = {instrument: default_pip_px(instrument) / NS_PER_S for instrument in config.instruments}
        self._pipette_px = {instrument: default_pip_px(instrument) // 10 for instrument in config.instruments}
        self._turn = 0

    def next_tick(self, ts_ns: int) -> Quote:
        """The next quote, stamped ``ts_ns`` as event and receive time."""
        instrument = self._instruments[self._turn % len(self._instruments)]
        self._turn += 1
        pip = self._pip[instrument]
        noise = self._noise
        mid = self._paths[instrument].advance(ts_ns) + noise.gauss(0.0, 0.05) * pip
        spread = max(0.3, noise.gauss(1.0, 0.15)) * MARKETS[instrument].typical_spread_pips
        half_spread = spread * self._config.spread_factor * pip / 2
        bid, ask = mid - half_spread, mid + half_spread
        if self._config.bad_tick_ratio and noise.random() < self._config.bad_tick_ratio:
            bid, ask = (ask, bid) if noise.random() < 0.5 else (bid * 1.01, ask * 1.01)
        pipette = pip / 10
        pipette_px = self._pipette_px[instrument]
        return Quote(
            instrument,
            self._config.id,
            math.floor(bid / pipette) * pipette_px,
            math.ceil(ask / pipette) * pipette_px,
            SIMULATED_LIQUIDITY,
            SIMULATED_LIQUIDITY,
            ts_ns,
            ts_ns,
        )


class SimulatedCollector(Collector[SimulatedConfig]):
    """Emits RandomWalk quotes at ``ticks_per_second``, in bursts when the rate is high.

    Each quote is stamped with its own scheduled time, as a broker stamps each price.
    """

    kind: ClassVar[str] = "simulated"

    def __init__(self, config: SimulatedConfig, sink: TickSink) -> None:
        super().__init__(config, sink)
        self._quoting = asyncio.Event()
        self._quoting.set()

    def pause(self) -> None:
        """Stop quoting (the broker goes silent; the collector keeps running) until :meth:`resume`."""
        self._quoting.clear()

    def resume(self) -> None:
        """Quote again, from now on: nothing is made up for the pause."""
        self._quoting.set()

    async def run(self) -> None:
        started_ns = now_ns()
        walk = RandomWalk(self.config, started_ns)
        rate = self.config.ticks_per_second
        emitted = 0
        while True:
            if not self._quoting.is_set():
                await self._quoting.wait()
                started_ns = now_ns() - int(emitted * NS_PER_S / rate)
            current_ns = now_ns()
            due = min(int((current_ns - started_ns) * rate / NS_PER_S) - emitted, MAX_EVENTS_PER_SUBMIT)
            if due > 0:
                ticks = [walk.next_tick(started_ns + int((emitted + i + 1) * NS_PER_S / rate)) for i in range(due)]
                await self.sink.submit(ticks)
                emitted += due
            else:
                next_due_ns = started_ns + (emitted + 1) * NS_PER_S / rate
                await asyncio.sleep(max(MIN_SLEEP_S, (next_due_ns - now_ns()) / NS_PER_S))
