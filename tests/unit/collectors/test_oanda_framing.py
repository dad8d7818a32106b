"""collectors.oanda.framing: chunks of a recorded OANDA v20 pricing stream, cut anywhere, to events and counts."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from collectors.oanda.framing import OandaFraming
from gateway.events import BadInput, Event, Quote
from gateway.schema.market.v1.market_pb2 import RejectionReason

SOURCE = "oanda-practice"
RECV_NS = 1_700_000_000_123_456_789
CURRENT_SHAPE = "hootnot_pricing_stream_response.jsonl"  # EUR_JPY, heartbeat, EUR_USD, EUR_JPY
NOTEBOOK_SHAPE = "hootnot_streams_ipynb_pricing_stream.jsonl"  # 4 prices of EUR_USD and USD_JPY, 4 heartbeats
BOTH = ("EUR_USD", "EUR_JPY")

Key = tuple[str, int, int]
"""(instrument, bid, ask in 1e-9 units) of a price line, read here with the standard library."""


def recorded(shared_data: Path, file_name: str) -> bytes:
    return (shared_data / "oanda-v20" / file_name).read_bytes()


def price_keys(stream: bytes) -> list[Key]:
    """The price lines of ``stream`` as keys, in order: an independent reading of what the framing must yield."""
    keys = []
    for line in filter(bytes.strip, stream.splitlines()):
        message = json.loads(line)
        if message.get("type", "PRICE") == "PRICE":
            bid, ask = message["bids"][0]["price"], message["asks"][0]["price"]
            keys.append((message["instrument"], int(Decimal(bid) * 10**9), int(Decimal(ask) * 10**9)))
    return keys


def key(event: Event) -> Key:
    assert isinstance(event, Quote)
    return event.instrument, event.bid_px, event.ask_px


def feed_all(framing: OandaFraming, chunks: list[bytes], recv_ns: int = RECV_NS) -> tuple[list[Event], int, int, int]:
    """Every chunk fed in order: all events, and the price, heartbeat and malformed counts summed."""
    events: list[Event] = []
    prices = heartbeats = malformed = 0
    for chunk in chunks:
        chunk_events, chunk_prices, chunk_heartbeats, chunk_malformed = framing.feed(chunk, recv_ns)
        events += chunk_events
        prices += chunk_prices
        heartbeats += chunk_heartbeats
        malformed += chunk_malformed
    return events, prices, heartbeats, malformed


def cut(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


def test_a_recorded_stream_becomes_its_quotes_in_order_the_first_of_each_instrument_a_snapshot(
    shared_data: Path,
) -> None:
    stream = recorded(shared_data, CURRENT_SHAPE)
    framing = OandaFraming(SOURCE, BOTH)

    events, prices, heartbeats, malformed = framing.feed(stream, RECV_NS)

    assert (prices, heartbeats, malformed, framing.partial) == (3, 1, 0, b"")
    assert [key(event) for event in events] == price_keys(stream)
    quotes = [event for event in events if isinstance(event, Quote)]
    assert [(q.instrument, q.snapshot) for q in quotes] == [("EUR_JPY", True), ("EUR_USD", True), ("EUR_JPY", False)]
    assert {(q.source, q.ts_recv_ns) for q in quotes} == {(SOURCE, RECV_NS)}


@pytest.mark.parametrize("file_name", [CURRENT_SHAPE, NOTEBOOK_SHAPE])
@pytest.mark.parametrize("size", [1, 2, 7, 64, 300])
def test_chunks_of_any_size_give_the_same_events_as_the_whole_stream(
    shared_data: Path, file_name: str, size: int
) -> None:
    stream = recorded(shared_data, file_name)
    whole = OandaFraming(SOURCE, BOTH).feed(stream, RECV_NS)

    framing = OandaFraming(SOURCE, BOTH)
    events, prices, heartbeats, malformed = feed_all(framing, cut(stream, size))

    assert (events, prices, heartbeats, malformed) == whole
    assert framing.partial == b"" and malformed == 0


def test_a_cut_at_every_byte_of_the_stream_loses_and_repeats_nothing(shared_data: Path) -> None:
    stream = recorded(shared_data, CURRENT_SHAPE)
    expected = price_keys(stream)
    for at in range(len(stream) + 1):
        events, prices, heartbeats, malformed = feed_all(OandaFraming(SOURCE, BOTH), [stream[:at], stream[at:]])
        assert [key(event) for event in events] == expected, at
        assert (prices, heartbeats, malformed) == (3, 1, 0), at


def test_a_line_completed_by_a_later_chunk_is_stamped_with_that_chunks_receive_time(shared_data: Path) -> None:
    first, second = recorded(shared_data, CURRENT_SHAPE).splitlines(keepends=True)[2:4]
    framing = OandaFraming(SOURCE, BOTH)

    held, *_ = framing.feed(first + second[:40], RECV_NS)
    assert [event.ts_recv_ns for event in held] == [RECV_NS]
    assert framing.partial == second[:40]

    completed, *_ = framing.feed(second[40:], RECV_NS + 5)
    assert [event.ts_recv_ns for event in completed] == [RECV_NS + 5]
    assert framing.partial == b""


def test_a_chunk_ending_mid_line_holds_the_start_and_yields_nothing_for_it(shared_data: Path) -> None:
    line = recorded(shared_data, CURRENT_SHAPE).splitlines(keepends=True)[0]
    framing = OandaFraming(SOURCE, BOTH)

    framed = framing.feed(line[:-1], RECV_NS)  # all but the newline

    assert framed == ([], 0, 0, 0)
    assert framing.partial == line[:-1]


def test_crlf_line_ends_give_the_same_events_as_lf(shared_data: Path) -> None:
    stream = recorded(shared_data, CURRENT_SHAPE)
    crlf = stream.replace(b"\n", b"\r\n")

    events, *counts = OandaFraming(SOURCE, BOTH).feed(crlf, RECV_NS)

    assert events == OandaFraming(SOURCE, BOTH).feed(stream, RECV_NS)[0]
    assert counts == [3, 1, 0]


@pytest.mark.parametrize(
    "blank",
    [
        pytest.param(b"\n", id="empty_line"),
        pytest.param(b"\r\n", id="empty_crlf_line"),
        pytest.param(b"\n\n\n", id="several_empty_lines"),
    ],
)
def test_empty_lines_are_skipped_and_not_counted(shared_data: Path, blank: bytes) -> None:
    lines = recorded(shared_data, CURRENT_SHAPE).splitlines(keepends=True)
    stream = blank + blank.join(lines) + blank

    events, *counts = OandaFraming(SOURCE, BOTH).feed(stream, RECV_NS)

    assert counts == [3, 1, 0]
    assert [key(event) for event in events] == price_keys(b"".join(lines))


def test_heartbeats_are_counted_and_yield_no_event(shared_data: Path) -> None:
    heartbeats = b"".join(
        line for line in recorded(shared_data, NOTEBOOK_SHAPE).splitlines(keepends=True) if b"HEARTBEAT" in line
    )

    framed = OandaFraming(SOURCE, BOTH).feed(heartbeats, RECV_NS)

    assert framed == ([], 0, 4, 0)


@pytest.mark.parametrize(
    ("bad_line", "reason", "instrument"),
    [
        pytest.param(b"{not json", RejectionReason.REJECTION_REASON_MALFORMED, "", id="not_json"),
        pytest.param(b'{"type":"ORDER"}', RejectionReason.REJECTION_REASON_MALFORMED, "", id="unknown_type"),
        pytest.param(
            b'{"type":"PRICE","instrument":"EUR_USD","time":"2016-10-27T08:38:45.664613867Z",'
            b'"bids":[{"price":"abc","liquidity":1}],"asks":[{"price":"1.09188","liquidity":1}]}',
            RejectionReason.REJECTION_REASON_BAD_VALUE,
            "EUR_USD",
            id="bad_price",
        ),
    ],
)
def test_a_bad_line_between_good_ones_is_a_counted_rejection_in_its_place_and_the_rest_is_read(
    shared_data: Path, bad_line: bytes, reason: RejectionReason, instrument: str
) -> None:
    lines = recorded(shared_data, CURRENT_SHAPE).splitlines(keepends=True)
    stream = b"".join([lines[0], bad_line + b"\n", *lines[1:]])

    events, *counts = OandaFraming(SOURCE, BOTH).feed(stream, RECV_NS)

    assert counts == [3, 1, 1]
    [bad] = [event for event in events if isinstance(event, BadInput)]
    assert events.index(bad) == 1
    assert (bad.source, bad.reason, bad.raw, bad.ts_recv_ns, bad.instrument) == (
        SOURCE,
        reason,
        bad_line,
        RECV_NS,
        instrument,
    )
    assert bad.detail
    assert [key(event) for event in events if isinstance(event, Quote)] == price_keys(b"".join(lines))


def test_only_instruments_awaiting_their_snapshot_are_marked_and_each_only_once(shared_data: Path) -> None:
    stream = recorded(shared_data, CURRENT_SHAPE)
    framing = OandaFraming(SOURCE, ["EUR_USD"])  # only EUR_USD awaits its first price on this stream

    first, *_ = framing.feed(stream, RECV_NS)
    again, *_ = framing.feed(stream, RECV_NS)

    marked = [(event.instrument, event.snapshot) for event in first if isinstance(event, Quote)]
    assert marked == [("EUR_JPY", False), ("EUR_USD", True), ("EUR_JPY", False)]
    assert not any(isinstance(event, Quote) and event.snapshot for event in again)


def test_a_new_framing_marks_the_first_quotes_of_a_new_stream_again(shared_data: Path) -> None:
    stream = recorded(shared_data, CURRENT_SHAPE)
    OandaFraming(SOURCE, BOTH).feed(stream, RECV_NS)

    reopened, *_ = OandaFraming(SOURCE, BOTH).feed(stream, RECV_NS)

    assert [event.snapshot for event in reopened if isinstance(event, Quote)] == [True, True, False]
