"""gateway.tail: gateway messages rendered for people, never raising on bad payloads."""

from __future__ import annotations

import calendar
from typing import cast

import pytest

from gateway.schema.market.v1.market_pb2 import (
    BestPrice,
    MarketDataStream,
    QualityRejection,
    RejectionReason,
    SourceStatus,
    Tick,
)
from gateway.tail import describe, message_type

STREAM = "application/x-protobuf; proto=market.v1.MarketDataStream"
REJECTION = "application/x-protobuf; proto=market.v1.QualityRejection"
STATUS = "application/x-protobuf; proto=market.v1.SourceStatus"
EVENT_NS = calendar.timegm((2016, 10, 27, 8, 38, 45, 0, 0, 0)) * 1_000_000_000 + 664_613_867


def eur_usd(seq: int, *, tradeable: bool = True) -> Tick:
    return Tick(
        instrument="EUR_USD",
        source="oanda",
        bid_px=1_091_770_000,
        ask_px=1_091_880_000,
        ts_event_ns=EVENT_NS,
        ts_recv_ns=EVENT_NS + 1,
        seq=seq,
        tradeable=tradeable,
    )


@pytest.mark.parametrize(
    ("subject", "headers", "expected"),
    [
        pytest.param("market.oanda.ticks", {"Content-Type": STREAM}, "market.v1.MarketDataStream", id="stream_header"),
        pytest.param(
            "market.rejected", {"Content-Type": REJECTION}, "market.v1.QualityRejection", id="rejection_header"
        ),
        pytest.param(
            "market.rejected", {"Content-Type": STREAM}, "market.v1.MarketDataStream", id="header_wins_over_subject"
        ),
        pytest.param(
            "x",
            {"Content-Type": "application/x-protobuf; charset=binary; proto=market.v1.Foo"},
            "market.v1.Foo",
            id="proto_after_other_parameter",
        ),
        pytest.param("market.rejected", None, "market.v1.QualityRejection", id="no_headers_rejected_subject"),
        pytest.param("market.best.ticks", None, "market.v1.MarketDataStream", id="no_headers_ticks_subject"),
        pytest.param(
            "market.best.ticks",
            {"Content-Type": "application/x-protobuf"},
            "market.v1.MarketDataStream",
            id="header_without_proto_parameter",
        ),
    ],
)
def test_message_type_comes_from_the_content_type_else_the_subject(
    subject: str, headers: dict[str, str] | None, expected: str
) -> None:
    assert message_type(subject, headers) == expected


def test_tick_batch_renders_one_line_per_tick() -> None:
    batch = MarketDataStream(source="oanda", batch_seq=12, ticks=[eur_usd(41), eur_usd(42, tradeable=False)])
    assert describe("market.oanda.ticks", {"Content-Type": STREAM}, batch.SerializeToString()) == [
        "market.oanda.ticks batch 12 EUR_USD 1.09177/1.09188 seq=41 event=2016-10-27T08:38:45.664613867Z",
        "market.oanda.ticks batch 12 EUR_USD 1.09177/1.09188 seq=42 event=2016-10-27T08:38:45.664613867Z NOT TRADEABLE",
    ]


@pytest.mark.parametrize(
    ("best", "expected"),
    [
        pytest.param(
            BestPrice(
                instrument="USD_JPY",
                bid_px=150_123_000_000,
                bid_source="oanda",
                ask_px=150_125_000_000,
                ask_source="sim",
                live_sources=2,
                tradeable=True,
            ),
            "market.best.ticks batch 3 USD_JPY best 150.123 (oanda) / 150.125 (sim) live=2",
            id="tradeable",
        ),
        pytest.param(
            BestPrice(
                instrument="EUR_USD",
                bid_px=1_091_900_000,
                bid_source="a",
                ask_px=1_091_880_000,
                ask_source="b",
                live_sources=2,
                crossed=True,
                tradeable=False,
            ),
            "market.best.ticks batch 3 EUR_USD best 1.09190 (a) / 1.09188 (b) live=2 CROSSED NOT TRADEABLE",
            id="crossed",
        ),
        pytest.param(
            BestPrice(instrument="EUR_USD", live_sources=0, tradeable=False),
            "market.best.ticks batch 3 EUR_USD best 0.00000 () / 0.00000 () live=0 NOT TRADEABLE",
            id="no_live_source",
        ),
    ],
)
def test_best_price_batch_renders_sources_live_count_and_flags(best: BestPrice, expected: str) -> None:
    batch = MarketDataStream(source="best", batch_seq=3, best_prices=[best])
    assert describe("market.best.ticks", None, batch.SerializeToString()) == [expected]


def test_batch_with_ticks_and_best_prices_lists_ticks_first() -> None:
    best = BestPrice(
        instrument="EUR_USD",
        bid_px=1_091_770_000,
        bid_source="oanda",
        ask_px=1_091_880_000,
        ask_source="oanda",
        live_sources=1,
        tradeable=True,
    )
    batch = MarketDataStream(source="best", batch_seq=1, ticks=[eur_usd(1)], best_prices=[best])
    lines = describe("market.best.ticks", None, batch.SerializeToString())
    assert len(lines) == 2
    assert "seq=1" in lines[0]
    assert lines[1].endswith("best 1.09177 (oanda) / 1.09188 (oanda) live=1")


@pytest.mark.parametrize(
    ("rejection", "expected"),
    [
        pytest.param(
            QualityRejection(
                tick=Tick(instrument="EUR_USD", source="oanda", bid_px=1_091_900_000, ask_px=1_091_880_000),
                reason=RejectionReason.REJECTION_REASON_CROSSED,
                detail="EUR_USD: bid 1.09190 above ask 1.09188",
            ),
            "market.rejected oanda EUR_USD 1.09190/1.09188 CROSSED: EUR_USD: bid 1.09190 above ask 1.09188",
            id="crossed_tick",
        ),
        pytest.param(
            QualityRejection(
                tick=Tick(source="oanda"),
                reason=RejectionReason.REJECTION_REASON_MALFORMED,
                detail="not valid JSON",
                raw=b'{"type": "PRI',
            ),
            'market.rejected oanda ? MALFORMED: not valid JSON raw=b\'{"type": "PRI\'',
            id="malformed_without_instrument_or_prices",
        ),
        pytest.param(
            QualityRejection(
                tick=Tick(instrument="EUR_USD", source="replay"),
                reason=RejectionReason.REJECTION_REASON_BAD_VALUE,
                detail="price 'abc'",
                raw=b"x" * 100,
            ),
            f"market.rejected replay EUR_USD BAD_VALUE: price 'abc' raw={b'x' * 80!r}",
            id="raw_cut_to_80_bytes",
        ),
    ],
)
def test_rejection_renders_source_instrument_prices_reason_and_raw(rejection: QualityRejection, expected: str) -> None:
    assert describe("market.rejected", {"Content-Type": REJECTION}, rejection.SerializeToString()) == [expected]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xff\xff\xff", id="bad_varint"),
        pytest.param(b"garbage!", id="text"),
        pytest.param(b"\x0a\x05abc", id="truncated_field"),
        pytest.param(b"\x00", id="field_number_zero"),
        pytest.param(b'{"type": "PRICE"}', id="json_instead_of_protobuf"),
    ],
)
@pytest.mark.parametrize("subject", ["market.oanda.ticks", "market.rejected"])
def test_garbage_bytes_are_described_not_raised(subject: str, data: bytes) -> None:
    lines = describe(subject, None, data)
    assert len(lines) == 1
    assert lines[0].startswith(f"{subject}: {len(data)} bytes that are not a valid market.v1.")


def test_unknown_content_type_is_named_without_decoding() -> None:
    assert describe("market.x", {"Content-Type": "application/x-protobuf; proto=market.v2.Tick"}, b"\x01\x02") == [
        "market.x: 2 bytes of unknown type 'market.v2.Tick'"
    ]


def test_rejection_reason_from_a_newer_schema_is_described_not_raised() -> None:
    # Field 2 (reason) = 99: proto3 enums are open, so a newer gateway may send a reason this one lacks.
    lines = describe("market.rejected", None, b"\x10\x63")
    assert len(lines) == 1
    assert "99" in lines[0]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param(
            SourceStatus(source="oanda", state=SourceStatus.STATE_CONNECTED, ts_ns=EVENT_NS, detail="streaming 2"),
            "market.oanda.status oanda CONNECTED at 2016-10-27T08:38:45.664613867Z: streaming 2",
            id="connected",
        ),
        pytest.param(
            SourceStatus(
                source="oanda",
                state=SourceStatus.STATE_RECONNECTED,
                ts_ns=EVENT_NS,
                gap_ns=2_500_000_000,
                attempt=3,
                detail="stream reopened",
            ),
            "market.oanda.status oanda RECONNECTED gap=2.500s attempt=3 at 2016-10-27T08:38:45.664613867Z: "
            "stream reopened",
            id="reconnected_with_gap",
        ),
        pytest.param(
            # proto3 enums are open: a number this schema does not name decodes as is (the stub allows names only)
            SourceStatus(source="oanda", state=cast(SourceStatus.State, 99), ts_ns=EVENT_NS),
            "market.oanda.status oanda state 99 at 2016-10-27T08:38:45.664613867Z: ",
            id="state_from_a_newer_schema",
        ),
    ],
)
def test_status_messages_are_one_line_found_by_subject_or_header(status: SourceStatus, expected: str) -> None:
    payload = status.SerializeToString()
    assert describe("market.oanda.status", None, payload) == [expected]
    assert describe("market.oanda.status", {"Content-Type": STATUS}, payload) == [expected]


def test_snapshot_ticks_are_flagged() -> None:
    tick = eur_usd(1)
    tick.snapshot = True
    (line,) = describe("market.oanda.ticks", None, MarketDataStream(source="oanda", ticks=[tick]).SerializeToString())
    assert line.endswith(" SNAPSHOT")
