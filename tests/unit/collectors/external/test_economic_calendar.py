"""ForexFactory's calendar parsers on the recorded exports (../shared/data/forexfactory), and a hostile corpus.

Expected values are read off the recorded files by eye and computed with the standard library (``calendar``),
independently of the parser. The hostile corpus mutates the real bodies: one event at a time (type swaps,
huge and non-finite numbers, deep nesting, control characters, over-long text, impossible dates) so that
exactly that event is refused with a named reason and every other one still comes out, and whole bodies
(truncations at many offsets, random byte damage, wrong encodings, HTML pages, XML bombs) so that the answer
is refused with a named error and nothing crashes.
"""

from __future__ import annotations

import calendar
import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import msgspec
import pytest

from collectors.external.economic_calendar import (
    MAX_EVENTS,
    TITLE_CHARS,
    parse_json,
    parse_xml,
)
from gateway.echo import RAW_BYTES
from gateway.errors import MalformedInputError, ProviderRefusalError
from gateway.events import ExternalItem, Parsed
from gateway.schema.market.v1.market_pb2 import EconomicEvent
from tests.unit.collectors.external.hostile import damaged, truncations

NS_PER_S: Final = 1_000_000_000
WEEK: Final = "2026-08-16"
FIRST: Final = "forexfactory/ff_calendar_thisweek_2026-08-16_first.json"
LAST: Final = "forexfactory/ff_calendar_thisweek_2026-08-16_last.json"
AUGUST_2: Final = "forexfactory/ff_calendar_thisweek_2026-08-02.json"
XML: Final = "forexfactory/ff_calendar_thisweek_2025-05-04.xml"

REQUEST_DENIED: Final = (
    b"<!DOCTYPE html>\n<html><head><title>Request Denied</title></head><body><h1>Request Denied</h1>"
    b"<p>This request was denied because too many requests came from your address.</p></body></html>"
)
"""Stands in for ForexFactory's refusal page (served with HTTP 200); its exact wording is not recorded."""
CLOUDFLARE_PAGE: Final = (
    b"<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
    b"<body><h1>Sorry, you have been blocked</h1></body></html>"
)
OTHER_PAGE: Final = b"<html><head><title>Maintenance</title></head><body>Back soon</body></html>"


def utc_ns(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, minute, 0)) * NS_PER_S


def by_id(parsed: Parsed) -> dict[str, ExternalItem]:
    return {item.item_id: item for item in parsed.items}


def event_of(item: ExternalItem) -> EconomicEvent:
    assert isinstance(item.payload, EconomicEvent)
    return item.payload


def elements(body: bytes) -> list[bytes]:
    """The raw bytes of each element of a JSON array, exactly as in the body."""
    return [bytes(raw) for raw in msgspec.json.decode(body, type=list[msgspec.Raw])]


def with_element(body: bytes, index: int, replacement: bytes) -> bytes:
    parts = elements(body)
    parts[index] = replacement
    return b"[" + b",".join(parts) + b"]"


# -- the recorded JSON exports -----------------------------------------------------------------------------


def test_first_snapshot_gives_every_event_with_utc_times_and_text_values(shared_data: Path) -> None:
    parsed = parse_json((shared_data / FIRST).read_bytes())

    assert len(parsed.items) == 96
    assert parsed.problems == []
    first = parsed.items[0]
    assert first.item_id == f"{WEEK}|NZD|BusinessNZ Services Index|1"
    assert first.ts_ns == utc_ns(2026, 8, 16, 22, 30)  # 18:30 New York (-04:00)
    assert event_of(first) == EconomicEvent(
        country="NZD", currency="NZD", title="BusinessNZ Services Index", impact="low", previous="50.6"
    )
    items = by_id(parsed)
    fpi = items[f"{WEEK}|NZD|FPI m/m|1"]  # "m\/m" in the file: the JSON escape is undone
    assert (event_of(fpi).title, event_of(fpi).forecast, event_of(fpi).previous) == ("FPI m/m", "", "0.6%")
    auction = event_of(items[f"{WEEK}|GBP|10-y Bond Auction|1"])
    assert auction.previous == "5.04|3.1"  # yield|bid-to-cover, kept as text
    assert items[f"{WEEK}|GBP|10-y Bond Auction|1"].ts_ns == utc_ns(2026, 8, 18, 9, 33)
    gdp = event_of(items[f"{WEEK}|JPY|Prelim GDP q/q|1"])
    assert (gdp.impact, gdp.forecast, gdp.previous) == ("low", "0.5%", "0.5%")
    assert Counter(event_of(item).impact for item in parsed.items) == {"low": 75, "medium": 13, "high": 8}
    assert all(item.item_id.startswith(f"{WEEK}|") for item in parsed.items)
    assert not any(event_of(item).all_day or event_of(item).tentative or event_of(item).url for item in parsed.items)


def test_a_title_repeated_in_a_week_is_ranked_in_time_order(shared_data: Path) -> None:
    items = by_id(parse_json((shared_data / LAST).read_bytes()))

    assert len(items) == 100
    assert items[f"{WEEK}|EUR|ECB President Lagarde Speaks|1"].ts_ns == utc_ns(2026, 8, 19, 7, 10)
    assert items[f"{WEEK}|EUR|ECB President Lagarde Speaks|2"].ts_ns == utc_ns(2026, 8, 19, 10, 15)
    assert items[f"{WEEK}|USD|President Trump Speaks|1"].ts_ns == utc_ns(2026, 8, 19, 18, 30)
    assert items[f"{WEEK}|USD|President Trump Speaks|2"].ts_ns == utc_ns(2026, 8, 21, 23, 0)
    assert event_of(items[f"{WEEK}|USD|FOMC Meeting Minutes|1"]).impact == "high"


def test_first_to_last_snapshot_is_4_new_6_moved_and_28_revised_forecasts(shared_data: Path) -> None:
    """The item-id rule on the week's two snapshots: what (title, country, date) would call 10 added and 6
    removed events is 4 new ones and 6 that moved; 28 forecasts were revised; none disappears."""
    first = by_id(parse_json((shared_data / FIRST).read_bytes()))
    last = by_id(parse_json((shared_data / LAST).read_bytes()))

    assert sorted(last.keys() - first.keys()) == [
        f"{WEEK}|EUR|ECB President Lagarde Speaks|2",
        f"{WEEK}|USD|FOMC Member Musalem Speaks|1",
        f"{WEEK}|USD|President Trump Speaks|1",
        f"{WEEK}|USD|President Trump Speaks|2",
    ]
    assert first.keys() - last.keys() == set()
    moved = {key: (first[key].ts_ns, last[key].ts_ns) for key in first if first[key].ts_ns != last[key].ts_ns}
    assert moved == {
        f"{WEEK}|CAD|Core CPI m/m|1": (utc_ns(2026, 8, 17, 12, 30), utc_ns(2026, 8, 17, 12, 32)),
        f"{WEEK}|GBP|10-y Bond Auction|1": (utc_ns(2026, 8, 18, 9, 33), utc_ns(2026, 8, 18, 9, 2)),
        f"{WEEK}|NZD|GDT Price Index|1": (utc_ns(2026, 8, 18, 14, 50), utc_ns(2026, 8, 18, 15, 31)),
        f"{WEEK}|EUR|German 10-y Bond Auction|1": (utc_ns(2026, 8, 19, 9, 42), utc_ns(2026, 8, 19, 9, 34)),
        f"{WEEK}|CNY|New Home Prices m/m|1": (utc_ns(2026, 8, 17, 1, 30), utc_ns(2026, 8, 17, 7, 0)),
        f"{WEEK}|CNY|Foreign Direct Investment ytd/y|1": (utc_ns(2026, 8, 17, 6, 2), utc_ns(2026, 8, 21, 9, 3)),
    }
    revised = {key for key in first if first[key].payload != last[key].payload}
    assert len(revised) == 28
    assert revised.isdisjoint(moved)
    assert all(
        event_of(first[key]).forecast != event_of(last[key]).forecast
        and event_of(first[key]).previous == event_of(last[key]).previous
        for key in revised
    )
    claimant = f"{WEEK}|GBP|Claimant Count Change|1"
    assert (event_of(first[claimant]).forecast, event_of(last[claimant]).forecast) == ("11.2K", "16.5K")
    nhpi = f"{WEEK}|CAD|NHPI m/m|1"
    assert (event_of(first[nhpi]).forecast, event_of(last[nhpi]).forecast) == ("", "0.0%")  # "" was missing


def test_country_all_has_no_currency_and_holidays_keep_their_impact(shared_data: Path) -> None:
    parsed = parse_json((shared_data / AUGUST_2).read_bytes())

    assert (len(parsed.items), parsed.problems) == (99, [])
    items = by_id(parsed)
    opec = items["2026-08-02|All|OPEC-JMMC Meetings|1"]
    assert event_of(opec) == EconomicEvent(country="All", currency="", title="OPEC-JMMC Meetings", impact="medium")
    assert opec.ts_ns == utc_ns(2026, 8, 2, 9, 15)
    holiday = items["2026-08-02|AUD|Bank Holiday|1"]
    assert (event_of(holiday).impact, holiday.ts_ns) == ("holiday", utc_ns(2026, 8, 2, 21, 0))
    assert event_of(items["2026-08-02|CAD|Bank Holiday|1"]).impact == "holiday"


def test_a_winter_offset_is_converted_too(shared_data: Path) -> None:
    body = with_element(
        (shared_data / FIRST).read_bytes(),
        0,
        b'{"title":"CPI m\\/m","country":"USD","date":"2026-01-13T08:30:00-05:00","impact":"High",'
        b'"forecast":"0.3%","previous":"0.2%"}',
    )
    cpi = by_id(parse_json(body))["2026-01-11|USD|CPI m/m|1"]

    assert cpi.ts_ns == utc_ns(2026, 1, 13, 13, 30)
    assert (event_of(cpi).forecast, event_of(cpi).impact) == ("0.3%", "high")


def test_an_actual_value_is_kept_when_the_export_carries_one(shared_data: Path) -> None:
    body = with_element(
        (shared_data / FIRST).read_bytes(),
        1,
        b'{"title":"FPI m\\/m","country":"NZD","date":"2026-08-16T18:45:00-04:00","impact":"Low",'
        b'"forecast":"","previous":"0.6%","actual":"0.4%","unknown_new_field":[1,2]}',
    )
    fpi = by_id(parse_json(body))[f"{WEEK}|NZD|FPI m/m|1"]

    assert (event_of(fpi).actual, event_of(fpi).forecast) == ("0.4%", "")


# -- the recorded XML export -------------------------------------------------------------------------------


def test_xml_export_gives_every_event_in_utc_with_its_url(shared_data: Path) -> None:
    parsed = parse_xml((shared_data / XML).read_bytes())

    assert (len(parsed.items), parsed.problems) == (91, [])
    items = by_id(parsed)
    rate = items["2025-05-04|USD|Federal Funds Rate|1"]
    assert rate.ts_ns == utc_ns(2025, 5, 7, 18, 0)  # "6:00pm" UTC = 14:00 New York
    assert event_of(rate).forecast == "4.50%"
    first = parsed.items[0]
    assert first.item_id == "2025-05-04|JPY|Bank Holiday|1"
    assert first.ts_ns == utc_ns(2025, 5, 4, 23, 0)
    assert event_of(first) == EconomicEvent(
        country="JPY",
        currency="JPY",
        title="Bank Holiday",
        impact="holiday",
        url="https://www.forexfactory.com/calendar/393-jn-bank-holiday",
    )
    cpi = event_of(items["2025-05-04|CHF|CPI m/m|1"])
    assert (cpi.impact, cpi.forecast, cpi.previous) == ("high", "0.2%", "0.0%")
    assert event_of(items["2025-05-04|AUD|MI Inflation Gauge m/m|1"]).forecast == ""  # <forecast />
    assert items["2025-05-04|AUD|MI Inflation Gauge m/m|1"].ts_ns == utc_ns(2025, 5, 5, 1, 0)
    assert Counter(event_of(item).impact for item in parsed.items) == {"low": 65, "high": 15, "medium": 7, "holiday": 4}
    assert all(event_of(item).url.startswith("https://www.forexfactory.com/calendar/") for item in parsed.items)


def test_xml_is_read_as_windows_1252(shared_data: Path) -> None:
    body = (
        (shared_data / XML).read_bytes().replace(b"<title>Bank Holiday</title>", b"<title>F\xeate \x80 Day</title>", 1)
    )

    first = parse_xml(body).items[0]

    assert event_of(first).title == "F\u00eate \u20ac Day"  # 0x80 is the euro sign in windows-1252, not latin-1
    assert first.item_id == "2025-05-04|JPY|F\u00eate \u20ac Day|1"


def test_xml_all_day_and_tentative_events_are_at_midnight_utc_of_their_date(shared_data: Path) -> None:
    body = (
        (shared_data / XML)
        .read_bytes()
        .replace(b"<time><![CDATA[11:00pm]]></time>", b"<time><![CDATA[All Day]]></time>", 1)
        .replace(b"<time><![CDATA[1:00am]]></time>", b"<time><![CDATA[Tentative]]></time>", 1)
    )
    parsed = parse_xml(body)

    assert (len(parsed.items), parsed.problems) == (91, [])
    holiday, gauge = parsed.items[0], parsed.items[1]
    assert (holiday.ts_ns, event_of(holiday).all_day, event_of(holiday).tentative) == (utc_ns(2025, 5, 4), True, False)
    assert holiday.item_id == "2025-05-04|JPY|Bank Holiday|1"  # the date's week, not the evening before in New York
    assert (gauge.ts_ns, event_of(gauge).all_day, event_of(gauge).tentative) == (utc_ns(2025, 5, 5), False, True)


def json_as_xml(body: bytes) -> bytes:
    """The events of a JSON export written as ForexFactory's XML export would (UTC times, windows-1252)."""
    parts = ['<?xml version="1.0" encoding="windows-1252"?>', "<weeklyevents>"]
    for event in json.loads(body):
        moment = datetime.fromisoformat(event["date"]).astimezone(UTC)
        clock = f"{moment.hour % 12 or 12}:{moment.minute:02d}{'pm' if moment.hour >= 12 else 'am'}"
        values = "".join(
            f"<{name}><![CDATA[{event[name]}]]></{name}>" if event[name] else f"<{name} />"
            for name in ("forecast", "previous")
        )
        parts.append(
            f"<event><title>{event['title']}</title><country>{event['country']}</country>"
            f"<date><![CDATA[{moment:%m-%d-%Y}]]></date><time><![CDATA[{clock}]]></time>"
            f"<impact><![CDATA[{event['impact']}]]></impact>{values}</event>"
        )
    parts.append("</weeklyevents>")
    return "\n".join(parts).encode("cp1252")


@pytest.mark.parametrize("name", [FIRST, LAST, AUGUST_2])
def test_xml_and_json_of_the_same_week_give_the_same_items(shared_data: Path, name: str) -> None:
    """The fallback republishes nothing: the same events get the same ids, times and values from either format."""
    body = (shared_data / name).read_bytes()

    from_json, from_xml = parse_json(body), parse_xml(json_as_xml(body))

    assert from_xml.problems == []
    assert [(item.item_id, item.ts_ns, item.payload) for item in from_xml.items] == [
        (item.item_id, item.ts_ns, item.payload) for item in from_json.items
    ]


# -- refusals and answers that are not data ----------------------------------------------------------------


@pytest.mark.parametrize("parse", [parse_json, parse_xml])
def test_a_request_denied_page_with_http_200_is_a_rate_limit_refusal(parse: Callable[[bytes], Parsed]) -> None:
    with pytest.raises(ProviderRefusalError) as refused:
        parse(REQUEST_DENIED)

    assert refused.value.kind == "rate_limited"
    assert refused.value.retry_after_s == 300.0
    assert "Request Denied" in str(refused.value)


@pytest.mark.parametrize("parse", [parse_json, parse_xml])
def test_a_bot_wall_page_is_a_blocked_refusal(parse: Callable[[bytes], Parsed]) -> None:
    with pytest.raises(ProviderRefusalError) as refused:
        parse(b"\xef\xbb\xbf\r\n  " + CLOUDFLARE_PAGE)

    assert refused.value.kind == "blocked"


@pytest.mark.parametrize("parse", [parse_json, parse_xml])
def test_another_html_page_is_malformed(parse: Callable[[bytes], Parsed]) -> None:
    with pytest.raises(MalformedInputError, match="an HTML page where"):
        parse(OTHER_PAGE)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"title":"CPI"}', "unexpected shape"),
        (b"null", "unexpected shape"),
        (b"", "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        ('[{"title":"Caf\u00e9"}]'.encode("utf-16"), "not valid JSON"),
        (b"[NaN]", "not valid JSON"),
        (b'[{"title":"\\ud800"}]', "not valid JSON"),
    ],
    ids=["object", "null", "empty body", "deep nesting", "utf-16", "NaN", "lone surrogate"],
)
def test_a_json_answer_that_is_not_an_array_of_events_is_malformed(body: bytes, message: str) -> None:
    with pytest.raises(MalformedInputError, match=message) as malformed:
        parse_json(body)

    assert len(malformed.value.raw) <= RAW_BYTES


def test_an_empty_week_is_a_named_problem_not_an_error() -> None:
    parsed = parse_json(b"[]")

    assert parsed.items == []
    assert [problem.reason for problem in parsed.problems] == ["empty_calendar"]
    assert [problem.reason for problem in parse_xml(b"<weeklyevents></weeklyevents>").problems] == ["empty_calendar"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><weeklyevents/>', "document type declaration"),
        (
            b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "' + b"x" * 1000 + b'"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<weeklyevents><event><title>&b;</title></event></weeklyevents>",
            "document type declaration",
        ),
        (b'<?xml version="1.0"?><!DOCTYPE w SYSTEM "file:///etc/passwd"><weeklyevents/>', "document type declaration"),
        (b"<calendar><event/></calendar>", "not <weeklyevents>"),
        (b'<?xml version="1.0" encoding="x-unknown-9"?><weeklyevents/>', "declares the encoding"),
        (b'<?xml version="1.0" encoding="unicode_escape"?><weeklyevents/>', "declares the encoding"),
        (b'<?xml version="1.0" encoding="utf-32"?><weeklyevents/>', "declares the encoding"),
        (
            b'<?xml version="1.0" encoding="utf-8"?><weeklyevents><event><title>\xff</title></event></weeklyevents>',
            "not well-formed XML",
        ),
        (b"<weeklyevents><event><title>\x00</title></event></weeklyevents>", "not well-formed XML"),
        (b"<weeklyevents><event><title>CPI</title>", "not well-formed XML"),
        (b"", "not well-formed XML"),
        (b'[{"title":"CPI"}]', "not well-formed XML"),
        (
            b"<weeklyevents><event><title>" + b"<a>" * 3000 + b"</a>" * 3000 + b"</title></event></weeklyevents>",
            "deeper",
        ),
    ],
    ids=[
        "entity",
        "billion laughs",
        "external entity",
        "wrong root",
        "unknown encoding",
        "codec as encoding",
        "multi-byte encoding",
        "not utf-8",
        "nul byte",
        "truncated",
        "empty",
        "json",
        "deeply nested",
    ],
)
def test_an_xml_answer_that_is_not_the_export_is_malformed(body: bytes, message: str) -> None:
    with pytest.raises(MalformedInputError, match=message):
        parse_xml(body)


# -- one hostile event among the real ones -----------------------------------------------------------------

VALID: Final = {
    "title": "Hostile Event",
    "country": "USD",
    "date": "2026-08-18T08:30:00-04:00",
    "impact": "High",
    "forecast": "1.0%",
    "previous": "0.9%",
}


def event_json(**changes: object) -> bytes:
    fields: dict[str, object] = {**VALID, **changes}
    return json.dumps({name: value for name, value in fields.items() if value is not DROP}).encode()


DROP: Final = object()

HOSTILE_EVENTS: Final[list[tuple[str, bytes, str]]] = [
    *[
        (f"{field} {kind}", event_json(**{field: value}), "bad_type")
        for field in ("title", "country", "date", "impact", "forecast", "previous", "actual")
        for kind, value in (("number", 12.5), ("null", None), ("list", ["a"]), ("object", {"a": 1}), ("bool", True))
    ],
    *[
        (f"{field} missing", event_json(**{field: DROP}), "missing_field")
        for field in ("title", "country", "date", "impact")
    ],
    ("title huge number", b'{"title":' + b"9" * 5000 + b',"country":"USD"}', "bad_type"),
    ("forecast exponent overflow", event_json().replace(b'"1.0%"', b"1e999999"), "bad_type"),
    ("element not an object", b'"just a string"', "bad_type"),
    ("element a number", b"123456789012345678901234567890", "bad_type"),
    ("element null", b"null", "bad_type"),
    ("title latin-1 bytes", event_json(title="Caf\u00e9").replace(b"\\u00e9", b"\xe9"), "bad_encoding"),
    ("title empty", event_json(title="   "), "bad_title"),
    ("title control characters", event_json(title="CPI\x00\x1b[31m"), "bad_title"),
    ("country lower case", event_json(country="usd"), "bad_country"),
    ("country too long", event_json(country="USDX" * 1000), "bad_country"),
    ("country unknown word", event_json(country="Any"), "bad_country"),
    ("impact unknown", event_json(impact="Critical"), "bad_impact"),
    ("impact empty", event_json(impact=""), "bad_impact"),
    ("forecast too long", event_json(forecast="9" * 65), "bad_forecast"),
    ("previous megabyte", event_json(previous="x" * 1_000_000), "bad_previous"),
    ("actual control character", event_json(actual="1\x07"), "bad_actual"),
    ("date without offset", event_json(date="2026-08-18T08:30:00"), "bad_date"),
    ("date impossible", event_json(date="2026-02-30T08:30:00-05:00"), "bad_date"),
    ("date hour 24", event_json(date="2026-08-18T24:30:00-04:00"), "bad_date"),
    ("date year 1900", event_json(date="1900-08-18T08:30:00-04:00"), "bad_date"),
    ("date year 9999", event_json(date="9999-12-31T23:59:59-04:00"), "bad_date"),
    ("date as words", event_json(date="next Tuesday"), "bad_date"),
    ("date megabyte", event_json(date="2" * 1_000_000), "bad_date"),
    ("date unix seconds", event_json(date="1787056200"), "bad_date"),
]


@pytest.mark.parametrize(
    ("body", "reason"),
    [(body, reason) for _, body, reason in HOSTILE_EVENTS],
    ids=[name for name, _, _ in HOSTILE_EVENTS],
)
def test_a_hostile_event_is_refused_alone_and_named(shared_data: Path, body: bytes, reason: str) -> None:
    recorded = (shared_data / FIRST).read_bytes()
    expected = parse_json(recorded)
    position = 40

    parsed = parse_json(with_element(recorded, position, body))

    assert [problem.reason for problem in parsed.problems] == [reason]
    problem = parsed.problems[0]
    assert problem.detail.startswith(f"event {position}: ")
    assert len(problem.detail) <= 1200
    assert problem.raw == body[:RAW_BYTES]
    kept = [item for index, item in enumerate(expected.items) if index != position]  # NZD PPI Input q/q, unique
    assert parsed.items == kept


def test_a_long_title_is_cut_not_refused(shared_data: Path) -> None:
    body = with_element((shared_data / FIRST).read_bytes(), 0, event_json(title="Speech " * 1000))

    item = parse_json(body).items[0]

    assert len(event_of(item).title) <= TITLE_CHARS
    assert item.item_id == f"{WEEK}|USD|{event_of(item).title}|1"


def test_white_space_in_text_is_made_single_spaces(shared_data: Path) -> None:
    body = with_element(
        (shared_data / FIRST).read_bytes(), 0, event_json(title=" CPI\n\t m/m\u00a0y/y ", forecast="1.0\u00a0%")
    )

    event = event_of(parse_json(body).items[0])

    assert (event.title, event.forecast) == ("CPI m/m y/y", "1.0 %")


def test_non_economic_impact_is_accepted(shared_data: Path) -> None:
    body = with_element((shared_data / FIRST).read_bytes(), 0, event_json(impact="Non-Economic"))

    assert event_of(parse_json(body).items[0]).impact == "non_economic"


def test_only_the_first_max_events_are_read_and_the_excess_is_named() -> None:
    body = b"[" + b",".join([event_json(title=f"Event {n}") for n in range(MAX_EVENTS + 5)]) + b"]"

    parsed = parse_json(body)

    assert len(parsed.items) == MAX_EVENTS
    assert [problem.reason for problem in parsed.problems] == ["too_many_events"]


XML_EVENT: Final = (
    "<event><title>{title}</title><country>{country}</country><date><![CDATA[{date}]]></date>"
    "<time><![CDATA[{time}]]></time><impact><![CDATA[{impact}]]></impact><forecast />{extra}</event>"
)
XML_VALID: Final = {
    "title": "Hostile",
    "country": "USD",
    "date": "05-06-2025",
    "time": "12:30pm",
    "impact": "Low",
    "extra": "",
}

HOSTILE_XML_EVENTS: Final[list[tuple[str, str, str]]] = [
    ("date US order wrong", XML_EVENT.format(**{**XML_VALID, "date": "2025-05-06"}), "bad_date"),
    ("date impossible", XML_EVENT.format(**{**XML_VALID, "date": "02-30-2025"}), "bad_date"),
    ("date year 1999", XML_EVENT.format(**{**XML_VALID, "date": "05-06-1999"}), "bad_date"),
    ("time 24-hour", XML_EVENT.format(**{**XML_VALID, "time": "14:30"}), "bad_time"),
    ("time 13pm", XML_EVENT.format(**{**XML_VALID, "time": "13:30pm"}), "bad_time"),
    ("time day 2", XML_EVENT.format(**{**XML_VALID, "time": "Day 2"}), "bad_time"),
    ("time too long", XML_EVENT.format(**{**XML_VALID, "time": "Tentative!!"}), "bad_time"),
    ("impact unknown", XML_EVENT.format(**{**XML_VALID, "impact": "Severe"}), "bad_impact"),
    ("country lower case", XML_EVENT.format(**{**XML_VALID, "country": "usd"}), "bad_country"),
    ("title missing", XML_EVENT.format(**XML_VALID).replace("<title>Hostile</title>", ""), "missing_field"),
    ("time missing", XML_EVENT.format(**XML_VALID).replace("<time><![CDATA[12:30pm]]></time>", ""), "missing_field"),
    ("title twice", XML_EVENT.format(**{**XML_VALID, "extra": "<title>Again</title>"}), "bad_shape"),
    ("field nested", XML_EVENT.format(**{**XML_VALID, "title": "<b>bold</b>"}), "bad_shape"),
    ("field megabyte", XML_EVENT.format(**{**XML_VALID, "title": "x" * 1_000_000}), "bad_shape"),
    ("url javascript", XML_EVENT.format(**{**XML_VALID, "extra": "<url>javascript:alert(1)</url>"}), "bad_url"),
    ("url with space", XML_EVENT.format(**{**XML_VALID, "extra": "<url>https://a b</url>"}), "bad_url"),
    (
        "previous control characters",
        XML_EVENT.format(**{**XML_VALID, "extra": "<previous>1&#x9b;2J</previous>"}),
        "bad_previous",
    ),
]


@pytest.mark.parametrize(
    ("event", "reason"),
    [(event, reason) for _, event, reason in HOSTILE_XML_EVENTS],
    ids=[name for name, _, _ in HOSTILE_XML_EVENTS],
)
def test_a_hostile_xml_event_is_refused_alone_and_named(shared_data: Path, event: str, reason: str) -> None:
    recorded = (shared_data / XML).read_bytes()
    marker = b"\t<event>"
    cut = recorded.index(marker, recorded.index(marker) + 1)  # before the second event

    parsed = parse_xml(recorded[:cut] + event.encode("cp1252") + recorded[cut:])

    assert [problem.reason for problem in parsed.problems] == [reason]
    assert parsed.problems[0].detail.startswith("event 1: ")
    assert len(parsed.problems[0].raw) <= RAW_BYTES
    assert parsed.items == parse_xml(recorded).items


# -- whole bodies damaged ----------------------------------------------------------------------------------

ANSWER_ERRORS: Final = (MalformedInputError, ProviderRefusalError)


def outcome(parse: Callable[[bytes], Parsed], body: bytes) -> Parsed | Exception:
    try:
        return parse(body)
    except ANSWER_ERRORS as exc:
        return exc


@pytest.mark.parametrize("name", [FIRST, XML])
def test_a_body_cut_anywhere_is_refused_whole(shared_data: Path, name: str) -> None:
    body = (shared_data / name).read_bytes()
    parse = parse_xml if name.endswith(".xml") else parse_json
    outcomes = {offset: outcome(parse, cut) for offset, cut in truncations(body, every=89)}

    assert all(isinstance(result, MalformedInputError) for result in outcomes.values()), outcomes
    assert all(len(result.raw) <= RAW_BYTES for result in outcomes.values() if isinstance(result, MalformedInputError))


@pytest.mark.parametrize("name", [FIRST, LAST, AUGUST_2, XML])
def test_random_damage_never_crashes_and_never_invents_an_event(shared_data: Path, name: str) -> None:
    """Bytes flipped, deleted and duplicated at random (seeded): every outcome is a named refusal or a Parsed
    whose items are all events of the recorded body or counted problems; nothing else escapes."""
    body = (shared_data / name).read_bytes()
    parse = parse_xml if name.endswith(".xml") else parse_json
    recorded = parse(body)
    known_titles = {event_of(item).title for item in recorded.items}
    generator = random.Random(f"ff-{name}")
    reasons: Counter[str] = Counter()
    refused = 0

    for _ in range(300):
        result = outcome(parse, damaged(body, generator))
        if isinstance(result, Exception):
            refused += 1
            continue
        reasons.update(problem.reason for problem in result.problems)
        assert len(result.items) + len(result.problems) >= 1
        for item in result.items:
            assert len(item.item_id) <= 256
            assert len(event_of(item).title) <= TITLE_CHARS
            assert event_of(item).impact in {"high", "medium", "low", "holiday", "non_economic"}
        assert sum(event_of(item).title not in known_titles for item in result.items) <= 4  # a flipped title byte

    assert refused + sum(reasons.values()) > 0
    assert all(reason.replace("_", "").isalpha() for reason in reasons)
