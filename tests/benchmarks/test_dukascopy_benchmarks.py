"""Decode rate of Dukascopy hourly files: two real days of EURUSD (48 files, 266,219 ticks).

Run with ``pytest tests/benchmarks/test_dukascopy_benchmarks.py --benchmark-enable``; the per-tick figure is
printed after the table (see ``conftest.py``). The target is 1,000,000 ticks/s (1 us per tick) or better;
nine tenths of the time is liblzma's
(measured: 0.37 us per tick decoded, 0.34 us of it decompression).
"""

from __future__ import annotations

import lzma
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collectors.dukascopy.parsing import decode_hour, hour_of_path

if TYPE_CHECKING:
    from tests.benchmarks.conftest import PerTick

EURUSD_TICKS = 266_219


def _files(shared_data: Path) -> list[tuple[bytes, int]]:
    paths = sorted((shared_data / "dukascopy/EURUSD").glob("*/*/*/*h_ticks.bi5"))
    return [
        (path.read_bytes(), hour_of_path((path.parts[-4], path.parts[-3], path.parts[-2], path.name))) for path in paths
    ]


def test_decode_two_days(benchmark: Any, per_tick: PerTick, shared_data: Path) -> None:
    files = _files(shared_data)

    def decode_all() -> int:
        return sum(len(decode_hour(data, hour, 10_000)) for data, hour in files)

    assert benchmark(decode_all) == EURUSD_TICKS
    per_tick(EURUSD_TICKS)


def test_lzma_alone_of_two_days(benchmark: Any, per_tick: PerTick, shared_data: Path) -> None:
    """The floor: decompression only."""
    files = _files(shared_data)
    assert benchmark(lambda: sum(len(lzma.decompress(data)) for data, _ in files)) == EURUSD_TICKS * 20
    per_tick(EURUSD_TICKS)
