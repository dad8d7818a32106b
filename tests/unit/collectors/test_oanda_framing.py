"""collectors.oanda.framing: chunks of a recorded OANDA v20 pricing stream, cut anywhere, to events and counts."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from collectors.oanda import framing as framing_module
from collectors.oanda.framing import MAX_LINE_BYTES, OandaFraming
from collectors.oanda.parsing import parse_stream_line
from gateway.clock import parse_time_ns
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

    framing = OandaFraming(SOURCE, BOTH)
    framed = framing.feed(heartbeats, RECV_NS)

    assert framed == ([], 0, 4, 0)
    last = json.loads(heartbeats.splitlines()[-1])["time"]  # the broker time of the last one, for its age
    assert framing.last_heartbeat_ns == parse_time_ns(last)


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


# -- hostile input: over-long lines, a parser that fails unexpectedly ---------------------------------------------

LIMIT = 4096


def long_line(size: int) -> bytes:
    """A line of exactly ``size`` bytes (newline excluded) that would be a valid JSON object."""
    head = b'{"type":"PRICE","x":"'
    return head + b"a" * (size - len(head) - 2) + b'"}'


def test_a_line_passing_the_limit_is_rejected_at_once_and_skipped_to_its_newline_without_being_kept(
    shared_data: Path,
) -> None:
    lines = recorded(shared_data, CURRENT_SHAPE).splitlines(keepends=True)
    framing = OandaFraming(SOURCE, BOTH, max_line_bytes=LIMIT)

    first = framing.feed(lines[0] + long_line(3 * LIMIT)[: LIMIT + 1], RECV_NS)
    skipped = [framing.feed(b"a" * 1000, RECV_NS + 1) for _ in range(50)]
    rest = framing.feed(b'a"}\n' + b"".join(lines[1:]), RECV_NS + 2)

    events, prices, heartbeats, malformed = first
    assert (prices, heartbeats, malformed) == (1, 0, 1)
    quote, rejection = events
    assert isinstance(quote, Quote) and isinstance(rejection, BadInput)
    assert (rejection.reason, rejection.ts_recv_ns) == (RejectionReason.REJECTION_REASON_MALFORMED, RECV_NS)
    assert rejection.detail == (
        f"line longer than max_line_bytes (4,096): {LIMIT + 1:,} bytes without a newline so far; "
        f"the rest of it is skipped (raw: its first 512 bytes)"
    )
    assert rejection.raw == long_line(3 * LIMIT)[:512]
    assert framing.partial == b""  # nothing of the long line is kept
    assert skipped == [([], 0, 0, 0)] * 50
    assert rest[1:] == (2, 1, 0)  # the lines after it are read as usual
    assert [key(event) for event in first[0][:1] + rest[0]] == price_keys(b"".join(lines))


def test_a_line_of_32_mib_in_64_kib_reads_costs_one_rejection_and_never_more_than_the_limit_held(
    shared_data: Path,
) -> None:
    lines = recorded(shared_data, CURRENT_SHAPE).splitlines(keepends=True)
    stream = lines[0] + long_line(32 * 1024 * 1024) + b"\n" + b"".join(lines[1:])
    framing = OandaFraming(SOURCE, BOTH)  # the default limit, 64 KiB

    held = []
    events, prices, heartbeats, malformed = [], 0, 0, 0
    for chunk in cut(stream, 64 * 1024):
        chunk_events, chunk_prices, chunk_heartbeats, chunk_malformed = framing.feed(chunk, RECV_NS)
        events += chunk_events
        prices, heartbeats, malformed = (
            prices + chunk_prices,
            heartbeats + chunk_heartbeats,
            malformed + chunk_malformed,
        )
        held.append(len(framing.partial))

    assert (prices, heartbeats, malformed) == (3, 1, 1)
    assert max(held) <= MAX_LINE_BYTES
    [rejection] = [event for event in events if isinstance(event, BadInput)]
    assert "max_line_bytes (65,536)" in rejection.detail and len(rejection.raw) == 512
    assert [key(event) for event in events if isinstance(event, Quote)] == price_keys(b"".join(lines))


@pytest.mark.parametrize(
    ("size", "rejected"),
    [pytest.param(LIMIT, False, id="at_the_limit"), pytest.param(LIMIT + 1, True, id="one_byte_over")],
)
@pytest.mark.parametrize(
    "chunk_size", [100, LIMIT, 3 * LIMIT], ids=["small_chunks", "chunks_of_the_limit", "one_chunk"]
)
def test_the_limit_is_inclusive_for_a_line_arriving_whole_or_in_pieces(
    shared_data: Path, size: int, rejected: bool, chunk_size: int
) -> None:
    price = recorded(shared_data, CURRENT_SHAPE).splitlines()[2]
    padded = price[:-1] + b" " * (size - len(price)) + b"}"
    assert len(padded) == size
    framing = OandaFraming(SOURCE, BOTH, max_line_bytes=LIMIT)

    events, prices, _, malformed = feed_all(framing, cut(padded + b"\n" + price + b"\n", chunk_size))

    assert (prices, malformed) == ((1, 1) if rejected else (2, 0))
    assert [isinstance(event, BadInput) for event in events] == [rejected, False]
    if rejected:
        assert "max_line_bytes (4,096)" in events[0].detail  # type: ignore[union-attr]


def test_a_stream_ending_inside_a_skipped_line_leaves_no_partial_to_report(shared_data: Path) -> None:
    framing = OandaFraming(SOURCE, BOTH, max_line_bytes=LIMIT)

    feed_all(framing, cut(long_line(10 * LIMIT), 1000))

    assert framing.partial == b""  # it was rejected when it passed the limit; a cut adds no second rejection


def test_an_unexpected_parser_failure_costs_its_own_line_only(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = recorded(shared_data, CURRENT_SHAPE).splitlines(keepends=True)
    poisoned = b'{"type":"PRICE","poison":true}'

    def parse(line: bytes, source: str, ts_recv_ns: int) -> object:
        if line == poisoned:
            raise ZeroDivisionError("a bug \ud800 of " + "x" * 10_000)  # with text that cannot be encoded as is
        return parse_stream_line(line, source, ts_recv_ns)

    monkeypatch.setattr(framing_module, "parse_stream_line", parse)
    stream = b"".join([lines[0], poisoned + b"\n", *lines[1:]])

    events, *counts = OandaFraming(SOURCE, BOTH).feed(stream, RECV_NS)

    assert counts == [3, 1, 1]
    [bad] = [event for event in events if isinstance(event, BadInput)]
    assert events.index(bad) == 1
    assert (bad.reason, bad.raw) == (RejectionReason.REJECTION_REASON_MALFORMED, poisoned)
    assert bad.detail.startswith("line could not be read (ZeroDivisionError: a bug \\ud800 of xxx")
    assert len(bad.detail) < 300
    bad.detail.encode()  # publishable
    assert [key(event) for event in events if isinstance(event, Quote)] == price_keys(b"".join(lines))


def test_a_limit_below_one_byte_is_refused() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        OandaFraming(SOURCE, BOTH, max_line_bytes=0)
