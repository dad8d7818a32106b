"""gateway.kafka.replay.outputs: republishing on NATS, and human lines, JSON lines and CSV."""

from __future__ import annotations

import csv
import io
import json

from gateway.kafka.replay.outputs import NatsTickSink, TextTickSink
from gateway.kafka.replay.request import OutputFormat
from gateway.schema.market.v1.market_pb2 import MarketDataStream
from gateway.wire import STREAM_CONTENT_TYPE, TickRun, decode_ticks
from tests.support import RecordingNatsClient
from tests.unit.test_wire import T0, record


async def test_nats_sink_sends_consecutive_ticks_of_a_source_and_session_together_in_the_order_written() -> None:
    """A tick of another (source, session) publishes what is pending: a subscriber to every subject sees the order."""
    client = RecordingNatsClient()
    sink = NatsTickSink(client, "replay", max_batch_ticks=3)
    eur = decode_ticks(record("a", "EUR_USD", [(T0 + i, i + 1) for i in range(4)]))[0]
    jpy = decode_ticks(record("a", "USD_JPY", [(T0 + 8, 8), (T0 + 9, 9)]))[0]
    other = decode_ticks(record("b", "EUR_USD", [(T0 + 5, 1)], session_id=5))[0]

    await sink.write(eur, range(4))
    await sink.write(other, [0])
    await sink.write(jpy, range(0, 1))
    await sink.write(eur, [])
    await sink.write(jpy, range(1, 2))
    await sink.flush()

    summary = [
        (subject, m.source, m.session_id, m.batch_seq, [t.seq for t in m.ticks], h["Nats-Msg-Id"])
        for subject, m, h in client.decoded()
    ]
    assert summary == [
        ("replay.a.ticks", "a", 11, 1, [1, 2, 3], "replay:a:11:1"),
        ("replay.a.ticks", "a", 11, 2, [4], "replay:a:11:4"),
        ("replay.b.ticks", "b", 5, 1, [1], "replay:b:5:1"),
        ("replay.a.ticks", "a", 11, 3, [8, 9], "replay:a:11:8"),
    ]
    assert all(h["Content-Type"] == STREAM_CONTENT_TYPE for _, _, h in client.decoded())
    assert list(client.decoded()[0][1].ticks) == list(MarketDataStream.FromString(eur.entries).ticks)[:3]
    assert sink.messages == 4


async def test_nats_sink_republishes_non_contiguous_selections() -> None:
    client = RecordingNatsClient()
    sink = NatsTickSink(client)
    run = decode_ticks(record("a", "EUR_USD", [(T0 + i, i + 1) for i in range(5)]))[0]

    await sink.write(run, [0, 2, 4])
    await sink.flush()

    assert [t.seq for t in client.decoded()[0][1].ticks] == [1, 3, 5]
    assert client.decoded()[0][0] == "replay.a.ticks"


def sample_runs() -> list[TickRun]:
    return decode_ticks(
        record("oanda-a", "USD_JPY", [(T0 + 123_456_789, 42)], tradeable=False)
        + record("oanda-a", "USD_JPY", [(T0 + 200_000_000, 43)], snapshot_first=True)
    )


async def text_output(output: OutputFormat) -> str:
    stream = io.StringIO()
    sink = TextTickSink(stream, output)
    for run in sample_runs():
        await sink.write(run, range(len(run.rows)))
    await sink.flush()
    return stream.getvalue()


async def test_stdout_lines_read_like_fxgw_tail() -> None:
    assert (await text_output(OutputFormat.STDOUT)).splitlines() == [
        "oanda-a USD_JPY 1.091770789/1.091880789 seq=42 event=2026-11-21T10:00:00.123456789Z NOT TRADEABLE",
        "oanda-a USD_JPY 1.09177/1.09188 seq=43 event=2026-11-21T10:00:00.200000000Z SNAPSHOT",
    ]


async def test_jsonl_has_exact_decimal_prices_and_both_time_forms() -> None:
    first, second = (json.loads(line) for line in (await text_output(OutputFormat.JSONL)).splitlines())

    assert first == {
        "instrument": "USD_JPY",
        "source": "oanda-a",
        "bid": "1.091770789",
        "ask": "1.091880789",
        "bid_liquidity": 1_000_000,
        "ask_liquidity": 2_000_000,
        "ts_event": "2026-11-21T10:00:00.123456789Z",
        "ts_event_ns": T0 + 123_456_789,
        "ts_recv_ns": T0 + 123_456_796,
        "seq": 42,
        "session_id": 11,
        "tradeable": False,
        "snapshot": False,
    }
    assert (second["bid"], second["tradeable"], second["snapshot"]) == ("1.09177", True, True)


async def test_csv_has_a_header_row_and_one_row_per_tick() -> None:
    rows = list(csv.DictReader(io.StringIO(await text_output(OutputFormat.CSV))))

    assert [row["seq"] for row in rows] == ["42", "43"]
    assert rows[0]["ts_event"] == "2026-11-21T10:00:00.123456789Z"
    assert (rows[0]["bid"], rows[0]["tradeable"], rows[1]["snapshot"]) == ("1.091770789", "false", "true")
    assert list(rows[0]) == [
        "ts_event", "instrument", "source", "bid", "ask", "bid_liquidity", "ask_liquidity", "ts_event_ns",
        "ts_recv_ns", "seq", "session_id", "tradeable", "snapshot",
    ]  # fmt: skip


def test_an_empty_csv_still_has_its_header() -> None:
    stream = io.StringIO()
    TextTickSink(stream, OutputFormat.CSV)
    assert stream.getvalue().startswith("ts_event,instrument,source,bid,ask")
