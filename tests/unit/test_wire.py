"""gateway.wire: hand-packed Tick records decode, with the protobuf library and with decode_ticks, to the same Tick."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from google.protobuf.message import DecodeError

from gateway.aggregator import BestQuote
from gateway.clock import parse_time_ns
from gateway.events import Quote
from gateway.schema.market.v1.market_pb2 import BestPrice, MarketDataStream, Tick
from gateway.wire import (
    BEST_SOURCE,
    CONTENT_TYPE_HEADER,
    ID_HEADER,
    REJECTION_CONTENT_TYPE,
    STATUS_CONTENT_TYPE,
    STREAM_CONTENT_TYPE,
    TickRecordEncoder,
    TickRun,
    best_prices_message,
    decode_fixed_layout,
    decode_ticks,
    encode_varint,
    kafka_headers,
    kafka_record_id,
)

INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
T0 = parse_time_ns("2026-11-21T10:00:00Z")


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


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"), (2**14, b"\x80\x80\x01")],
)
def test_varint_matches_the_protobuf_encoding(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded


@pytest.mark.parametrize(
    "quote",
    [
        pytest.param(Quote("EUR_USD", "oanda", 1_091_770_000, 1_091_880_000, 10**7, 10**7, 1, 2, True), id="typical"),
        pytest.param(Quote("USD_JPY", "s", 0, 0, 0, 0, 0, 0, False), id="all_defaults"),
        pytest.param(
            Quote("XAU_USD", "b" * 64, INT64_MIN, INT64_MAX, UINT64_MAX, 0, INT64_MAX, INT64_MIN, True),
            id="extremes_and_long_source",
        ),
        pytest.param(Quote("SPX500_USD", "é-source", -5, 7, 1, 2, 3, 4, True), id="non_ascii_source"),
        pytest.param(Quote("EUR_USD", "oanda", 1, 2, 3, 4, 5, 6, True, snapshot=True), id="snapshot"),
    ],
)
def test_encoded_record_decodes_to_the_same_tick(quote: Quote) -> None:
    encoder = TickRecordEncoder()
    header = MarketDataStream(source=quote.source, batch_seq=9, session_id=3).SerializeToString()
    payload = header + encoder.encode(quote, 1) + encoder.encode(quote, UINT64_MAX)

    decoded = MarketDataStream.FromString(payload)

    assert (decoded.source, decoded.batch_seq, decoded.session_id) == (quote.source, 9, 3)
    assert list(decoded.ticks) == [quote.to_tick(1), quote.to_tick(UINT64_MAX)]


def test_records_of_several_sources_and_instruments_keep_their_own_strings() -> None:
    encoder = TickRecordEncoder()
    quotes = [
        Quote("EUR_USD", "a", 1, 2, 0, 0, 5, 6, True),
        Quote("USD_JPY", "a", 3, 4, 0, 0, 7, 8, True),
        Quote("EUR_USD", "bb", 5, 6, 0, 0, 9, 10, False),
        Quote("EUR_USD", "bb", 5, 6, 0, 0, 9, 10, False, snapshot=True),
    ]
    payload = b"".join(encoder.encode(quote, seq) for seq, quote in enumerate(quotes, 1))
    assert list(MarketDataStream.FromString(payload).ticks) == [q.to_tick(seq) for seq, q in enumerate(quotes, 1)]


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
    runs = decode_fixed_layout(value)

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
    assert decode_fixed_layout(value) is None, "expected the protobuf fallback"

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
        runs = decode_fixed_layout(value)
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


# -- best-price messages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("best", "expected"),
    [
        pytest.param(
            BestQuote("EUR_USD", 1_091_770_000, "a", 1_091_780_000, "b", 2, T0),
            BestPrice(
                instrument="EUR_USD",
                bid_px=1_091_770_000,
                bid_source="a",
                ask_px=1_091_780_000,
                ask_source="b",
                live_sources=2,
                ts_ns=T0,
                crossed=False,
                tradeable=True,
            ),
            id="normal",
        ),
        pytest.param(
            BestQuote("EUR_USD", 1_091_790_000, "a", 1_091_780_000, "b", 2, T0),
            BestPrice(
                instrument="EUR_USD",
                bid_px=1_091_790_000,
                bid_source="a",
                ask_px=1_091_780_000,
                ask_source="b",
                live_sources=2,
                ts_ns=T0,
                crossed=True,
                tradeable=False,
            ),
            id="crossed_is_not_tradeable",
        ),
        pytest.param(
            BestQuote("USD_JPY", 150_000_000_000, "a", 150_000_000_000, "b", 2, T0),
            BestPrice(
                instrument="USD_JPY",
                bid_px=150_000_000_000,
                bid_source="a",
                ask_px=150_000_000_000,
                ask_source="b",
                live_sources=2,
                ts_ns=T0,
                crossed=False,
                tradeable=True,
            ),
            id="locked_across_sources_is_tradeable",
        ),
        pytest.param(
            BestQuote("EUR_USD", 0, "", 0, "", 0, T0),
            BestPrice(instrument="EUR_USD", ts_ns=T0, live_sources=0, crossed=False, tradeable=False),
            id="no_live_source",
        ),
    ],
)
def test_best_prices_message_holds_each_change_as_a_best_price(best: BestQuote, expected: BestPrice) -> None:
    message = best_prices_message([best])
    assert message.source == BEST_SOURCE == "best"
    assert list(message.best_prices) == [expected]
    assert not message.ticks


@pytest.mark.parametrize("count", [0, 1, 5])
def test_best_prices_message_keeps_the_changes_in_order(count: int) -> None:
    changes = [BestQuote(f"EUR_US{chr(65 + i)}", i + 1, "a", i + 2, "b", 1, T0 + i) for i in range(count)]
    message = best_prices_message(changes)
    assert [(b.instrument, b.bid_px, b.ask_px, b.ts_ns) for b in message.best_prices] == [
        (c.instrument, c.bid_px, c.ask_px, c.ts_ns) for c in changes
    ]


def test_best_prices_message_leaves_numbering_to_its_caller() -> None:
    message = best_prices_message([BestQuote("EUR_USD", 1, "a", 2, "b", 1, T0)])
    assert (message.batch_seq, message.batch_time_ns, message.session_id) == (0, 0, 0)
    assert MarketDataStream.FromString(message.SerializeToString()) == message


# -- Kafka record ids and headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instance_id", "epoch", "seq", "expected"),
    [
        pytest.param("fxgw", 1_700_000_000, 1, b"fxgw:1700000000:1", id="first_record"),
        pytest.param(
            "fxgw-ldn.2",
            1_700_000_000_123_456_789,
            2**40,
            b"fxgw-ldn.2:1700000000123456789:1099511627776",
            id="ns_epoch_and_large_seq",
        ),
        pytest.param("a_b", 0, 0, b"a_b:0:0", id="zeros"),
    ],
)
def test_record_id_is_instance_epoch_and_seq(instance_id: str, epoch: int, seq: int, expected: bytes) -> None:
    assert kafka_record_id(instance_id, epoch, seq) == expected


@pytest.mark.parametrize(
    ("content_type", "message_type"),
    [
        pytest.param(STREAM_CONTENT_TYPE, "MarketDataStream", id="stream"),
        pytest.param(REJECTION_CONTENT_TYPE, "QualityRejection", id="rejection"),
        pytest.param(STATUS_CONTENT_TYPE, "SourceStatus", id="status"),
    ],
)
def test_record_headers_are_the_content_type_and_the_stable_id(content_type: str, message_type: str) -> None:
    assert kafka_headers(content_type, kafka_record_id("fxgw", 1_700_000_000, 42)) == [
        ("content-type", f"application/x-protobuf; proto=market.v1.{message_type}".encode()),
        ("fxgw-id", b"fxgw:1700000000:42"),
    ]
    assert (CONTENT_TYPE_HEADER, ID_HEADER) == ("content-type", "fxgw-id")
