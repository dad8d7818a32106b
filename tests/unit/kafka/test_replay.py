"""gateway.kafka.replay's pure core: times, decoding, selection, merge, pacing and the sinks, without a broker."""

from __future__ import annotations

import csv
import io
import json
import random
import time
from collections.abc import Sequence

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from google.protobuf.message import DecodeError

from gateway.clock import NS_PER_S, parse_time_ns
from gateway.errors import ConfigError, ReplayError
from gateway.events import Quote
from gateway.instruments import INSTRUMENT_PATTERN
from gateway.kafka.replay import (
    KafkaTickReader,
    NatsTickSink,
    OutputFormat,
    Pacer,
    PartitionMerge,
    ReplayRequest,
    ReplayStats,
    TextTickSink,
    TickRun,
    TickSelector,
    _decode_fixed_layout,
    _write,
    decode_ticks,
    parse_names,
    parse_replay_time,
    parse_speed,
)
from gateway.schema.market.v1.market_pb2 import BestPrice, MarketDataStream, Tick
from gateway.wire import STREAM_CONTENT_TYPE, TickRecordEncoder, encode_varint

T0 = parse_time_ns("2026-11-21T10:00:00Z")
NOW = parse_time_ns("2026-11-21T12:00:00.5Z")
INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def quote(instrument: str, source: str, ts_event_ns: int, *, tradeable: bool = True, snapshot: bool = False) -> Quote:
    offset = ts_event_ns % 1000
    return Quote(
        instrument, source, 1_091_770_000 + offset, 1_091_880_000 + offset, 10**6, 2 * 10**6, ts_event_ns,
        ts_event_ns + 7, tradeable, snapshot,
    )  # fmt: skip


def record(
    source: str,
    instrument: str,
    ticks: Sequence[tuple[int, int]],
    *,
    session_id: int = 11,
    tradeable: bool = True,
    snapshot_first: bool = False,
) -> bytes:
    """A record value as the gateway writes it: header by the library, ticks by gateway.wire (``(ts, seq)`` each)."""
    encoder = TickRecordEncoder()
    header = MarketDataStream(source=source, batch_time_ns=T0, batch_seq=3, session_id=session_id)
    entries = [
        encoder.encode(quote(instrument, source, ts, tradeable=tradeable, snapshot=snapshot_first and i == 0), seq)
        for i, (ts, seq) in enumerate(ticks)
    ]
    return header.SerializeToString() + b"".join(entries)


def library_rows(value: bytes) -> list[tuple[object, ...]]:
    """The oracle: every tick as the protobuf library reads it, with its source, session and instrument."""
    message = MarketDataStream.FromString(value)
    return [
        (t.source, message.session_id, t.instrument, t.bid_px, t.ask_px, t.bid_liquidity, t.ask_liquidity,
         t.ts_event_ns, t.ts_recv_ns, t.seq, t.tradeable, t.snapshot)
        for t in message.ticks
    ]  # fmt: skip


def decoded_rows(runs: list[TickRun]) -> list[tuple[object, ...]]:
    return [(run.source, run.session_id, run.instrument, *row, run.snapshot) for run in runs for row in run.rows]


def reencoded(runs: list[TickRun]) -> list[Tick]:
    """The ticks of the runs' entries, read back by the library."""
    return list(MarketDataStream.FromString(b"".join(run.entries for run in runs)).ticks)


# -- times and arguments ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21T10:00:00Z", T0),
        ("2026-11-21T10:00:00.123456789Z", T0 + 123_456_789),
        ("2026-11-21T11:00:00.5+01:00", T0 + NS_PER_S // 2),
        (str(T0 // NS_PER_S), T0),
        (f"{T0 // NS_PER_S}.25", T0 + NS_PER_S // 4),
        ("now", NOW),
        ("-15m", NOW - 15 * 60 * NS_PER_S),
        ("-2h", NOW - 2 * 3600 * NS_PER_S),
        ("-30s", NOW - 30 * NS_PER_S),
        ("-1d", NOW - 86400 * NS_PER_S),
        ("-250ms", NOW - NS_PER_S // 4),
        ("-999999999d", 0),
    ],
)
def test_replay_times_accept_rfc3339_unix_seconds_and_times_before_now(text: str, expected: int) -> None:
    assert parse_replay_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "15m", "-15x", "-1.5h", "+15m", "2026-13-01T00:00:00Z", "", "-m"])
def test_an_unparseable_time_is_a_config_error_naming_the_option_and_the_forms(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--since: .* is not a time; use RFC 3339 .* -15m"):
        parse_replay_time(text, NOW, "--since")


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"the window is empty: since 2026-11-21T10:00:00\.000000000Z is not before"):
        ReplayRequest(since_ns=T0, until_ns=T0, bootstrap_servers="127.0.0.1:9092")


@pytest.mark.parametrize(("text", "expected"), [("max", None), ("1", 1.0), ("10", 10.0), ("0.5", 0.5)])
def test_speed_is_max_or_a_positive_factor(text: str, expected: float | None) -> None:
    assert parse_speed(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "fast", "inf", "nan", ""])
def test_a_bad_speed_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--speed: .* is neither max nor a positive number"):
        parse_speed(text)


def test_name_lists_are_split_trimmed_and_checked() -> None:
    assert parse_names(None, "--sources") == frozenset()
    assert parse_names("oanda-a, sim-b", "--sources") == {"oanda-a", "sim-b"}
    assert parse_names("EUR_USD,USD_JPY", "--instruments", INSTRUMENT_PATTERN) == {"EUR_USD", "USD_JPY"}
    with pytest.raises(ConfigError, match="--instruments: 'eurusd' is not a valid name"):
        parse_names("EUR_USD,eurusd", "--instruments", INSTRUMENT_PATTERN)
    with pytest.raises(ConfigError, match="--sources: '' is not a valid name"):
        parse_names("a,,b", "--sources")


# -- decoding --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(record("oanda-a", "EUR_USD", [(T0 + i, i + 1) for i in range(512)]), id="full_batch"),
        pytest.param(record("oanda-a", "EUR_USD", [(T0, 1)]), id="one_tick"),
        pytest.param(record("s", "USD_JPY", [(T0, 7), (T0 + 1, 9)], tradeable=False), id="not_tradeable"),
        pytest.param(record("é" * 70, "XAU_USD", [(T0, 1), (T0 + 5, 2)], session_id=UINT64_MAX), id="long_source"),
        pytest.param(
            MarketDataStream(source="a", batch_time_ns=-1).SerializeToString()
            + TickRecordEncoder().encode(Quote("EUR_USD", "a", INT64_MIN, INT64_MAX, UINT64_MAX, 0, INT64_MIN, 0), 0),
            id="extremes",
        ),
        pytest.param(
            TickRecordEncoder().encode(quote("EUR_USD", "a", T0), 1)
            + TickRecordEncoder().encode(quote("EUR_USD", "a", T0 + 1), 2),
            id="no_header",
        ),
        pytest.param(
            MarketDataStream(
                source="a", session_id=2, ticks=[quote("EUR_USD", "a", T0).to_tick(1)]
            ).SerializeToString(),
            id="library_encoding_without_zeros",
        ),
    ],
)
def test_the_fast_path_reads_the_gateways_layout_as_the_protobuf_library_does(value: bytes) -> None:
    runs = _decode_fixed_layout(value)

    assert runs is not None, "expected the struct fast path"
    assert decoded_rows(runs) == library_rows(value)
    assert reencoded(runs) == list(MarketDataStream.FromString(value).ticks)


def _tick_fields_reordered(tick: Tick) -> bytes:
    """A valid Tick encoding with seq first and the strings last."""
    body = (
        b"\x49" + tick.seq.to_bytes(8, "little")
        + b"\x19" + tick.bid_px.to_bytes(8, "little", signed=True)
        + b"\x21" + tick.ask_px.to_bytes(8, "little", signed=True)
        + b"\x39" + tick.ts_event_ns.to_bytes(8, "little", signed=True)
        + b"\x0a" + encode_varint(len(tick.instrument)) + tick.instrument.encode()
        + b"\x12" + encode_varint(len(tick.source)) + tick.source.encode()
    )  # fmt: skip
    return b"\x2a" + encode_varint(len(body)) + body


def _with_tick_suffix(value: bytes, suffix: bytes) -> bytes:
    """``value`` (a header and one gateway-layout tick) with ``suffix`` appended inside the tick."""
    header_end = value.index(b"\x2a")
    length = value[header_end + 1]
    return value[:header_end] + b"\x2a" + bytes([length + len(suffix)]) + value[header_end + 2 :] + suffix


ONE = record("oanda-a", "EUR_USD", [(T0, 5)])
SEQ_ONLY = Tick(instrument="EUR_USD", source="oanda-a", bid_px=1, ask_px=2, ts_event_ns=T0, seq=4)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(
            MarketDataStream(source="a", ticks=[Tick(instrument="EUR_USD", source="a", seq=3)]).SerializeToString(),
            id="zeros_omitted",
        ),
        pytest.param(record("a", "EUR_USD", [(T0, 1), (T0 + 1, 2)], snapshot_first=True), id="snapshot_first"),
        pytest.param(ONE + b"\x20" + encode_varint(99), id="session_after_the_ticks"),
        pytest.param(b"\x0a\x01x" + ONE, id="header_source_twice"),
        pytest.param(ONE + _tick_fields_reordered(SEQ_ONLY), id="reordered_fields"),
        pytest.param(_with_tick_suffix(ONE, b"\x78\x05"), id="unknown_field_in_tick"),
        pytest.param(_with_tick_suffix(ONE, b"\x50\x00"), id="tradeable_twice"),
        pytest.param(ONE[:-1] + b"\x02", id="tradeable_not_0_or_1"),
        pytest.param(ONE + record("a", "USD_JPY", [(T0, 6)]), id="two_instruments"),
        pytest.param(ONE + record("other", "EUR_USD", [(T0, 6)]), id="two_sources"),
        pytest.param(
            ONE + MarketDataStream(best_prices=[BestPrice(instrument="EUR_USD")]).SerializeToString(), id="best_price"
        ),
    ],
)
def test_other_valid_encodings_fall_back_to_the_protobuf_library(value: bytes) -> None:
    assert _decode_fixed_layout(value) is None, "expected the protobuf fallback"

    runs = decode_ticks(value)

    assert decoded_rows(runs) == library_rows(value)
    assert reencoded(runs) == [
        Tick(**{field.name: value for field, value in tick.ListFields()})
        for tick in MarketDataStream.FromString(value).ticks
    ]
    assert all(len(run.entries) == run.entry_size * len(run.rows) for run in runs)


def test_random_gateway_records_decode_the_same_on_both_paths() -> None:
    generator = random.Random(7)
    for _ in range(200):
        source = "".join(generator.choices("ab-é", k=generator.randint(1, 150)))
        ticks = [(generator.randint(INT64_MIN, INT64_MAX), generator.randint(0, UINT64_MAX)) for _ in range(3)]
        value = record(source, "EUR_USD", ticks, session_id=generator.randint(0, UINT64_MAX))
        runs = _decode_fixed_layout(value)
        assert runs is not None and decoded_rows(runs) == library_rows(value)


def test_an_empty_value_has_no_ticks_and_garbage_is_a_decode_error() -> None:
    assert decode_ticks(b"") == []
    assert decode_ticks(MarketDataStream(source="a").SerializeToString()) == []
    with pytest.raises(DecodeError):
        decode_ticks(b"\x2a\x05abc")
    with pytest.raises(DecodeError):  # a source longer than the value
        decode_ticks(b"\x0a\x7fabc")
    with pytest.raises(DecodeError):  # an instrument that is not UTF-8
        decode_ticks(ONE.replace(b"EUR_USD", b"EUR\xffUSD"))


# -- selection -------------------------------------------------------------------------------------------------


def kept_seqs(selections: list[tuple[TickRun, Sequence[int]]]) -> list[int]:
    return [run.rows[index][6] for run, indices in selections for index in indices]


def test_ticks_are_selected_by_their_own_event_time_in_a_half_open_window() -> None:
    selector = TickSelector(T0 + 10, T0 + 20)
    value = record("a", "EUR_USD", [(T0 + 9, 1), (T0 + 10, 2), (T0 + 19, 3), (T0 + 20, 4)])

    selections = selector.select(value, b"gw:1:1", STREAM_CONTENT_TYPE.encode())

    assert kept_seqs(selections) == [2, 3]
    assert selections[0][1] == range(1, 3)
    assert (selector.stats.records_read, selector.stats.ticks_in_window) == (1, 2)


def test_a_redelivered_record_is_skipped_by_its_id_and_counted() -> None:
    selector = TickSelector(T0, T0 + 100)
    value = record("a", "EUR_USD", [(T0 + 1, 1), (T0 + 2, 2)])

    assert kept_seqs(selector.select(value, b"gw:1:1")) == [1, 2]
    assert selector.select(value, b"gw:1:1") == []

    stats = selector.stats
    assert (stats.records_read, stats.duplicate_records, stats.ticks_in_window, stats.duplicate_ticks) == (2, 1, 2, 0)


def test_ticks_at_or_below_the_seq_mark_are_dropped_per_source_session_and_instrument() -> None:
    selector = TickSelector(T0, T0 + 100)
    selector.select(record("a", "EUR_USD", [(T0 + 1, 1), (T0 + 2, 3)]), b"id-1")

    repeated = selector.select(record("a", "EUR_USD", [(T0 + 2, 3), (T0 + 3, 4)]), b"id-2")
    other_session = selector.select(record("a", "EUR_USD", [(T0 + 2, 3)], session_id=12), b"id-3")
    other_instrument = selector.select(record("a", "USD_JPY", [(T0 + 2, 2)]), b"id-4")

    assert (kept_seqs(repeated), kept_seqs(other_session), kept_seqs(other_instrument)) == ([4], [3], [2])
    assert (selector.stats.duplicate_ticks, selector.stats.ticks_in_window) == (1, 6)


def test_a_redelivery_older_than_the_remembered_ids_is_still_caught_by_seq() -> None:
    selector = TickSelector(T0, T0 + 100, remembered_ids=2)
    first = record("a", "EUR_USD", [(T0 + 1, 1), (T0 + 2, 2)])
    selector.select(first, b"id-1")
    selector.select(record("a", "EUR_USD", [(T0 + 3, 3)]), b"id-2")
    selector.select(record("a", "EUR_USD", [(T0 + 4, 4)]), b"id-3")

    assert selector.select(first, b"id-1") == []
    assert (selector.stats.duplicate_records, selector.stats.duplicate_ticks) == (0, 2)


def test_non_contiguous_selections_are_index_lists() -> None:
    selector = TickSelector(T0, T0 + 10)
    selections = selector.select(record("a", "EUR_USD", [(T0, 1), (T0 + 50, 2), (T0 + 1, 3)]))

    assert selections[0][1] == [0, 2]


def test_instrument_and_source_filters_apply_to_each_run() -> None:
    selector = TickSelector(T0, T0 + 10, instruments=frozenset({"EUR_USD"}), sources=frozenset({"a"}))
    value = record("a", "EUR_USD", [(T0, 1)]) + record("a", "USD_JPY", [(T0, 2)]) + record("b", "EUR_USD", [(T0, 3)])

    assert kept_seqs(selector.select(value)) == [1]
    assert selector.stats.ticks_in_window == 1


def test_records_that_are_not_tick_batches_are_counted_and_skipped() -> None:
    selector = TickSelector(T0, T0 + 10)

    assert selector.select(b"\xff\xff", b"id-1") == []
    assert selector.select(ONE, b"id-2", b"application/x-protobuf; proto=market.v1.SourceStatus") == []
    assert selector.stats.unreadable_records == 2
    assert "2 unreadable records skipped" in selector.stats.summary()


def test_the_summary_says_what_was_read_kept_and_skipped() -> None:
    stats = ReplayStats(
        records_read=1200, ticks_in_window=5000, duplicate_records=2, duplicate_ticks=7, ticks_output=4993, elapsed_s=2
    )
    assert stats.summary() == (
        "replay: 1,200 records read, 5,000 ticks in window, 4,993 ticks output, duplicates skipped: 2 records "
        "(by fxgw-id) and 7 ticks (by seq), 2.00 s, 2,496 ticks/s"
    )


# -- merge and pacing ------------------------------------------------------------------------------------------


def drain(merge: PartitionMerge[str]) -> list[str]:
    items = []
    while (item := merge.pop()) is not None:
        items.append(item)
    return items


def test_partitions_merge_by_key_once_every_open_partition_has_something() -> None:
    merge: PartitionMerge[str] = PartitionMerge([0, 1, 2])
    merge.add(0, 10, "p0-10")
    merge.add(0, 30, "p0-30")
    merge.add(1, 20, "p1-20")

    assert drain(merge) == [], "partition 2 might still deliver an earlier key"

    merge.add(2, 5, "p2-5")
    assert drain(merge) == ["p2-5"], "then partition 2 is empty again"

    merge.close(2)
    assert drain(merge) == ["p0-10", "p1-20"]
    merge.close(1)
    assert drain(merge) == ["p0-30"]
    merge.close(0)
    assert len(merge) == 0


def test_equal_keys_leave_in_arrival_order_and_weights_are_tracked() -> None:
    merge: PartitionMerge[str] = PartitionMerge([0, 1])
    merge.add(1, 7, "first", weight=3)
    merge.add(0, 7, "second", weight=2)
    merge.add(1, 7, "third", weight=1)
    assert (merge.weight(0), merge.weight(1)) == (2, 4)
    merge.close(0)
    merge.close(1)

    assert drain(merge) == ["first", "second", "third"]
    assert (merge.weight(0), merge.weight(1)) == (0, 0)


def test_the_pacer_maps_event_time_to_wall_time_at_its_speed() -> None:
    wall = [1_000]
    pacer = Pacer(10, clock_ns=lambda: wall[0])

    assert pacer.ahead_ns(T0) == 0, "the first tick anchors"
    assert pacer.ahead_ns(T0 + 50_000_000) == 5_000_000
    wall[0] += 4_000_000
    assert pacer.ahead_ns(T0 + 50_000_000) == 1_000_000
    assert pacer.ahead_ns(T0 + 10_000_000) < 0, "an earlier tick is due at once"


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, float, list[int]]] = []

    async def write(self, run: TickRun, indices: Sequence[int]) -> None:
        self.events.append(("write", time.monotonic(), [run.rows[i][6] for i in indices]))

    async def flush(self) -> None:
        self.events.append(("flush", time.monotonic(), []))


async def test_paced_output_is_flushed_before_each_wait_and_keeps_the_pace() -> None:
    ms = 1_000_000
    run = decode_ticks(record("a", "EUR_USD", [(T0, 1), (T0 + ms // 10, 2), (T0 + 40 * ms, 3), (T0 + 80 * ms, 4)]))[0]
    sink = RecordingSink()
    started = time.monotonic()

    await _write(sink, run, range(4), Pacer(2))

    assert [(kind, seqs) for kind, _, seqs in sink.events] == [
        ("write", [1, 2]),  # 0.05 ms apart at speed 2: below a timer tick, no wait
        ("flush", []),
        ("write", [3]),
        ("flush", []),
        ("write", [4]),
    ]
    assert sink.events[-1][1] - started >= 0.039


# -- sinks -----------------------------------------------------------------------------------------------------


class FakeNats:
    def __init__(self) -> None:
        self.messages: list[tuple[str, MarketDataStream, dict[str, str]]] = []

    async def publish(
        self, subject: str, payload: bytes = b"", reply: str = "", headers: dict[str, str] | None = None
    ) -> None:
        self.messages.append((subject, MarketDataStream.FromString(payload), headers or {}))


async def test_nats_sink_batches_per_source_and_session_with_ids_of_the_first_seq() -> None:
    client = FakeNats()
    sink = NatsTickSink(client, "replay", max_batch_ticks=3)
    eur = decode_ticks(record("a", "EUR_USD", [(T0 + i, i + 1) for i in range(4)]))[0]
    jpy = decode_ticks(record("a", "USD_JPY", [(T0 + 9, 9)]))[0]
    other = decode_ticks(record("b", "EUR_USD", [(T0, 1)], session_id=5))[0]

    await sink.write(eur, range(4))
    await sink.write(other, [0])
    await sink.write(jpy, [0])
    await sink.flush()

    summary = [
        (subject, m.source, m.session_id, m.batch_seq, [t.seq for t in m.ticks], h["Nats-Msg-Id"])
        for subject, m, h in client.messages
    ]
    assert summary == [
        ("replay.a.ticks", "a", 11, 1, [1, 2, 3], "replay:a:11:1"),
        ("replay.a.ticks", "a", 11, 2, [4, 9], "replay:a:11:4"),
        ("replay.b.ticks", "b", 5, 1, [1], "replay:b:5:1"),
    ]
    assert all(h["Content-Type"] == STREAM_CONTENT_TYPE for _, _, h in client.messages)
    assert list(client.messages[0][1].ticks) == list(MarketDataStream.FromString(eur.entries).ticks)[:3]
    assert sink.messages == 3


async def test_nats_sink_republishes_non_contiguous_selections() -> None:
    client = FakeNats()
    sink = NatsTickSink(client)
    run = decode_ticks(record("a", "EUR_USD", [(T0 + i, i + 1) for i in range(5)]))[0]

    await sink.write(run, [0, 2, 4])
    await sink.flush()

    assert [t.seq for t in client.messages[0][1].ticks] == [1, 3, 5]
    assert client.messages[0][0] == "replay.a.ticks"


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


# -- the Kafka reader, on a stand-in consumer ------------------------------------------------------------------


class TansuLikeConsumer:
    """Partition 0 holds offsets 0-2 and partition 1 offsets 0-1; ListOffsets answers 1 for both, as tansu does.

    Partition 0 is delivered in the first fetch, with an extra record written after
    the replay began; partition 1 never arrives.
    """

    def __init__(self, **_settings: object) -> None:
        self.fetches = 0
        self.paused: set[TopicPartition] = set()
        self.positions: dict[TopicPartition, int] = {}

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def topics(self) -> set[str]:
        return {"ticks", "other"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1}

    def assign(self, partitions: list[TopicPartition]) -> None: ...

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(partitions)

    async def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 0)

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 1)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.positions[partition] = offset

    def highwater(self, partition: TopicPartition) -> int | None:
        return {0: 3, 1: 2}[partition.partition] if self.fetches else None

    async def getmany(self, timeout_ms: int = 0) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        self.fetches += 1
        if self.fetches > 1:
            return {}
        first = TopicPartition("ticks", 0)
        self.positions[first] = 4
        return {first: [self.record(offset) for offset in range(4)]}

    async def position(self, partition: TopicPartition) -> int:
        return self.positions[partition]

    @staticmethod
    def record(offset: int) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord("ticks", 0, offset, 0, 0, b"EUR_USD", ONE, None, 7, len(ONE), ())


async def test_the_reader_ends_partitions_at_the_high_watermark_and_fails_when_kafka_goes_silent() -> None:
    reader = KafkaTickReader("kafka:9092", "ticks", timeout_s=0.05, consumer_factory=TansuLikeConsumer)
    await reader.open()
    assert (reader.partitions, reader.total_records) == ([0, 1], 5)

    records, finished = await reader.fetch()
    assert [record.offset for record in records[0]] == [0, 1, 2], "offset 3 came after the replay began"
    assert finished == [0] and not reader.done

    with pytest.raises(ReplayError, match=r"kafka:9092 delivered nothing for 0\.05 s with partitions \[1\]"):
        while True:
            await reader.fetch()
    await reader.close()


async def test_the_reader_refuses_an_unknown_topic_naming_those_there() -> None:
    with pytest.raises(ConfigError, match=r"topic 'tick' is unknown on Kafka at kafka:9092 \(topics: other, ticks\)"):
        await KafkaTickReader("kafka:9092", "tick", consumer_factory=TansuLikeConsumer).open()
