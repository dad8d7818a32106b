"""The fear_greed collector against a local HTTP server serving the recorded alternative.me and CNN answers.

Each test drives single polls (PollingCollector.poll) with an httpx client, as the collector's run() does
between its sleeps, and reads what reached a RecordingExternalSink: the exact ExternalData, the statuses and
the collector's stats. alternative.me and CNN have no keys, so there is no refused key to test; their
refusals (401/403, CNN's 418 and HTML bot wall) are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from collectors.external.fear_greed import CNN_COMPONENTS, CNN_PATH, FearGreedCollector, FearGreedConfig
from collectors.polling import forget_shared_answers
from gateway.backoff import Backoff
from gateway.clock import now_ns
from gateway.schema.market.v1.market_pb2 import ExternalData, FieldChange, SentimentIndex, SourceStatus
from tests.servers.http_provider import Fault, ProviderServer, Reply
from tests.support import RecordingExternalSink

FNG_PATH: Final = "/fng/"
TIMEOUT_S: Final = 0.5
NEW: Final = ExternalData.CHANGE_NEW
UPDATED: Final = ExternalData.CHANGE_UPDATED


@pytest.fixture(name="fng_body")
def _fng_body(shared_data: Path) -> bytes:
    return (shared_data / "feargreed" / "alternative_me_fng_limit2_2022-09-12.json").read_bytes()


@pytest.fixture(name="cnn_body")
def _cnn_body(shared_data: Path) -> bytes:
    return (shared_data / "feargreed" / "cnn_graphdata_2022-04-25.json").read_bytes()


def _collector(server: ProviderServer, sink: RecordingExternalSink, **fields: Any) -> FearGreedCollector:
    config = FearGreedConfig(
        id="feargreed", base_url=server.base_url, cnn_url=server.base_url, timeout_s=TIMEOUT_S, **fields
    )
    return FearGreedCollector(config, sink)


async def _poll(collector: FearGreedCollector) -> float:
    """One poll, as run() makes it, never answered from the shared cache (each test poll must reach the server);
    returns the seconds it would sleep before the next."""
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


def _message(
    seq: int,
    item_id: str,
    ts_ns: int,
    sentiment: SentimentIndex,
    *,
    change: ExternalData.Change = NEW,
    revision: int = 1,
    changes: Sequence[FieldChange] = (),
) -> ExternalData:
    return ExternalData(
        type="fear_greed",
        source="feargreed",
        ts_ns=ts_ns,
        item_id=item_id,
        change=change,
        revision=revision,
        changes=changes,
        session_id=1,
        seq=seq,
        sentiment=sentiment,
    )


def _crypto(value: float, classification: str) -> SentimentIndex:
    return SentimentIndex(
        name="crypto_fear_and_greed", value=value, classification=classification, provider="alternative.me"
    )


async def test_recorded_answers_are_published_exactly_once(fng_body: bytes, cnn_body: bytes) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(FNG_PATH, Reply(body=fng_body))
        server.serve(CNN_PATH, Reply(body=cnn_body))
        collector = _collector(server, sink, cnn=True, cnn_user_agent="Mozilla/5.0 (X11; Linux x86_64)")
        start_ns = now_ns()

        await _poll(collector)
        first = _received(sink, start_ns)
        await _poll(collector)

        assert [(request.path, request.query) for request in server.requests] == [
            (FNG_PATH, {"limit": ["7"], "format": ["json"]}),
            (CNN_PATH, {}),
        ] * 2
        assert server.requests[1].headers["user-agent"] == "Mozilla/5.0 (X11; Linux x86_64)"
    assert first[:2] == [
        _message(
            1, "alternative.me:crypto_fear_and_greed:2022-09-12", 1_662_940_800_000_000_000, _crypto(25, "Extreme Fear")
        ),
        _message(2, "alternative.me:crypto_fear_and_greed:2022-09-11", 1_662_854_400_000_000_000, _crypto(26, "Fear")),
    ]
    assert first[2] == _message(
        3,
        "cnn:fear_and_greed:2022-04-25",
        1_650_903_669_254_000_000,
        SentimentIndex(name="fear_and_greed", value=30.8254, classification="fear", provider="cnn"),
    )
    assert first[7] == _message(
        8,
        "cnn:put_call_options:2022-04-25",
        1_650_903_667_424_000_000,
        SentimentIndex(name="put_call_options", value=16.4329, classification="extreme fear", provider="cnn"),
    )
    assert [message.item_id for message in first[3:]] == [f"cnn:{name}:2022-04-25" for name in CNN_COMPONENTS]
    assert len(sink.messages) == 12  # the second poll published nothing
    assert sink.states() == [SourceStatus.STATE_CONNECTED]
    stats = collector.stats
    assert (stats.state, stats.polls_ok, stats.items_new, stats.items_unchanged, stats.problems) == (
        "ok",
        4,
        12,
        12,
        {},
    )


async def test_a_revised_value_is_an_update_and_a_new_day_is_new(fng_body: bytes) -> None:
    sink = RecordingExternalSink()
    revised = json.loads(fng_body)
    revised["data"][0].update(value="31", value_classification="Fear")
    revised["data"].insert(0, {"value": "40", "value_classification": "Fear", "timestamp": "1663027200"})
    async with ProviderServer() as server:
        server.serve(FNG_PATH, Reply(body=fng_body))
        collector = _collector(server, sink)
        await _poll(collector)
        server.serve(FNG_PATH, Reply(body=json.dumps(revised).encode()))
        start_ns = now_ns()

        await _poll(collector)

    assert _received(sink, 0)[2:] == [
        _message(3, "alternative.me:crypto_fear_and_greed:2022-09-13", 1_663_027_200_000_000_000, _crypto(40, "Fear")),
        _message(
            4,
            "alternative.me:crypto_fear_and_greed:2022-09-12",
            1_662_940_800_000_000_000,
            _crypto(31, "Fear"),
            change=UPDATED,
            revision=2,
            changes=[
                FieldChange(field="value", previous="25.0", current="31.0"),
                FieldChange(field="classification", previous="Extreme Fear", current="Fear"),
            ],
        ),
    ]
    assert all(message.ts_recv_ns >= start_ns for message in sink.messages[2:])
    assert (collector.stats.items_new, collector.stats.items_updated, collector.stats.items_unchanged) == (3, 1, 1)


async def test_429_waits_for_retry_after_then_recovers(fng_body: bytes) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(FNG_PATH, Reply(body=fng_body))
        server.inject(FNG_PATH, Fault.too_many("120"))
        collector = _collector(server, sink)

        delay_s = await _poll(collector)
        limited = (collector.stats.state, collector.stats.last_error)
        await _poll(collector)

    assert delay_s >= 120
    assert limited[0] == "rate_limited" and "HTTP 429" in limited[1]
    assert sink.states() == [SourceStatus.STATE_DISCONNECTED, SourceStatus.STATE_CONNECTED]
    assert collector.stats.state == "ok" and len(sink.messages) == 2


@pytest.mark.parametrize(
    ("fault", "state", "words"),
    [
        (Fault.unavailable(), "failing", "HTTP 503"),
        (Fault.unavailable(500), "failing", "HTTP 500"),
        (Fault.slow(2.0), "failing", f"no complete answer within {TIMEOUT_S:g} s"),
        (Fault.truncated(100), "failing", "alternative.me"),
        (Fault.truncated(100, declare_length=False), "malformed", "not valid JSON"),
        (
            Fault.answer(Reply(body=b"<html><body>Error 1015</body></html>", content_type="text/html")),
            "malformed",
            "HTML page",
        ),
        (Fault.answer(Reply(status=403, body=b"<html>Forbidden</html>")), "refused", "refused the client as a bot"),
    ],
)
async def test_a_failed_poll_is_a_named_state_and_the_next_recovers(
    fng_body: bytes, fault: Fault, state: str, words: str
) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(FNG_PATH, Reply(body=fng_body))
        server.inject(FNG_PATH, fault)
        collector = _collector(server, sink)

        await _poll(collector)
        failed = (collector.stats.state, collector.stats.last_error, len(sink.messages))
        await _poll(collector)

    assert failed[0] == state
    assert words in failed[1]
    assert failed[2] == 0
    assert sink.states()[0] in (SourceStatus.STATE_DISCONNECTED, SourceStatus.STATE_REJECTED)
    assert sink.states()[-1] == SourceStatus.STATE_CONNECTED
    assert (collector.stats.state, len(sink.messages)) == ("ok", 2)


async def test_an_answer_without_rows_is_counted_and_publishes_nothing() -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(FNG_PATH, Reply(body=b'{"name":"Fear and Greed Index","data":[],"metadata":{"error":null}}'))
        collector = _collector(server, sink)

        await _poll(collector)

    assert (collector.stats.state, collector.stats.problems, sink.messages) == ("ok", {"empty": 1}, [])


async def test_a_metadata_error_is_a_refused_request(fng_body: bytes) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(FNG_PATH, Reply(body=b'{"data":[],"metadata":{"error":"Limit must be a number"}}'))
        collector = _collector(server, sink)

        delay_s = await _poll(collector)

    assert collector.stats.state == "refused"
    assert delay_s == collector.config.refused_retry_s
    assert [(change.state, change.detail) for _, change in sink.statuses] == [
        (
            SourceStatus.STATE_REJECTED,
            "alternative.me refused the request: Limit must be a number",
        )
    ]


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=418, body=b"I'm a teapot", content_type="text/plain"),
        Reply(body=b"<!DOCTYPE html><html><title>CNN</title></html>", content_type="text/html"),
    ],
)
async def test_cnn_bot_wall_is_a_refusal_and_alternative_me_still_publishes(fng_body: bytes, reply: Reply) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(FNG_PATH, Reply(body=fng_body))
        server.serve(CNN_PATH, reply)
        collector = _collector(server, sink, cnn=True)

        delay_s = await _poll(collector)

    assert [message.sentiment.provider for message in sink.messages] == ["alternative.me", "alternative.me"]
    assert collector.stats.state == "refused"
    assert collector.stats.last_error.startswith("cnn refused the client as a bot (")
    assert sink.states() == [SourceStatus.STATE_CONNECTED, SourceStatus.STATE_REJECTED]
    assert delay_s >= collector.config.interval_s * 0.9  # alternative.me answered: the schedule goes on
