"""``kind: news``: headlines from RSS 2.0 and Atom feeds and from the GDELT DOC API, published as NewsItem.

Provider facts relied on:

- **Feeds** are a configured list of ``{name, url}``. The parser detects the format by its root element: RSS 2.0
  (``<rss><channel><item>``) or Atom (``<feed xmlns="http://www.w3.org/2005/Atom"><entry>``); anything else
  (an HTML page, JSON, RSS 1.0) is a :class:`MalformedInputError`. The recorded FXStreet feed
  (``https://www.fxstreet.com/rss/news``) is one line of RSS 2.0 with 30 items, UUID ``guid``\\ s
  (``isPermaLink="false"``) and ``pubDate`` in RFC 822 with the zone letter ``Z``.
- **XML is parsed safely** by :class:`collectors.external.safe_xml.SafeXmlParser` (expat, streaming, no tree;
  entity declarations and external entities refused, nesting at most ``MAX_XML_DEPTH`` deep); at most
  :data:`MAX_FEED_ITEMS` items are read and at most :data:`MAX_FIELD_READ_CHARS` characters are kept per
  field, so memory is bounded by these, not by the body.
- **Dates are parsed leniently**: RFC 822 / 2822 (``pubDate``; any zone name or letter, unknown ones as UTC as
  RFC 2822 says), RFC 3339 / ISO 8601 (Atom ``published``/``updated``, ``dc:date``; no offset = UTC). An item
  without a usable date is kept with ``published_ns`` 0 and counted (``undated``, ``bad_date``, or
  ``future_date`` for one more than :data:`MAX_FUTURE_S` after receipt).
- **No keys**: neither feeds nor GDELT take one, so a 401 or 403 is a blocked client (a bot wall), reported as
  a ``blocked`` refusal (REJECTED), not as a refused key.
- **GDELT DOC 2.0** ``https://api.gdeltproject.org/api/v2/doc/doc?query=...&mode=artlist&format=json`` (no key;
  GDELT asks for at most one request every 5 s and answers 429 with the text "Please limit requests to one
  every 5 seconds"): ``{"articles": [{url, url_mobile, title, seendate, socialimage, domain, language,
  sourcecountry}]}``, ``seendate`` as ``YYYYMMDDTHHMMSSZ`` (UTC), missing values ``""``, at most 250 articles
  (``maxrecords``); no match is ``{}``. A query GDELT refuses is answered with a line of plain text (HTTP 200),
  which becomes a ``rejected`` :class:`ProviderRefusalError` carrying GDELT's words.

**item_id**: ``<feed name>:<guid>`` when the item has a guid (RSS ``guid``, Atom ``id``), else
``<feed name>:<url>``; when that is longer than the change tracker's 256 characters,
``<feed name>:sha256:<first 32 hex digits of the guid's or URL's SHA-256>``. These identify the article across
polls and restarts (an edited headline or summary is an UPDATED of the same id); the feed name keeps two feeds'
ids apart (guids are unique only per feed in practice), and GDELT articles (no guid) are identified by their
URL. A repeated id within one answer is counted (``duplicate``) and only its first occurrence kept. An undated
item has ``ts_ns`` 0, so it is the first the change tracker forgets when it is full (``max_items``).

**Instruments** (NewsItem.instruments) are tagged from the headline alone by :func:`instruments_in`, a small,
deliberately conservative rule (a missed tag costs less than a wrong one):

1. Explicit pairs of two codes of :data:`TAGGED_CURRENCIES`: ``EUR/USD`` or ``eur / usd`` (any case, spaces
   around the slash, as GDELT spaces punctuation), ``EURUSD`` and ``EUR-USD`` (upper case only).
2. Currencies named outside those pairs: the words of :data:`CURRENCY_WORDS` (``euro``, ``Japanese yen``,
   ``US dollar``, ``greenback``, ``Swiss franc``, ...: a bare ``dollar``, ``pound``, ``franc``, ``sterling``,
   ``rand``, ``Aussie`` or ``kiwi`` is ambiguous and not tagged; ``euro`` followed by a number, ``zone`` or
   ``area`` is not the currency), and the upper-case codes alone (``USD``, ``JPY``; not in an all-capitals
   headline, where every word looks like a code). From these: with exactly two currencies other than the
   US dollar, both majors (:data:`CROSS_CURRENCIES`), and no US dollar named, their cross (``British Pound
   ... against Japanese Yen`` -> GBP_JPY); otherwise each currency other than the US dollar against it
   (``Euro ... against US Dollar`` -> EUR_USD; ``Mexican peso and South African rand`` -> USD_MXN, USD_ZAR).
   The US dollar alone tags nothing (the dollar index is not an instrument).
3. Pairs are written in market order (:data:`BASE_ORDER`: EUR_USD, USD_JPY, GBP_JPY, XAU_USD); the yuan (CNY,
   ``yuan``, ``renminbi``) is tagged as the traded offshore USD_CNH. Gold and silver are tagged only by their
   codes (XAU, XAG): the words are too common outside markets.
"""

from __future__ import annotations

import hashlib
import html.parser
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_tz
from pathlib import Path
from typing import Any, ClassVar, Final, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, model_validator

from collectors.external.base import BenchSample, ExternalSink
from collectors.external.changes import MAX_ITEM_ID_CHARS
from collectors.external.safe_xml import SafeXmlParser
from collectors.polling import HttpRequest, HttpResponse, PollingCollector, PollingConfig, decode_whole, raw_prefix
from gateway.clock import NS_PER_S, parse_time_ns
from gateway.echo import clip, clip_bytes, shown
from gateway.errors import BadValueError, MalformedInputError, ProviderRefusalError
from gateway.events import ExternalItem, ItemProblem, Parsed
from gateway.schema.market.v1.market_pb2 import NewsItem

GDELT_DOC_URL: Final = "https://api.gdeltproject.org/api/v2/doc/doc"
"""GDELT DOC 2.0 API (no key)."""
GDELT_MIN_INTERVAL_S: Final = 5.0
"""GDELT asks for at most one request every 5 s (its 429 text says so)."""
MIN_INTERVAL_S: Final = 60.0
"""Floor on ``interval_s``: headline feeds change every few minutes; faster polling only costs the publishers."""
DEFAULT_INTERVAL_S: Final = 300.0

FEED_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""A feed's name: part of every item_id and NewsItem.feed, so short and printable."""
MAX_SOURCES: Final = 32
"""Most feeds plus GDELT queries in one collector (each is one request per poll)."""
GDELT_MAX_RECORDS: Final = 250
"""GDELT's own limit on ``maxrecords``; an answer with more articles is not GDELT's."""
GDELT_DEFAULT_RECORDS: Final = 75
"""GDELT's default ``maxrecords``."""
GDELT_TIMESPAN_PATTERN: Final = r"^[1-9][0-9]{0,3}(min|h|d|w|m)$"
"""GDELT's ``timespan``: a number and a unit (minutes, hours, days, weeks, months), e.g. ``15min``, ``1d``."""
MAX_GDELT_QUERY_CHARS: Final = 1000

MAX_FEED_ITEMS: Final = 500
"""Most items read from one feed answer (feeds carry 10-100); the rest are counted as ``too_many_items``."""
MAX_FIELD_READ_CHARS: Final = 65_536
"""Most characters kept of one field while parsing (a description can be a whole article in HTML)."""
MAX_TITLE_CHARS: Final = 512
MAX_SUMMARY_CHARS: Final = 2048
MAX_URL_CHARS: Final = 2048
MAX_GUID_CHARS: Final = 512
"""A guid or id longer than this is refused, not cut: a cut id could merge two items."""
MAX_PUBLISHER_CHARS: Final = 128
MAX_LANGUAGE_CHARS: Final = 32
MAX_DATE_CHARS: Final = 64
MAX_REFUSAL_CHARS: Final = 4096
"""Most characters of a plain-text GDELT answer examined (its refusals are one line)."""
MAX_FUTURE_S: Final = 86_400
"""A date more than a day after receipt is not believed (a feed's local time mislabelled as UTC is hours off)."""
MIN_YEAR: Final = 1970
MAX_YEAR: Final = 2261
"""Dates must fit int64 nanoseconds (1970 to 2262)."""

ATOM_NS: Final = "http://www.w3.org/2005/Atom"
DC_NS: Final = "http://purl.org/dc/elements/1.1/"
XML_NS: Final = "http://www.w3.org/XML/1998/namespace"
_NS_SEPARATOR: Final = " "

_GDELT_SEENDATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")
_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f<>\"]+", re.IGNORECASE)

# ---------------------------------------------------------------------------------------------------------------
# Instrument tagging

TAGGED_CURRENCIES: Final = (
    "XAU", "XAG", "EUR", "GBP", "AUD", "NZD", "USD", "CAD", "CHF",
    "SGD", "HKD", "SEK", "NOK", "MXN", "ZAR", "CNH", "CNY", "JPY",
)  # fmt: skip
"""Codes tagged in a headline: the G10 currencies, the most traded others, gold and silver (XAU, XAG)."""
BASE_ORDER: Final = tuple(code for code in TAGGED_CURRENCIES if code != "CNY")
"""Market order of a pair's two codes: the earlier one is the base (EUR_USD, GBP_JPY, USD_CNH, XAU_USD)."""
CROSS_CURRENCIES: Final = frozenset({"EUR", "GBP", "AUD", "NZD", "CAD", "CHF", "JPY"})
"""Two of these named without the US dollar are a cross (GBP_JPY); two others are each against the dollar."""
CODE_ALIASES: Final = {"CNY": "CNH"}
"""Codes tagged as another's instrument: the onshore yuan as the offshore yuan brokers quote (USD_CNH)."""
CURRENCY_WORDS: Final = (
    ("EUR", "euro", r"\beuros?\b(?![\s-]*(?:zone|area|stoxx|\d))"),
    ("USD", "dollar", r"\b(?-i:US|U\.S\.|United States|American) dollars?\b"),
    ("USD", "greenback", r"\bgreenbacks?\b"),
    ("JPY", "yen", r"\byen\b"),
    ("GBP", "pound", r"\bbritish pounds?\b|\bpounds? sterling\b"),
    ("CHF", "franc", r"\bswiss francs?\b"),
    ("CHF", "swissie", r"\bswissie\b"),
    ("AUD", "dollar", r"\b(?:australian|aussie) dollars?\b"),
    ("NZD", "dollar", r"\b(?:new zealand|kiwi) dollars?\b"),
    ("CAD", "dollar", r"\bcanadian dollars?\b"),
    ("CAD", "loonie", r"\bloonies?\b"),
    ("CNH", "yuan", r"\byuan\b"),
    ("CNH", "renminbi", r"\brenminbi\b"),
    ("MXN", "peso", r"\bmexican pesos?\b"),
    ("ZAR", "rand", r"\bsouth african rand\b"),
    ("SEK", "krona", r"\bswedish krona\b"),
    ("NOK", "krone", r"\bnorwegian krone\b"),
    ("SGD", "dollar", r"\bsingapore dollars?\b"),
    ("HKD", "dollar", r"\bhong kong dollars?\b"),
)
"""Words naming a currency unambiguously: (code, a word every match contains, in lower case, pattern matched
case-insensitively with any run of spaces between words). The word is a fast filter: a pattern is tried only
on a headline containing it."""

_CODES = "|".join(TAGGED_CURRENCIES)
_PAIRS = re.compile(rf"(?<![A-Za-z0-9])(?:(?i:({_CODES})\s*/\s*({_CODES}))|({_CODES})-?({_CODES}))(?![A-Za-z0-9])")
"""``EUR/USD``, ``eur / usd`` (any case), ``EURUSD``, ``EUR-USD`` (upper case)."""
_CODE_ALONE = re.compile(rf"(?<![A-Za-z0-9])({_CODES})(?![A-Za-z0-9])")
_GAP = r"\s+"
_WORDS = tuple(
    (code, word, re.compile(pattern.replace(" ", _GAP), re.IGNORECASE)) for code, word, pattern in CURRENCY_WORDS
)
_UPPER_RUN = re.compile(r"[A-Z]{3}")


def _pair(first: str, second: str) -> str | None:
    """The instrument of two codes in market order; None for one code twice."""
    a, b = CODE_ALIASES.get(first, first), CODE_ALIASES.get(second, second)
    if a == b:
        return None
    return f"{a}_{b}" if BASE_ORDER.index(a) < BASE_ORDER.index(b) else f"{b}_{a}"


def instruments_in(headline: str) -> list[str]:
    """The instruments a headline mentions, by the rule of the module docstring, sorted and unique."""
    found: set[str] = set()
    rest = headline
    if "/" in headline or _UPPER_RUN.search(headline):  # what every pair needs: a fast filter
        matches = list(_PAIRS.finditer(headline))
        for match in matches:
            first, second = (match[1], match[2]) if match[1] is not None else (match[3], match[4])
            instrument = _pair(first.upper(), second.upper())
            if instrument is not None:
                found.add(instrument)
        if matches:
            rest = _PAIRS.sub(" ", headline)
    lower = rest.lower()
    named = {code for code, word, pattern in _WORDS if word in lower and pattern.search(rest)}
    if _UPPER_RUN.search(rest) and any(char.islower() for char in rest):
        named.update(CODE_ALIASES.get(code, code) for code in _CODE_ALONE.findall(rest))
    others = sorted(named - {"USD"})
    if len(others) == 2 and "USD" not in named and CROSS_CURRENCIES.issuperset(others):
        cross = _pair(*others)
        if cross is not None:
            found.add(cross)
    else:
        found.update(instrument for code in others if (instrument := _pair(code, "USD")) is not None)
    return sorted(found)


# ---------------------------------------------------------------------------------------------------------------
# Values


def clean_text(text: str, limit: int) -> str:
    """``text`` without control characters, whitespace runs as one space, stripped, cut to ``limit`` characters."""
    return _SPACE.sub(" ", _CONTROL.sub("", text)).strip()[:limit]


_HTML_SKIPPED: Final = frozenset({"script", "style"})
_HTML_BLOCKS: Final = frozenset({"p", "br", "div", "li", "tr", "td", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"})
"""Tags that separate words (inline ones such as ``<i>`` do not: ``<i>euro</i>s`` is one word)."""


class _HtmlText(html.parser.HTMLParser):
    """The text of an HTML fragment (a feed's description), without tags, scripts or styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HTML_SKIPPED:
            self._skipping += 1
        elif tag in _HTML_BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HTML_SKIPPED:
            self._skipping = max(self._skipping - 1, 0)
        elif tag in _HTML_BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def text_of_html(fragment: str) -> str:
    """The readable text of an HTML fragment (tags removed, character references decoded); plain text as it is."""
    if "<" not in fragment and "&" not in fragment:
        return fragment
    reader = _HtmlText()
    reader.feed(fragment)
    reader.close()
    return "".join(reader.parts)


def valid_url(text: str) -> str | None:
    """``text`` if it is one absolute http(s) URL of at most :data:`MAX_URL_CHARS` characters, else None."""
    text = text.strip()
    if len(text) > MAX_URL_CHARS or _URL.fullmatch(text) is None:
        return None
    return text


def _in_range(moment: datetime) -> int:
    """ns since the epoch of an aware datetime; BadValueError outside 1970-2261."""
    if not MIN_YEAR <= moment.astimezone(UTC).year <= MAX_YEAR:
        raise BadValueError(f"date {moment.isoformat()} is outside {MIN_YEAR}-{MAX_YEAR}")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def parse_feed_date(text: str) -> int:
    """A feed's date in ns since the epoch: RFC 3339 / ISO 8601 or RFC 822 / 2822, leniently.

    RFC 3339 with up to 9 fractional digits is exact (gateway.clock); other ISO 8601 forms (no offset, a space
    for ``T``, a bare date) are read by ``datetime.fromisoformat``, without an offset as UTC; RFC 822 by
    ``email.utils`` (``Mon, 06 Jul 2026 19:58:00 Z``, ``GMT``, ``EST``, ``+0200``, two-digit years; an unknown
    zone or none counts as UTC, as RFC 2822 says of ``-0000``). Raises BadValueError for anything else, an
    impossible date (hour 29) or one outside 1970-2261.
    """
    text = text.strip()
    if not text or len(text) > MAX_DATE_CHARS:
        raise BadValueError(f"date {shown(text)} is empty or too long")
    try:
        return parse_time_ns(text)
    except BadValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        parts = parsedate_tz(text)
        if parts is None:
            raise BadValueError(f"date {shown(text)} is neither ISO 8601 nor RFC 822") from None
        year, month, day, hour, minute, second = parts[:6]
        try:
            moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
            moment -= timedelta(seconds=parts[9] or 0)
        except (ValueError, OverflowError) as exc:
            raise BadValueError(f"date {shown(text)} is not a valid date and time: {exc}") from None
        return _in_range(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return _in_range(moment)
    except OverflowError as exc:  # an offset pushing year 1 or 9999 out of datetime's range
        raise BadValueError(f"date {shown(text)} is out of range: {exc}") from None


def parse_gdelt_seendate(text: str) -> int:
    """GDELT's ``seendate`` (``20260121T083000Z``, UTC) in ns since the epoch; BadValueError otherwise."""
    match = _GDELT_SEENDATE.fullmatch(text)
    if match is None:
        raise BadValueError(f"seendate {shown(text)} is not YYYYMMDDTHHMMSSZ")
    year, month, day, hour, minute, second = (int(group) for group in match.groups())
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise BadValueError(f"seendate {shown(text)} is not a valid date and time: {exc}") from None
    return _in_range(moment)


@dataclass(slots=True)
class _Dating:
    """The published time of an item and the problem it had, if any (the item is kept either way)."""

    published_ns: int
    problem: ItemProblem | None


def _date_of(text: str | None, recv_ns: int, what: str, parse: Callable[[str], int]) -> _Dating:
    if text is None or not text.strip():
        return _Dating(0, ItemProblem("undated", f"{what} has no date; kept with published_ns 0"))
    try:
        published_ns = parse(text)
    except BadValueError as exc:
        return _Dating(0, ItemProblem("bad_date", f"{what}: {exc}; kept with published_ns 0", _raw(text)))
    if published_ns > recv_ns + MAX_FUTURE_S * NS_PER_S:
        return _Dating(
            0, ItemProblem("future_date", f"{what}: date {shown(text)} is in the future; kept with published_ns 0")
        )
    return _Dating(published_ns, None)


def news_item_id(feed: str, identity: str) -> str:
    """``<feed>:<identity>`` (a guid or a URL); ``<feed>:sha256:<32 hex>`` of the identity when that is longer
    than the change tracker's MAX_ITEM_ID_CHARS (long article URLs)."""
    item_id = f"{feed}:{identity}"
    if len(item_id) <= MAX_ITEM_ID_CHARS:
        return item_id
    return f"{feed}:sha256:{hashlib.sha256(identity.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def _raw(text: str) -> bytes:
    return clip_bytes(text.encode("utf-8", "replace"))[0]


# ---------------------------------------------------------------------------------------------------------------
# Feeds (RSS 2.0, Atom)


@dataclass(slots=True)
class _Entry:
    """The raw fields of one RSS item or Atom entry, as read (each at most MAX_FIELD_READ_CHARS characters)."""

    texts: dict[str, str] = field(default_factory=dict)
    guid_is_permalink: bool = True
    title_type: str = "text"
    summary_type: str = "text"
    link: str | None = None


_RSS_FIELDS: Final = {"title": "title", "link": "link", "guid": "guid", "pubDate": "date", "description": "summary"}
_RSS_FIELDS_NS: Final = {(DC_NS, "date"): "dc_date", ("", "source"): "source"}
_ATOM_FIELDS: Final = {"title": "title", "id": "guid", "published": "date", "updated": "updated"}
_ATOM_SUMMARY: Final = ("summary", "content")


def _split(name: str) -> tuple[str, str]:
    """expat's ``"namespace local"`` (or ``"local"``) as (namespace, local)."""
    namespace, _, local = name.rpartition(_NS_SEPARATOR)
    return namespace, local


class _FeedReader:
    """Streams one feed document through expat, keeping only what NewsItems need (bounded, see module docs)."""

    def __init__(self) -> None:
        self.format: Literal["rss", "atom"] | None = None
        self.entries: list[_Entry] = []
        self.skipped_entries = 0
        self.channel_title = ""
        self.language = ""
        self._stack: list[tuple[str, str]] = []
        self._entry: _Entry | None = None
        self._capture: str | None = None
        """Field whose text is being read, and the depth of its element."""
        self._capture_depth = 0
        self._text: list[str] = []
        self._text_chars = 0

    def parse(self, body: bytes) -> None:
        SafeXmlParser("the feed", self._start, self._end, self._data, namespace_separator=_NS_SEPARATOR).parse(body)

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        namespace, local = _split(name)
        depth = len(self._stack) + 1
        if depth == 1:
            self._root(namespace, local, attrs)
        self._stack.append((namespace, local))
        if self._capture is not None:
            return
        if self._is_entry(namespace, local, depth):
            if len(self.entries) < MAX_FEED_ITEMS:
                self._entry = _Entry()
            else:
                self.skipped_entries += 1
        elif self._entry is not None and depth == self._entry_depth + 1:
            self._entry_child(namespace, local, attrs, depth)
        elif self._entry is None and depth == self._entry_depth and local == "title" and namespace == self._ns:
            self._begin("channel_title", depth)
        elif self._entry is None and self.format == "rss" and depth == 3 and local == "language" and not namespace:
            self._begin("language", depth)

    @property
    def _entry_depth(self) -> int:
        """Depth of item (rss/channel/item) or entry (feed/entry) elements."""
        return 3 if self.format == "rss" else 2

    @property
    def _ns(self) -> str:
        return ATOM_NS if self.format == "atom" else ""

    def _root(self, namespace: str, local: str, attrs: dict[str, str]) -> None:
        if local == "rss" and not namespace:
            self.format = "rss"
        elif local == "feed" and namespace == ATOM_NS:
            self.format = "atom"
            self.language = attrs.get(f"{XML_NS}{_NS_SEPARATOR}lang", "")
        else:
            what = "an HTML page" if local.lower() == "html" else f"<{shown(local)}>"
            raise MalformedInputError(f"the document is {what}, not an RSS 2.0 or Atom feed")

    def _is_entry(self, namespace: str, local: str, depth: int) -> bool:
        if self.format == "rss":
            return depth == 3 and local == "item" and not namespace and self._stack[1] == ("", "channel")
        return depth == 2 and local == "entry" and namespace == ATOM_NS

    def _entry_child(self, namespace: str, local: str, attrs: dict[str, str], depth: int) -> None:
        entry = self._entry
        assert entry is not None
        if self.format == "rss":
            name = _RSS_FIELDS.get(local) if not namespace else None
            name = name or _RSS_FIELDS_NS.get((namespace, local))
            if name == "guid":
                entry.guid_is_permalink = attrs.get("isPermaLink", "true").strip().lower() != "false"
        elif namespace != ATOM_NS:
            name = None
        elif local == "link":
            if entry.link is None and attrs.get("rel", "alternate") == "alternate":
                entry.link = attrs.get("href", "")
            name = None
        elif local in _ATOM_SUMMARY:
            name = "summary" if "summary" not in entry.texts else None
            if name is not None:
                entry.summary_type = attrs.get("type", "text")
        else:
            name = _ATOM_FIELDS.get(local)
            if name == "title":
                entry.title_type = attrs.get("type", "text")
        if name is not None and name not in entry.texts:
            self._begin(name, depth)

    def _begin(self, name: str, depth: int) -> None:
        self._capture = name
        self._capture_depth = depth
        self._text = []
        self._text_chars = 0

    def _data(self, text: str) -> None:
        if self._capture is not None and self._text_chars < MAX_FIELD_READ_CHARS:
            text = text[: MAX_FIELD_READ_CHARS - self._text_chars]
            self._text.append(text)
            self._text_chars += len(text)

    def _end(self, name: str) -> None:
        depth = len(self._stack)
        self._stack.pop()
        if self._capture is not None and depth == self._capture_depth:
            text = "".join(self._text)
            if self._capture == "channel_title":
                self.channel_title = text
            elif self._capture == "language":
                self.language = text
            elif self._entry is not None:
                self._entry.texts[self._capture] = text
            self._capture = None
        elif self._entry is not None and depth == self._entry_depth and self._capture is None:
            self.entries.append(self._entry)
            self._entry = None


def parse_feed(body: bytes, feed: str, recv_ns: int) -> Parsed:
    """The NewsItems of an RSS 2.0 or Atom document from feed ``feed``, received at ``recv_ns``.

    Raises MalformedInputError when the body is not a well-formed RSS 2.0 or Atom document (an HTML page,
    JSON, truncated XML, an entity declaration, nesting beyond MAX_XML_DEPTH). Refused items (no title, no
    guid and no link, a bad link or guid, a repeated id) are ItemProblems; items with no usable date are kept
    with ``published_ns`` 0 and counted as problems too (``undated``, ``bad_date``, ``future_date``).
    """
    reader = _FeedReader()
    reader.parse(body)
    if reader.format is None:
        raise MalformedInputError("the document is empty", raw=raw_prefix(body))
    publisher = clean_text(text_of_html(reader.channel_title), MAX_PUBLISHER_CHARS)
    language = clean_text(reader.language, MAX_LANGUAGE_CHARS)
    items: list[ExternalItem] = []
    problems: list[ItemProblem] = []
    seen: set[str] = set()
    for number, entry in enumerate(reader.entries, start=1):
        _feed_entry(entry, f"{feed} item {number}", feed, publisher, language, recv_ns, items, problems, seen)
    if reader.skipped_entries:
        problems.append(
            ItemProblem(
                "too_many_items",
                f"{feed}: {reader.skipped_entries} items after the first {MAX_FEED_ITEMS} were not read",
            )
        )
    return Parsed(items, problems)


def _feed_entry(
    entry: _Entry,
    what: str,
    feed: str,
    publisher: str,
    language: str,
    recv_ns: int,
    items: list[ExternalItem],
    problems: list[ItemProblem],
    seen: set[str],
) -> None:
    texts = entry.texts
    title_text = texts.get("title", "")
    if entry.title_type in ("html", "xhtml"):
        title_text = text_of_html(title_text)
    title = clean_text(title_text, MAX_TITLE_CHARS)
    if not title:
        problems.append(ItemProblem("missing_title", f"{what} has no title", _raw(repr(texts)[:512])))
        return
    guid = clean_text(texts.get("guid", ""), MAX_GUID_CHARS + 1)
    if len(guid) > MAX_GUID_CHARS:
        problems.append(ItemProblem("bad_guid", f"{what}: guid longer than {MAX_GUID_CHARS} characters", _raw(guid)))
        return
    link_text = entry.link if entry.link is not None else texts.get("link", "")
    if not link_text.strip() and guid and entry.guid_is_permalink:
        link_text = guid  # RSS: a guid is the item's permalink unless isPermaLink="false"
    url = ""
    if link_text.strip():
        checked = valid_url(link_text)
        if checked is None:
            problems.append(ItemProblem("bad_url", f"{what}: link {shown(link_text)} is not an http(s) URL"))
            return
        url = checked
    identity = guid or url
    if not identity:
        problems.append(ItemProblem("missing_id", f"{what} ({shown(title)}) has neither a guid nor a link"))
        return
    item_id = news_item_id(feed, identity)
    if item_id in seen:
        problems.append(ItemProblem("duplicate", f"{what}: id {shown(identity)} repeats an earlier item"))
        return
    seen.add(item_id)
    date_text = texts.get("date") or texts.get("dc_date") or texts.get("updated")
    dating = _date_of(date_text, recv_ns, what, parse_feed_date)
    if dating.problem is not None:
        problems.append(dating.problem)
    summary_text = texts.get("summary", "")
    if entry.summary_type != "text" or "<" in summary_text:
        summary_text = text_of_html(summary_text)
    source = clean_text(texts.get("source", ""), MAX_PUBLISHER_CHARS)
    news = NewsItem(
        title=title,
        url=url,
        publisher=source or publisher,
        instruments=instruments_in(title),
        summary=clean_text(summary_text, MAX_SUMMARY_CHARS),
        published_ns=dating.published_ns,
        guid=guid,
        feed=feed,
        language=language,
    )
    items.append(ExternalItem(item_id=item_id, ts_ns=dating.published_ns, payload=news))


# ---------------------------------------------------------------------------------------------------------------
# GDELT DOC artlist


_GDELT_TEXT_FIELDS: Final = ("url", "title", "seendate", "domain", "language")


_decode_gdelt = msgspec.json.Decoder(dict[str, Any]).decode


def parse_gdelt(body: bytes, feed: str, recv_ns: int) -> Parsed:
    """The NewsItems of a GDELT DOC ``artlist`` JSON answer for query ``feed``, received at ``recv_ns``.

    Raises ProviderRefusalError for GDELT's plain-text answers (``rate_limited`` for "Please limit requests",
    ``rejected`` for a query it refuses), MalformedInputError for HTML, broken JSON or a wrong shape.
    ``{}`` (no match) and ``{"articles": []}`` are no items. Each article is checked: ``url`` and ``title``
    non-empty strings (``bad_url``, ``missing_title``, ``bad_type``), ``seendate`` ``YYYYMMDDTHHMMSSZ`` or
    ``""`` (kept with ``published_ns`` 0 and counted).
    """
    text = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith((b"{", b"[")):
        _gdelt_refusal(text, body)
    answer = decode_whole(_decode_gdelt, body.lstrip(b"\xef\xbb\xbf"), "GDELT answer")
    articles = answer.get("articles", [])
    if not isinstance(articles, list):
        raise MalformedInputError(f"GDELT 'articles' is a {type(articles).__name__}, not a list", raw=raw_prefix(body))
    items: list[ExternalItem] = []
    problems: list[ItemProblem] = []
    seen: set[str] = set()
    for number, article in enumerate(articles[:GDELT_MAX_RECORDS], start=1):
        _gdelt_article(article, f"{feed} article {number}", feed, recv_ns, items, problems, seen)
    if len(articles) > GDELT_MAX_RECORDS:
        problems.append(
            ItemProblem(
                "too_many_items",
                f"{feed}: {len(articles) - GDELT_MAX_RECORDS} articles after the first {GDELT_MAX_RECORDS} not read",
            )
        )
    return Parsed(items, problems)


def _gdelt_refusal(text: bytes, body: bytes) -> None:
    """Raise for a GDELT answer that is not JSON: its plain-text refusal, or an HTML page or garbage."""
    words = text.decode("utf-8", "replace")
    if words.startswith("<"):
        raise MalformedInputError("GDELT answered an HTML page where JSON was expected", raw=raw_prefix(body))
    if not words.strip():
        raise MalformedInputError("GDELT answered an empty body", raw=b"")
    said = clip(clean_text(words, 1024), 200)
    if "limit requests" in words.lower():
        raise ProviderRefusalError(f"GDELT rate limit: {said}", kind="rate_limited", retry_after_s=GDELT_MIN_INTERVAL_S)
    if all(char.isprintable() or char.isspace() for char in words[:MAX_REFUSAL_CHARS]):
        raise ProviderRefusalError(f"GDELT refused the query: {said}", kind="rejected")
    raise MalformedInputError("GDELT answer is neither JSON nor text", raw=raw_prefix(body))


def _gdelt_article(
    article: Any,
    what: str,
    feed: str,
    recv_ns: int,
    items: list[ExternalItem],
    problems: list[ItemProblem],
    seen: set[str],
) -> None:
    if not isinstance(article, dict):
        problems.append(ItemProblem("bad_type", f"{what} is a {type(article).__name__}, not an object"))
        return
    for key in _GDELT_TEXT_FIELDS:
        value = article.get(key, "")
        if not isinstance(value, str):
            problems.append(
                ItemProblem("bad_type", f"{what}: {key} is a {type(value).__name__} ({shown(value)}), not a string")
            )
            return
    title = clean_text(article.get("title", ""), MAX_TITLE_CHARS)
    if not title:
        problems.append(ItemProblem("missing_title", f"{what} has no title"))
        return
    url = valid_url(article.get("url", ""))
    if url is None:
        problems.append(ItemProblem("bad_url", f"{what}: url {shown(article.get('url'))} is not an http(s) URL"))
        return
    item_id = news_item_id(feed, url)
    if item_id in seen:
        problems.append(ItemProblem("duplicate", f"{what}: url {shown(url)} repeats an earlier article"))
        return
    seen.add(item_id)
    dating = _date_of(article.get("seendate", ""), recv_ns, what, parse_gdelt_seendate)
    if dating.problem is not None:
        problems.append(dating.problem)
    news = NewsItem(
        title=title,
        url=url,
        publisher=clean_text(article.get("domain", ""), MAX_PUBLISHER_CHARS),
        instruments=instruments_in(title),
        published_ns=dating.published_ns,
        feed=feed,
        language=clean_text(article.get("language", ""), MAX_LANGUAGE_CHARS),
    )
    items.append(ExternalItem(item_id=item_id, ts_ns=dating.published_ns, payload=news))


# ---------------------------------------------------------------------------------------------------------------
# Config and collector


class NewsFeed(BaseModel):
    """One RSS 2.0 or Atom feed: its name (in item ids and NewsItem.feed) and address."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=FEED_NAME_PATTERN)
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=MAX_URL_CHARS)


class GdeltQuery(BaseModel):
    """One GDELT DOC query: its name (in item ids and NewsItem.feed), the query text, how many and how recent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=FEED_NAME_PATTERN)
    query: str = Field(min_length=1, max_length=MAX_GDELT_QUERY_CHARS, description="GDELT query syntax.")
    max_records: int = Field(default=GDELT_DEFAULT_RECORDS, ge=1, le=GDELT_MAX_RECORDS)
    timespan: str = Field(default="1d", pattern=GDELT_TIMESPAN_PATTERN, description="e.g. 15min, 6h, 1d, 1w.")


class NewsConfig(PollingConfig):
    """``kind: news``: ``feeds`` (RSS 2.0 / Atom) and ``gdelt`` queries, at least one in all, names unique.

    ``base_url`` is GDELT's DOC API (used by the ``gdelt`` queries only). No key. GDELT allows one request
    every 5 s from an address; each feed and query is one request per poll, all of them paced at that rate.
    """

    kind: Literal["news"] = "news"
    min_interval_s: ClassVar[float] = MIN_INTERVAL_S
    host_max_requests: ClassVar[int] = 1
    host_window_s: ClassVar[float] = GDELT_MIN_INTERVAL_S
    """GDELT's one request per 5 s; the polling base keeps one window per collector (``base_url``'s host), so
    the feeds' requests are paced by it too: a poll of n feeds and queries takes about 5 (n - 1) s."""

    interval_s: float = Field(default=DEFAULT_INTERVAL_S, gt=0, description="Seconds between polls (before jitter).")
    base_url: str = Field(default=GDELT_DOC_URL, pattern=r"^https?://[^\s]+$", description="GDELT DOC API address.")
    feeds: tuple[NewsFeed, ...] = ()
    gdelt: tuple[GdeltQuery, ...] = ()

    @model_validator(mode="after")
    def _sources(self) -> NewsConfig:
        names = [feed.name for feed in self.feeds] + [query.name for query in self.gdelt]
        if not names:
            raise ValueError("news needs at least one entry in feeds or gdelt")
        if len(names) > MAX_SOURCES:
            raise ValueError(f"news has {len(names)} feeds and queries; at most {MAX_SOURCES}")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"feed and query names must be unique; repeated: {', '.join(repeated)}")
        return self


class NewsCollector(PollingCollector[NewsConfig]):
    """One request per feed and per GDELT query each poll; each answer parsed by its format."""

    kind: ClassVar[str] = "news"
    payload_field: ClassVar[str] = "news"
    bench_samples: ClassVar[tuple[BenchSample, ...]] = (
        BenchSample(
            "news/fxstreet_rss_2026-07-06.xml",
            {"feeds": [{"name": "fxstreet", "url": "https://www.fxstreet.com/rss/news"}]},
            content_type="application/rss+xml",
        ),
        BenchSample(
            "news/gdelt_doc_artlist_2026-01.json",
            {"gdelt": [{"name": "gdelt-india", "query": "india", "max_records": 250}]},
        ),
    )

    def __init__(self, config: NewsConfig, sink: ExternalSink, state_dir: Path | None = None) -> None:
        super().__init__(config, sink, state_dir)
        self._gdelt_names = frozenset(query.name for query in config.gdelt)

    def requests(self) -> Sequence[HttpRequest]:
        feeds = [
            HttpRequest(
                url=feed.url,
                headers=(("Accept", "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.1"),),
                label=feed.name,
            )
            for feed in self.config.feeds
        ]
        queries = [
            HttpRequest(
                url=self.config.base_url,
                params=(
                    ("query", query.query),
                    ("mode", "artlist"),
                    ("format", "json"),
                    ("maxrecords", str(query.max_records)),
                    ("timespan", query.timespan),
                    ("sort", "datedesc"),
                ),
                label=query.name,
            )
            for query in self.config.gdelt
        ]
        return feeds + queries

    def classify_error(self, response: HttpResponse) -> ProviderRefusalError | None:
        """401/403 from a feed or GDELT: no key is involved, so the client is blocked (a bot wall), not refused."""
        if response.status in (401, 403):
            return ProviderRefusalError(
                f"{response.request.label}: HTTP {response.status}: the provider blocks this client", kind="blocked"
            )
        return None

    def parse(self, response: HttpResponse, recv_ns: int) -> Parsed:
        name = response.request.label
        if name in self._gdelt_names:
            return parse_gdelt(response.body, name, recv_ns)
        return parse_feed(response.body, name, recv_ns)
