"""The news collector against a local HTTP server serving the recorded FXStreet RSS and GDELT artlist.

Each test drives single polls (PollingCollector.poll) with an httpx client, as the collector's run() does between
its sleeps, and reads what reached a RecordingExternalSink: the exact ExternalData, the statuses and the stats.
News has no key, so there is no refused key: a 401/403 is a blocked client (REJECTED), and GDELT's plain-text
refusal of a query is REJECTED too. The test config lifts GDELT's one-request-per-5-s host window (a class
constant of NewsConfig) so that a poll of two requests does not wait 5 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Final

import httpx
import pytest

from collectors.external.news import GdeltQuery, NewsCollector, NewsConfig, NewsFeed
from collectors.polling import forget_shared_answers
from gateway.backoff import Backoff
from gateway.clock import now_ns, parse_time_ns
from gateway.schema.market.v1.market_pb2 import ExternalData, FieldChange, NewsItem, SourceStatus
from tests.servers.http_provider import Fault, ProviderServer, Reply
from tests.support import RecordingExternalSink

RSS_PATH: Final = "/rss/news"
GDELT_PATH: Final = "/api/v2/doc/doc"
RSS_TYPE: Final = "application/rss+xml; charset=utf-8"
TIMEOUT_S: Final = 0.5
INTERVAL_S: Final = 300.0
NEW: Final = ExternalData.CHANGE_NEW
UPDATED: Final = ExternalData.CHANGE_UPDATED


class LoopbackNewsConfig(NewsConfig):
    """NewsConfig with the loopback server's host window wide open (GDELT's 5 s would make each poll wait)."""

    host_max_requests: ClassVar[int] = 1000
    host_window_s: ClassVar[float] = 1.0


@pytest.fixture(name="rss_body")
def _rss_body(shared_data: Path) -> bytes:
    return (shared_data / "news" / "fxstreet_rss_2026-07-06.xml").read_bytes()


@pytest.fixture(name="gdelt_body")
def _gdelt_body(shared_data: Path) -> bytes:
    return (shared_data / "news" / "gdelt_doc_artlist_2026-01.json").read_bytes()


def _collector(
    server: ProviderServer, sink: RecordingExternalSink, *, feed: bool = True, gdelt: bool = True, **fields: Any
) -> NewsCollector:
    config = LoopbackNewsConfig(
        id="news",
        base_url=f"{server.base_url}{GDELT_PATH}",
        timeout_s=TIMEOUT_S,
        interval_s=INTERVAL_S,
        feeds=(NewsFeed(name="fxstreet", url=f"{server.base_url}{RSS_PATH}"),) if feed else (),
        gdelt=(GdeltQuery(name="gdelt-india", query="india", max_records=250),) if gdelt else (),
        **fields,
    )
    return NewsCollector(config, sink)


async def _poll(collector: NewsCollector) -> float:
    """One poll, as run() makes it; returns the seconds it would sleep before the next.

    The base shares each answer for 5 s with any other asker of the same request; a test's polls follow each
    other within milliseconds, so the shared answers are dropped first: every poll asks the server.
    """
    forget_shared_answers()
    async with httpx.AsyncClient(trust_env=False) as client:
        return await collector.poll(client, Backoff(1.0, 60.0))


def _received(sink: RecordingExternalSink, since_ns: int) -> list[ExternalData]:
    """The messages published, each received after ``since_ns``, with ``ts_recv_ns`` cleared for comparison."""
    messages = []
    for message in sink.messages:
        assert since_ns <= message.ts_recv_ns <= now_ns()
        copy = ExternalData()
        copy.CopyFrom(message)
        copy.ts_recv_ns = 0
        messages.append(copy)
    return messages


def _message(seq: int, item_id: str, news: NewsItem, **envelope: Any) -> ExternalData:
    fields: dict[str, Any] = {"change": NEW, "revision": 1} | envelope
    return ExternalData(
        type="news",
        source="news",
        ts_ns=news.published_ns,
        item_id=item_id,
        session_id=1,
        seq=seq,
        news=news,
        **fields,
    )


FIRST_RSS: Final = NewsItem(
    title="Chinese Yuan: Depressed positioning offers re-entry \u2013 BNY",
    url="https://www.fxstreet.com/news/chinese-yuan-depressed-positioning-offers-re-entry-bny-202607061958",
    publisher="FXStreet Forex & Commodities News",
    instruments=["USD_CNH"],
    summary="BNY\u2019s Geoff Yu stresses that Chinese equities and Chinese Yuan (CNY) remain heavily under-owned "
    "versus APAC (Asia-Pacific) peers, with cross-border holdings at very low levels.",
    published_ns=parse_time_ns("2026-07-06T19:58:00Z"),
    guid="e437aedd-7ba4-44f3-8fd8-4eaaea189b12",
    feed="fxstreet",
)
FIRST_ENGLISH_GDELT: Final = NewsItem(
    title="India doesnt need foreign labels : Canadian influencer living in India slams videshi tags for Indian "
    "cities |",
    url="https://timesofindia.indiatimes.com/etimes/trending/india-doesnt-need-foreign-labels-canadian-influencer-"
    "living-in-india-slams-videshi-tags-for-indian-cities/articleshow/126496538.cms",
    publisher="timesofindia.indiatimes.com",
    published_ns=parse_time_ns("2026-01-13T04:45:00Z"),
    feed="gdelt-india",
    language="English",
)


async def test_recorded_feeds_are_published_exactly_once(rss_body: bytes, gdelt_body: bytes) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(RSS_PATH, Reply(body=rss_body, content_type=RSS_TYPE))
        server.serve(GDELT_PATH, Reply(body=gdelt_body))
        collector = _collector(server, sink)
        start_ns = now_ns()

        delay_s = await _poll(collector)
        first = _received(sink, start_ns)
        await _poll(collector)

        assert [(request.path, request.query) for request in server.requests] == [
            (RSS_PATH, {}),
            (
                GDELT_PATH,
                {
                    "query": ["india"],
                    "mode": ["artlist"],
                    "format": ["json"],
                    "maxrecords": ["250"],
                    "timespan": ["1d"],
                    "sort": ["datedesc"],
                },
            ),
        ] * 2
        assert server.requests[0].headers["accept"].startswith("application/rss+xml")
    assert len(first) == 30 + 250
    assert first[0] == _message(1, "fxstreet:e437aedd-7ba4-44f3-8fd8-4eaaea189b12", FIRST_RSS)
    assert first[29].item_id == "fxstreet:d9bc9a77-f2a3-4417-9102-e205af35c07e"
    gdelt = [message for message in first if message.news.feed == "gdelt-india"]
    assert [message.seq for message in gdelt] == list(range(31, 281))
    english = next(message for message in gdelt if message.news.language == "English")
    assert english == _message(50, f"gdelt-india:{FIRST_ENGLISH_GDELT.url}", FIRST_ENGLISH_GDELT)
    assert len(sink.messages) == 280  # the second poll published nothing
    assert collector.stats.items_new == 280 and collector.stats.items_unchanged == 280
    assert collector.stats.problems == {}
    assert sink.states() == [SourceStatus.STATE_CONNECTED]
    assert 0.9 * INTERVAL_S <= delay_s <= 1.1 * INTERVAL_S


async def test_an_unchanged_feed_is_not_fetched_again_with_its_etag(rss_body: bytes) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(RSS_PATH, Reply(body=rss_body, content_type=RSS_TYPE, etag='"fx-1"'))
        collector = _collector(server, sink, gdelt=False)
        await _poll(collector)
        await _poll(collector)
        assert server.requests[1].headers["if-none-match"] == '"fx-1"'
    assert len(sink.messages) == 30
    assert (collector.stats.polls_ok, collector.stats.polls_not_modified) == (1, 1)


async def test_a_changed_feed_publishes_only_what_changed(rss_body: bytes) -> None:
    sink = RecordingExternalSink()
    text = rss_body.decode()
    gold = "<title>Gold slips as firm US yields cap post-NFP rebound</title>"
    edited = "<title>Gold slips as firm US yields cap post-NFP rebound; EUR/USD steady</title>"
    added = (
        '<item><guid isPermaLink="false">00000000-0000-4000-8000-000000000001</guid>'
        "<link>https://www.fxstreet.com/news/japanese-yen-rebounds-202607062015</link>"
        "<title>Japanese Yen rebounds</title><description>USD/JPY falls.</description>"
        "<pubDate>Mon, 06 Jul 2026 20:15:00 Z</pubDate></item>"
    )
    assert gold in text
    changed = text.replace(gold, edited).replace("<item>", added + "<item>", 1).encode()
    async with ProviderServer() as server:
        server.serve(RSS_PATH, Reply(body=rss_body, content_type=RSS_TYPE))
        collector = _collector(server, sink, gdelt=False)
        await _poll(collector)
        server.serve(RSS_PATH, Reply(body=changed, content_type=RSS_TYPE))
        start_ns = now_ns()
        await _poll(collector)
    updates = _received(sink, 0)[30:]
    assert [(message.item_id, message.change, message.revision, message.seq) for message in updates] == [
        ("fxstreet:00000000-0000-4000-8000-000000000001", NEW, 1, 31),
        ("fxstreet:1a21009a-46d6-47a3-a566-7e86eeb2b970", UPDATED, 2, 32),
    ]
    assert all(message.ts_recv_ns >= start_ns for message in sink.messages[30:])
    assert list(updates[1].changes) == [
        FieldChange(
            field="title",
            previous="Gold slips as firm US yields cap post-NFP rebound",
            current="Gold slips as firm US yields cap post-NFP rebound; EUR/USD steady",
        ),
        FieldChange(field="instruments", previous="", current="EUR_USD"),
    ]
    assert updates[0].news.instruments == ["USD_JPY"]
    assert updates[1].news.title == "Gold slips as firm US yields cap post-NFP rebound; EUR/USD steady"


async def test_rate_limit_with_retry_after_names_the_state_and_keeps_the_other_source(
    rss_body: bytes, gdelt_body: bytes
) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(RSS_PATH, Reply(body=rss_body, content_type=RSS_TYPE))
        server.serve(GDELT_PATH, Reply(body=gdelt_body))
        server.inject(GDELT_PATH, Fault.too_many("900"))
        collector = _collector(server, sink)
        delay_s = await _poll(collector)
        assert collector.stats.state == "rate_limited"
        assert delay_s >= 900
        assert len(sink.messages) == 30  # the feed's items went out
        await _poll(collector)
    assert collector.stats.state == "ok"
    assert len(sink.messages) == 280


@pytest.mark.parametrize(
    ("fault", "state", "words"),
    [
        (Fault.unavailable(), "failing", "HTTP 503"),
        (Fault.unavailable(500), "failing", "HTTP 500"),
        (Fault.slow(2.0), "failing", f"no complete answer within {TIMEOUT_S:g} s"),
        (Fault.truncated(5000), "failing", "received 5000 bytes, expected 17687"),
        (Fault.truncated(5000, declare_length=False), "malformed", "not well-formed XML"),
        (
            Fault.answer(Reply(body=b"<html><body>Access denied</body></html>", content_type="text/html")),
            "malformed",
            "an HTML page",
        ),
        (Fault.answer(Reply(body=b'{"articles": []}')), "malformed", "not well-formed XML"),
        (Fault.not_found(), "refused", "HTTP 404"),
        (Fault.unavailable(403), "refused", "blocks this client"),
    ],
)
async def test_feed_failures_give_a_named_state_and_no_crash(
    rss_body: bytes, fault: Fault, state: str, words: str
) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(RSS_PATH, Reply(body=rss_body, content_type=RSS_TYPE))
        collector = _collector(server, sink, gdelt=False)
        await _poll(collector)
        server.inject(RSS_PATH, fault)
        await _poll(collector)
        assert collector.stats.state == state
        assert words in collector.stats.last_error
        assert len(sink.messages) == 30
        await _poll(collector)  # the provider is back: nothing new, the collector is fine
    assert collector.stats.state == "ok"
    assert len(sink.messages) == 30
    expected = SourceStatus.STATE_REJECTED if state == "refused" else SourceStatus.STATE_DISCONNECTED
    assert sink.states() == [SourceStatus.STATE_CONNECTED, expected, SourceStatus.STATE_RECONNECTED]


@pytest.mark.parametrize(
    ("reply", "state", "words"),
    [
        (Reply(body=b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", content_type="text/html"),
         "malformed", "HTML page where JSON was expected"),
        (Reply(body=b"The specified phrase is too short.", content_type="text/html"), "refused",
         "GDELT refused the query: The specified phrase is too short."),
        (Reply(body=b"Please limit requests to one every 5 seconds or contact kalev.leetaru5@gmail.com for larger "
                    b"queries.", content_type="text/html"), "rate_limited", "GDELT rate limit"),
        (Reply(body=b'{"articles": [{"url": "https://a.example/x", "title": "T", "seen'), "malformed",
         "not valid JSON"),
        (Reply(status=429, body=b"Please limit requests to one every 5 seconds"), "rate_limited", "HTTP 429"),
    ],
)  # fmt: skip
async def test_gdelt_failures_give_a_named_state_and_no_crash(reply: Reply, state: str, words: str) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(GDELT_PATH, reply)
        collector = _collector(server, sink, feed=False)
        await _poll(collector)
    assert collector.stats.state == state
    assert words in collector.stats.last_error
    assert sink.messages == []


async def test_empty_answers_publish_nothing_and_are_healthy() -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(RSS_PATH, Reply(body=b"<rss version='2.0'><channel><title>Quiet</title></channel></rss>"))
        server.serve(GDELT_PATH, Reply(body=b"{}"))
        collector = _collector(server, sink)
        await _poll(collector)
    assert collector.stats.state == "ok"
    assert (collector.stats.polls_ok, sink.messages) == (2, [])
    assert sink.states() == [SourceStatus.STATE_CONNECTED]


async def test_bad_items_are_counted_and_the_rest_published(rss_body: bytes) -> None:
    text = rss_body.decode()
    text = text.replace("<pubDate>Mon, 06 Jul 2026 19:58:00 Z</pubDate>", "<pubDate>soon</pubDate>", 1)
    text = text.replace("<title>Oil: Supply normalization pressures prices \u2013 BNY</title>", "<title></title>")
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(RSS_PATH, Reply(body=text.encode(), content_type=RSS_TYPE))
        collector = _collector(server, sink, gdelt=False)
        await _poll(collector)
    assert len(sink.messages) == 29
    assert (sink.messages[0].ts_ns, sink.messages[0].news.published_ns) == (0, 0)
    assert collector.stats.problems == {"bad_date": 1, "missing_title": 1}
    assert collector.stats.state == "ok"
