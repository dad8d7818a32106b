"""gateway.wire: hand-packed Tick records must decode, with the protobuf library, to the same Tick."""

from __future__ import annotations

import pytest

from gateway.events import Quote
from gateway.schema.market.v1.market_pb2 import MarketDataStream
from gateway.wire import TickRecordEncoder, encode_varint

INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


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
