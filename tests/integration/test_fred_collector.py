"""FRED against a local provider serving the recorded ``series/observations`` answer, with its failure modes.

Each test drives polls one by one (``FredCollector.poll``, what ``run`` repeats), so nothing waits on a timer:
the delay a poll asks for is asserted instead of slept.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Final

import httpx
import pytest

from collectors.external.fred import FredCollector, FredConfig
from collectors.polling import forget_shared_answers
from gateway.backoff import Backoff
from gateway.errors import ConfigError
from gateway.schema.market.v1.market_pb2 import ExternalData, FieldChange, IndicatorObservation, SourceStatus
from tests.servers.http_provider import Fault, ProviderServer, Reply
from tests.support import RecordingExternalSink

KEY: Final = "0123456789abcdef0123456789abcdef"
"""A key of FRED's form (32 lower-case hex characters); it must appear in no text the gateway produces."""
PATH: Final = "/fred/series/observations"
REFUSED_KEY_BODY: Final = (
    b'{"error_code":400,"error_message":"Bad Request.  The value for variable api_key is not registered.  Read '
    b'https:\\/\\/fred.stlouisfed.org\\/docs\\/api\\/api_key.html for more information."}'
)
UNKNOWN_SERIES_BODY: Final = b'{"error_code":400,"error_message":"Bad Request.  The series does not exist."}'
OBSERVATIONS: Final = 315
"""Observations in the recorded answer (GDP, 1946-01-01 to 2024-07-01; the first four are ".")."""


@pytest.fixture
def recorded(shared_data: Path) -> bytes:
    return (shared_data / "fred" / "series_observations_GDP.json").read_bytes()


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("FRED_API_KEY", KEY)
    yield KEY


@dataclass
class Fred:
    """A FRED collector on a local server, polled by hand."""

    server: ProviderServer
    collector: FredCollector
    sink: RecordingExternalSink
    client: httpx.AsyncClient
    backoff: Backoff

    async def poll(self) -> float:
        """One poll, never answered from the shared cache (each test poll must reach the server); its delay."""
        forget_shared_answers()
        return await self.collector.poll(self.client, self.backoff)

    def states(self) -> list[SourceStatus.State]:
        return self.sink.states()


@pytest.fixture
async def fred(key: str, tmp_path: Path) -> AsyncIterator[Fred]:
    async with ProviderServer() as server, httpx.AsyncClient() as client:
        sink = RecordingExternalSink()
        config = FredConfig(
            id="fred",
            series=("GDP",),
            base_url=f"{server.base_url}/fred",
            timeout_s=0.5,
            retry_min_s=0.05,
            refused_retry_s=600,
        )
        collector = FredCollector(config, sink, tmp_path / "state")
        yield Fred(server, collector, sink, client, Backoff(config.retry_min_s, config.interval_s))


def modified(recorded: bytes) -> bytes:
    """The recorded answer a day later: GDP 2024-07-01 revised, every real-time period moved to the new day."""
    answer = json.loads(recorded)
    for observation in answer["observations"]:
        observation["realtime_start"] = observation["realtime_end"] = "2024-11-27"
        if observation["date"] == "2024-07-01":
            observation["value"] = "29374.914"
    return json.dumps(answer).encode()


async def test_the_recorded_answer_becomes_exact_external_data(fred: Fred, recorded: bytes) -> None:
    fred.server.serve(PATH, Reply(body=recorded))
    delay_s = await fred.poll()
    messages = fred.sink.messages
    assert len(messages) == OBSERVATIONS
    assert messages[0] == ExternalData(
        type="fred",
        source="fred",
        ts_ns=-757_382_400 * 10**9,  # 1946-01-01T00:00:00Z
        ts_recv_ns=messages[0].ts_recv_ns,
        item_id="GDP:1946-01-01",
        change=ExternalData.CHANGE_NEW,
        revision=1,
        session_id=1,
        seq=1,
        indicator=IndicatorObservation(
            series_id="GDP",
            date="1946-01-01",
            missing=True,
            units="lin",
            realtime_start="2024-10-30",
            realtime_end="2024-10-30",
        ),
    )
    assert messages[-1] == ExternalData(
        type="fred",
        source="fred",
        ts_ns=1_719_792_000 * 10**9,  # 2024-07-01T00:00:00Z
        ts_recv_ns=messages[-1].ts_recv_ns,
        item_id="GDP:2024-07-01",
        change=ExternalData.CHANGE_NEW,
        revision=1,
        session_id=1,
        seq=OBSERVATIONS,
        indicator=IndicatorObservation(
            series_id="GDP",
            date="2024-07-01",
            value=29349.924,
            units="lin",
            realtime_start="2024-10-30",
            realtime_end="2024-10-30",
        ),
    )
    assert [message.seq for message in messages] == list(range(1, OBSERVATIONS + 1))
    assert sum(message.indicator.missing for message in messages) == 4
    assert fred.states() == [SourceStatus.STATE_CONNECTED]
    stats = fred.collector.stats
    assert (stats.state, stats.polls_ok, stats.items_new, stats.problems) == ("ok", 1, OBSERVATIONS, {})
    assert 3600 * 0.9 <= delay_s <= 3600 * 1.1
    [request] = fred.server.requests
    assert request.query == {
        "series_id": ["GDP"],
        "file_type": ["json"],
        "sort_order": ["desc"],
        "limit": ["1000"],
        "api_key": [KEY],
    }


async def test_only_a_revision_is_republished_and_says_what_changed(fred: Fred, recorded: bytes) -> None:
    fred.server.serve(PATH, Reply(body=recorded))
    await fred.poll()
    await fred.poll()  # the same answer again: nothing to publish
    assert len(fred.sink.messages) == OBSERVATIONS
    fred.server.serve(PATH, Reply(body=modified(recorded)))
    await fred.poll()
    [update] = fred.sink.messages[OBSERVATIONS:]
    assert (update.item_id, update.change, update.revision, update.seq) == (
        "GDP:2024-07-01",
        ExternalData.CHANGE_UPDATED,
        2,
        OBSERVATIONS + 1,
    )
    assert list(update.changes) == [FieldChange(field="value", previous="29349.924", current="29374.914")]
    assert (update.indicator.value, update.indicator.realtime_start) == (29374.914, "2024-11-27")
    stats = fred.collector.stats
    assert (stats.items_new, stats.items_updated, stats.items_unchanged) == (OBSERVATIONS, 1, 2 * OBSERVATIONS - 1)


async def test_a_restarted_collector_does_not_republish(fred: Fred, recorded: bytes, tmp_path: Path) -> None:
    fred.server.serve(PATH, Reply(body=recorded))
    await fred.poll()
    again = FredCollector(fred.collector.config, fred.sink, tmp_path / "state")
    fred.collector = again
    fred.server.serve(PATH, Reply(body=modified(recorded)))
    await fred.poll()
    assert [message.item_id for message in fred.sink.messages[OBSERVATIONS:]] == ["GDP:2024-07-01"]
    assert fred.sink.messages[-1].revision == 2


async def test_conditional_requests_send_the_validators_back_and_count_not_modified(
    fred: Fred, recorded: bytes
) -> None:
    fred.server.serve(PATH, Reply(body=recorded, etag='"gdp-1"', last_modified="Wed, 30 Oct 2024 12:00:00 GMT"))
    await fred.poll()
    await fred.poll()
    assert fred.server.requests[1].headers["if-none-match"] == '"gdp-1"'
    assert fred.server.requests[1].headers["if-modified-since"] == "Wed, 30 Oct 2024 12:00:00 GMT"
    stats = fred.collector.stats
    assert (stats.polls_ok, stats.polls_not_modified, stats.items_unchanged, stats.state) == (1, 1, 0, "ok")
    assert len(fred.sink.messages) == OBSERVATIONS


async def test_429_waits_for_retry_after_in_seconds_then_recovers(fred: Fred, recorded: bytes) -> None:
    fred.server.serve(PATH, Reply(body=recorded))
    await fred.poll()
    fred.server.inject(PATH, Fault.too_many("120"))
    delay_s = await fred.poll()
    assert delay_s == 120.0
    assert fred.collector.stats.state == "rate_limited"
    await fred.poll()
    assert fred.states() == [
        SourceStatus.STATE_CONNECTED,
        SourceStatus.STATE_DISCONNECTED,
        SourceStatus.STATE_RECONNECTED,
    ]
    _, disconnected = fred.sink.statuses[1]
    assert disconnected.detail.startswith("rate_limited: GDP (") and "HTTP 429" in disconnected.detail
    _, reconnected = fred.sink.statuses[2]
    assert reconnected.gap_ns > 0
    assert fred.collector.stats.state == "ok"


async def test_429_waits_for_retry_after_given_as_a_date(fred: Fred) -> None:
    fred.server.inject(PATH, Fault.too_many(formatdate(time.time() + 90, usegmt=True)))
    delay_s = await fred.poll()
    assert 80 <= delay_s <= 90
    assert fred.collector.stats.state == "rate_limited"
    assert fred.states() == [SourceStatus.STATE_DISCONNECTED]


async def test_5xx_backs_off_then_recovers(fred: Fred, recorded: bytes) -> None:
    fred.server.serve(PATH, Reply(body=recorded))
    fred.server.inject(PATH, Fault.unavailable(), Fault.unavailable(502))
    first = await fred.poll()
    second = await fred.poll()
    assert fred.collector.stats.state == "failing" and "HTTP 502" in fred.collector.stats.last_error
    assert 0.025 <= first <= 0.05 and 0.05 <= second <= 0.1  # Backoff doubles from retry_min_s, with jitter
    await fred.poll()
    assert fred.states() == [SourceStatus.STATE_DISCONNECTED, SourceStatus.STATE_CONNECTED]
    stats = fred.collector.stats
    assert (stats.state, stats.polls_failed, stats.polls_ok, stats.items_new) == ("ok", 2, 1, OBSERVATIONS)


async def test_a_stalled_answer_times_out(fred: Fred, recorded: bytes) -> None:
    fred.server.serve(PATH, Reply(body=recorded))
    fred.server.inject(PATH, Fault.slow(2.0))
    await fred.poll()
    stats = fred.collector.stats
    assert stats.state == "failing"
    assert stats.last_error == f"GDP ({fred.server.base_url}{PATH}): no complete answer within 0.5 s"


async def test_html_where_json_was_expected_is_a_malformed_answer(fred: Fred) -> None:
    page = Reply(body=b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", content_type="text/html")
    fred.server.inject(PATH, Fault.answer(page))
    await fred.poll()
    stats = fred.collector.stats
    assert (stats.state, stats.problems) == ("malformed", {"malformed_response": 1})
    assert "GDP: series/observations: an HTML page where JSON was expected" in stats.last_error
    assert fred.sink.messages == []


@pytest.mark.parametrize("declare_length", [True, False], ids=["length-declared", "no-length"])
async def test_a_truncated_answer_publishes_nothing(fred: Fred, recorded: bytes, declare_length: bool) -> None:
    fred.server.serve(PATH, Reply(body=recorded))
    fred.server.inject(PATH, Fault.truncated(len(recorded) // 2, declare_length=declare_length))
    await fred.poll()
    stats = fred.collector.stats
    assert stats.state == ("failing" if declare_length else "malformed")
    assert fred.sink.messages == []
    await fred.poll()
    assert len(fred.sink.messages) == OBSERVATIONS


async def test_an_empty_observation_list_is_a_good_answer_with_nothing_new(fred: Fred) -> None:
    fred.server.serve(PATH, Reply(body=b'{"units":"lin","count":0,"observations":[]}'))
    await fred.poll()
    stats = fred.collector.stats
    assert (stats.state, stats.polls_ok, stats.problems, fred.sink.messages) == ("ok", 1, {}, [])
    assert fred.states() == [SourceStatus.STATE_CONNECTED]


async def test_a_refused_key_is_unauthorized_naming_the_variable_and_retried_slowly(
    fred: Fred, recorded: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fred.server.serve(PATH, Reply(status=400, body=REFUSED_KEY_BODY))
    delay_s = await fred.poll()
    await fred.poll()  # the same refusal again is not published again
    assert delay_s == 600
    assert fred.collector.stats.state == "unauthorized"
    assert fred.states() == [SourceStatus.STATE_UNAUTHORIZED]
    _, status = fred.sink.statuses[0]
    assert status.detail.startswith("the provider refused the key in FRED_API_KEY: GDP: FRED refused the request")
    assert "api_key is not registered" in status.detail
    fred.server.serve(PATH, Reply(body=recorded))
    await fred.poll()
    assert fred.states() == [SourceStatus.STATE_UNAUTHORIZED, SourceStatus.STATE_CONNECTED]
    texts = [change.detail for _, change in fred.sink.statuses] + [fred.collector.stats.last_error, caplog.text]
    assert all(KEY not in text for text in texts)
    assert fred.server.requests[0].query["api_key"] == [KEY]


async def test_an_unknown_series_is_rejected(fred: Fred) -> None:
    fred.server.serve(PATH, Reply(status=400, body=UNKNOWN_SERIES_BODY))
    assert await fred.poll() == 600
    assert fred.collector.stats.state == "refused"
    assert fred.states() == [SourceStatus.STATE_REJECTED]
    _, status = fred.sink.statuses[0]
    assert status.detail == "GDP: FRED refused the request (HTTP 400): Bad Request. The series does not exist."


async def test_an_unset_key_variable_is_a_final_error_naming_it(fred: Fred, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRED_API_KEY")
    with pytest.raises(ConfigError, match="environment variable FRED_API_KEY is not set"):
        await fred.poll()
    assert fred.states() == [SourceStatus.STATE_UNAUTHORIZED]
    assert fred.server.requests == []


async def test_an_answer_over_the_size_cap_is_refused_unread(fred: Fred, recorded: bytes) -> None:
    small = FredCollector(fred.collector.config.model_copy(update={"max_body_bytes": 4096}), fred.sink)
    fred.collector = small
    fred.server.serve(PATH, Reply(body=recorded))
    await fred.poll()
    stats = small.stats
    assert (stats.state, stats.problems) == ("malformed", {"response_too_large": 1})
    assert "above 4,096" in stats.last_error
