"""News parsing, pure: the recorded FXStreet RSS and GDELT artlist in, exact NewsItems out; a hand-written Atom
document (no Atom feed was recorded); lenient dates; instrument tagging; safe XML; a hostile corpus."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Final

import pytest

from collectors.external.changes import MAX_ITEM_ID_CHARS
from collectors.external.news import (
    MAX_FEED_ITEMS,
    MAX_GUID_CHARS,
    MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    GdeltQuery,
    NewsCollector,
    NewsConfig,
    NewsFeed,
    instruments_in,
    news_item_id,
    parse_feed,
    parse_feed_date,
    parse_gdelt,
    parse_gdelt_seendate,
)
from collectors.external.safe_xml import MAX_XML_DEPTH
from collectors.polling import HttpResponse
from gateway.clock import parse_time_ns
from gateway.errors import BadValueError, MalformedInputError, ProviderRefusalError
from gateway.events import ExternalItem, Parsed
from gateway.schema.market.v1.market_pb2 import NewsItem
from tests.support import RecordingExternalSink
from tests.unit.collectors.external.hostile import damaged, mutations, truncations

RECV_NS: Final = parse_time_ns("2026-07-06T20:00:00Z")
GDELT_RECV_NS: Final = parse_time_ns("2026-01-23T12:00:00Z")
FXSTREET: Final = "news/fxstreet_rss_2026-07-06.xml"
GDELT: Final = "news/gdelt_doc_artlist_2026-01.json"


def _rss(shared_data: Path) -> bytes:
    return (shared_data / FXSTREET).read_bytes()


def _gdelt(shared_data: Path) -> bytes:
    return (shared_data / GDELT).read_bytes()


def _n(item: ExternalItem) -> NewsItem:
    assert isinstance(item.payload, NewsItem)
    return item.payload


def _news(parsed: Parsed) -> list[NewsItem]:
    return [_n(item) for item in parsed.items]


# --- the recorded FXStreet RSS 2.0 feed -------------------------------------------------------------------


def test_fxstreet_feed_gives_thirty_exact_items(shared_data: Path) -> None:
    parsed = parse_feed(_rss(shared_data), "fxstreet", RECV_NS)
    assert parsed.problems == []
    assert len(parsed.items) == 30
    first = parsed.items[0]
    assert first.item_id == "fxstreet:e437aedd-7ba4-44f3-8fd8-4eaaea189b12"
    assert first.ts_ns == parse_time_ns("2026-07-06T19:58:00Z")  # "Mon, 06 Jul 2026 19:58:00 Z"
    assert first.payload == NewsItem(
        title="Chinese Yuan: Depressed positioning offers re-entry \u2013 BNY",
        url="https://www.fxstreet.com/news/chinese-yuan-depressed-positioning-offers-re-entry-bny-202607061958",
        publisher="FXStreet Forex & Commodities News",
        instruments=["USD_CNH"],
        summary="BNY\u2019s Geoff Yu stresses that Chinese equities and Chinese Yuan (CNY) remain heavily under-owned "
        "versus APAC (Asia-Pacific) peers, with cross-border holdings at very low levels.",
        published_ns=parse_time_ns("2026-07-06T19:58:00Z"),
        guid="e437aedd-7ba4-44f3-8fd8-4eaaea189b12",
        feed="fxstreet",
        language="",
    )
    last = parsed.items[-1]
    assert last.item_id == "fxstreet:d9bc9a77-f2a3-4417-9102-e205af35c07e"
    assert _n(last).title == "Oil: Supply normalization pressures prices \u2013 BNY"
    assert _n(last).published_ns == parse_time_ns("2026-07-06T13:24:21Z")
    assert list(_n(last).instruments) == []
    curly = _n(parsed.items[15])
    assert (
        curly.title == "Fed\u2019s Waller: Forward guidance can be \u201cvaluable tool\u201d but may become a hindrance"
    )
    assert curly.published_ns == parse_time_ns("2026-07-06T15:32:32Z")
    # a title with a trailing space in the feed comes out stripped
    assert _n(parsed.items[16]).title == "Australian Dollar trades sideways after softer Australian inflation"
    assert all(_n(item).guid and _n(item).url.startswith("https://www.fxstreet.com/news/") for item in parsed.items)
    assert [item.ts_ns for item in parsed.items] == sorted((item.ts_ns for item in parsed.items), reverse=True)


def test_fxstreet_headlines_are_tagged_by_the_rule(shared_data: Path) -> None:
    tags = {item.title: list(item.instruments) for item in _news(parse_feed(_rss(shared_data), "fx", RECV_NS))}
    assert {title: found for title, found in tags.items() if found} == {
        "Chinese Yuan: Depressed positioning offers re-entry \u2013 BNY": ["USD_CNH"],
        "New Zealand Dollar pressured by hawkish Fed tone": ["NZD_USD"],
        "New Zealand Dollar: Hawkish RBNZ risks and range trading \u2013 Rabobank": ["NZD_USD"],
        "Swiss Franc dips amid unemployment surprise and strong US Dollar": ["USD_CHF"],
        "Japanese Yen falls toward multi-decade lows on US Dollar strength": ["USD_JPY"],
        "British Pound holds range as USD strength meets Fed doubts": ["GBP_USD"],
        "British Pound: Range-bound against US Dollar with steady BoE expectations \u2013 Scotiabank": ["GBP_USD"],
        "Euro weakens as markets reassess Fed and ECB rate outlook": ["EUR_USD"],
        "Australian Dollar trades sideways after softer Australian inflation": ["AUD_USD"],
        "Chinese Yuan: Sideways trade within defined band against US Dollar \u2013 UOB": ["USD_CNH"],
        "Silver Price Forecast: XAG/USD struggles below key SMAs despite easing Fed hike bets": ["XAG_USD"],
        "Canadian Dollar dips despite rising Oil prices amid firm US Dollar": ["USD_CAD"],
        "Euro: Soft tone against US Dollar with stable ECB expectations \u2013 Scotiabank": ["EUR_USD"],
        "Australian Dollar retreats toward 0.6900 amid renewed signs of cooling inflation": ["AUD_USD"],
        "Canadian Dollar: Consolidation against US Dollar with limited gains \u2013 Scotiabank": ["USD_CAD"],
        "British Pound climbs to January 2008 high against Japanese Yen despite intervention risk": ["GBP_JPY"],
        "Australian Dollar: Testing major support with rebound risk against US Dollar \u2013 Societe Generale": [
            "AUD_USD"
        ],
    }
    # Gold by name, the dollar index, central banks and oil are not instruments by the rule
    assert tags["Gold slips as firm US yields cap post-NFP rebound"] == []
    assert tags["United States Dollar Index trims gains as Fed hike bets fade"] == []
    assert tags["ECB\u2019s Schnabel: Current shock cannot simply be looked through"] == []


# --- the recorded GDELT artlist -----------------------------------------------------------------------------


def test_gdelt_artlist_gives_250_exact_items(shared_data: Path) -> None:
    parsed = parse_gdelt(_gdelt(shared_data), "gdelt-india", GDELT_RECV_NS)
    assert parsed.problems == []
    assert len(parsed.items) == 250
    first = parsed.items[0]
    assert first.item_id == (
        "gdelt-india:https://www.mathrubhumi.com/news/india/india-navigates-trump-trade-diplomacy-s8bz9nqh"
    )
    assert first.ts_ns == parse_time_ns("2026-01-21T08:30:00Z")  # seendate 20260121T083000Z
    assert first.payload == NewsItem(
        title=json.loads(_gdelt(shared_data))["articles"][0]["title"],
        url="https://www.mathrubhumi.com/news/india/india-navigates-trump-trade-diplomacy-s8bz9nqh",
        publisher="mathrubhumi.com",
        published_ns=parse_time_ns("2026-01-21T08:30:00Z"),
        feed="gdelt-india",
        language="Malayalam",
    )
    english = [item for item in _news(parsed) if item.language == "English"]
    assert len(english) == 62
    # GDELT's spacing quirks (leading and doubled spaces) are normalised
    assert english[0].title == (
        "India doesnt need foreign labels : Canadian influencer living in India slams videshi tags for Indian cities |"
    )
    assert english[0].publisher == "timesofindia.indiatimes.com"
    assert english[0].published_ns == parse_time_ns("2026-01-13T04:45:00Z")
    # no currency is named in these India headlines: nothing tagged
    assert all(not item.instruments for item in _news(parsed))
    # the same headline under four URLs is four articles (GDELT dedupes nothing; the URL is the identity)
    boredpanda = [
        item for item in english if item.publisher == "boredpanda.com" and item.title.startswith("Misogynistic")
    ]
    assert len(boredpanda) == 4 and len({item.url for item in boredpanda}) == 4
    # ids stay within the change tracker's limit: long URLs are hashed
    assert max(len(item.item_id) for item in parsed.items) <= MAX_ITEM_ID_CHARS
    assert all(_n(item).summary == "" and _n(item).guid == "" for item in parsed.items)


def test_gdelt_empty_strings_are_missing_values(shared_data: Path) -> None:
    answer = json.loads(_gdelt(shared_data))
    assert sum(article["url_mobile"] == "" for article in answer["articles"]) == 95
    assert sum(article["socialimage"] == "" for article in answer["articles"]) == 45
    answer["articles"][0]["seendate"] = ""
    answer["articles"][1]["domain"] = ""
    answer["articles"][2]["language"] = ""
    parsed = parse_gdelt(json.dumps(answer).encode(), "g", GDELT_RECV_NS)
    assert len(parsed.items) == 250
    assert [(problem.reason, problem.detail) for problem in parsed.problems] == [
        ("undated", "g article 1 has no date; kept with published_ns 0")
    ]
    assert (parsed.items[0].ts_ns, _n(parsed.items[0]).published_ns) == (0, 0)
    assert _n(parsed.items[1]).publisher == ""
    assert _n(parsed.items[2]).language == ""


def test_gdelt_answers_without_articles() -> None:
    assert parse_gdelt(b"{}", "g", GDELT_RECV_NS) == Parsed([], [])  # GDELT's answer to a query with no match
    assert parse_gdelt(b'{"articles": []}', "g", GDELT_RECV_NS) == Parsed([], [])
    assert parse_gdelt(b"\xef\xbb\xbf {}\n", "g", GDELT_RECV_NS) == Parsed([], [])


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (
            b"Please limit requests to one every 5 seconds or contact kalev.leetaru5@gmail.com for larger queries.",
            "rate_limited",
        ),
        (b"The specified phrase is too short.", "rejected"),
        (b"Your search contained a keyword that was too short.\n", "rejected"),
    ],
)
def test_gdelt_plain_text_answers_are_refusals(body: bytes, kind: str) -> None:
    with pytest.raises(ProviderRefusalError) as caught:
        parse_gdelt(body, "g", GDELT_RECV_NS)
    assert caught.value.kind == kind
    assert body.decode().strip()[:30] in str(caught.value)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", "HTML page"),
        (b"", "empty body"),
        (b"   \n", "empty body"),
        (b'{"articles": [', "not valid JSON"),
        (b"[1, 2]", "unexpected shape: Expected `object`, got `array`"),
        (b'{"articles": {"a": 1}}', "'articles' is a dict"),
        (b'{"articles": "none"}', "'articles' is a str"),
        (b"[" * 100_000 + b"]" * 100_000, "unexpected shape"),
        (b'{"articles": [{"url": 1e999}]}', "Number out of range"),
        (b"\xff\xfe\x00garbage\x01\x02", "neither JSON nor text"),
        ('{"articles": []}'.encode("utf-16"), "neither JSON nor text"),
    ],
)
def test_gdelt_answers_that_are_not_data_raise_malformed(body: bytes, words: str) -> None:
    with pytest.raises(MalformedInputError, match=words):
        parse_gdelt(body, "g", GDELT_RECV_NS)


# --- Atom (written here: no Atom feed was recorded) -------------------------------------------------------

ATOM: Final = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-GB">
  <title type="text">Example FX Desk</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2026-03-30T08:05:00Z</updated>
  <entry>
    <title type="html">EUR/USD &lt;b&gt;slips&lt;/b&gt; as London opens</title>
    <link rel="self" href="https://desk.example/api/entries/1"/>
    <link rel="alternate" type="text/html" href="https://desk.example/news/eurusd-slips"/>
    <id>tag:desk.example,2026:1</id>
    <published>2026-03-30T08:01:02.5+01:00</published>
    <updated>2026-03-30T08:04:00Z</updated>
    <summary type="html">&lt;p&gt;The &lt;i&gt;euro&lt;/i&gt; fell&amp;nbsp;0.3%.&lt;/p&gt;
      &lt;script&gt;x()&lt;/script&gt;</summary>
  </entry>
  <entry>
    <title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Yen <em>firms</em> on BoJ talk</div></title>
    <link href="https://desk.example/news/yen-firms"/>
    <id>tag:desk.example,2026:2</id>
    <updated>2026-03-30T07:15:00</updated>
    <content type="text">Full story.</content>
  </entry>
  <entry>
    <title>No date, no id</title>
    <link href="https://desk.example/news/undated"/>
  </entry>
  <entry>
    <title>Neither id nor link</title>
  </entry>
</feed>
"""


def test_atom_entries_give_exact_items() -> None:
    parsed = parse_feed(ATOM, "desk", RECV_NS)
    assert [item.item_id for item in parsed.items] == [
        "desk:tag:desk.example,2026:1",
        "desk:tag:desk.example,2026:2",
        "desk:https://desk.example/news/undated",
    ]
    assert parsed.items[0].payload == NewsItem(
        title="EUR/USD slips as London opens",
        url="https://desk.example/news/eurusd-slips",
        publisher="Example FX Desk",
        instruments=["EUR_USD"],
        summary="The euro fell 0.3%.",  # the no-break space is a space; the script is dropped
        published_ns=parse_time_ns("2026-03-30T07:01:02.5Z"),
        guid="tag:desk.example,2026:1",
        feed="desk",
        language="en-GB",
    )
    second = _n(parsed.items[1])
    assert (second.title, second.url, list(second.instruments)) == (
        "Yen firms on BoJ talk",
        "https://desk.example/news/yen-firms",
        ["USD_JPY"],
    )
    assert second.summary == "Full story."
    assert second.published_ns == parse_time_ns("2026-03-30T07:15:00Z")  # updated, no offset: UTC
    assert _n(parsed.items[2]).published_ns == 0
    assert [(problem.reason, problem.detail) for problem in parsed.problems] == [
        ("undated", "desk item 3 has no date; kept with published_ns 0"),
        ("missing_id", "desk item 4 ('Neither id nor link') has neither a guid nor a link"),
    ]


def test_rss_item_rules() -> None:
    body = (
        b"""<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
    <title>T</title><language>en-us</language>
    <item><title>Permalink guid</title><guid>https://x.example/a</guid>
      <pubDate>Tue, 07 Jul 2026 09:30:00 +0200</pubDate></item>
    <item><title>Not a permalink</title><guid isPermaLink="false">42</guid>
      <dc:date>2026-07-07T08:00:00Z</dc:date></item>
    <item><title>Aggregated</title><link>https://y.example/b</link><source url="https://reuters.example">Reuters</source>
      <pubDate>Tue, 07 Jul 2026 08:00:00 EST</pubDate><description>&lt;p&gt;Body&lt;/p&gt;</description></item>
    <item><title>Repeat</title><guid>https://x.example/a</guid></item>
    <item><title>Script link</title><link>javascript:alert(1)</link></item>
    <item><title>   </title><link>https://y.example/c</link></item>
    <item><title>Bad date</title><link>https://y.example/d</link><pubDate>Tue, 07 Jul 2026 29:30:00 Z</pubDate></item>
    <item><title>Future</title><link>https://y.example/e</link><pubDate>Tue, 07 Jul 2099 09:30:00 Z</pubDate></item>
    <item><title>Long guid</title><guid>"""
        + b"g" * (MAX_GUID_CHARS + 1)
        + b"""</guid></item>
    </channel></rss>"""
    )
    parsed = parse_feed(body, "f", RECV_NS)
    assert [(item.item_id, _n(item).url, _n(item).published_ns) for item in parsed.items] == [
        ("f:https://x.example/a", "https://x.example/a", parse_time_ns("2026-07-07T07:30:00Z")),
        ("f:42", "", parse_time_ns("2026-07-07T08:00:00Z")),
        ("f:https://y.example/b", "https://y.example/b", parse_time_ns("2026-07-07T13:00:00Z")),
        ("f:https://y.example/d", "https://y.example/d", 0),
        ("f:https://y.example/e", "https://y.example/e", 0),
    ]
    assert _n(parsed.items[2]).publisher == "Reuters"  # an item's <source> names its publisher
    assert _n(parsed.items[2]).summary == "Body"
    assert _n(parsed.items[0]).publisher == "T"
    assert _n(parsed.items[0]).language == "en-us"
    assert [problem.reason for problem in parsed.problems] == [
        "duplicate",
        "bad_url",
        "missing_title",
        "bad_date",
        "future_date",
        "bad_guid",
    ]


def test_long_identities_are_hashed_into_bounded_ids() -> None:
    url = "https://news.example/" + "a" * 400
    item_id = news_item_id("feed", url)
    assert item_id.startswith("feed:sha256:") and len(item_id) == len("feed:sha256:") + 32
    assert news_item_id("feed", url) == item_id and news_item_id("feed", url + "b") != item_id
    assert news_item_id("feed", "https://short.example/") == "feed:https://short.example/"


# --- dates ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("Mon, 06 Jul 2026 19:58:00 Z", "2026-07-06T19:58:00Z"),
        ("Mon, 06 Jul 2026 19:58:00 GMT", "2026-07-06T19:58:00Z"),
        ("Mon, 06 Jul 2026 19:58:00 UT", "2026-07-06T19:58:00Z"),
        ("Mon, 06 Jul 2026 19:58:00 +0200", "2026-07-06T17:58:00Z"),
        ("Mon, 06 Jul 2026 19:58:00 -0000", "2026-07-06T19:58:00Z"),
        ("Mon, 06 Jul 2026 15:58:00 EDT", "2026-07-06T19:58:00Z"),
        ("6 Jul 2026 19:58 +0000", "2026-07-06T19:58:00Z"),
        ("Mon, 06 Jul 26 19:58:00 Z", "2026-07-06T19:58:00Z"),
        ("Mon, 06 Jul 2026 19:58:00", "2026-07-06T19:58:00Z"),
        ("Mon, 06 Jul 2026 19:58:00 XYZ", "2026-07-06T19:58:00Z"),
        ("  Mon, 06 Jul 2026 19:58:00 Z\n", "2026-07-06T19:58:00Z"),
        ("2026-07-06T19:58:00Z", "2026-07-06T19:58:00Z"),
        ("2026-07-06T19:58:00.123456789Z", "2026-07-06T19:58:00.123456789Z"),
        ("2026-07-06T21:58:00+02:00", "2026-07-06T19:58:00Z"),
        ("2026-07-06T19:58:00", "2026-07-06T19:58:00Z"),
        ("2026-07-06 19:58", "2026-07-06T19:58:00Z"),
        ("2026-07-06", "2026-07-06T00:00:00Z"),
        ("20260706T195800Z", "2026-07-06T19:58:00Z"),
    ],
)
def test_feed_dates_are_read_leniently(text: str, iso: str) -> None:
    assert parse_feed_date(text) == parse_time_ns(iso)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "Mon, 06 Jul 2026 29:58:00 Z",
        "Mon, 31 Feb 2026 10:00:00 Z",
        "Mon, 06 Jul 99999999 19:58:00 Z",
        "Mon, 06 Jul 1969 23:00:00 Z",
        "Thu, 01 Jan 1970 00:30:00 +0100",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        "2300-01-01T00:00:00Z",
        "x" * 10_000,
    ],
)
def test_impossible_feed_dates_raise(text: str) -> None:
    with pytest.raises(BadValueError):
        parse_feed_date(text)


def test_gdelt_seendate() -> None:
    assert parse_gdelt_seendate("20260121T083000Z") == parse_time_ns("2026-01-21T08:30:00Z")
    for text in (
        "",
        "2026-01-21T08:30:00Z",
        "20260121T083000",
        "20261321T083000Z",
        "20260121T253000Z",
        "٢٠٢٦0121T083000Z",
    ):
        with pytest.raises(BadValueError):
            parse_gdelt_seendate(text)


# --- instrument tagging ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headline", "expected"),
    [
        ("EUR/USD rallies above 1.1800", ["EUR_USD"]),
        ("eur/usd: bulls return", ["EUR_USD"]),
        ("EUR / USD rises as Fed pauses", ["EUR_USD"]),  # GDELT spaces punctuation
        ("EURUSD and USDJPY diverge", ["EUR_USD", "USD_JPY"]),
        ("USD/EUR written backwards", ["EUR_USD"]),
        ("GBP-JPY breaks out", ["GBP_JPY"]),
        ("XAU/USD: gold at record", ["XAU_USD"]),
        ("Euro slips; USD/JPY flat", ["EUR_USD", "USD_JPY"]),
        ("Euro and Swiss franc weaken against the greenback", ["EUR_USD", "USD_CHF"]),
        ("British Pound climbs against Japanese Yen", ["GBP_JPY"]),
        ("Euro gains versus pound sterling", ["EUR_GBP"]),
        ("Euro, yen and Aussie dollar fall", ["AUD_USD", "EUR_USD", "USD_JPY"]),
        ("U.S. dollar firms, loonie slips", ["USD_CAD"]),
        ("Yuan hits two-year high", ["USD_CNH"]),
        ("PBOC fixes renminbi stronger; CNY and CNH converge", ["USD_CNH"]),
        ("Mexican peso and South African rand gain", ["USD_MXN", "USD_ZAR"]),
        ("Kiwi dollar jumps after RBNZ", ["NZD_USD"]),
        ("USD and JPY: the carry trade", ["USD_JPY"]),
        ("AUD gains", ["AUD_USD"]),
        ("EURUSD", ["EUR_USD"]),
    ],
)
def test_headlines_tagged(headline: str, expected: list[str]) -> None:
    assert instruments_in(headline) == expected


@pytest.mark.parametrize(
    "headline",
    [
        "Dollar slips as Treasury yields fall",  # which dollar?
        "US Dollar Index rises",  # USD alone is not an instrument
        "Raheem Sterling scores twice",
        "Pound for pound the best boxer",
        "Euro 2028 qualifiers: England draw Spain",
        "Euro zone inflation cools to 2.1%",
        "Euro area growth stalls",
        "Ayn Rand and the markets",
        "Aussie cricketers win the Ashes",
        "Kiwi fruit exports soar",
        "CAD AND AUD DATA DUE TODAY",  # all capitals: any word may look like a code
        "Gold hits record as silver lags",
        "Eurostoxx 50 closes higher",
        "European Central Bank holds rates",
        "USDX futures and EURO STOXX",
        "CADENCE of AUDits: USDOLLAR",
        "Yen" * 3,
        "",
    ],
)
def test_ambiguous_or_unrelated_headlines_tag_nothing(headline: str) -> None:
    assert instruments_in(headline) == []


def test_tagging_is_bounded_on_huge_headlines() -> None:
    headline = "EUR/USD " * 10_000 + "yen " * 10_000
    assert instruments_in(headline) == ["EUR_USD", "USD_JPY"]


# --- safe XML ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
            b"<rss><channel><item><title>&c;</title></item></channel></rss>",
            "declares the entity 'a'",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<rss><channel><item><title>&x;</title></item></channel></rss>",
            "declares the entity 'x'",
        ),
        (b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><rss/>', "declares the entity 'p'"),
        (b"<rss><channel><item><title>a&nbsp;b</title></item></channel></rss>", "undefined entity"),
        (b"<html><head><title>Access denied</title></head><body>blocked</body></html>", "an HTML page"),
        (b"<!DOCTYPE html><html><body><p>Request denied<br></body></html>", "an HTML page"),
        (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>', "<'RDF'>"),
        (b"<feed><entry><title>no namespace</title></entry></feed>", "<'feed'>"),
        (b'{"articles": []}', "not well-formed"),
        (b"", "no element found"),
        (b"<rss>" + b"<a>" * (MAX_XML_DEPTH + 1), f"deeper than {MAX_XML_DEPTH}"),
        (b'<?xml version="1.0" encoding="x-bogus"?><rss/>', "unreadable encoding"),
        (b'<?xml version="1.0" encoding="shift_jis"?><rss/>', "unreadable encoding"),
        (b'<?xml version="1.0" encoding="base64"?><rss/>', "unreadable encoding"),
    ],
)
def test_feed_documents_that_are_not_feeds_or_unsafe_raise(body: bytes, words: str) -> None:
    with pytest.raises(MalformedInputError, match=words):
        parse_feed(body, "f", RECV_NS)


def test_external_dtd_is_never_fetched_and_its_entities_are_skipped() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        b'"http://127.0.0.1:9/rss-0.91.dtd"><rss version="0.91"><channel><item><title>a&nbsp;b</title>'
        b"<link>https://a.example/</link></item></channel></rss>"
    )
    parsed = parse_feed(body, "f", RECV_NS)
    assert [_n(item).title for item in parsed.items] == ["ab"]


def test_feed_encodings_declared_in_the_document_are_read() -> None:
    doc = '<?xml version="1.0" encoding="{}"?><rss><channel><item><title>\u201cEuro\u201d \u00e9t\u00e9</title><link>https://a.example/</link></item></channel></rss>'
    for encoding in ("utf-8", "utf-16", "windows-1252"):
        parsed = parse_feed(doc.format(encoding).encode(encoding), "f", RECV_NS)
        assert [(_n(item).title, list(_n(item).instruments)) for item in parsed.items] == [
            ("\u201cEuro\u201d \u00e9t\u00e9", ["EUR_USD"])
        ]


def test_too_many_items_are_counted_and_the_first_kept() -> None:
    items = b"".join(
        b"<item><title>t%d</title><link>https://a.example/%d</link>"
        b"<pubDate>Mon, 06 Jul 2026 19:58:00 Z</pubDate></item>" % (number, number)
        for number in range(MAX_FEED_ITEMS + 7)
    )
    parsed = parse_feed(b"<rss><channel>" + items + b"<title>Late title</title></channel></rss>", "f", RECV_NS)
    assert len(parsed.items) == MAX_FEED_ITEMS
    assert _n(parsed.items[-1]).title == f"t{MAX_FEED_ITEMS - 1}"
    assert _n(parsed.items[0]).publisher == "Late title"
    assert [(problem.reason, problem.detail) for problem in parsed.problems] == [
        ("too_many_items", f"f: 7 items after the first {MAX_FEED_ITEMS} were not read")
    ]


def test_huge_fields_are_bounded() -> None:
    body = (
        b"<rss><channel><item><title>"
        + b"T" * 1_000_000
        + b"</title><link>https://a.example/</link><description>"
        + b"<![CDATA[<p>"
        + b"d " * 1_000_000
        + b"</p>]]></description></item>"
        + b"<item><title>long link</title><link>https://a.example/"
        + b"x" * MAX_URL_CHARS
        + b"</link></item></channel></rss>"
    )
    parsed = parse_feed(body, "f", RECV_NS)
    (item,) = parsed.items
    assert len(_n(item).title) == MAX_TITLE_CHARS
    assert len(_n(item).summary) == MAX_SUMMARY_CHARS
    assert [problem.reason for problem in parsed.problems] == ["undated", "bad_url"]


# --- config and requests ----------------------------------------------------------------------------------------


def test_config_needs_unique_named_sources() -> None:
    with pytest.raises(ValueError, match="at least one"):
        NewsConfig(id="news")
    with pytest.raises(ValueError, match="repeated: a"):
        NewsConfig(
            id="news",
            feeds=(NewsFeed(name="a", url="https://a.example/rss"),),
            gdelt=(GdeltQuery(name="a", query="forex"),),
        )
    with pytest.raises(ValueError):
        GdeltQuery(name="g", query="forex", max_records=251)
    with pytest.raises(ValueError):
        GdeltQuery(name="g", query="forex", timespan="1 day")
    with pytest.raises(ValueError):
        NewsFeed(name="bad name", url="https://a.example/rss")
    with pytest.raises(ValueError):
        NewsFeed(name="a", url="file:///etc/passwd")


def test_requests_and_dispatch_by_label(shared_data: Path) -> None:
    config = NewsConfig(
        id="news",
        feeds=(NewsFeed(name="fxstreet", url="https://www.fxstreet.com/rss/news"),),
        gdelt=(GdeltQuery(name="gdelt-fx", query='"exchange rate"', max_records=250, timespan="6h"),),
    )
    collector = NewsCollector(config, RecordingExternalSink())
    feed, query = collector.requests()
    assert (feed.url, feed.label, feed.params) == ("https://www.fxstreet.com/rss/news", "fxstreet", ())
    assert query.url == "https://api.gdeltproject.org/api/v2/doc/doc"
    assert query.label == "gdelt-fx"
    assert dict(query.params) == {
        "query": '"exchange rate"',
        "mode": "artlist",
        "format": "json",
        "maxrecords": "250",
        "timespan": "6h",
        "sort": "datedesc",
    }
    rss = collector.parse(HttpResponse(feed, 200, {}, _rss(shared_data)), RECV_NS)
    gdelt = collector.parse(HttpResponse(query, 200, {}, _gdelt(shared_data)), RECV_NS)
    assert (len(rss.items), len(gdelt.items)) == (30, 250)
    assert gdelt.items[0].item_id.startswith("gdelt-fx:")


# --- hostile corpus ---------------------------------------------------------------------------------------------

GDELT_FIELDS: Final = frozenset({"url", "title", "seendate", "domain", "language"})
MUTATED_ARTICLES: Final = 6


def test_gdelt_type_swaps_cost_only_their_article(shared_data: Path) -> None:
    """The shared corpus's wrong values in every field of 6 articles (and each of them whole) of the first 40
    recorded (a smaller answer keeps it fast): that article is kept, refused or both; no other changes. Values
    that are not JSON (NaN, 1e400) or nest too deeply refuse the whole answer."""
    answer = json.loads(_gdelt(shared_data))
    answer["articles"] = answer["articles"][:40]
    body = json.dumps(answer).encode()
    clean = parse_gdelt(body, "g", GDELT_RECV_NS)
    assert len(clean.items) == 40
    picked = set(random.Random(7).sample(range(40), MUTATED_ARTICLES))

    def chosen(path: tuple[str | int, ...]) -> bool:
        in_article = len(path) >= 2 and path[0] == "articles" and path[1] in picked
        return in_article and (len(path) == 2 or (len(path) == 3 and path[2] in GDELT_FIELDS))

    corpus = [mutation for mutation in mutations(body, seed=7, max_paths=1000, select=chosen) if mutation.path]
    assert {mutation.path[1] for mutation in corpus if mutation.path} == picked
    parsed_cases = 0
    for mutation in corpus:
        assert mutation.path is not None
        index = mutation.path[1]
        assert isinstance(index, int)
        try:
            parsed = parse_gdelt(mutation.body, "g", GDELT_RECV_NS)
        except MalformedInputError:
            continue
        parsed_cases += 1
        label = mutation.name
        others = [item for item in clean.items if item.item_id != clean.items[index].item_id]
        assert [item for item in parsed.items if item.item_id != clean.items[index].item_id] == others, label
        assert len(parsed.items) + len(parsed.problems) >= 39, label  # the mutated one: kept, refused, or both
        for item in parsed.items:
            news = _n(item)
            assert len(news.title) <= MAX_TITLE_CHARS and len(news.url) <= MAX_URL_CHARS, label
            assert len(item.item_id) <= MAX_ITEM_ID_CHARS, label
        for problem in parsed.problems:
            assert problem.reason in {"bad_type", "bad_url", "missing_title", "bad_date", "undated"}, label
            assert len(problem.detail) < 400, label
    assert parsed_cases >= len(corpus) // 2


def test_nan_infinity_and_huge_numbers_in_gdelt(shared_data: Path) -> None:
    text = _gdelt(shared_data).decode()
    for literal in ("NaN", "Infinity", "-Infinity", "1e400", "9" * 5000):
        body = text.replace('"seendate": "20260121T083000Z"', f'"seendate": {literal}', 1).encode()
        try:
            parsed = parse_gdelt(body, "g", GDELT_RECV_NS)
        except MalformedInputError:
            continue  # NaN, Infinity and 1e400 are not JSON: the whole answer is refused
        assert len(parsed.items) == 249 and [problem.reason for problem in parsed.problems] == ["bad_type"]


@pytest.mark.parametrize("recorded", [FXSTREET, GDELT])
def test_truncations_at_many_offsets_raise_malformed(shared_data: Path, recorded: str) -> None:
    body = (shared_data / recorded).read_bytes()
    parse = parse_feed if recorded == FXSTREET else parse_gdelt
    for _, cut in truncations(body, every=len(body) // 300):
        with pytest.raises(MalformedInputError):
            parse(cut, "f", RECV_NS)


def test_rss_mutations_never_crash_and_keep_valid_items(shared_data: Path) -> None:
    """Random byte flips, deletions and insertions: the answer is refused whole or every item kept is valid."""
    body = _rss(shared_data)
    clean = {item.item_id: item for item in parse_feed(body, "f", RECV_NS).items}
    rng = random.Random(11)
    refused = survived = 0
    for _ in range(600):
        try:
            parsed = parse_feed(damaged(body, rng), "f", RECV_NS)
        except MalformedInputError:
            refused += 1
            continue
        survived += 1
        assert len(parsed.items) <= 30
        for item in parsed.items:
            assert _n(item).title and len(_n(item).title) <= MAX_TITLE_CHARS
            assert item.item_id.startswith("f:") and len(item.item_id) <= MAX_ITEM_ID_CHARS
        # each edit touches at most two neighbouring items: the others come out exactly as from the clean feed
        unchanged = sum(item == clean.get(item.item_id) for item in parsed.items)
        assert unchanged >= len(parsed.items) - 8
        assert len(parsed.items) + len(parsed.problems) >= 30 - 8
    assert refused and survived  # both outcomes occur, and neither is a crash


def test_rss_value_mutations_cost_only_their_item(shared_data: Path) -> None:
    body = _rss(shared_data).decode()
    for old, new, reason in [
        ("<pubDate>Mon, 06 Jul 2026 19:58:00 Z</pubDate>", "<pubDate>NaN</pubDate>", "bad_date"),
        (
            "<pubDate>Mon, 06 Jul 2026 19:58:00 Z</pubDate>",
            "<pubDate>Mon, 06 Jul 2026 19:58:00 Z" + "9" * 5000 + "</pubDate>",
            "bad_date",
        ),
        ("<pubDate>Mon, 06 Jul 2026 19:58:00 Z</pubDate>", "", "undated"),
        (
            "<title>Chinese Yuan: Depressed positioning offers re-entry – BNY</title>",
            "<title></title>",
            "missing_title",
        ),
        (
            "<link>https://www.fxstreet.com/news/chinese-yuan-depressed-positioning-offers-re-entry-bny-202607061958</link>",
            "<link>ftp://x</link>",
            "bad_url",
        ),
        (
            '<guid isPermaLink="false">5425ee57-bc92-43c6-bd0e-fc9398a8843f</guid>',
            '<guid isPermaLink="false">e437aedd-7ba4-44f3-8fd8-4eaaea189b12</guid>',
            "duplicate",
        ),
    ]:
        assert old in body
        parsed = parse_feed(body.replace(old, new, 1).encode(), "f", RECV_NS)
        assert [problem.reason for problem in parsed.problems] == [reason]
        assert len(parsed.items) == (30 if reason in ("bad_date", "undated") else 29)
