"""gateway.validation: the table, the JSON, the PNG chart, feed arguments and the spool reader."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.errors import ConfigError
from gateway.kafka.records import DEFAULT_TICKS_TOPIC, KafkaRecord
from gateway.kafka.spool import Spool
from gateway.schema.market.v1.market_pb2 import MarketDataStream, Tick
from gateway.validation.compare import ValidationReport, compare
from gateway.validation.feeds import FeedKind, FeedSpec, parse_feed, read_gateway_feed
from gateway.validation.plot import PLOT_DPI, PLOT_SIZE_IN, write_plot
from gateway.validation.report import report_json, report_table
from gateway.validation.series import SeriesBuilder, TickSeries
from gateway.wire import STREAM_CONTENT_TYPE
from tests.unit.validation.test_compare import FEB_4, PIP_PX, perturbed

HOUR_NS = 3600 * NS_PER_S


@pytest.fixture(scope="module")
def hour() -> TickSeries:
    from tests.unit.validation.shared_data import dukascopy_day

    day = dukascopy_day(2019, 2, 4)
    keep = day.ts_ns < FEB_4 + HOUR_NS
    return TickSeries(day.name, day.instrument, day.ts_ns[keep], day.bid_px[keep], day.ask_px[keep])


@pytest.fixture(scope="module")
def report(hour: TickSeries) -> ValidationReport:
    hole = (FEB_4 + 20 * 60 * NS_PER_S, FEB_4 + 22 * 60 * NS_PER_S)
    source = perturbed(hour, shift_ms=250, offset_pips=1, hole=hole)
    return compare(hour, source, since_ns=FEB_4, until_ns=FEB_4 + HOUR_NS, pip_px=PIP_PX)


def test_the_table_shows_lag_difference_and_the_unshared_hole(report: ValidationReport) -> None:
    table = report_table(report)

    assert "lag: +250 ms (the source lags by 250 ms; correlation of mid changes" in table
    aligned = next(line for line in table.splitlines() if line.startswith("source - reference, aligned"))
    assert aligned.split()[5] == "1.000"  # p50; the hole's first 60 s carry a stale price
    assert "holes in the source only:\n  2019-02-04T00:19:" in table
    assert "reference" in table.splitlines()[5] and "coverage (of 60 min)" in table


def test_the_json_holds_every_figure_and_rfc3339_times(report: ValidationReport) -> None:
    value = json.loads(report_json(report))

    assert value["lag_ms"] == 250 and value["since"] == "2019-02-04T00:00:00.000000000Z"
    assert value["difference"]["p50"] == pytest.approx(1.0)
    assert value["source"]["unshared_holes"] == 1 and value["source"]["holes"][0]["start"].startswith("2019-02-04")
    assert value["reference"]["ticks"] == report.reference.ticks
    assert "positive" in value["lag_sign"]


def test_the_plot_is_a_png_of_the_documented_size(report: ValidationReport, hour: TickSeries, tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    write_plot(report, hour, perturbed(hour, shift_ms=250, offset_pips=1), path)

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (PLOT_SIZE_IN[0] * PLOT_DPI, PLOT_SIZE_IN[1] * PLOT_DPI)


def test_a_plot_that_cannot_be_written_is_a_config_error(report: ValidationReport, hour: TickSeries) -> None:
    with pytest.raises(ConfigError, match=r"--plot .*cannot write"):
        write_plot(report, hour, hour, Path("/nonexistent-dir/chart.png"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dukascopy:data/dukascopy", FeedSpec(FeedKind.DUKASCOPY, "data/dukascopy")),
        ("recorded:a:b.zip", FeedSpec(FeedKind.RECORDED, "a:b.zip")),
        ("spool:/var/spool#oanda-primary", FeedSpec(FeedKind.SPOOL, "/var/spool", "oanda-primary")),
        ("spool:dir#with#hash#a", FeedSpec(FeedKind.SPOOL, "dir#with#hash", "a")),
        ("kafka:localhost:9092,k2:9093#a", FeedSpec(FeedKind.KAFKA, "localhost:9092,k2:9093", "a")),
    ],
)
def test_feed_arguments_name_kind_place_and_source(text: str, expected: FeedSpec) -> None:
    assert parse_feed(text, "--source") == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data/dukascopy", "is not a feed; use dukascopy:DIR"),
        ("dukascopy:", "is not a feed"),
        ("ftp:x", "is not a feed"),
        ("spool:dir", "does not end in #SOURCE"),
        ("spool:#a", "does not end in #SOURCE"),
        ("spool:dir#bad source", "does not end in #SOURCE"),
        ("kafka:localhost#a", r"--source: .*HOST:PORT"),
    ],
)
def test_bad_feed_arguments_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_feed(text, "--source")


def test_the_series_builder_sorts_and_stops_at_its_limit() -> None:
    builder = SeriesBuilder("x", "EUR_USD", max_ticks=2)
    builder.add(2, 10, 11)
    builder.add(1, 20, 21)
    series = builder.series()
    assert series.ts_ns.tolist() == [1, 2] and series.bid_px.tolist() == [20, 10]
    with pytest.raises(ConfigError, match="more than 2 EUR_USD ticks"):
        builder.add(3, 1, 2)


def _stream(source: str, instrument: str, ticks: list[tuple[int, int, int]], seq: int) -> bytes:
    return MarketDataStream(
        source=source,
        session_id=7,
        ticks=[
            Tick(
                instrument=instrument, source=source, bid_px=bid, ask_px=ask, ts_event_ns=ts, ts_recv_ns=ts, seq=seq + i
            )
            for i, (ts, bid, ask) in enumerate(ticks)
        ],
    ).SerializeToString()


async def test_the_spool_reader_keeps_one_source_and_instrument_in_the_window(tmp_path: Path) -> None:
    t0 = FEB_4
    wanted = _stream("oanda-a", "EUR_USD", [(t0 + 2 * NS_PER_MS, 3, 4), (t0 + NS_PER_MS, 1, 2)], 1)
    later = _stream("oanda-a", "EUR_USD", [(t0 + HOUR_NS, 5, 6)], 3)
    records = [
        KafkaRecord(DEFAULT_TICKS_TOPIC, b"EUR_USD", value, STREAM_CONTENT_TYPE)
        for value in (
            wanted,
            wanted,  # sent twice: read once
            later,
            _stream("oanda-b", "EUR_USD", [(t0, 7, 8)], 1),
            _stream("oanda-a", "USD_JPY", [(t0, 9, 10)], 1),
        )
    ]
    with Spool(tmp_path, max_bytes=1 << 20, fsync="never") as spool:
        spool.append(records)
    spec = parse_feed(f"spool:{tmp_path}#oanda-a", "--source")

    series = await read_gateway_feed(spec, "EUR_USD", t0, t0 + HOUR_NS, topic=DEFAULT_TICKS_TOPIC, timeout_s=5)

    assert series.ts_ns.tolist() == [t0 + NS_PER_MS, t0 + 2 * NS_PER_MS]
    assert series.bid_px.tolist() == [1, 3] and series.ask_px.tolist() == [2, 4]
    assert series.name == f"spool:{tmp_path}#oanda-a"
    assert np.all(np.diff(series.ts_ns) >= 0)


async def test_a_directory_that_is_not_a_spool_is_a_config_error(tmp_path: Path) -> None:
    spec = parse_feed(f"spool:{tmp_path}#a", "--source")
    with pytest.raises(ConfigError, match="not a readable gateway spool"):
        await read_gateway_feed(spec, "EUR_USD", 0, 1, topic=DEFAULT_TICKS_TOPIC, timeout_s=5)
