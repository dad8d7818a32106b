"""The cTrader framing on recorded prices and on a generated hostile corpus: exact quotes, bounded rejections.

Spot events are built here with the official messages from the recorded OANDA EUR/USD quotes of
``../shared/data`` (only the sides that changed, as the server sends them), and fed in chunks cut at random
places; what each must become is known by construction.
"""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from collectors.ctrader.framing import MAX_FRAME_BYTES, CtraderFraming
from collectors.ctrader.messages.OpenApiCommonMessages_pb2 import ProtoHeartbeatEvent, ProtoMessage
from collectors.ctrader.messages.OpenApiMessages_pb2 import (
    ProtoOAAccountDisconnectEvent,
    ProtoOAAccountsTokenInvalidatedEvent,
    ProtoOAClientDisconnectEvent,
    ProtoOAErrorRes,
    ProtoOASpotEvent,
    ProtoOASubscribeSpotsRes,
)
from collectors.ctrader.parsing import HEARTBEAT_FRAME, Refusal, ServerError, encode_frame, prefixed
from collectors.recorded import quote_files, read_lines
from collectors.recorded_parsing import parse_quote_line
from gateway.echo import DETAIL_CHARS, RAW_BYTES
from gateway.events import BadInput, Event, Quote
from gateway.schema.market.v1.market_pb2 import QualityRejection, RejectionReason, Tick

SOURCE: Final = "ctrader-test"
ACCOUNT: Final = 4_100_200
EURUSD: Final = 1
USDJPY: Final = 4
SYMBOLS: Final = {EURUSD: "EUR_USD", USDJPY: "USD_JPY"}
RECV_NS: Final = 1_700_000_000_123_456_789
TS_MS: Final = 1_700_000_000_000


def recorded(shared_data: Path, count: int) -> list[tuple[int, int]]:
    """The first ``count`` recorded EUR/USD quotes as (bid, ask) in 1e-5 units."""
    path = shared_data / "oanda-eurusd-ticks"
    quotes = []
    for file, day_start_ns in quote_files(path)[:1]:
        for line in itertools.islice(read_lines(file), count):
            quote = parse_quote_line(line, day_start_ns)
            quotes.append((quote.bid_px // 10_000, quote.ask_px // 10_000))
    return quotes


def spot(symbol_id: int = EURUSD, *, bid: int | None = None, ask: int | None = None, ts_ms: int | None = None) -> bytes:
    event = ProtoOASpotEvent(ctidTraderAccountId=ACCOUNT, symbolId=symbol_id)
    if bid is not None:
        event.bid = bid
    if ask is not None:
        event.ask = ask
    if ts_ms is not None:
        event.timestamp = ts_ms
    return encode_frame(event)


def one_sided_stream(quotes: list[tuple[int, int]]) -> Iterator[bytes]:
    """Spot frames carrying only what changed since the previous quote (both sides first)."""
    previous: tuple[int, int] | None = None
    for index, (bid, ask) in enumerate(quotes):
        if (bid, ask) == previous:
            continue  # nothing changed: no event
        yield spot(
            bid=bid if previous is None or previous[0] != bid else None,
            ask=ask if previous is None or previous[1] != ask else None,
            ts_ms=TS_MS + index,
        )
        previous = (bid, ask)


def feed_in_chunks(framing: CtraderFraming, data: bytes, rng: random.Random) -> list[Event]:
    events: list[Event] = []
    position = 0
    while position < len(data):
        size = rng.choice((1, 2, 3, 5, 17, 64, 1000, 70_000))
        result = framing.feed(data[position : position + size], RECV_NS)
        events.extend(result[0])
        position += size
    return events


def new_framing(max_frame_bytes: int = MAX_FRAME_BYTES) -> CtraderFraming:
    return CtraderFraming(SOURCE, ACCOUNT, SYMBOLS, max_frame_bytes)


def assert_publishable(event: BadInput) -> None:
    assert len(event.detail) <= DETAIL_CHARS and len(event.raw) <= RAW_BYTES
    tick = Tick(source=event.source, instrument=event.instrument)
    QualityRejection(tick=tick, reason=event.reason, detail=event.detail, raw=event.raw).SerializeToString()


def test_recorded_quotes_sent_one_sided_come_out_whole_and_exact_whatever_the_cuts(shared_data: Path) -> None:
    quotes = [quote for quote, _ in itertools.groupby(recorded(shared_data, 3000))]  # the changes
    data = b"".join(one_sided_stream(quotes))
    framing = new_framing()
    events = feed_in_chunks(framing, data, random.Random(16))
    assert [(e.bid_px, e.ask_px) for e in events if isinstance(e, Quote)] == [
        (bid * 10_000, ask * 10_000) for bid, ask in quotes
    ]
    assert all(isinstance(e, Quote) for e in events)
    assert [e.ts_event_ns for e in events if isinstance(e, Quote)] == [
        (TS_MS + i) * 1_000_000 for i in range(len(quotes))
    ]
    assert [e.snapshot for e in events if isinstance(e, Quote)] == [True] + [False] * (len(quotes) - 1)
    assert framing.partial == b"" and framing.stop is None


def test_a_side_is_never_published_missing_and_never_taken_from_another_stream() -> None:
    framing = new_framing()
    assert framing.feed(spot(bid=108_000), RECV_NS) == ([], 0, 0, 0)
    assert framing.without_quote == 1
    events, prices, _, _ = framing.feed(spot(ask=108_010) + spot(bid=108_005), RECV_NS)
    assert prices == 2
    assert [(e.bid_px, e.ask_px) for e in events if isinstance(e, Quote)] == [
        (1_080_000_000, 1_080_100_000),
        (1_080_050_000, 1_080_100_000),
    ]
    reopened = new_framing()  # a new stream starts with no sides
    assert reopened.feed(spot(bid=108_001), RECV_NS)[0] == []


def test_the_receive_time_stands_in_for_a_missing_timestamp_and_heartbeats_are_counted() -> None:
    framing = new_framing()
    events, prices, heartbeats, malformed = framing.feed(
        HEARTBEAT_FRAME + spot(USDJPY, bid=150_123, ask=150_130) + HEARTBEAT_FRAME, RECV_NS
    )
    assert (prices, heartbeats, malformed) == (1, 2, 0)
    [quote] = events
    assert isinstance(quote, Quote)
    assert (quote.instrument, quote.ts_event_ns, quote.ts_recv_ns) == ("USD_JPY", RECV_NS, RECV_NS)
    assert (quote.bid_px, quote.ask_px, quote.tradeable) == (1_501_230_000, 1_501_300_000, True)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            ProtoOAErrorRes(ctidTraderAccountId=ACCOUNT, errorCode="CH_ACCESS_TOKEN_INVALID", description="Invalid"),
            ServerError("CH_ACCESS_TOKEN_INVALID", "Invalid", Refusal.TOKEN, None),
        ),
        (
            ProtoOAErrorRes(errorCode="BLOCKED_PAYLOAD_TYPE", retryAfter=7),
            ServerError("BLOCKED_PAYLOAD_TYPE", "", Refusal.RATE_LIMITED, 7.0),
        ),
        (
            ProtoOAAccountsTokenInvalidatedEvent(ctidTraderAccountIds=[ACCOUNT], reason="Token revoked"),
            ServerError("ACCOUNTS_TOKEN_INVALIDATED", "Token revoked", Refusal.TOKEN, None),
        ),
        (ProtoOAClientDisconnectEvent(reason="maintenance"), "the server disconnected the application (maintenance)"),
        (
            ProtoOAAccountDisconnectEvent(ctidTraderAccountId=ACCOUNT),
            f"the server ended the session of account {ACCOUNT}",
        ),
    ],
    ids=["token_error", "rate_limit", "token_invalidated", "client_disconnect", "account_disconnect"],
)
def test_an_error_or_end_of_session_stops_the_stream_after_the_events_before_it(
    message: object, expected: ServerError | str
) -> None:
    framing = new_framing()
    data = spot(bid=108_000, ask=108_010) + encode_frame(message) + spot(bid=108_001)  # type: ignore[arg-type]
    events, prices, _, _ = framing.feed(data, RECV_NS)
    assert prices == 1 and len(events) == 1
    assert framing.stop == expected
    assert framing.partial == b""
    assert framing.feed(spot(bid=1, ask=2), RECV_NS) == ([], 0, 0, 0)


def test_events_of_other_accounts_do_not_end_this_stream() -> None:
    framing = new_framing()
    data = encode_frame(ProtoOAAccountsTokenInvalidatedEvent(ctidTraderAccountIds=[ACCOUNT + 1])) + encode_frame(
        ProtoOAAccountDisconnectEvent(ctidTraderAccountId=ACCOUNT + 1)
    )
    assert framing.feed(data, RECV_NS) == ([], 0, 0, 0)
    assert framing.stop is None


def test_an_absurd_length_prefix_is_one_rejection_and_ends_the_stream_without_buffering() -> None:
    framing = new_framing()
    events, prices, _, malformed = framing.feed(spot(bid=1, ask=2) + struct.pack(">I", 2**32 - 1) + b"x" * 100, RECV_NS)
    assert (prices, malformed) == (1, 1)
    rejection = events[1]
    assert isinstance(rejection, BadInput) and rejection.reason == RejectionReason.REJECTION_REASON_MALFORMED
    assert "4,294,967,295 bytes is above max_frame_bytes (65,536)" in rejection.detail
    assert_publishable(rejection)
    assert isinstance(framing.stop, str) and framing.partial == b""


def test_a_frame_cut_by_the_chunking_waits_in_partial_bounded_by_the_limit() -> None:
    framing = new_framing(max_frame_bytes=1024)
    frame = encode_frame(ProtoOAClientDisconnectEvent(reason="r" * 1000))
    assert framing.feed(frame[:600], RECV_NS) == ([], 0, 0, 0)
    assert framing.partial == frame[:600]
    framing.feed(frame[600:], RECV_NS)
    assert framing.stop is not None and framing.partial == b""


# -- the hostile corpus ---------------------------------------------------------------------------------------

Expect = str
"""``quote``, ``heartbeat``, or the rejection reason's name."""


def hostile_frames(rng: random.Random) -> Iterator[tuple[str, bytes, Expect]]:
    """(name, frame, what it must become): each alone becomes at most one event and never stops the stream."""
    valid = spot(bid=108_000, ask=108_010, ts_ms=TS_MS)
    body = valid[4:]
    for cut in range(len(body)):  # every truncation of a whole spot frame, with an honest prefix
        expected = "any" if cut == 0 else "MALFORMED_OR_OTHER"
        yield f"truncated_{cut}", prefixed(body[:cut]), expected
    for index in range(200):
        yield f"random_{index}", prefixed(rng.randbytes(rng.randrange(1, 300))), "any"
    spot_body = ProtoMessage.FromString(body).payload
    for cut in range(1, len(spot_body)):
        yield (
            f"spot_truncated_{cut}",
            prefixed(ProtoMessage(payloadType=2131, payload=spot_body[:cut]).SerializeToString()),
            "any_spot",
        )
    for index in range(100):
        payload = rng.randbytes(rng.randrange(0, 100))
        yield (
            f"spot_random_{index}",
            prefixed(ProtoMessage(payloadType=2131, payload=payload).SerializeToString()),
            "any_spot",
        )
    unexpected = (ProtoOASubscribeSpotsRes(ctidTraderAccountId=ACCOUNT), 2128)
    yield "unexpected_type", encode_frame(unexpected[0]), "MALFORMED"
    for payload_type in (0, 1, 5, 2**32 - 1, 2100, 2999):
        yield (
            f"type_{payload_type}",
            prefixed(ProtoMessage(payloadType=payload_type, payload=b"").SerializeToString()),
            "MALFORMED",
        )
    yield "no_payload_type", prefixed(ProtoMessage(payload=b"x").SerializePartialToString()), "MALFORMED"
    yield "unknown_symbol", spot(77, bid=1, ask=2), "UNKNOWN_INSTRUMENT"
    other = ProtoOASpotEvent(ctidTraderAccountId=ACCOUNT + 1, symbolId=EURUSD, bid=1, ask=2)
    yield "other_account", encode_frame(other), "UNKNOWN_INSTRUMENT"
    yield "price_beyond_int64", spot(bid=2**64 - 1, ask=2**64 - 1), "BAD_VALUE"
    yield "timestamp_negative", spot(bid=1, ask=2, ts_ms=-5), "BAD_VALUE"
    yield "timestamp_after_2262", spot(bid=1, ask=2, ts_ms=2**62), "BAD_VALUE"
    yield (
        "error_res_not_parsing",
        prefixed(ProtoMessage(payloadType=2142, payload=b"\xff\xff").SerializeToString()),
        "MALFORMED",
    )
    yield "empty_frame", prefixed(b""), "MALFORMED"
    long_spot = ProtoOASpotEvent(ctidTraderAccountId=ACCOUNT, symbolId=EURUSD, bid=1, ask=2, trendbar=[])
    long_payload = long_spot.SerializeToString() + b"\x3a\x00" * 80  # empty trend bars: a payload of 2 length bytes
    yield "long_spot", prefixed(ProtoMessage(payloadType=2131, payload=long_payload).SerializeToString()), "any_spot"


def _check(name: str, events: list[Event], expected: Expect) -> None:
    assert len(events) <= 1, name
    for event in events:
        if isinstance(event, BadInput):
            assert_publishable(event)
            reason = RejectionReason.Name(event.reason).removeprefix("REJECTION_REASON_")
            if expected not in ("any", "any_spot", "MALFORMED_OR_OTHER"):
                assert reason == expected, (name, event.detail)
        else:
            assert expected in ("any", "any_spot", "MALFORMED_OR_OTHER"), (name, event)


def test_each_hostile_frame_becomes_at_most_one_bounded_event_and_the_stream_goes_on() -> None:
    rng = random.Random(1600)
    after = spot(bid=108_002, ask=108_012)
    for name, frame, expected in hostile_frames(rng):
        framing = new_framing()
        framing.feed(spot(bid=108_000, ask=108_010), RECV_NS)
        events, _, _, _ = framing.feed(frame, RECV_NS)
        _check(name, events, expected)
        if framing.stop is not None:  # random bytes that happen to parse as an error answer: a clean stop
            assert expected == "any" and isinstance(framing.stop, ServerError | str), name
            continue
        if framing.partial:  # a frame announcing more bytes than it had: completed by what follows
            continue
        following, prices, _, _ = framing.feed(after, RECV_NS)
        assert prices == 1, name
        assert isinstance(following[-1], Quote) and following[-1].bid_px == 1_080_020_000, name


def test_the_whole_hostile_corpus_as_one_stream_cut_anywhere_keeps_every_valid_quote() -> None:
    rng = random.Random(16_16)
    corpus = [
        (frame, expected)
        for _, frame, expected in hostile_frames(rng)
        if expected not in ("any", "MALFORMED_OR_OTHER")  # self-delimiting frames whose outcome is known
    ]
    valid_between = [spot(bid=200_000 + index, ask=200_050 + index) for index in range(len(corpus))]
    data = b"".join(frame + good for (frame, _), good in zip(corpus, valid_between, strict=True))
    framing = new_framing()
    events = feed_in_chunks(framing, data, rng)
    quotes = [event for event in events if isinstance(event, Quote) and event.bid_px >= 2_000_000_000]
    assert [(q.bid_px, q.ask_px) for q in quotes] == [
        ((200_000 + index) * 10_000, (200_050 + index) * 10_000) for index in range(len(corpus))
    ]
    rejections = [event for event in events if isinstance(event, BadInput)]
    for rejection in rejections:
        assert_publishable(rejection)
    assert framing.stop is None and framing.partial == b""


def test_a_heartbeat_frame_is_the_official_message() -> None:
    envelope = ProtoMessage.FromString(HEARTBEAT_FRAME[4:])
    assert envelope.payloadType == ProtoHeartbeatEvent().payloadType == 51
    assert struct.unpack(">I", HEARTBEAT_FRAME[:4])[0] == len(HEARTBEAT_FRAME) - 4
