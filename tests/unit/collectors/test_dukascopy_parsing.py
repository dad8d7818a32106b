"""Dukascopy hourly files, pure: exact decode of real hours, point sizes, paths, and hostile input."""

from __future__ import annotations

import contextlib
import lzma
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from collectors.dukascopy.files import read_window
from collectors.dukascopy.parsing import (
    MAX_HOUR_BYTES,
    decode_hour,
    dukascopy_symbol,
    hour_of_path,
    hour_path,
    instrument_name,
)
from collectors.dukascopy.points import default_point_px, point_px_of
from gateway.clock import parse_time_ns
from gateway.errors import BadValueError, InputError, MalformedInputError, UnknownInstrumentError

HOUR_0 = parse_time_ns("2019-02-04T00:00:00Z")
EURUSD_POINT_PX = 10_000


def _hour_file(shared_data: Path, day: int = 4, hour: int = 0) -> Path:
    return shared_data / f"dukascopy/EURUSD/2019/01/{day:02d}/{hour:02d}h_ticks.bi5"


def _bi5(*records: tuple[int, int, int, float, float]) -> bytes:
    return lzma.compress(b"".join(struct.pack(">IIIff", *record) for record in records), format=lzma.FORMAT_ALONE)


def test_first_and_last_tick_of_a_real_hour_decode_exactly(shared_data: Path) -> None:
    ticks = decode_hour(_hour_file(shared_data).read_bytes(), HOUR_0, EURUSD_POINT_PX)
    assert len(ticks) == 3733
    # first record: 994 ms, ask 114545, bid 114543 points, ask volume 1.0, bid volume 2.06 (millions)
    assert ticks.ts_ns[0] == parse_time_ns("2019-02-04T00:00:00.994Z")
    assert (ticks.bid_px[0], ticks.ask_px[0]) == (1_145_430_000, 1_145_450_000)
    assert (ticks.bid_liquidity[0], ticks.ask_liquidity[0]) == (2_060_000, 1_000_000)
    # last record: 3,599,808 ms, ask 114559, bid 114555, ask volume 4.12, bid volume 1.0
    assert ticks.ts_ns[-1] == parse_time_ns("2019-02-04T00:59:59.808Z")
    assert (ticks.bid_px[-1], ticks.ask_px[-1]) == (1_145_550_000, 1_145_590_000)
    assert (ticks.bid_liquidity[-1], ticks.ask_liquidity[-1]) == (1_000_000, 4_120_000)
    assert all(column.dtype == np.int64 for column in (ticks.ts_ns, ticks.bid_px, ticks.ask_px))


def test_last_hour_of_the_day_decodes_exactly(shared_data: Path) -> None:
    hour_23 = HOUR_0 + 23 * 3600 * 10**9
    ticks = decode_hour(_hour_file(shared_data, hour=23).read_bytes(), hour_23, EURUSD_POINT_PX)
    assert len(ticks) == 2633
    assert ticks.ts_ns[0] == parse_time_ns("2019-02-04T23:00:00.080Z")
    assert (ticks.bid_px[0], ticks.ask_px[0]) == (1_143_520_000, 1_143_640_000)
    assert ticks.ts_ns[-1] == parse_time_ns("2019-02-04T23:59:57.992Z")


def test_jpy_point_size_scales_a_synthetic_record() -> None:
    point = default_point_px("USD_JPY")
    assert point == 1_000_000  # 0.001
    ticks = decode_hour(_bi5((1500, 108_125, 108_120, 1.5, 0.25)), HOUR_0, point)
    assert ticks.ts_ns.tolist() == [HOUR_0 + 1_500_000_000]
    assert ticks.bid_px.tolist() == [108_120_000_000]  # 108.120
    assert ticks.ask_px.tolist() == [108_125_000_000]
    assert (ticks.bid_liquidity.tolist(), ticks.ask_liquidity.tolist()) == ([250_000], [1_500_000])


def test_btcusd_point_is_a_tenth(shared_data: Path) -> None:
    hour = parse_time_ns("2023-02-20T12:00:00Z")
    path = shared_data / "dukascopy/BTCUSD/2023/01/20/12h_ticks.bi5"
    ticks = decode_hour(path.read_bytes(), hour, default_point_px("BTC_USD"))
    assert (ticks.ask_px[0], ticks.bid_px[0]) == (24_921_500_000_000, 24_849_400_000_000)


def test_an_empty_file_is_an_hour_without_ticks(shared_data: Path) -> None:
    assert len(decode_hour((shared_data / "dukascopy/empty.bi5").read_bytes(), HOUR_0, EURUSD_POINT_PX)) == 0
    assert len(decode_hour(lzma.compress(b"", format=lzma.FORMAT_ALONE), HOUR_0, EURUSD_POINT_PX)) == 0


@pytest.mark.parametrize(
    ("instrument", "point_px"),
    [("EUR_USD", 10_000), ("GBP_JPY", 1_000_000), ("XAU_USD", 1_000_000), ("XAG_USD", 1_000_000), ("BTC_USD", 10**8)],
)
def test_point_table(instrument: str, point_px: int) -> None:
    assert default_point_px(instrument) == point_px


def test_unknown_point_asks_for_point_size() -> None:
    with pytest.raises(UnknownInstrumentError, match="point_size"):
        default_point_px("SPX_USD")
    assert point_px_of("0.01") == 10_000_000
    for bad in ("0", "-1", "1e-12", "abc", "NaN"):
        with pytest.raises(BadValueError):
            point_px_of(bad)


def test_paths_use_the_zero_based_month_and_symbols_drop_the_underscore() -> None:
    assert hour_path("EURUSD", HOUR_0 + 5 * 3600 * 10**9) == "EURUSD/2019/01/04/05h_ticks.bi5"
    assert hour_path("EURUSD", parse_time_ns("2019-12-31T23:00:00Z")) == "EURUSD/2019/11/31/23h_ticks.bi5"
    assert hour_of_path(("2019", "01", "04", "00h_ticks.bi5")) == HOUR_0
    assert (dukascopy_symbol("EUR_USD"), instrument_name("EURUSD")) == ("EURUSD", "EUR_USD")
    with pytest.raises(ValueError, match="not an hourly tick file"):
        hour_of_path(("2019", "12", "04", "00h_ticks.bi5"))


def test_corrupt_file_error_names_the_file_and_hour() -> None:
    with pytest.raises(MalformedInputError, match=r"EURUSD/2019/01/04/00h_ticks.bi5 \(hour 2019-02-04T00:00Z\)"):
        decode_hour(b"not lzma at all", HOUR_0, EURUSD_POINT_PX, source="EURUSD/2019/01/04/00h_ticks.bi5")


def test_truncated_real_file_is_malformed_at_every_cut(shared_data: Path) -> None:
    data = _hour_file(shared_data).read_bytes()
    for cut in [*range(1, 64), *range(64, len(data), max(1, len(data) // 300))]:
        with pytest.raises(MalformedInputError, match="hour 2019-02-04T00:00Z"):
            decode_hour(data[:cut], HOUR_0, EURUSD_POINT_PX)


def test_random_bytes_and_flipped_bytes_are_clear_errors(shared_data: Path) -> None:
    rng = random.Random(13)
    data = _hour_file(shared_data).read_bytes()
    for size in range(1, 400):
        with pytest.raises(InputError):
            decode_hour(rng.randbytes(size), HOUR_0, EURUSD_POINT_PX)
    for _ in range(200):
        damaged = bytearray(data)
        damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        with contextlib.suppress(InputError):  # a flip in a price may still decode; anything else fails the test
            decode_hour(bytes(damaged), HOUR_0, EURUSD_POINT_PX)


@pytest.mark.parametrize("length", [1, 19, 21, 39, 20 * 100 + 7])
def test_a_length_not_a_multiple_of_20_is_malformed(length: int) -> None:
    with pytest.raises(MalformedInputError, match="not a multiple of 20"):
        decode_hour(lzma.compress(b"\x00" * length, format=lzma.FORMAT_ALONE), HOUR_0, EURUSD_POINT_PX)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ((3_600_000, 114545, 114543, 1.0, 1.0), "beyond the hour"),
        ((2**32 - 1, 114545, 114543, 1.0, 1.0), "beyond the hour"),
        ((0, 0, 114543, 1.0, 1.0), "zero price"),
        ((0, 114545, 114543, float("nan"), 1.0), "ask volume nan"),
        ((0, 114545, 114543, 1.0, float("inf")), "bid volume inf"),
        ((0, 114545, 114543, -1.0, 1.0), "ask volume"),
        ((0, 114545, 114543, 3e38, 1.0), "ask volume"),
    ],
)
def test_records_that_are_not_ticks_are_bad_values_naming_the_record(record: tuple, message: str) -> None:
    data = _bi5((10, 114545, 114543, 1.0, 1.0), record)
    with pytest.raises(BadValueError, match=f"record 1 of 2: .*{message}") as caught:
        decode_hour(data, HOUR_0, EURUSD_POINT_PX)
    assert caught.value.raw == struct.pack(">IIIff", *record)


def test_a_decompression_bomb_is_refused() -> None:
    bomb = lzma.compress(b"\x00" * (MAX_HOUR_BYTES + 20), format=lzma.FORMAT_ALONE)
    with pytest.raises(BadValueError, match="refused"):
        decode_hour(bomb, HOUR_0, EURUSD_POINT_PX)


def test_bytes_after_the_stream_are_malformed(shared_data: Path) -> None:
    with pytest.raises(MalformedInputError, match="after the end"):
        decode_hour(_hour_file(shared_data).read_bytes() + b"junk", HOUR_0, EURUSD_POINT_PX)


def test_read_window_reads_two_days_and_counts_missing_hours(shared_data: Path) -> None:
    since = parse_time_ns("2019-02-03T23:30:00Z")
    until = parse_time_ns("2019-02-06T00:30:00Z")
    window = read_window(shared_data / "dukascopy", "EUR_USD", since, until)
    series = window.series
    assert len(series) == 266_219
    assert series.instrument == "EUR_USD"
    assert window.hours == 50
    assert window.missing_hours == (parse_time_ns("2019-02-03T23:00:00Z"), parse_time_ns("2019-02-06T00:00:00Z"))
    assert window.empty_hours == 0
    assert bool(np.all(np.diff(series.ts_ns) >= 0))


def test_read_window_cuts_to_the_window_inside_an_hour(shared_data: Path) -> None:
    since = parse_time_ns("2019-02-04T00:00:00.994Z")
    until = parse_time_ns("2019-02-04T00:59:59.808Z")
    window = read_window(shared_data / "dukascopy", "EUR_USD", since, until)
    assert len(window.series) == 3732  # the first tick is in, the last (at until) is out
    assert window.series.ts_ns[0] == since


def test_read_window_names_a_corrupt_file(tmp_path: Path) -> None:
    target = tmp_path / "EURUSD/2019/01/04/00h_ticks.bi5"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"garbage")
    with pytest.raises(MalformedInputError, match=r"00h_ticks.bi5 \(hour 2019-02-04T00:00Z\)"):
        read_window(tmp_path, "EUR_USD", HOUR_0, HOUR_0 + 10**9)
