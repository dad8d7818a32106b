"""The polling base (collectors.polling) against a local provider: schedule, shared limits and cache, bounds.

The provider of these tests is the smallest one possible (``Events``: a JSON list of ``{"id", "title"}``), so
what is checked is the base; FRED's own tests (test_fred_collector.py) check the same on a real provider.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from typing import ClassVar, Literal

import httpx
import msgspec
import pytest

from collectors.polling import (
    HttpRequest,
    HttpResponse,
    PollingCollector,
    PollingConfig,
    RequestWindow,
    SecretParam,
    forget_shared_answers,
    host_window,
)
from gateway.backoff import Backoff
from gateway.errors import MalformedInputError
from gateway.events import ExternalItem, Parsed
from gateway.schema.market.v1.market_pb2 import EconomicEvent, SourceStatus
from tests.servers.http_provider import ProviderServer, Reply
from tests.support import RecordingExternalSink, wait_until

EVENT_NS = 1_800_000_000 * 10**9
BODY = json.dumps([{"id": "a", "title": "CPI"}, {"id": "b", "title": "GDP"}]).encode()


class EventsConfig(PollingConfig):
    min_interval_s: ClassVar[float] = 0.01
    kind: Literal["economic_calendar"] = "economic_calendar"
    paths: tuple[str, ...] = ("/events",)
    key_env: str | None = None


class _Event(msgspec.Struct):
    id: str
    title: str


class Events(PollingCollector[EventsConfig]):
    kind: ClassVar[str] = "economic_calendar"
    payload_field: ClassVar[str] = "economic_event"

    def requests(self) -> list[HttpRequest]:
        key = (SecretParam("header", "X-Key", self.config.key_env),) if self.config.key_env else ()
        return [HttpRequest(self.config.base_url + path, secrets=key, label=path) for path in self.config.paths]

    def parse(self, response: HttpResponse, recv_ns: int) -> Parsed:
        if response.body == b"crash":
            raise ZeroDivisionError("a bug in the parser")
        try:
            events = msgspec.json.decode(response.body, type=list[_Event])
        except msgspec.DecodeError as exc:
            raise MalformedInputError(str(exc)) from None
        return Parsed([ExternalItem(event.id, EVENT_NS, EconomicEvent(title=event.title)) for event in events], [])


@pytest.fixture
async def server() -> AsyncIterator[ProviderServer]:
    async with ProviderServer() as provider:
        provider.serve("/events", Reply(body=BODY))
        yield provider


def events(server: ProviderServer, sink: RecordingExternalSink, source: str = "events", **config: object) -> Events:
    settings = EventsConfig.model_validate({"id": source, "base_url": server.base_url, "retry_min_s": 0.05} | config)
    return Events(settings, sink)


async def poll(collector: Events) -> float:
    async with httpx.AsyncClient() as client:
        return await collector.poll(client, Backoff(0.05, 1.0))


async def test_run_polls_at_start_then_on_schedule_until_cancelled(server: ProviderServer) -> None:
    sink = RecordingExternalSink()
    collector = events(server, sink, interval_s=0.05)
    task = asyncio.create_task(collector.run())
    await wait_until(lambda: collector.stats.polls_ok >= 3, "three polls")  # the first fetched, then shared answers
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [message.item_id for message in sink.messages] == ["a", "b"]
    assert sink.states() == [SourceStatus.STATE_CONNECTED]
    assert server.requests[0].headers["user-agent"].startswith("fxgw/")


async def test_collectors_asking_the_same_url_at_once_share_one_fetch(server: ProviderServer) -> None:
    forget_shared_answers()
    first, second = RecordingExternalSink(), RecordingExternalSink()
    await asyncio.gather(poll(events(server, first, "one")), poll(events(server, second, "two")))
    assert len(server.requests) == 1
    assert [message.item_id for message in first.messages] == [message.item_id for message in second.messages]
    assert len(first.messages) == 2


def test_one_request_window_per_host_and_the_strictest_limit_holds() -> None:
    loose = host_window("http://provider.test:8080/a", 100, 60.0)
    assert host_window("http://PROVIDER.test:8080/b", 100, 60.0) is loose
    strict = host_window("http://provider.test:8080/c", 10, 60.0)
    assert strict is not loose and host_window("http://provider.test:8080/d", 100, 60.0) is strict
    assert host_window("http://other.test/", 100, 60.0) is not strict


async def test_a_request_beyond_the_hosts_limit_waits_for_its_window() -> None:
    window = RequestWindow(2, 60.0)
    waits = [asyncio.create_task(window.wait()) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert [task.done() for task in waits] == [True, True, False]
    waits[2].cancel()
    await asyncio.gather(*waits, return_exceptions=True)


async def test_a_parser_failure_is_a_malformed_answer_not_the_collectors_end(server: ProviderServer) -> None:
    server.serve("/events", Reply(body=b"crash"))
    collector = events(server, RecordingExternalSink())
    await poll(collector)
    stats = collector.stats
    assert stats.state == "malformed" and stats.problems == {"malformed_response": 1}
    assert "the parser failed: ZeroDivisionError: a bug in the parser" in stats.last_error


async def test_one_refused_request_of_a_poll_does_not_hold_back_the_others(server: ProviderServer) -> None:
    server.serve("/gone", Reply(status=404, body=b"no such feed", content_type="text/plain"))
    sink = RecordingExternalSink()
    collector = events(server, sink, paths=("/events", "/gone"), interval_s=100)
    delay_s = await poll(collector)
    assert 90 <= delay_s <= 110  # the regular schedule, not refused_retry_s
    assert [message.item_id for message in sink.messages] == ["a", "b"]
    assert sink.states() == [SourceStatus.STATE_CONNECTED, SourceStatus.STATE_REJECTED]
    _, rejected = sink.statuses[1]
    assert rejected.detail == f"/gone ({server.base_url}/gone): HTTP 404: no such feed"
    assert collector.stats.state == "refused"


async def test_a_compressed_answer_is_capped_after_decompression(server: ProviderServer) -> None:
    bomb = gzip.compress(b"[" + b" " * 10_000_000 + b"]")
    server.serve("/events", Reply(body=bomb, headers=(("Content-Encoding", "gzip"),)))
    collector = events(server, RecordingExternalSink(), max_body_bytes=1_000_000)
    await poll(collector)
    assert collector.stats.problems == {"response_too_large": 1}
    assert "passed 1,000,000 bytes" in collector.stats.last_error


async def test_a_header_key_is_sent_from_the_environment_and_shown_nowhere(
    server: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTS_KEY", "header-secret-value-1234")
    server.serve("/events", Reply(status=401, body=b"key header-secret-value-1234 refused", content_type="text/plain"))
    sink = RecordingExternalSink()
    collector = events(server, sink, key_env="EVENTS_KEY")
    await poll(collector)
    assert server.requests[0].headers["x-key"] == "header-secret-value-1234"
    _, status = sink.statuses[0]
    assert status.state == SourceStatus.STATE_UNAUTHORIZED
    url = f"{server.base_url}/events"
    assert status.detail == f"the provider refused the key in EVENTS_KEY: /events ({url}): HTTP 401: key *** refused"
    assert "header-secret-value-1234" not in collector.stats.last_error
