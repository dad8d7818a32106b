"""``kind: dukascopy``: its config and the collector's replay, against a recording sink (no NATS)."""

from __future__ import annotations

import lzma
import struct
import time
from pathlib import Path

import pytest

from collectors.dukascopy.collector import DukascopyCollector, hour_files
from collectors.dukascopy.config import DukascopyConfig
from collectors.registry import COLLECTORS
from gateway.clock import parse_time_ns
from gateway.config import load_config, parse_config
from gateway.errors import ConfigError
from gateway.events import BadInput, Quote
from gateway.schema.market.v1.market_pb2 import RejectionReason
from tests.support import RecordingSink

HOUR_0 = parse_time_ns("2019-02-04T00:00:00Z")


def _write(root: Path, relative: str, *records: tuple[int, int, int, float, float]) -> None:
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    raw = b"".join(struct.pack(">IIIff", *record) for record in records)
    target.write_bytes(lzma.compress(raw, format=lzma.FORMAT_ALONE) if records else b"")


def _config(path: Path, **overrides: object) -> DukascopyConfig:
    config = {"brokers": [{"id": "duka", "kind": "dukascopy", "path": str(path), **overrides}]}
    broker = parse_config(config).brokers[0]
    assert isinstance(broker, DukascopyConfig)
    return broker


async def _play(config: DukascopyConfig) -> list[Quote | BadInput]:
    sink = RecordingSink()
    await DukascopyCollector(config, sink).run()
    return list(sink.events)


def test_kind_dukascopy_is_registered() -> None:
    assert COLLECTORS["dukascopy"] is DukascopyCollector


def test_config_rejects_unknown_keys_bad_speed_and_unknown_points(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="speeed"):
        _config(tmp_path, speeed=2)
    with pytest.raises(ConfigError, match="speed"):
        _config(tmp_path, speed=0)
    with pytest.raises(ConfigError, match="point_size"):
        _config(tmp_path, instruments=["SPX_USD"])
    with pytest.raises(ConfigError, match="point size"):
        _config(tmp_path, point_size="-0.1")
    with pytest.raises(ConfigError, match="not a directory"):
        _config(tmp_path / "absent")
    assert _config(tmp_path / "absent", enabled=False).enabled is False
    assert _config(tmp_path, instruments=["SPX_USD"], point_size="0.01").point_px("SPX_USD") == 10_000_000


async def test_instruments_of_one_hour_are_merged_in_time_order_and_restamped(tmp_path: Path) -> None:
    _write(tmp_path, "EURUSD/2019/01/04/00h_ticks.bi5", (10, 114545, 114543, 1.0, 2.0), (30, 114546, 114544, 1, 1))
    _write(tmp_path, "USDJPY/2019/01/04/00h_ticks.bi5", (20, 108125, 108120, 0.5, 0.5))
    _write(tmp_path, "EURUSD/2019/01/04/01h_ticks.bi5")  # an hour without ticks
    before = time.time_ns()
    events = await _play(_config(tmp_path, instruments=["EUR_USD", "USD_JPY"], speed="max"))
    quotes = [event for event in events if isinstance(event, Quote)]
    assert [(q.instrument, q.bid_px, q.ask_px) for q in quotes] == [
        ("EUR_USD", 1_145_430_000, 1_145_450_000),
        ("USD_JPY", 108_120_000_000, 108_125_000_000),
        ("EUR_USD", 1_145_440_000, 1_145_460_000),
    ]
    assert (quotes[0].bid_liquidity, quotes[0].ask_liquidity) == (2_000_000, 1_000_000)
    assert all(q.ts_event_ns == q.ts_recv_ns >= before for q in quotes)


async def test_keep_times_keeps_the_historical_event_time(tmp_path: Path) -> None:
    _write(tmp_path, "EURUSD/2019/01/04/00h_ticks.bi5", (994, 114545, 114543, 1.0, 2.0))
    [quote] = await _play(_config(tmp_path, speed="max", keep_times=True))
    assert isinstance(quote, Quote)
    assert quote.ts_event_ns == parse_time_ns("2019-02-04T00:00:00.994Z")
    assert quote.ts_recv_ns > quote.ts_event_ns


async def test_recorded_pace_times_speed(tmp_path: Path) -> None:
    _write(tmp_path, "EURUSD/2019/01/04/00h_ticks.bi5", (0, 114545, 114543, 1, 1), (2000, 114546, 114544, 1, 1))
    started = time.perf_counter()
    await _play(_config(tmp_path, speed=10))
    assert 0.18 <= time.perf_counter() - started < 1.0  # 2 s of recording at 10x


async def test_a_corrupt_file_is_one_rejection_naming_it_and_the_rest_plays(tmp_path: Path) -> None:
    _write(tmp_path, "EURUSD/2019/01/04/01h_ticks.bi5", (5, 114545, 114543, 1, 1))
    (tmp_path / "EURUSD/2019/01/04/00h_ticks.bi5").write_bytes(b"\x5d\x00\x00garbage")
    events = await _play(_config(tmp_path, speed="max"))
    assert isinstance(events[0], BadInput)
    assert events[0].reason == RejectionReason.REJECTION_REASON_MALFORMED
    assert "00h_ticks.bi5" in events[0].detail and "hour 2019-02-04T00:00Z" in events[0].detail
    assert isinstance(events[1], Quote)


async def test_a_directory_without_files_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no Dukascopy files"):
        hour_files(tmp_path, ("EUR_USD",))


def test_relative_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    config_file = tmp_path / "brokers.yaml"
    config_file.write_text("brokers:\n  - {id: duka, kind: dukascopy, path: data, speed: max}\n")
    broker = load_config(config_file).brokers[0]
    assert isinstance(broker, DukascopyConfig) and broker.path == tmp_path / "data"
