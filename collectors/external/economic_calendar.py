"""ForexFactory's weekly economic calendar (``kind: economic_calendar``): events, forecasts and their revisions.

Provider facts relied on
------------------------
- ``GET https://nfs.faireconomy.media/ff_calendar_thisweek.json``: this week's events (Sunday to Saturday,
  New York time) as a JSON array of objects of six strings, ``title, country, date, impact, forecast,
  previous`` (an ``actual``, which the export does not carry, is read when present). ``country`` is a
  currency code, or ``All`` for events of every currency (OPEC meetings). ``date`` is ISO 8601 with the
  **New York offset** (``-04:00`` in summer, ``-05:00`` in winter); it is converted to UTC. ``impact`` is
  ``High``, ``Medium``, ``Low`` or ``Holiday`` (``Non-Economic`` is accepted too). ``""`` means missing and is
  kept as ``""``. Values are text and stay text: ``"0.6%"``, ``"11.4K"``, auction rows ``"2.92|2.1"``
  (yield|bid-to-cover).
- ``ff_calendar_thisweek.xml``, the same events, is the fallback when a JSON answer is not data (not JSON,
  the wrong shape, cut, too large; see :class:`EconomicCalendarCollector`): ``encoding="windows-1252"``,
  ``<weeklyevents><event>`` with ``<date>`` as ``MM-DD-YYYY`` and ``<time>`` as a 12-hour clock
  (``6:00pm``) **in UTC** (not New York time), or
  ``All Day`` / ``Tentative`` (then ``ts_ns`` is midnight UTC of the date and ``all_day`` / ``tentative`` is
  set), ``<forecast />`` for missing, and a ``<url>`` of the event's page that the JSON lacks.
- About 2 requests per 5 minutes per client address. Beyond that the server answers an HTML "Request Denied"
  page **with HTTP 200**: that is a refusal (:class:`ProviderRefusalError`, kind ``rate_limited``, a wait of
  5 minutes), never data; a bot wall (Cloudflare, captcha) is ``blocked``. A poll makes one request, so
  ``min_interval_s`` is 150 s (default ``interval_s`` 300 s); the host window of 2 requests per 300 s holds
  for every request to the host, retries after failures and the switch to the XML included. No key.

Item identity
-------------
``item_id`` is ``<week>|<country>|<title>|<n>``: ``week`` the Sunday (New York date) that starts the event's
week, ``n`` the event's rank among the events of that week with the same country and title, in time order
(1, 2, ...). For example ``2026-08-16|EUR|ECB President Lagarde Speaks|2``.

Why: ``(title, country, date)`` is not stable. Between the first and the last snapshot of the week of
2026-08-16, six events moved in time (CAD Core CPI m/m 08:30 -> 08:32, GBP 10-y Bond Auction 05:33 -> 05:02,
NZD GDT Price Index 10:50 -> 11:31, EUR German 10-y Bond Auction 05:42 -> 05:34, CNY New Home Prices from
Sunday evening to Monday morning, CNY Foreign Direct Investment from Monday to Friday): a moved event is the
same event, so its time is not part of its identity (a rule "per day" would lose the two that changed day).
A title can repeat within a week (two "ECB President Lagarde Speaks", two "President Trump Speaks" in the last
snapshot), so its rank is. On those two snapshots the rule gives, from first to last, 4 NEW (the second
Lagarde speech, both Trump speeches, FOMC Member Musalem Speaks) and 34 UPDATED: the 6 moved events (their
``ts_ns`` changes) and 28 revised forecasts; none disappears. (Compared by ``(title, country, date)`` the
same snapshots look like 10 added and 6 removed events: the 10 are these 4 and the 6 moved ones.)

Limits: an event added *before* another of the same country and title in the same week (or one removed
before it) shifts the later ones' ranks, so each of them reads as its predecessor moved (an UPDATE of the
wrong rank) and the last one as NEW; a retitled event is a new item; an event the calendar drops is not
announced (ExternalData has no removal). The JSON and the XML give the same ids for the same event, so a
fallback to the XML republishes nothing that did not change.
"""

from __future__ import annotations

import calendar
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import ClassVar, Final, Literal
from zoneinfo import ZoneInfo

import httpx
import msgspec
from pydantic import Field

from collectors.external.base import BenchSample
from collectors.external.safe_xml import SafeXmlParser
from collectors.polling import (
    STATE_MALFORMED,
    HttpRequest,
    HttpResponse,
    PollingCollector,
    PollingConfig,
    decode_whole,
    raw_prefix,
)
from gateway.backoff import Backoff
from gateway.clock import NS_PER_S, parse_time_ns
from gateway.echo import RAW_BYTES, shown
from gateway.errors import BadValueError, MalformedInputError, ProviderRefusalError
from gateway.events import ExternalItem, ExternalSink, ItemProblem, Parsed
from gateway.schema.market.v1.market_pb2 import EconomicEvent

BASE_URL: Final = "https://nfs.faireconomy.media"
JSON_PATH: Final = "ff_calendar_thisweek.json"
XML_PATH: Final = "ff_calendar_thisweek.xml"
NEW_YORK: Final = ZoneInfo("America/New_York")
"""ForexFactory's export time zone: the JSON's offsets, and the weeks (Sunday to Saturday) of the item ids."""

MAX_BODY_BYTES: Final = 1024 * 1024
"""Largest answer read by default: about 80 times a real week (13 KB of JSON, 31 KB of XML)."""
MAX_EVENTS: Final = 2_000
"""Most events read from one answer; a real week holds about 100 (96 to 100 in the recordings)."""
TITLE_CHARS: Final = 200
"""Longest title kept (longer ones are cut); ForexFactory's longest recorded title has 41 characters."""
VALUE_CHARS: Final = 64
"""Longest forecast, previous or actual value accepted; real ones are at most 9 characters (``2.92|2.1``)."""
URL_CHARS: Final = 512
"""Longest event URL accepted; real ones are about 70 characters."""
FIELD_CHARS: Final = 4_096
"""Most characters one XML field may hold before its event is refused as too long (bounds what is collected)."""
MIN_EVENT_TIME_NS: Final = calendar.timegm((2000, 1, 1, 0, 0, 0)) * NS_PER_S
MAX_EVENT_TIME_NS: Final = calendar.timegm((2100, 1, 1, 0, 0, 0)) * NS_PER_S
"""Event times accepted: 2000 to 2099 (a calendar of this week is never outside)."""
HTML_SNIFF_BYTES: Final = 64 * 1024
"""How much of a body is searched for the words of a refusal page."""
RATE_WINDOW_S: Final = 300.0
"""ForexFactory's rate-limit window (about 2 requests per 5 minutes): the wait suggested after a "Request Denied"."""

IMPACTS: Final = {
    "High": "high",
    "Medium": "medium",
    "Low": "low",
    "Holiday": "holiday",
    "Non-Economic": "non_economic",
}
"""ForexFactory's impact words and EconomicEvent.impact's values."""
COUNTRY: Final = re.compile(r"[A-Z]{3}|All")
CURRENCY: Final = re.compile(r"[A-Z]{3}")
JSON_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:Z|[+-][0-9]{2}:[0-9]{2})")
"""The JSON's dates: ISO 8601 to the second with the offset (``2026-08-16T18:30:00-04:00``); values checked later."""
XML_DATE: Final = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])-([0-9]{4})")
XML_TIME: Final = re.compile(r"(1[0-2]|0?[1-9]):([0-5][0-9])(am|pm)")
URL: Final = re.compile(r"https?://[!-~]+")
ALL_DAY: Final = "All Day"
TENTATIVE: Final = "Tentative"

HTML_START: Final = (b"<!doctype html", b"<html", b"<head", b"<body")
RATE_LIMIT_WORDS: Final = (b"request denied", b"rate limit", b"too many requests", b"try again later")
BLOCK_WORDS: Final = (b"access denied", b"captcha", b"cloudflare", b"attention required", b"forbidden", b"blocked")

XML_ENCODINGS: Final = ("windows-1252", "cp1252", "utf-8", "iso-8859-1", "us-ascii")
"""Encodings an XML answer may declare (ForexFactory's is windows-1252); any other fails the answer, so that the
document never makes Python look up a codec of its choosing."""
XML_DECLARATION_BYTES: Final = 256
XML_ENCODING: Final = re.compile(rb"\s*<\?xml[^>]*?\sencoding\s*=\s*[\"']([A-Za-z0-9._-]{1,40})[\"']")
XML_FIELDS: Final = frozenset({"title", "country", "date", "time", "impact", "forecast", "previous", "actual", "url"})
"""The children of an XML ``<event>`` that are read; others are ignored."""


class EconomicCalendarConfig(PollingConfig):
    """The ForexFactory calendar collector: where the export is and how often to read it."""

    min_interval_s: ClassVar[float] = 150.0
    """One request per poll, and about 2 requests per 5 minutes allowed."""
    host_max_requests: ClassVar[int] = 2
    host_window_s: ClassVar[float] = 300.0
    """ForexFactory's limit, kept for every request to the host (retries and the XML fallback included)."""

    kind: Literal["economic_calendar"] = "economic_calendar"
    interval_s: float = Field(default=300.0, gt=0, description="Seconds between polls (before jitter); at least 150.")
    base_url: str = Field(default=BASE_URL, pattern=r"^https?://[^\s]+$")
    max_body_bytes: int = Field(
        default=MAX_BODY_BYTES, ge=1024, le=256 * 1024 * 1024, description="Largest answer read (bytes)."
    )
    json_retry_s: float = Field(
        default=3600.0,
        gt=0,
        le=86_400,
        description="Once the JSON failed and the XML is read instead, seconds before the JSON is tried again.",
    )


class EconomicCalendarCollector(PollingCollector[EconomicCalendarConfig]):
    """Polls this week's export, the JSON or (after a JSON answer that is not data) the XML; see the module doc.

    Which export a poll reads is the one state this collector adds to the base: an answer that is not data (not
    JSON, cut, the wrong shape, too large) switches to the other export for the next poll; the XML is left for
    the JSON again ``json_retry_s`` after the switch. A refusal (rate limit, bot wall) switches nothing: the other
    export would be refused too. Both exports give the same item ids, so a switch republishes nothing.
    """

    kind: ClassVar[str] = "economic_calendar"
    payload_field: ClassVar[str] = "economic_event"
    bench_samples: ClassVar[tuple[BenchSample, ...]] = (
        BenchSample("forexfactory/ff_calendar_thisweek_2026-08-16_first.json"),
        BenchSample("forexfactory/ff_calendar_thisweek_2026-08-16_last.json"),
    )

    def __init__(self, config: EconomicCalendarConfig, sink: ExternalSink, state_dir: Path | None = None) -> None:
        super().__init__(config, sink, state_dir)
        self.export: Literal["json", "xml"] = "json"
        """The export the next poll reads."""
        self._json_again_at_s = 0.0
        """When the XML is left for the JSON again (``clock_s`` seconds)."""
        self.clock_s: Callable[[], float] = time.monotonic
        """The clock of ``json_retry_s`` (monotonic seconds; injectable for tests)."""

    def requests(self) -> list[HttpRequest]:
        path = JSON_PATH if self.export == "json" else XML_PATH
        label = f"ForexFactory {self.export.upper()} export"
        return [HttpRequest(url=f"{self.config.base_url.rstrip('/')}/{path}", label=label)]

    def parse(self, response: HttpResponse, recv_ns: int) -> Parsed:
        if response.request.url.endswith(XML_PATH):
            return parse_xml(response.body)
        return parse_json(response.body)

    def classify_error(self, response: HttpResponse) -> ProviderRefusalError | None:
        return page_refusal(response.body, "data")

    async def poll(self, client: httpx.AsyncClient, backoff: Backoff) -> float:
        """One poll of the current export, then the choice of the next one's (see the class docstring)."""
        delay_s = await super().poll(client, backoff)
        now_s = self.clock_s()
        if self.stats.state == STATE_MALFORMED:
            self.export = "xml" if self.export == "json" else "json"
            if self.export == "xml":
                self._json_again_at_s = now_s + self.config.json_retry_s
        elif self.export == "xml" and now_s >= self._json_again_at_s:
            self.export = "json"
        return delay_s


class _JsonEvent(msgspec.Struct):
    """One event of the JSON export, as decoded (types checked; values checked by :func:`_json_event`)."""

    title: str
    country: str
    date: str
    impact: str
    forecast: str = ""
    previous: str = ""
    actual: str = ""


@dataclass(slots=True)
class _Refusal:
    """The first reason an event is refused, collected while its fields are checked."""

    reason: str = ""
    detail: str = ""

    def fail(self, reason: str, detail: str) -> None:
        if not self.reason:
            self.reason, self.detail = reason, detail

    def text(self, value: str, name: str, limit: int, *, cut: bool = False) -> str:
        """``value`` with each run of white space (tabs, newlines, no-break spaces) made one space; refused
        (``bad_<name>``) when it holds control characters or, unless ``cut``, is longer than ``limit`` (cut to
        ``limit`` otherwise)."""
        text = " ".join(value.split())
        if len(text) > limit:
            if not cut:
                self.fail(f"bad_{name}", f"{name} is {len(text):,} characters long, more than {limit}")
                return ""
            text = text[:limit].rstrip()
        if not text.isprintable():
            self.fail(f"bad_{name}", f"{name} {shown(text)} holds control characters")
            return ""
        return text


@dataclass(slots=True)
class _Row:
    """A checked event before it gets its id: where it was in the answer, its week and its time."""

    index: int
    week: str
    ts_ns: int
    event: EconomicEvent = field(repr=False)


_decode_array = msgspec.json.Decoder(list[msgspec.Raw]).decode


def parse_json(body: bytes) -> Parsed:
    """The events of a JSON export (``ff_calendar_thisweek.json``).

    Raises :class:`ProviderRefusalError` for a "Request Denied" (or bot-wall) page and
    :class:`MalformedInputError` for an answer that is not a JSON array (another HTML page, truncated JSON,
    an object, JSON nested beyond the decoder's limit). An event that is not valid is an :class:`ItemProblem`
    (``bad_type``/``missing_field`` for the wrong shape, ``bad_encoding`` for text that is not UTF-8,
    ``bad_<field>`` for a wrong value) and costs no other.
    """
    _refuse_page(body, "JSON")
    elements = decode_whole(_decode_array, body, "the calendar's JSON")
    rows: list[_Row] = []
    problems: list[ItemProblem] = _too_many(len(elements))
    for index, element in enumerate(elements[:MAX_EVENTS]):
        try:
            record = msgspec.json.decode(element, type=_JsonEvent)
        except msgspec.ValidationError as exc:
            reason = "missing_field" if "missing required field" in str(exc) else "bad_type"
            problems.append(ItemProblem(reason, f"event {index}: {exc}", raw_prefix(bytes(element))))
            continue
        except msgspec.DecodeError as exc:  # the array's decode checks the syntax, not the UTF-8 of strings
            problems.append(ItemProblem("bad_encoding", f"event {index}: {exc}", raw_prefix(bytes(element))))
            continue
        row = _json_event(index, record)
        if isinstance(row, _Refusal):
            problems.append(ItemProblem(row.reason, f"event {index}: {row.detail}", raw_prefix(bytes(element))))
        else:
            rows.append(row)
    return _identified(rows, problems)


def _json_event(index: int, record: _JsonEvent) -> _Row | _Refusal:
    check = _Refusal()
    title = check.text(record.title, "title", TITLE_CHARS, cut=True)
    country = check.text(record.country, "country", 3)
    impact = _impact(record.impact, check)
    forecast = check.text(record.forecast, "forecast", VALUE_CHARS)
    previous = check.text(record.previous, "previous", VALUE_CHARS)
    actual = check.text(record.actual, "actual", VALUE_CHARS)
    ts_ns = 0
    if not JSON_DATE.fullmatch(record.date):
        check.fail("bad_date", f"date {shown(record.date)} is not ISO 8601 with a UTC offset")
    else:
        try:
            ts_ns = parse_time_ns(record.date)
        except BadValueError as exc:
            check.fail("bad_date", str(exc))
    if check.reason:
        return check
    if not title:
        return _Refusal("bad_title", "title is empty")
    if not COUNTRY.fullmatch(country):
        return _Refusal("bad_country", f"country {shown(country)} is neither a currency code nor All")
    if not MIN_EVENT_TIME_NS <= ts_ns < MAX_EVENT_TIME_NS:
        return _Refusal("bad_date", f"date {shown(record.date)} is not between 2000 and 2099")
    day = datetime.fromtimestamp(ts_ns // NS_PER_S, NEW_YORK).date()
    event = _event(title, country, impact, forecast, previous, actual)
    return _Row(index, _week_of(day), ts_ns, event)


def parse_xml(body: bytes) -> Parsed:
    """The events of an XML export (``ff_calendar_thisweek.xml``); see :func:`parse_json` for what is raised.

    Read by :class:`~collectors.external.safe_xml.SafeXmlParser`, with any document type declaration refused
    too (the export has none). Any XML error (a truncated body, bytes not of the declared encoding, an encoding
    not in :data:`XML_ENCODINGS`) fails the answer.
    """
    _refuse_page(body, "XML")
    declared = XML_ENCODING.match(body[:XML_DECLARATION_BYTES])
    encoding = declared[1].decode("ascii").lower() if declared else "utf-8"
    if encoding not in XML_ENCODINGS:
        raise MalformedInputError(
            f"the calendar's XML declares the encoding {shown(encoding)}, not one of {', '.join(XML_ENCODINGS)}",
            raw=raw_prefix(body),
        )
    reader = _XmlEvents(body, encoding)
    reader.parser.parse(body)
    if reader.refused:
        raise MalformedInputError(f"the calendar is not ForexFactory's XML: {reader.refused}", raw=raw_prefix(body))
    rows: list[_Row] = []
    problems: list[ItemProblem] = _too_many(reader.count)
    for index, (fields, raw, shape) in enumerate(reader.events):
        row = _xml_event(index, fields, shape)
        if isinstance(row, _Refusal):
            problems.append(ItemProblem(row.reason, f"event {index}: {row.detail}", raw_prefix(raw)))
        else:
            rows.append(row)
    return _identified(rows, problems)


class _XmlEvents:
    """Collects the fields of each ``<weeklyevents><event>`` (no tree, bounded text per field)."""

    def __init__(self, body: bytes, encoding: str) -> None:
        self.body = body
        self.parser = SafeXmlParser(
            "the calendar's XML",
            self._start,
            self._end,
            self._text,
            encoding=encoding,  # overrides the declaration: no other codec is ever looked up
            refuse_doctype=True,
        )
        self.events: list[tuple[dict[str, str], bytes, str]] = []
        """Each event's fields, its raw bytes (clipped) and what is wrong with its shape ("" when nothing)."""
        self.count = 0
        self.refused = ""
        self._inside = False
        """Inside an ``<event>`` that is read (one of the first MAX_EVENTS)."""
        self._fields: dict[str, str] = {}
        self._shape = ""
        self._start_byte = 0
        self._name = ""
        self._parts: list[str] = []
        self._chars = 0

    def _start(self, name: str, _attributes: object) -> None:
        if self.parser.depth == 1 and name != "weeklyevents":
            self.refused = self.refused or f"the root element is <{shown(name)}>, not <weeklyevents>"
        elif self.parser.depth == 2 and name == "event":
            self.count += 1
            self._inside = self.count <= MAX_EVENTS
            self._fields, self._shape, self._start_byte = {}, "", self.parser.byte_index
        elif self.parser.depth == 3 and self._inside:
            self._name, self._parts, self._chars = (name if name in XML_FIELDS else ""), [], 0
            if self._name in self._fields:
                self._shape = self._shape or f"<{name}> appears twice"
        elif self.parser.depth > 3 and self._inside:
            self._shape = self._shape or f"<{shown(name)}> is nested inside a field"

    def _end(self, name: str) -> None:
        if self.parser.depth == 3 and self._inside and self._name:
            if self._chars > FIELD_CHARS:
                self._shape = self._shape or f"<{self._name}> holds {self._chars:,} characters"
            self._fields[self._name] = "".join(self._parts)
            self._name = ""
        elif self.parser.depth == 2 and self._inside:
            self._inside = False
            end = self.parser.byte_index
            raw = self.body[self._start_byte : max(end, self._start_byte) + len("</event>")]
            self.events.append((self._fields, raw[:RAW_BYTES], self._shape))

    def _text(self, data: str) -> None:
        if self.parser.depth == 3 and self._name and self._inside:
            self._chars += len(data)
            if self._chars <= FIELD_CHARS:
                self._parts.append(data)
        elif self.parser.depth > 3 and data.strip() and self._inside:
            self._shape = self._shape or "text nested inside a field"


def _xml_event(index: int, fields: dict[str, str], shape: str) -> _Row | _Refusal:
    if shape:
        return _Refusal("bad_shape", shape)
    missing = [name for name in ("title", "country", "date", "time", "impact") if name not in fields]
    if missing:
        return _Refusal("missing_field", f"no <{'>, <'.join(missing)}>")
    check = _Refusal()
    title = check.text(fields["title"], "title", TITLE_CHARS, cut=True)
    country = check.text(fields["country"], "country", 3)
    impact = _impact(fields["impact"], check)
    forecast = check.text(fields.get("forecast", ""), "forecast", VALUE_CHARS)
    previous = check.text(fields.get("previous", ""), "previous", VALUE_CHARS)
    actual = check.text(fields.get("actual", ""), "actual", VALUE_CHARS)
    url = check.text(fields.get("url", ""), "url", URL_CHARS)
    when = check.text(fields["time"], "time", len(TENTATIVE))
    day_text = check.text(fields["date"], "date", len("MM-DD-YYYY"))
    if check.reason:
        return check
    if not title:
        return _Refusal("bad_title", "title is empty")
    if not COUNTRY.fullmatch(country):
        return _Refusal("bad_country", f"country {shown(country)} is neither a currency code nor All")
    if url and not URL.fullmatch(url):
        return _Refusal("bad_url", f"url {shown(url)} is not an http(s) URL")
    day = _xml_date(day_text)
    if day is None:
        return _Refusal("bad_date", f"date {shown(day_text)} is not a date MM-DD-YYYY between 2000 and 2099")
    all_day, tentative = when == ALL_DAY, when == TENTATIVE
    seconds = calendar.timegm(day.timetuple())
    if all_day or tentative:
        week = _week_of(day)
    else:
        clock = XML_TIME.fullmatch(when)
        if clock is None:
            return _Refusal("bad_time", f"time {shown(when)} is neither h:mm am/pm, All Day nor Tentative")
        hour = int(clock[1]) % 12 + (12 if clock[3] == "pm" else 0)
        seconds += hour * 3600 + int(clock[2]) * 60
        week = _week_of(datetime.fromtimestamp(seconds, NEW_YORK).date())
    event = _event(title, country, impact, forecast, previous, actual)
    event.all_day, event.tentative, event.url = all_day, tentative, url
    return _Row(index, week, seconds * NS_PER_S, event)


def _xml_date(text: str) -> date | None:
    match = XML_DATE.fullmatch(text)
    if match is None:
        return None
    try:
        day = date(int(match[3]), int(match[1]), int(match[2]))
    except ValueError:  # 02-30-2026
        return None
    moment_ns = calendar.timegm(day.timetuple()) * NS_PER_S
    return day if MIN_EVENT_TIME_NS <= moment_ns < MAX_EVENT_TIME_NS else None


def _impact(text: str, check: _Refusal) -> str:
    impact = IMPACTS.get(text.strip(), "")
    if not impact:
        check.fail("bad_impact", f"impact {shown(text)} is not one of {', '.join(IMPACTS)}")
    return impact


def _event(title: str, country: str, impact: str, forecast: str, previous: str, actual: str) -> EconomicEvent:
    currency = country if CURRENCY.fullmatch(country) else ""
    return EconomicEvent(
        country=country,
        currency=currency,
        title=title,
        impact=impact,
        actual=actual,
        forecast=forecast,
        previous=previous,
    )


def _week_of(day: date) -> str:
    """The Sunday on or before ``day``, ISO: the week of ForexFactory's export it belongs to."""
    return (day - timedelta(days=(day.weekday() + 1) % 7)).isoformat()


def _identified(rows: list[_Row], problems: list[ItemProblem]) -> Parsed:
    """The rows as items with their ids (see the module docstring), in the answer's order."""
    groups: defaultdict[tuple[str, str, str], list[_Row]] = defaultdict(list)
    for row in rows:
        groups[(row.week, row.event.country, row.event.title)].append(row)
    ids: dict[int, str] = {}
    for (week, country, title), members in groups.items():
        for rank, row in enumerate(sorted(members, key=lambda member: (member.ts_ns, member.index)), start=1):
            ids[row.index] = f"{week}|{country}|{title}|{rank}"
    items = [ExternalItem(ids[row.index], row.ts_ns, row.event) for row in rows]
    if not rows and not problems:
        problems.append(ItemProblem("empty_calendar", "the calendar holds no event (a real week has about 100)"))
    return Parsed(items, problems)


def _too_many(count: int) -> list[ItemProblem]:
    if count <= MAX_EVENTS:
        return []
    return [ItemProblem("too_many_events", f"{count:,} events; the first {MAX_EVENTS:,} are read, the rest ignored")]


def page_refusal(body: bytes, expected: str) -> ProviderRefusalError | None:
    """The refusal an HTML page is, whatever its HTTP status: a "Request Denied" is ``rate_limited`` (with
    ForexFactory's 5-minute window as the wait), a bot wall ``blocked``; None for any other body."""
    head = _html_head(body)
    if head is None:
        return None
    if any(words in head for words in RATE_LIMIT_WORDS):
        return ProviderRefusalError(
            f"ForexFactory refused the request (an HTML 'Request Denied' page instead of {expected}): "
            f"more than about 2 requests in 5 minutes",
            kind="rate_limited",
            retry_after_s=RATE_WINDOW_S,
        )
    if any(words in head for words in BLOCK_WORDS):
        return ProviderRefusalError(
            f"ForexFactory's site blocked the request (an HTML access-denied page instead of {expected})",
            kind="blocked",
        )
    return None


def _refuse_page(body: bytes, expected: str) -> None:
    """Raise for an HTML page: :func:`page_refusal`'s refusal, or MalformedInputError for any other page."""
    refusal = page_refusal(body, expected)
    if refusal is not None:
        raise refusal
    if _html_head(body) is not None:
        raise MalformedInputError(f"an HTML page where {expected} was expected", raw=raw_prefix(body))


def _html_head(body: bytes) -> bytes | None:
    """The start of ``body`` in lower case if it is an HTML page, else None."""
    head = body[:HTML_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head if head.startswith(HTML_START) or b"<html" in head[:1024] else None
