"""The ForexFactory calendar collector against a local HTTP server serving the recorded exports in place.

Each test drives single polls (:meth:`PollingCollector.poll`) of a real :class:`EconomicCalendarCollector`
over real HTTP to :class:`ProviderServer`, and reads what it published from :class:`RecordingExternalSink`:
the exact ExternalData of the first snapshot of the week of 2026-08-16, nothing on a second identical poll,
then the last snapshot as exactly 4 NEW and 34 UPDATED messages (6 moved events, 28 revised forecasts) with
their FieldChanges; and each failure mode (429 with Retry-After, ForexFactory's "Request Denied" page with
200, 5xx, a stalled answer, HTML, a cut body, an empty week) as a named state and status, with the XML
export as the fallback when the JSON answer is not data.
"""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

import httpx
import pytest

from collectors.external.economic_calendar import EconomicCalendarCollector, EconomicCalendarConfig
from collectors.polling import forget_shared_answers
from gateway.backoff import Backoff
from gateway.schema.market.v1.market_pb2 import EconomicEvent, ExternalData, FieldChange, SourceStatus
from tests.servers.http_provider import Fault, ProviderServer, Reply
from tests.support import RecordingExternalSink

NS_PER_S: Final = 1_000_000_000
SOURCE: Final = "ff"
JSON_PATH: Final = "/ff_calendar_thisweek.json"
XML_PATH: Final = "/ff_calendar_thisweek.xml"
WEEK: Final = "2026-08-16"
REQUEST_DENIED: Final = (
    b"<!DOCTYPE html><html><head><title>Request Denied</title></head><body><h1>Request Denied</h1>"
    b"<p>Too many requests from your address. Try again later.</p></body></html>"
)
"""Stands in for ForexFactory's refusal page (its exact wording is not recorded)."""


class OpenWindowCalendarConfig(EconomicCalendarConfig):
    """ForexFactory's config with the host window opened: a test polls a dozen times in a second, and each test
    server is a host of its own (the real window, 2 requests per 5 minutes, is the class this one derives from)."""

    host_max_requests: ClassVar[int] = 1000
    host_window_s: ClassVar[float] = 1.0


@dataclass
class Rig:
    server: ProviderServer
    sink: RecordingExternalSink
    collector: EconomicCalendarCollector
    client: httpx.AsyncClient
    backoff: Backoff

    async def poll(self) -> float:
        """One poll, as the collector's run loop makes it; the seconds it asks to wait before the next."""
        forget_shared_answers()  # the 5-second shared cache would answer a second poll without asking the server
        return await self.collector.poll(self.client, self.backoff)

    def published(self) -> list[ExternalData]:
        messages = list(self.sink.messages)
        self.sink.messages.clear()
        return messages


def make_rig(server: ProviderServer, state_dir: Path | None = None, **fields: object) -> Rig:
    settings: dict[str, object] = {"timeout_s": 2.0, "retry_min_s": 1.0, **fields}
    config = OpenWindowCalendarConfig.model_validate({"id": SOURCE, "base_url": server.base_url, **settings})
    sink = RecordingExternalSink()
    collector = EconomicCalendarCollector(config, sink, state_dir)
    client = httpx.AsyncClient(timeout=config.timeout_s, trust_env=False)
    return Rig(server, sink, collector, client, Backoff(config.retry_min_s, config.interval_s))


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with ProviderServer() as server:
        made = make_rig(server)
        async with made.client:
            yield made


def recorded(shared_data: Path, name: str) -> bytes:
    return (shared_data / "forexfactory" / name).read_bytes()


def first(shared_data: Path) -> bytes:
    return recorded(shared_data, "ff_calendar_thisweek_2026-08-16_first.json")


def last(shared_data: Path) -> bytes:
    return recorded(shared_data, "ff_calendar_thisweek_2026-08-16_last.json")


def utc_ns(month: int, day: int, hour: int, minute: int) -> int:
    return calendar.timegm((2026, month, day, hour, minute, 0)) * NS_PER_S


def by_id(messages: list[ExternalData]) -> dict[str, ExternalData]:
    return {message.item_id: message for message in messages}


async def test_first_snapshot_is_published_exactly_then_nothing_when_unchanged(rig: Rig, shared_data: Path) -> None:
    rig.server.serve(JSON_PATH, Reply(body=first(shared_data)))

    delay_s = await rig.poll()
    messages = rig.published()

    assert len(messages) == 96
    assert all(message.change == ExternalData.CHANGE_NEW and message.revision == 1 for message in messages)
    assert [message.seq for message in messages] == list(range(1, 97))
    head = messages[0]
    assert head.ts_recv_ns > 0
    expected = ExternalData(
        type="economic_calendar",
        source=SOURCE,
        ts_ns=utc_ns(8, 16, 22, 30),
        ts_recv_ns=head.ts_recv_ns,
        item_id=f"{WEEK}|NZD|BusinessNZ Services Index|1",
        change=ExternalData.CHANGE_NEW,
        revision=1,
        session_id=1,
        seq=1,
        economic_event=EconomicEvent(
            country="NZD", currency="NZD", title="BusinessNZ Services Index", impact="low", previous="50.6"
        ),
    )
    assert head == expected
    claimant = by_id(messages)[f"{WEEK}|GBP|Claimant Count Change|1"]
    assert (claimant.ts_ns, claimant.economic_event.forecast) == (utc_ns(8, 18, 6, 0), "11.2K")
    assert rig.sink.states() == [SourceStatus.STATE_CONNECTED]
    assert rig.collector.stats.state == "ok"
    assert 0.9 * 300 <= delay_s <= 1.1 * 300  # interval_s with its jitter
    assert rig.server.paths() == [JSON_PATH]

    await rig.poll()

    assert rig.published() == []
    assert rig.collector.stats.items_unchanged == 96
    assert rig.sink.states() == [SourceStatus.STATE_CONNECTED]


async def test_last_snapshot_is_4_new_and_34_updates_with_their_changes(rig: Rig, shared_data: Path) -> None:
    rig.server.serve(JSON_PATH, Reply(body=first(shared_data)))
    await rig.poll()
    rig.published()
    rig.server.serve(JSON_PATH, Reply(body=last(shared_data)))

    await rig.poll()
    messages = rig.published()

    new = sorted(message.item_id for message in messages if message.change == ExternalData.CHANGE_NEW)
    updated = by_id([message for message in messages if message.change == ExternalData.CHANGE_UPDATED])
    assert new == [
        f"{WEEK}|EUR|ECB President Lagarde Speaks|2",
        f"{WEEK}|USD|FOMC Member Musalem Speaks|1",
        f"{WEEK}|USD|President Trump Speaks|1",
        f"{WEEK}|USD|President Trump Speaks|2",
    ]
    assert len(updated) == 34
    assert all(message.revision == 2 for message in updated.values())
    moved = {
        item_id: list(message.changes) for item_id, message in updated.items() if message.changes[0].field == "ts_ns"
    }
    assert sorted(moved) == sorted(
        f"{WEEK}|{key}|1"
        for key in (
            "CAD|Core CPI m/m",
            "GBP|10-y Bond Auction",
            "NZD|GDT Price Index",
            "EUR|German 10-y Bond Auction",
            "CNY|New Home Prices m/m",
            "CNY|Foreign Direct Investment ytd/y",
        )
    )
    assert moved[f"{WEEK}|CAD|Core CPI m/m|1"] == [
        FieldChange(field="ts_ns", previous=str(utc_ns(8, 17, 12, 30)), current=str(utc_ns(8, 17, 12, 32)))
    ]
    assert updated[f"{WEEK}|CNY|Foreign Direct Investment ytd/y|1"].ts_ns == utc_ns(8, 21, 9, 3)
    revised = {item_id: list(message.changes) for item_id, message in updated.items() if item_id not in moved}
    assert len(revised) == 28
    assert all([change.field for change in changes] == ["forecast"] for changes in revised.values())
    assert revised[f"{WEEK}|GBP|Claimant Count Change|1"] == [
        FieldChange(field="forecast", previous="11.2K", current="16.5K")
    ]
    assert revised[f"{WEEK}|CAD|NHPI m/m|1"] == [FieldChange(field="forecast", previous="", current="0.0%")]
    assert updated[f"{WEEK}|GBP|Claimant Count Change|1"].economic_event.forecast == "16.5K"
    stats = rig.collector.stats
    assert (stats.items_new, stats.items_updated, stats.items_unchanged) == (100, 34, 62)


async def test_a_restart_with_its_state_file_republishes_nothing(shared_data: Path, tmp_path: Path) -> None:
    async with ProviderServer() as server:
        server.serve(JSON_PATH, Reply(body=first(shared_data)))
        before = make_rig(server, tmp_path)
        async with before.client:
            await before.poll()
        after = make_rig(server, tmp_path)
        async with after.client:
            await after.poll()
            server.serve(JSON_PATH, Reply(body=last(shared_data)))
            await after.poll()

    assert len(before.published()) == 96
    changes = [message.change for message in after.published()]
    assert (changes.count(ExternalData.CHANGE_NEW), changes.count(ExternalData.CHANGE_UPDATED)) == (4, 34)


async def test_an_unchanged_export_is_asked_conditionally_and_answered_304(rig: Rig, shared_data: Path) -> None:
    rig.server.serve(JSON_PATH, Reply(body=first(shared_data), etag='"w33"'))

    await rig.poll()
    await rig.poll()

    assert rig.server.requests[1].headers["if-none-match"] == '"w33"'
    assert len(rig.published()) == 96
    assert (rig.collector.stats.polls_ok, rig.collector.stats.polls_not_modified) == (1, 1)


async def test_429_with_retry_after_waits_that_long_and_says_rate_limited(rig: Rig, shared_data: Path) -> None:
    rig.server.serve(JSON_PATH, Reply(body=first(shared_data)))
    rig.server.inject(JSON_PATH, Fault.too_many("600"))

    delay_s = await rig.poll()

    assert delay_s >= 600
    assert rig.collector.stats.state == "rate_limited"
    assert rig.published() == []
    [(source, status)] = rig.sink.statuses
    assert (source, status.state) == (SOURCE, SourceStatus.STATE_DISCONNECTED)
    assert status.detail.startswith("rate_limited: ForexFactory JSON export")
    assert "HTTP 429" in status.detail

    await rig.poll()

    assert len(rig.published()) == 96
    assert rig.sink.states() == [SourceStatus.STATE_DISCONNECTED, SourceStatus.STATE_CONNECTED]  # first data ever


async def test_request_denied_page_with_200_is_a_rate_limit_not_data(rig: Rig) -> None:
    rig.server.serve(JSON_PATH, Reply(body=REQUEST_DENIED, content_type="text/html"))

    delay_s = await rig.poll()

    assert delay_s >= 300
    assert rig.published() == []
    assert rig.collector.stats.state == "rate_limited"
    assert "Request Denied" in rig.collector.stats.last_error
    assert rig.collector.export == "json"  # the XML would be refused too: no switch
    assert rig.sink.states() == [SourceStatus.STATE_DISCONNECTED]


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_is_failing_and_backs_off(rig: Rig, status: int) -> None:
    rig.server.inject(JSON_PATH, Fault.unavailable(status))

    delay_s = await rig.poll()

    assert rig.collector.stats.state == "failing"
    assert f"HTTP {status}" in rig.collector.stats.last_error
    assert 0 < delay_s < 300
    assert rig.collector.stats.polls_failed == 1
    assert rig.collector.export == "json"


async def test_a_stalled_answer_times_out_as_failing(shared_data: Path) -> None:
    async with ProviderServer() as server:
        made = make_rig(server, timeout_s=0.3)
        server.serve(JSON_PATH, Reply(body=first(shared_data)))
        server.inject(JSON_PATH, Fault.slow(3.0))
        async with made.client:
            await made.poll()

    assert made.collector.stats.state == "failing"
    assert "no complete answer within 0.3 s" in made.collector.stats.last_error
    assert made.published() == []


@pytest.mark.parametrize(
    "fault",
    [
        Fault.answer(Reply(body=b"<html><body>Scheduled maintenance</body></html>", content_type="text/html")),
        Fault.truncated(5000, declare_length=False),
        Fault.answer(Reply(body=b'{"error":"not a calendar"}')),
    ],
    ids=["html page", "cut body, connection closed", "json object"],
)
async def test_an_answer_that_is_not_data_switches_to_the_xml_export(rig: Rig, shared_data: Path, fault: Fault) -> None:
    rig.server.serve(JSON_PATH, Reply(body=first(shared_data)))
    rig.server.serve(XML_PATH, Reply(body=recorded(shared_data, "ff_calendar_thisweek_2025-05-04.xml")))
    rig.server.inject(JSON_PATH, fault)

    await rig.poll()

    assert rig.collector.stats.state == "malformed"
    assert rig.collector.stats.problems == {"malformed_response": 1}
    assert rig.published() == []
    assert rig.collector.export == "xml"

    await rig.poll()
    messages = rig.published()

    assert rig.server.paths() == [JSON_PATH, XML_PATH]
    assert len(messages) == 91
    rate = by_id(messages)["2025-05-04|USD|Federal Funds Rate|1"]
    assert rate.ts_ns == 1746640800 * NS_PER_S  # 2025-05-07 18:00 UTC
    assert rate.economic_event.url.startswith("https://www.forexfactory.com/calendar/")
    assert rig.sink.states() == [SourceStatus.STATE_DISCONNECTED, SourceStatus.STATE_CONNECTED]


async def test_an_answer_above_max_body_bytes_is_refused_and_the_xml_read_instead(shared_data: Path) -> None:
    async with ProviderServer() as server:
        made = make_rig(server, max_body_bytes=4096)
        server.serve(JSON_PATH, Reply(body=first(shared_data)))  # 12,960 bytes
        server.serve(XML_PATH, Reply(body=b'<?xml version="1.0"?><weeklyevents></weeklyevents>'))
        async with made.client:
            await made.poll()
            assert (made.collector.stats.state, made.collector.export) == ("malformed", "xml")
            await made.poll()

    assert made.collector.stats.problems == {"response_too_large": 1, "empty_calendar": 1}
    assert "above 4,096" in made.sink.statuses[0][1].detail


async def test_a_body_cut_short_of_its_content_length_is_a_lost_connection(rig: Rig, shared_data: Path) -> None:
    rig.server.serve(JSON_PATH, Reply(body=first(shared_data)))
    rig.server.inject(JSON_PATH, Fault.truncated(5000))

    await rig.poll()

    assert rig.collector.stats.state == "failing"
    assert "received 5000 bytes, expected 12960" in rig.collector.stats.last_error
    assert rig.collector.export == "json"  # the transfer failed, not the export: the JSON is asked again
    assert rig.published() == []


async def test_the_xml_is_left_for_the_json_after_json_retry_s(shared_data: Path) -> None:
    now_s = [1000.0]
    async with ProviderServer() as server:
        made = make_rig(server, json_retry_s=60.0)
        made.collector.clock_s = lambda: now_s[0]
        server.serve(JSON_PATH, Reply(body=first(shared_data)))
        server.serve(XML_PATH, Reply(body=recorded(shared_data, "ff_calendar_thisweek_2025-05-04.xml")))
        server.inject(JSON_PATH, Fault.truncated(100, declare_length=False))
        async with made.client:
            await made.poll()  # the JSON is cut: the XML from now on
            now_s[0] += 59.0
            await made.poll()
            assert made.collector.export == "xml"
            made.published()
            now_s[0] += 1.0
            await made.poll()  # json_retry_s after the switch: the last poll of the XML
            await made.poll()

    assert server.paths() == [JSON_PATH, XML_PATH, XML_PATH, JSON_PATH]
    assert len(made.published()) == 96


async def test_an_empty_week_is_a_counted_problem_and_publishes_nothing(rig: Rig) -> None:
    rig.server.serve(JSON_PATH, Reply(body=b"[]"))

    await rig.poll()

    assert rig.published() == []
    assert rig.collector.stats.state == "ok"
    assert rig.collector.stats.problems == {"empty_calendar": 1}


async def test_hostile_events_are_counted_per_reason_and_the_rest_published(rig: Rig, shared_data: Path) -> None:
    body = (
        first(shared_data)
        .replace(b'"impact":"High"', b'"impact":"Severe"', 2)
        .replace(b'"date":"2026-08-16T18:30:00-04:00"', b'"date":"2026-08-16"', 1)
    )
    rig.server.serve(JSON_PATH, Reply(body=body))

    await rig.poll()

    assert len(rig.published()) == 93
    assert rig.collector.stats.problems == {"bad_impact": 2, "bad_date": 1}
    assert rig.collector.stats.state == "ok"
