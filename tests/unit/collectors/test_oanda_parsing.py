"""collectors.oanda.parsing: real OANDA v20 pricing-stream lines to Ticks and Heartbeats."""

from __future__ import annotations

import calendar
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from collectors.oanda.parsing import Heartbeat, error_message, parse_stream_line, pip_px_from_location
from gateway.errors import BadValueError, InputError, MalformedInputError, UnknownInstrumentError
from gateway.events import Quote
from tests.support import compact_json

SOURCE = "oanda-practice"
RECV_NS = 1_700_000_000_123_456_789
CURRENT_SHAPE = "hootnot_pricing_stream_response.jsonl"
NOTEBOOK_SHAPE = "hootnot_streams_ipynb_pricing_stream.jsonl"


def utc_ns(text: str) -> int:
    """Independent reference for ``YYYY-MM-DDTHH:MM:SS.fffffffffZ``."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    date, _, clock_time = whole.partition("T")
    fields = [int(part) for part in date.split("-") + clock_time.split(":")]
    return calendar.timegm((*fields, 0, 0, 0)) * 1_000_000_000 + int(fraction.ljust(9, "0"))


def recorded_line(shared_data: Path, file_name: str, index: int) -> bytes:
    return (shared_data / "oanda-v20" / file_name).read_bytes().splitlines()[index]


@pytest.fixture
def eur_usd_line(shared_data: Path) -> bytes:
    """The recorded current-shape EUR_USD price line."""
    return recorded_line(shared_data, CURRENT_SHAPE, 2)


def edited(line: bytes, **changes: object) -> bytes:
    """The line with fields replaced; a value of ``...`` deletes the field."""
    message = json.loads(line)
    for key, value in changes.items():
        if value is ...:
            del message[key]
        else:
            message[key] = value
    return compact_json(message)


# (file, line index, instrument, bid, ask, bid liquidity, ask liquidity, time, tradeable)
RECORDED_PRICES = [
    pytest.param(
        CURRENT_SHAPE,
        0,
        "EUR_JPY",
        114_295_000_000,
        114_312_000_000,
        1_000_000,
        1_000_000,
        "2016-10-27T08:38:43.094548890Z",
        True,
        id="current_eur_jpy_084343",
    ),
    pytest.param(
        CURRENT_SHAPE,
        2,
        "EUR_USD",
        1_091_770_000,
        1_091_880_000,
        10_000_000,
        10_000_000,
        "2016-10-27T08:38:45.664613867Z",
        True,
        id="current_eur_usd_084345",
    ),
    pytest.param(
        CURRENT_SHAPE,
        3,
        "EUR_JPY",
        114_298_000_000,
        114_315_000_000,
        1_000_000,
        1_000_000,
        "2016-10-27T08:38:45.681572782Z",
        True,
        id="current_eur_jpy_084345",
    ),
    pytest.param(
        NOTEBOOK_SHAPE,
        0,
        "EUR_USD",
        1_055_220_000,
        1_055_340_000,
        10_000_000,
        10_000_000,
        "2017-03-09T13:37:46.048197280Z",
        True,
        id="notebook_eur_usd_133746_float_liquidity",
    ),
    pytest.param(
        NOTEBOOK_SHAPE,
        1,
        "EUR_JPY",
        120_969_000_000,
        120_991_000_000,
        1_000_000,
        1_000_000,
        "2017-03-09T13:37:44.958026355Z",
        True,
        id="notebook_eur_jpy_133744_float_liquidity",
    ),
    pytest.param(
        NOTEBOOK_SHAPE,
        2,
        "EUR_JPY",
        120_975_000_000,
        120_995_000_000,
        1_000_000,
        1_000_000,
        "2017-03-09T13:37:47.550550833Z",
        True,
        id="notebook_eur_jpy_133747_float_liquidity",
    ),
    pytest.param(
        NOTEBOOK_SHAPE,
        3,
        "EUR_USD",
        1_055_140_000,
        1_055_270_000,
        10_000_000,
        10_000_000,
        "2017-03-09T13:37:49.349544372Z",
        True,
        id="notebook_eur_usd_133749_float_liquidity",
    ),
]


@pytest.mark.parametrize(
    ("file_name", "index", "instrument", "bid", "ask", "bid_liq", "ask_liq", "time", "tradeable"), RECORDED_PRICES
)
def test_recorded_price_line_becomes_a_tick_of_its_best_level(
    shared_data: Path,
    file_name: str,
    index: int,
    instrument: str,
    bid: int,
    ask: int,
    bid_liq: int,
    ask_liq: int,
    time: str,
    tradeable: bool,
) -> None:
    line = recorded_line(shared_data, file_name, index)
    tick = parse_stream_line(line, SOURCE, RECV_NS)
    assert tick == Quote(
        instrument=instrument,
        source=SOURCE,
        bid_px=bid,
        ask_px=ask,
        bid_liquidity=bid_liq,
        ask_liquidity=ask_liq,
        ts_event_ns=utc_ns(time),
        ts_recv_ns=RECV_NS,
        tradeable=tradeable,
    )


@pytest.mark.parametrize(
    ("file_name", "index", "time"),
    [
        pytest.param(CURRENT_SHAPE, 1, "2016-10-27T08:38:44.327443673Z", id="current_084344"),
        pytest.param(NOTEBOOK_SHAPE, 4, "2017-03-09T15:08:57.512620407Z", id="notebook_150857"),
        pytest.param(NOTEBOOK_SHAPE, 5, "2017-03-09T15:09:02.594588344Z", id="notebook_150902"),
        pytest.param(NOTEBOOK_SHAPE, 6, "2017-03-09T15:09:07.657436396Z", id="notebook_150907"),
        pytest.param(NOTEBOOK_SHAPE, 7, "2017-03-09T15:09:12.721645564Z", id="notebook_150912"),
    ],
)
def test_recorded_heartbeat_line_becomes_a_heartbeat(shared_data: Path, file_name: str, index: int, time: str) -> None:
    assert parse_stream_line(recorded_line(shared_data, file_name, index), SOURCE, RECV_NS) == Heartbeat(utc_ns(time))


def test_every_recorded_stream_line_parses_and_agrees_with_an_independent_decoding(shared_data: Path) -> None:
    files = sorted((shared_data / "oanda-v20").glob("*.jsonl"))
    assert {path.name for path in files} >= {CURRENT_SHAPE, NOTEBOOK_SHAPE}
    kinds = {"price": 0, "heartbeat": 0}
    for path in files:
        for line in path.read_bytes().splitlines():
            message = json.loads(line)
            result = parse_stream_line(line, SOURCE, RECV_NS)
            if message["type"] == "HEARTBEAT":
                assert result == Heartbeat(utc_ns(message["time"]))
                kinds["heartbeat"] += 1
                continue
            assert isinstance(result, Quote)
            assert result.instrument == message["instrument"]
            assert result.bid_px == Decimal(message["bids"][0]["price"]) * 1_000_000_000
            assert result.ask_px == Decimal(message["asks"][0]["price"]) * 1_000_000_000
            assert result.bid_liquidity == message["bids"][0]["liquidity"]
            assert result.ask_liquidity == message["asks"][0]["liquidity"]
            assert result.ts_event_ns == utc_ns(message["time"])
            assert result.bid_px < result.ask_px
            assert result.tradeable is (message["status"] == "tradeable")
            kinds["price"] += 1
    assert kinds == {"price": 7, "heartbeat": 5}


def test_pricing_body_entries_without_type_parse_as_the_older_price_shape(shared_data: Path) -> None:
    body = json.loads((shared_data / "oanda-v20" / "hootnot_pricing_response.json").read_bytes())
    parsed = [parse_stream_line(compact_json(price), SOURCE, RECV_NS) for price in body["prices"]]
    ticks = [tick for tick in parsed if isinstance(tick, Quote)]
    assert len(ticks) == len(parsed)
    assert all("type" not in price for price in body["prices"])
    assert [(t.instrument, t.bid_px, t.ask_px, t.ts_event_ns, t.tradeable) for t in ticks] == [
        ("EUR_USD", 1_121_570_000, 1_121_700_000, utc_ns("2016-10-05T05:28:16.729643492Z"), True),
        ("EUR_JPY", 115_329_000_000, 115_346_000_000, utc_ns("2016-10-05T05:28:15.621238671Z"), True),
    ]


@pytest.mark.parametrize(
    ("changes", "tradeable"),
    [
        pytest.param({}, True, id="status_tradeable"),
        pytest.param({"status": "non-tradeable"}, False, id="status_non_tradeable"),
        pytest.param({"status": "invalid"}, False, id="status_invalid"),
        pytest.param({"status": ...}, True, id="no_status_no_flag"),
        pytest.param({"tradeable": False}, False, id="flag_false_wins_over_status"),
        pytest.param({"status": "non-tradeable", "tradeable": True}, True, id="flag_true_wins_over_status"),
        pytest.param({"type": ...}, True, id="older_shape_without_type"),
    ],
)
def test_tradeable_comes_from_the_flag_else_the_status(
    eur_usd_line: bytes, changes: dict[str, object], tradeable: bool
) -> None:
    tick = parse_stream_line(edited(eur_usd_line, **changes), SOURCE, RECV_NS)
    assert isinstance(tick, Quote)
    assert tick.tradeable is tradeable
    assert (tick.instrument, tick.bid_px, tick.ask_px) == ("EUR_USD", 1_091_770_000, 1_091_880_000)


def test_missing_liquidity_is_zero_meaning_unknown(eur_usd_line: bytes) -> None:
    line = edited(eur_usd_line, bids=[{"price": "1.09177"}], asks=[{"price": "1.09188"}])
    tick = parse_stream_line(line, SOURCE, RECV_NS)
    assert isinstance(tick, Quote)
    assert (tick.bid_liquidity, tick.ask_liquidity) == (0, 0)


def test_truncated_real_line_is_malformed_and_keeps_the_raw_bytes(eur_usd_line: bytes) -> None:
    for cut in (1, len(eur_usd_line) // 3, len(eur_usd_line) // 2, len(eur_usd_line) - 1):
        truncated = eur_usd_line[:cut]
        with pytest.raises(MalformedInputError, match="not valid JSON") as caught:
            parse_stream_line(truncated, SOURCE, RECV_NS)
        assert caught.value.raw == truncated


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(b"", "not valid JSON", id="empty"),
        pytest.param(b"\xff\xfe{}", "not valid JSON", id="not_utf8"),
        pytest.param(b"[1, 2]", "Expected `object`, got `array`", id="json_array"),
        pytest.param(b'"PRICE"', "Expected `object`, got `str`", id="json_string"),
        pytest.param(b"null", "Expected `object`, got `null`", id="json_null"),
        pytest.param(b"42", "Expected `object`, got `int`", id="json_number"),
        pytest.param(b'{"type": "PRICING_STATUS"}', "unknown message type 'PRICING_STATUS'", id="unknown_type"),
        pytest.param(b'{"type": "HEARTBEAT"}', "heartbeat without 'time'", id="heartbeat_without_time"),
    ],
)
def test_line_that_is_not_a_known_message_is_malformed(line: bytes, message: str) -> None:
    with pytest.raises(MalformedInputError, match=re.escape(message)) as caught:
        parse_stream_line(line, SOURCE, RECV_NS)
    assert caught.value.raw == line


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"instrument": ...}, "price without 'instrument'", id="missing_instrument"),
        pytest.param({"time": ...}, "price without 'time'", id="missing_time"),
        pytest.param({"bids": ...}, "price without 'bids'", id="missing_bids"),
        pytest.param({"asks": ...}, "price without 'asks'", id="missing_asks"),
        pytest.param({"bids": ..., "asks": ...}, "price without 'bids', 'asks'", id="missing_both_sides"),
        pytest.param({"bids": "1.09177"}, "got `str` - at `$.bids`", id="bids_string"),
        pytest.param({"bids": 1.09177}, "got `float` - at `$.bids`", id="bids_number"),
        pytest.param({"bids": [1.09177]}, "got `float` - at `$.bids[0]`", id="bids_list_of_numbers"),
        pytest.param({"bids": [["1.09177", 10]]}, "got `array` - at `$.bids[0]`", id="bids_list_of_lists"),
        pytest.param(
            {"bids": [{"liquidity": 10}]},
            "missing required field `price` - at `$.bids[0]`",
            id="bids_level_without_price",
        ),
        pytest.param({"bids": {"price": "1.09177"}}, "got `object` - at `$.bids`", id="bids_object"),
        pytest.param(
            {"asks": [{"px": "1.09188"}]},
            "missing required field `price` - at `$.asks[0]`",
            id="asks_level_without_price",
        ),
        pytest.param({"instrument": ["EUR_USD"]}, "got `array` - at `$.instrument`", id="instrument_list"),
    ],
)
def test_price_with_missing_or_misshaped_fields_is_malformed_naming_them(
    eur_usd_line: bytes, changes: dict[str, object], message: str
) -> None:
    line = edited(eur_usd_line, **changes)
    with pytest.raises(MalformedInputError, match=re.escape(message)) as caught:
        parse_stream_line(line, SOURCE, RECV_NS)
    assert caught.value.raw == line


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"bids": []}, "EUR_USD: empty bids", id="empty_bids"),
        pytest.param({"asks": []}, "EUR_USD: empty asks", id="empty_asks"),
        pytest.param({"bids": [{"price": "NaN", "liquidity": 1}]}, "EUR_USD: price 'NaN'", id="nan_bid"),
        pytest.param({"asks": [{"price": "Infinity", "liquidity": 1}]}, "EUR_USD: price 'Infinity'", id="inf_ask"),
        pytest.param({"bids": [{"price": "1.09e0", "liquidity": 1}]}, "EUR_USD: price '1.09e0'", id="exponent"),
        pytest.param({"bids": [{"price": "1.09177", "liquidity": -1}]}, "EUR_USD: liquidity -1", id="negative_size"),
        pytest.param({"bids": [{"price": "1.09177", "liquidity": 0.5}]}, "EUR_USD: liquidity 0.5", id="half_unit"),
        pytest.param({"time": "NaN"}, "EUR_USD: time 'NaN'", id="nan_time"),
        pytest.param({"time": "2016-02-30T08:38:45Z"}, "EUR_USD: time '2016-02-30", id="february_30"),
    ],
)
def test_price_with_a_bad_value_names_the_instrument_and_keeps_the_raw_line(
    eur_usd_line: bytes, changes: dict[str, object], message: str
) -> None:
    line = edited(eur_usd_line, **changes)
    with pytest.raises(BadValueError, match=re.escape(message)) as caught:
        parse_stream_line(line, SOURCE, RECV_NS)
    assert caught.value.raw == line
    assert caught.value.instrument == "EUR_USD"


def test_heartbeat_with_a_bad_time_is_a_bad_value_with_the_raw_line() -> None:
    line = b'{"type": "HEARTBEAT", "time": "yesterday"}'
    with pytest.raises(BadValueError, match="'yesterday'") as caught:
        parse_stream_line(line, SOURCE, RECV_NS)
    assert caught.value.raw == line


@pytest.mark.parametrize(
    "instrument",
    [
        pytest.param("EURUSD", id="no_underscore"),
        pytest.param("eur_usd", id="lowercase"),
        pytest.param("", id="empty"),
    ],
)
def test_price_with_a_bad_instrument_name_is_an_unknown_instrument(eur_usd_line: bytes, instrument: object) -> None:
    line = edited(eur_usd_line, instrument=instrument)
    with pytest.raises(UnknownInstrumentError, match="BASE_QUOTE") as caught:
        parse_stream_line(line, SOURCE, RECV_NS)
    assert caught.value.raw == line


def test_instrument_without_a_default_pip_still_parses_for_the_gate_to_judge(eur_usd_line: bytes) -> None:
    tick = parse_stream_line(edited(eur_usd_line, instrument="XAU_USD"), SOURCE, RECV_NS)
    assert isinstance(tick, Quote)
    assert tick.instrument == "XAU_USD"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(
            b'"price": "1.09177", "liquidity": 10000000}',
            b'"price": "1.09177", "liquidity": 18446744073709551616}',
            id="liquidity_above_uint64",
        ),
        pytest.param(
            b'"price": "1.09177", "liquidity": 10000000}',
            b'"price": "1.09177", "liquidity": 1e30}',
            id="float_liquidity_above_uint64",
        ),
        pytest.param(b'"price": "1.09188"', b'"price": "99999999999.0"', id="price_above_int64_units"),
        pytest.param(b'"2016-10-27T08:38:45.664613867Z"', b'"2300-01-01T00:00:00Z"', id="time_after_2262"),
        pytest.param(b'"2016-10-27T08:38:45.664613867Z"', b'"999999999999.5"', id="unix_time_above_int64_ns"),
    ],
)
def test_value_too_large_for_the_tick_is_a_bad_value_not_a_crash(eur_usd_line: bytes, old: bytes, new: bytes) -> None:
    # The documented contract: only MalformedInputError, BadValueError or UnknownInstrumentError, with the raw line.
    assert eur_usd_line.count(old) == 1
    line = eur_usd_line.replace(old, new)
    with pytest.raises(BadValueError) as caught:
        parse_stream_line(line, SOURCE, RECV_NS)
    assert caught.value.raw == line
    assert caught.value.instrument == "EUR_USD"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"instrument": ["EUR_USD"], "bids": []}, id="list_instrument_and_empty_bids"),
        pytest.param({"instrument": {"name": "EUR_USD"}, "asks": []}, id="object_instrument_and_empty_asks"),
    ],
)
def test_misshaped_instrument_with_an_empty_side_is_malformed_not_a_crash(
    eur_usd_line: bytes, changes: dict[str, object]
) -> None:
    line = edited(eur_usd_line, **changes)
    with pytest.raises(InputError) as caught:
        parse_stream_line(line, SOURCE, RECV_NS)
    assert caught.value.raw == line


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param(
            {"bids": [{"price": 1.09177, "liquidity": 1}]}, "`float` - at `$.bids[0].price`", id="float_price"
        ),
        pytest.param({"bids": [{"price": ["1.09177"], "liquidity": 1}]}, "`array` - at `$.bids[0].price`", id="list"),
        pytest.param(
            {"asks": [{"price": "1.09188", "liquidity": "lots"}]}, "`str` - at `$.asks[0].liquidity`", id="text"
        ),
        pytest.param({"time": 1477557525}, "`int` - at `$.time`", id="numeric_time"),
        pytest.param({"instrument": 7}, "`int` - at `$.instrument`", id="numeric_instrument"),
        pytest.param({"tradeable": "true"}, "`str` - at `$.tradeable`", id="text_flag"),
    ],
)
def test_field_of_the_wrong_json_type_is_malformed_naming_its_path(
    eur_usd_line: bytes, changes: dict[str, object], path: str
) -> None:
    line = edited(eur_usd_line, **changes)
    with pytest.raises(MalformedInputError, match=re.escape(path)) as caught:
        parse_stream_line(line, SOURCE, RECV_NS)
    assert caught.value.raw == line


def test_null_instrument_is_a_missing_field(eur_usd_line: bytes) -> None:
    line = edited(eur_usd_line, instrument=None)
    with pytest.raises(MalformedInputError, match="price without 'instrument'") as caught:
        parse_stream_line(line, SOURCE, RECV_NS)
    assert caught.value.raw == line


@pytest.mark.parametrize(
    ("pip_location", "pip_px"),
    [
        pytest.param(-4, 100_000, id="eur_usd_0.0001"),
        pytest.param(-2, 10_000_000, id="usd_jpy_and_xau_usd_0.01"),
        pytest.param(-1, 100_000_000, id="tenth"),
        pytest.param(0, 1_000_000_000, id="index_point_1"),
        pytest.param(1, 10_000_000_000, id="ten"),
        pytest.param(-9, 1, id="smallest_price_unit"),
        pytest.param(9, 10**18, id="largest_allowed"),
    ],
)
def test_pip_location_becomes_the_pip_in_price_units(pip_location: int, pip_px: int) -> None:
    assert pip_px_from_location(pip_location) == pip_px
    assert Decimal(pip_px) / 1_000_000_000 == Decimal(10) ** pip_location


@pytest.mark.parametrize(
    ("pip_location", "shown"),
    [
        pytest.param(-10, "-10", id="below_the_price_resolution"),
        pytest.param(10, "10", id="above_the_range"),
        pytest.param(-4.0, "-4.0", id="float"),
        pytest.param(True, "True", id="bool_true"),
        pytest.param(False, "False", id="bool_false"),
        pytest.param("-4", "'-4'", id="string"),
        pytest.param(None, "None", id="null"),
    ],
)
def test_pip_location_outside_the_range_or_not_an_integer_is_a_bad_value_naming_it(
    pip_location: object, shown: str
) -> None:
    with pytest.raises(BadValueError) as caught:
        pip_px_from_location(pip_location)  # type: ignore[arg-type]
    assert str(caught.value) == f"pipLocation {shown} is not an integer from -9 to 9"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            b'{"errorMessage":"Insufficient authorization to perform request."}',
            "Insufficient authorization to perform request.",
            id="error_message_only",
        ),
        pytest.param(
            b'{"errorMessage":"Invalid value specified for \'accountID\'","errorCode":"INVALID_ACCOUNT_ID"}',
            "Invalid value specified for 'accountID' (INVALID_ACCOUNT_ID)",
            id="error_message_and_code",
        ),
        pytest.param(
            b'{"errorCode":"X","errorMessage":"Instrument not tradeable","rejectReason":"MARKET_HALTED"}',
            "Instrument not tradeable (X)",
            id="other_fields_ignored",
        ),
        pytest.param(
            b'{"errorMessage":"Rate limit exceeded","errorCode":null}',
            "Rate limit exceeded",
            id="null_code",
        ),
        pytest.param(
            b"<html><head><title>502 Bad Gateway</title></head></html>",
            "unexpected body: '<html><head><title>502 Bad Gateway</title></head></html>'",
            id="html_page",
        ),
        pytest.param(b"", "empty body", id="empty"),
        pytest.param(b" \r\n", "empty body", id="only_whitespace"),
        pytest.param(b'{"message":"not found"}', 'unexpected body: \'{"message":"not found"}\'', id="json_without"),
        pytest.param(b"{}", "unexpected body: '{}'", id="empty_object"),
        pytest.param(b'{"errorMessage":""}', 'unexpected body: \'{"errorMessage":""}\'', id="empty_message"),
        pytest.param(b'{"errorMessage":5}', "unexpected body: '{\"errorMessage\":5}'", id="numeric_message"),
        pytest.param(
            b'{"errorCode":"C","errorMessage":null}',
            'unexpected body: \'{"errorCode":"C","errorMessage":null}\'',
            id="code_without_message",
        ),
        pytest.param(b"[1, 2]", "unexpected body: '[1, 2]'", id="json_array"),
        pytest.param(b"null", "unexpected body: 'null'", id="json_null"),
        pytest.param(b"\n  Service Unavailable \n", "unexpected body: 'Service Unavailable'", id="text_stripped"),
        pytest.param(b"\xff\xfebad", "unexpected body: '\ufffd\ufffdbad'", id="not_utf8_replaced"),
    ],
)
def test_error_message_of_an_oanda_error_body(body: bytes, message: str) -> None:
    assert error_message(body) == message


@pytest.mark.parametrize(
    ("body", "excerpt"),
    [
        pytest.param(b"x" * 10_000, "x" * 200, id="long_text"),
        pytest.param(b"<html>" + b"a" * 5_000 + b"</html>", "<html>" + "a" * 194, id="long_html"),
        pytest.param(
            b'{"detail": "' + b"d" * 1_000 + b'"}', '{"detail": "' + "d" * 188, id="long_json_without_message"
        ),
        pytest.param("a" + "é" * 150, "a" + "é" * 99 + "\ufffd", id="cut_inside_a_utf8_character"),
    ],
)
def test_error_message_of_a_long_unexpected_body_shows_its_first_200_bytes(body: bytes | str, excerpt: str) -> None:
    raw = body.encode() if isinstance(body, str) else body
    assert error_message(raw) == f"unexpected body: {excerpt!r}"


@pytest.mark.parametrize(
    "body",
    [b'{"errorMessage":' + b"[" * 200_000, b"[" * 100_000, b'{"a":' * 50_000],
    ids=["deep_value", "deep", "deep_map"],
)
def test_a_hostile_error_body_is_an_unexpected_body_not_an_exception(body: bytes) -> None:
    message = error_message(body)
    assert message.startswith("unexpected body: ") and len(message) < 300
