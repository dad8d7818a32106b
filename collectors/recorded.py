"""Plays recorded OANDA quote files as a live source (``kind: recorded``; ``replay`` is accepted as an alias).

Files are OANDA's historical tick dumps: ``YYYYMMDD_quote.zip`` (or ``.csv``)
holding headerless lines ``milliseconds_since_midnight_UTC,bid,ask``. They are
played in date order at the recorded pace, ``speed`` times faster, or as fast
as the pipeline takes them (``max``). Event and receive times are stamped at
emission, so the gate and the aggregator treat the source as a live broker;
the recorded times only drive the pacing. A line becomes a quote in
collectors.recorded_parsing (compiled). (Replaying what the gateway published,
from Kafka, is another thing: gateway.kafka.)
"""

from __future__ import annotations

import asyncio
import calendar
import io
import logging
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final, Literal, cast

from pydantic import field_validator, model_validator

from collectors.base import MAX_EVENTS_PER_SUBMIT, MIN_SLEEP_S, Collector, PlaybackConfig, bad_input
from collectors.recorded_parsing import MS_PER_DAY, parse_quote_line
from gateway.clock import NS_PER_MS, NS_PER_S, now_ns
from gateway.errors import ConfigError, InputError, MalformedInputError
from gateway.events import BadInput, Event, Quote
from gateway.pacing import Pacer
from gateway.schema.market.v1.market_pb2 import RejectionReason

if TYPE_CHECKING:
    from gateway.validation.series import TickSeries

logger = logging.getLogger(__name__)

FILE_NAME: Final = re.compile(r"(\d{4})(\d{2})(\d{2})_quote\.(zip|csv)")
DAY_NS: Final = MS_PER_DAY * NS_PER_MS


def quote_files(path: Path) -> list[tuple[Path, int]]:
    """The quote files at ``path`` (a file or a folder) in date order, with each day's start in ns."""
    candidates = sorted(path.iterdir()) if path.is_dir() else [path]
    files = []
    for candidate in candidates:
        match = FILE_NAME.fullmatch(candidate.name)
        if match:
            day = calendar.timegm((int(match[1]), int(match[2]), int(match[3]), 0, 0, 0))
            files.append((candidate, day * NS_PER_S))
    if not files:
        raise ConfigError(f"{path}: no quote files named YYYYMMDD_quote.zip or YYYYMMDD_quote.csv")
    return files


def read_lines(path: Path) -> Iterator[bytes]:
    """Non-empty lines of a quote file; a zip holds exactly one CSV."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if len(names) != 1:
                raise MalformedInputError(f"{path}: expected one CSV in the zip, found {len(names)}")
            with archive.open(names[0]) as member:
                yield from (
                    line.rstrip(b"\r\n") for line in io.BufferedReader(cast(io.RawIOBase, member)) if line.strip()
                )
    else:
        with path.open("rb") as handle:
            yield from (line.rstrip(b"\r\n") for line in handle if line.strip())


@dataclass(frozen=True, slots=True)
class RecordedWindow:
    """The quotes of a window (``fxgw validate``), and how many lines could not be read (not silently dropped)."""

    series: TickSeries
    bad_lines: int


def read_window(path: Path, instrument: str, since_ns: int, until_ns: int) -> RecordedWindow:
    """The recorded quotes at ``path`` (a file or a folder) with times in ``[since_ns, until_ns)``.

    The files hold one instrument each, named by the caller. A line that does not parse is counted in
    ``bad_lines``. Raises ConfigError (gateway.validation.feeds) when the window holds too many ticks.
    """
    from gateway.validation.series import SeriesBuilder  # here: numpy only for fxgw validate, never in a gateway

    builder = SeriesBuilder(f"recorded:{path}", instrument)
    bad_lines = 0
    for file, day_start_ns in quote_files(path):
        if day_start_ns >= until_ns or day_start_ns + DAY_NS <= since_ns:
            continue
        for line in read_lines(file):
            try:
                quote = parse_quote_line(line, day_start_ns)
            except InputError:
                bad_lines += 1
                continue
            if since_ns <= quote.ts_ns < until_ns:
                builder.add(quote.ts_ns, quote.bid_px, quote.ask_px)
    return RecordedWindow(builder.series(), bad_lines)


class RecordedConfig(PlaybackConfig):
    """Recorded quote files played as a source; ``speed`` is a multiple of real time or ``max``."""

    kind: Literal["recorded"] = "recorded"

    @model_validator(mode="after")
    def _enabled_path_exists(self) -> RecordedConfig:
        """A disabled source may point at files that are not on this machine."""
        if self.enabled and not self.path.exists():
            raise ValueError(f"path {str(self.path)!r} does not exist")
        return self

    @field_validator("instruments")
    @classmethod
    def _one_instrument(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) != 1:
            raise ValueError("a recorded source plays one instrument: list exactly one")
        return value


class RecordedCollector(Collector[RecordedConfig]):
    """Plays quote files into the pipeline at the configured pace."""

    kind: ClassVar[str] = "recorded"

    async def run(self) -> None:
        files = quote_files(self.config.path)
        while True:
            for path, day_start_ns in files:
                try:
                    await self._play(path, day_start_ns)
                except (OSError, zipfile.BadZipFile, MalformedInputError) as exc:
                    await self._report_unreadable(path, exc)
            if not self.config.loop:
                return

    async def _report_unreadable(self, path: Path, exc: Exception) -> None:
        """A file that cannot be read is published as one MALFORMED rejection; the others are played."""
        logger.error("%s: skipping %s: %s", self.config.id, path, exc)
        detail = f"{path.name}: cannot be read: {exc}"
        await self.sink.submit(
            [
                BadInput(
                    self.config.id,
                    RejectionReason.REJECTION_REASON_MALFORMED,
                    detail,
                    b"",
                    now_ns(),
                    self.config.instruments[0],
                )
            ]
        )

    async def _play(self, path: Path, day_start_ns: int) -> None:
        speed = self.config.speed
        pacer = None if speed == "max" else Pacer(float(speed), clock_ns=time.perf_counter_ns)
        source = self.config.id
        instrument = self.config.instruments[0]
        batch: list[Event] = []
        for line in read_lines(path):
            received_ns = now_ns()
            try:
                quote = parse_quote_line(line, day_start_ns)
            except InputError as exc:
                batch.append(bad_input(exc, source, received_ns, detail=f"{path.name}: {exc}", instrument=instrument))
                continue
            if pacer is not None:
                wait_ns = pacer.ahead_ns(quote.ts_ns)
                if wait_ns > 0 or len(batch) >= MAX_EVENTS_PER_SUBMIT:
                    if batch:
                        await self.sink.submit(batch)
                        batch = []
                    if wait_ns > 0:
                        await asyncio.sleep(max(MIN_SLEEP_S, wait_ns / NS_PER_S))
                    received_ns = now_ns()
            batch.append(Quote(instrument, source, quote.bid_px, quote.ask_px, 0, 0, received_ns, received_ns))
            if len(batch) >= MAX_EVENTS_PER_SUBMIT:
                await self.sink.submit(batch)
                batch = []
        if batch:
            await self.sink.submit(batch)
