"""Plays a directory of Dukascopy hourly tick files as a source (``kind: dukascopy``).

The files of every configured instrument (``path/SYMBOL/YYYY/MM/DD/HHh_ticks.bi5``) are played hour by hour
in time order, the instruments of one hour merged by time, at the recorded pace, ``speed`` times faster, or
as fast as the pipeline takes them (``max``); ``loop`` starts again at the end. Times: see DukascopyConfig
(``keep_times``). A file that cannot be read or decoded is published as one rejection naming the file and
hour, and the others are played.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from collectors.base import MAX_EVENTS_PER_SUBMIT, MIN_SLEEP_S, Collector
from collectors.dukascopy.config import DukascopyConfig
from collectors.dukascopy.files import read_hour
from collectors.dukascopy.parsing import HourTicks, dukascopy_symbol, hour_of_path
from gateway.clock import NS_PER_S, now_ns
from gateway.errors import BadValueError, ConfigError, GatewayError
from gateway.events import BadInput, Event, Quote
from gateway.pacing import Pacer
from gateway.schema.market.v1.market_pb2 import RejectionReason

logger = logging.getLogger(__name__)

HourFiles = dict[int, list[tuple[str, Path]]]
"""Start of each hour (ns) -> the (instrument, file) pairs of that hour."""


def hour_files(directory: Path, instruments: tuple[str, ...]) -> HourFiles:
    """The hourly files of ``instruments`` under ``directory``, by hour; raises ConfigError when there are none."""
    hours: HourFiles = {}
    for instrument in instruments:
        for path in (directory / dukascopy_symbol(instrument)).glob("*/*/*/*h_ticks.bi5"):
            try:
                hour_start = hour_of_path((path.parts[-4], path.parts[-3], path.parts[-2], path.name))
            except ValueError:
                continue
            hours.setdefault(hour_start, []).append((instrument, path))
    if not hours:
        symbols = ", ".join(dukascopy_symbol(instrument) for instrument in instruments)
        raise ConfigError(f"{directory}: no Dukascopy files SYMBOL/YYYY/MM/DD/HHh_ticks.bi5 for {symbols}")
    return dict(sorted(hours.items()))


class DukascopyCollector(Collector[DukascopyConfig]):
    """Plays Dukascopy files into the pipeline at the configured pace."""

    kind: ClassVar[str] = "dukascopy"

    async def run(self) -> None:
        hours = hour_files(self.config.path, self.config.instruments)
        if self.config.keep_times:
            logger.warning(
                "%s: keep_times is on: ticks keep their historical times, and the quality gate rejects them as "
                "STALE unless quality.max_age_ms exceeds their age",
                self.config.id,
            )
        while True:
            speed = self.config.speed
            self._pacer = None if speed == "max" else Pacer(float(speed), clock_ns=time.perf_counter_ns)
            for files in hours.values():
                await self._play_hour(files)
            if not self.config.loop:
                return

    async def _play_hour(self, files: list[tuple[str, Path]]) -> None:
        parts: list[tuple[str, HourTicks]] = []
        for instrument, path in files:
            hour_start = hour_of_path((path.parts[-4], path.parts[-3], path.parts[-2], path.name))
            try:
                parts.append((instrument, read_hour(path, hour_start, self.config.point_px(instrument))))
            except GatewayError as exc:
                await self._report_unreadable(instrument, path, exc)
        parts = [(instrument, ticks) for instrument, ticks in parts if len(ticks)]
        if not parts:
            return
        names = np.concatenate([np.full(len(ticks), index) for index, (_, ticks) in enumerate(parts)])
        ts = np.concatenate([ticks.ts_ns for _, ticks in parts])
        order = np.argsort(ts, kind="stable")
        columns = [
            np.concatenate([getattr(ticks, column) for _, ticks in parts])[order].tolist()
            for column in ("bid_px", "ask_px", "bid_liquidity", "ask_liquidity")
        ]
        instruments = [parts[index][0] for index in names[order].tolist()]
        await self._play(instruments, ts[order].tolist(), *columns)

    async def _play(
        self,
        instruments: list[str],
        times: list[int],
        bids: list[int],
        asks: list[int],
        bid_sizes: list[int],
        ask_sizes: list[int],
    ) -> None:
        pacer = self._pacer
        keep_times = self.config.keep_times
        source = self.config.id
        batch: list[Event] = []
        for instrument, ts_ns, bid, ask, bid_size, ask_size in zip(
            instruments, times, bids, asks, bid_sizes, ask_sizes, strict=True
        ):
            if pacer is not None:
                wait_ns = pacer.ahead_ns(ts_ns)
                if wait_ns > 0:
                    if batch:
                        await self.sink.submit(batch)
                        batch = []
                    await asyncio.sleep(max(MIN_SLEEP_S, wait_ns / NS_PER_S))
            received_ns = now_ns()
            event_ns = ts_ns if keep_times else received_ns
            batch.append(Quote(instrument, source, bid, ask, bid_size, ask_size, event_ns, received_ns))
            if len(batch) >= MAX_EVENTS_PER_SUBMIT:
                await self.sink.submit(batch)
                batch = []
        if batch:
            await self.sink.submit(batch)

    async def _report_unreadable(self, instrument: str, path: Path, exc: GatewayError) -> None:
        """A file that cannot be read is published as one rejection; the others are played."""
        logger.error("%s: skipping %s: %s", self.config.id, path, exc)
        reason = (
            RejectionReason.REJECTION_REASON_BAD_VALUE
            if isinstance(exc, BadValueError)
            else RejectionReason.REJECTION_REASON_MALFORMED
        )
        await self.sink.submit([BadInput(self.config.id, reason, f"{path.name}: {exc}", b"", now_ns(), instrument)])
