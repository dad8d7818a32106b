"""Dukascopy's hourly tick files, pure: instrument names, paths and the decode of one hour.

A file ``SYMBOL/YYYY/MM/DD/HHh_ticks.bi5`` (``MM`` is the 0-based month: ``2019/01/04`` is 4 February 2019)
holds one UTC hour: an LZMA stream ("alone" format) of 20-byte big-endian records ``>IIIff``: milliseconds
from the start of the hour, ask and bid in integer points, ask and bid volume in millions. A 0-byte file is an
hour without ticks. The symbol is the instrument without its underscore (``EUR_USD`` <-> ``EURUSD``).

A point is the price unit of the integers (collectors.dukascopy.points).

The decode is whole-hour and columnar (numpy): ``lzma`` then one ``np.frombuffer`` and vector checks, so a
file costs about as much as its decompression (see tests/benchmarks/test_dukascopy_benchmarks.py). A file
that is not such a stream, or a record that is not a tick, fails the whole hour with a
:class:`~gateway.errors.MalformedInputError` or :class:`~gateway.errors.BadValueError` naming the file and
the hour; nothing of a damaged hour is half-used.
"""

from __future__ import annotations

import calendar
import lzma
import re
import time
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.errors import BadValueError, MalformedInputError, UnknownInstrumentError
from gateway.instruments import validate_instrument

Int64Array = npt.NDArray[np.int64]

RECORD_BYTES: Final = 20
RECORD_DTYPE: Final = np.dtype([("ms", ">u4"), ("ask", ">u4"), ("bid", ">u4"), ("ask_vol", ">f4"), ("bid_vol", ">f4")])
"""``>IIIff``: ms from the start of the hour, ask and bid in points, ask and bid volume in millions."""
MS_PER_HOUR: Final = 3_600_000
NS_PER_HOUR: Final = 3600 * NS_PER_S
MAX_HOUR_BYTES: Final = 64 * 1024 * 1024
"""Most decompressed bytes one hour may hold (3.3 million ticks); the busiest real hours hold under 1 MB."""
LZMA_MEMLIMIT_BYTES: Final = 128 * 1024 * 1024
"""Memory liblzma may use for one stream; a header asking for more (a hostile dictionary size) is refused."""
MAX_VOLUME_MILLIONS: Final = 1_000_000.0
"""Largest volume of one side accepted (a trillion units); Dukascopy's volumes are tens of millions at most."""
UNITS_PER_MILLION: Final = 1_000_000

SYMBOL_PATTERN: Final = re.compile(r"[A-Z0-9]{2,10}")
FILE_NAME: Final = re.compile(r"(\d{2})h_ticks\.bi5")


@dataclass(frozen=True, slots=True)
class HourTicks:
    """The ticks of one hour as int64 columns, in file order.

    ``ts_ns``: ns since the epoch; ``bid_px``/``ask_px``: 1e-9 price units; ``bid_liquidity``/
    ``ask_liquidity``: units of the base (volume in millions x 1,000,000, rounded).
    """

    ts_ns: Int64Array
    bid_px: Int64Array
    ask_px: Int64Array
    bid_liquidity: Int64Array
    ask_liquidity: Int64Array

    def __len__(self) -> int:
        return len(self.ts_ns)


def empty_hour() -> HourTicks:
    """An hour without ticks."""
    empty = np.empty(0, dtype=np.int64)
    return HourTicks(empty, empty, empty, empty, empty)


def dukascopy_symbol(instrument: str) -> str:
    """``EUR_USD`` -> ``EURUSD``; raises UnknownInstrumentError for a name not of the form BASE_QUOTE."""
    return validate_instrument(instrument).replace("_", "")


def instrument_name(symbol: str) -> str:
    """``EURUSD`` -> ``EUR_USD``, for symbols of two 3-letter codes; raises UnknownInstrumentError otherwise."""
    if len(symbol) != 6 or SYMBOL_PATTERN.fullmatch(symbol) is None:
        raise UnknownInstrumentError(
            f"symbol {symbol[:20]!r} is not two 3-letter codes; name the instrument as BASE_QUOTE", instrument=symbol
        )
    return f"{symbol[:3]}_{symbol[3:]}"


def hour_path(symbol: str, hour_start_ns: int) -> str:
    """``SYMBOL/YYYY/MM/DD/HHh_ticks.bi5`` of the hour starting at ``hour_start_ns``, with the 0-based month."""
    t = time.gmtime(hour_start_ns // NS_PER_S)
    return f"{symbol}/{t.tm_year:04d}/{t.tm_mon - 1:02d}/{t.tm_mday:02d}/{t.tm_hour:02d}h_ticks.bi5"


def hour_of_path(parts: tuple[str, str, str, str]) -> int:
    """The start (ns) of the hour of ``(YYYY, MM, DD, HHh_ticks.bi5)``, MM 0-based; raises ValueError if not one."""
    year, month, day, name = parts
    match = FILE_NAME.fullmatch(name)
    fields = (year, month, day)
    if match is None or not all(len(f) == n and f.isdigit() for f, n in zip(fields, (4, 2, 2), strict=True)):
        raise ValueError(f"not an hourly tick file: {'/'.join(parts)}")
    if not (int(month) < 12 and 1 <= int(day) <= 31 and int(match[1]) < 24):
        raise ValueError(f"not an hourly tick file: {'/'.join(parts)}")
    return calendar.timegm((int(year), int(month) + 1, int(day), int(match[1]), 0, 0)) * NS_PER_S


def hour_floor(ts_ns: int) -> int:
    """Start of the hour holding ``ts_ns``."""
    return ts_ns - ts_ns % NS_PER_HOUR


def describe_hour(hour_start_ns: int) -> str:
    """``2019-02-04T00:00Z`` style name of an hour, for messages."""
    return time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(hour_start_ns // NS_PER_S))


def decompress_hour(data: bytes, where: str) -> bytes:
    """The records of one file: LZMA-decompressed, bounded; raises MalformedInputError or BadValueError."""
    if not data:
        return b""
    decompressor = lzma.LZMADecompressor(lzma.FORMAT_AUTO, memlimit=LZMA_MEMLIMIT_BYTES)
    try:
        raw = decompressor.decompress(data, max_length=MAX_HOUR_BYTES + 1)
    except lzma.LZMAError as exc:
        raise MalformedInputError(f"{where}: not an LZMA stream ({exc})", raw=data[:RECORD_BYTES]) from exc
    if len(raw) > MAX_HOUR_BYTES:
        raise BadValueError(f"{where}: more than {MAX_HOUR_BYTES:,} bytes of ticks in one hour; refused")
    if not decompressor.eof:
        raise MalformedInputError(f"{where}: the LZMA stream is truncated after {len(data):,} bytes")
    if decompressor.unused_data:
        raise MalformedInputError(f"{where}: {len(decompressor.unused_data):,} bytes after the end of the LZMA stream")
    return raw


def decode_hour(data: bytes, hour_start_ns: int, point_px: int, *, source: str = "") -> HourTicks:
    """The ticks of one ``.bi5`` file's bytes; ``source`` names the file in errors (default: the hour's path).

    ``hour_start_ns``: start of the file's hour (ns since the epoch); ``point_px``: the point in 1e-9 units.
    An empty ``data`` is an hour without ticks. Raises MalformedInputError (not an LZMA stream, truncated,
    a length not a multiple of 20) or BadValueError (an offset outside the hour, a zero price, a volume
    that is negative, not finite or above :data:`MAX_VOLUME_MILLIONS`), the message naming the file and hour.
    """
    where = f"{source or 'Dukascopy file'} (hour {describe_hour(hour_start_ns)})"
    raw = decompress_hour(data, where)
    if len(raw) % RECORD_BYTES:
        raise MalformedInputError(
            f"{where}: {len(raw):,} bytes of records is not a multiple of {RECORD_BYTES}", raw=raw[-RECORD_BYTES:]
        )
    if not raw:
        return empty_hour()
    records = np.frombuffer(raw, dtype=RECORD_DTYPE)
    ms = records["ms"].astype(np.int64)
    ask = records["ask"].astype(np.int64)
    bid = records["bid"].astype(np.int64)
    ask_vol = records["ask_vol"].astype(np.float64)
    bid_vol = records["bid_vol"].astype(np.float64)
    _check(ms >= MS_PER_HOUR, raw, where, "offset {} ms is beyond the hour", ms)
    _check((ask == 0) | (bid == 0), raw, where, "a zero price (ask {} points)", ask)
    for name, volume in (("ask", ask_vol), ("bid", bid_vol)):
        bad = ~((volume >= 0) & (volume <= MAX_VOLUME_MILLIONS))  # NaN compares false: caught here
        _check(bad, raw, where, name + " volume {} is not between 0 and 1,000,000 millions", volume)
    return HourTicks(
        hour_start_ns + ms * NS_PER_MS,
        bid * point_px,
        ask * point_px,
        np.rint(bid_vol * UNITS_PER_MILLION).astype(np.int64),
        np.rint(ask_vol * UNITS_PER_MILLION).astype(np.int64),
    )


def _check(bad: npt.NDArray[np.bool_], raw: bytes, where: str, what: str, values: npt.NDArray[np.generic]) -> None:
    """Raise BadValueError naming the first record where ``bad`` holds."""
    if bad.any():
        index = int(np.argmax(bad))
        record = raw[index * RECORD_BYTES : (index + 1) * RECORD_BYTES]
        raise BadValueError(
            f"{where}: record {index:,} of {len(bad):,}: " + what.format(values[index]), raw=bytes(record)
        )
