"""The cot collector against a local HTTP server serving CFTC's recorded Socrata answer and TFF rows.

The legacy dataset is served from the recorded Socrata body (../shared/data/cftc, read in place). No TFF
Socrata answer is recorded: the server builds TFF rows from CFTC's recorded TFF text file of 2022, as
tests/unit/collectors/external/cftc_tff.py documents (the fields the collector selects, under Socrata's names,
as strings). The server does not evaluate the query's date window (the recorded reports are from 2022 and
2024); it answers the newest weeks of the recording. Each test drives single polls (PollingCollector.poll)
and reads what reached a RecordingExternalSink.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from collectors.external.cot import DEFAULT_MARKETS, CotCollector, CotConfig
from collectors.polling import forget_shared_answers
from gateway.backoff import Backoff
from gateway.clock import now_ns
from gateway.errors import ConfigError
from gateway.schema.market.v1.market_pb2 import CotPositions, CotReport, ExternalData, FieldChange, SourceStatus
from tests.servers.http_provider import Fault, ProviderServer, Reply, SeenRequest
from tests.support import RecordingExternalSink
from tests.unit.collectors.external.cftc_tff import tff_rows

LEGACY_PATH: Final = "/resource/jun7-fc8e.json"
TFF_PATH: Final = "/resource/gpe5-46if.json"
RUSSELL: Final = "MICRO E-MINI RUSSELL 2000 INDX"
TOKEN_ENV: Final = "FXGW_TEST_SOCRATA_TOKEN"
TOKEN: Final = "sEcReT-app-token-4f2a9"
TIMEOUT_S: Final = 0.5


@pytest.fixture(name="legacy_body")
def _legacy_body(shared_data: Path) -> bytes:
    return (shared_data / "cftc" / "socrata_jun7-fc8e_legacy_combined_239747_2024-08-20.json").read_bytes()


def _legacy(server: ProviderServer, sink: RecordingExternalSink, **fields: Any) -> CotCollector:
    config = CotConfig(
        id="cot",
        base_url=server.base_url,
        report="legacy_combined",
        markets=(RUSSELL,),
        timeout_s=TIMEOUT_S,
        **fields,
    )
    return CotCollector(config, sink)


async def _poll(collector: CotCollector) -> float:
    """One poll, as run() makes it, never answered from the shared cache (each test poll must reach the server);
    returns the seconds it would sleep before the next."""
    forget_shared_answers()
    async with httpx.AsyncClient(trust_env=False) as client:
        return await collector.poll(client, Backoff(1.0, 60.0))


def _texts(sink: RecordingExternalSink, collector: CotCollector) -> str:
    """Everything the collector said: status details and its last error."""
    return " ".join([change.detail for _, change in sink.statuses] + [collector.stats.last_error])


async def test_recorded_legacy_report_is_published_exactly_once(
    legacy_body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(LEGACY_PATH, Reply(body=legacy_body, content_type="application/json;charset=utf-8"))
        collector = _legacy(server, sink, app_token_env=TOKEN_ENV, lookback_weeks=2)
        start_ns = now_ns()

        await _poll(collector)
        await _poll(collector)

        [request, _] = server.requests
    assert request.headers["x-app-token"] == TOKEN
    assert set(request.query) == {"$select", "$where", "$order", "$limit"}
    assert request.query["$where"][0].startswith(
        f"contract_market_name in ('{RUSSELL}') AND report_date_as_yyyy_mm_dd >= '"
    )
    assert request.query["$order"] == ["report_date_as_yyyy_mm_dd DESC, cftc_contract_market_code ASC"]
    assert request.query["$limit"] == ["6"]
    [message] = sink.messages
    assert start_ns <= message.ts_recv_ns <= now_ns()
    message.ts_recv_ns = 0
    assert message == ExternalData(
        type="cot",
        source="cot",
        ts_ns=1_724_112_000_000_000_000,
        item_id="jun7-fc8e:239747:2024-08-20",
        change=ExternalData.CHANGE_NEW,
        revision=1,
        session_id=1,
        seq=1,
        cot=CotReport(
            market=RUSSELL,
            report_date="2024-08-20",
            noncommercial_long=4773,
            noncommercial_short=10232,
            commercial_long=3060,
            commercial_short=290,
            open_interest=19404,
            dataset="legacy",
            contract_code="239747",
            noncommercial_spreading=258,
        ),
    )
    assert sink.states() == [SourceStatus.STATE_CONNECTED]
    assert (collector.stats.items_new, collector.stats.items_unchanged) == (1, 1)
    assert TOKEN not in _texts(sink, collector)


async def test_a_corrected_report_is_an_update(legacy_body: bytes) -> None:
    corrected = json.loads(legacy_body)
    corrected[0]["comm_positions_long_all"] = "3160"
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(LEGACY_PATH, Reply(body=legacy_body))
        collector = _legacy(server, sink)
        await _poll(collector)
        server.serve(LEGACY_PATH, Reply(body=json.dumps(corrected).encode()))

        await _poll(collector)

    assert [(message.change, message.revision, list(message.changes)) for message in sink.messages] == [
        (ExternalData.CHANGE_NEW, 1, []),
        (ExternalData.CHANGE_UPDATED, 2, [FieldChange(field="commercial_long", previous="3060", current="3160")]),
    ]


def _tff_weeks(shared_data: Path, newest: int) -> Callable[[SeenRequest], Reply]:
    """TFF rows of the default FX markets for 4 report dates, ``newest`` weeks back from the file's last one."""
    rows = tff_rows(shared_data, DEFAULT_MARKETS, weeks=4 + newest)
    dates = sorted({row["report_date_as_yyyy_mm_dd"] for row in rows}, reverse=True)[newest : newest + 4]
    body = json.dumps([row for row in rows if row["report_date_as_yyyy_mm_dd"] in dates]).encode()
    return lambda request: Reply(body=body)


async def test_tff_reports_of_a_new_week_are_published_and_known_weeks_are_not(shared_data: Path) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(TFF_PATH, _tff_weeks(shared_data, newest=1))  # as polled a week before the file's last
        collector = CotCollector(CotConfig(id="cot", base_url=server.base_url, report="tff_futures"), sink)
        await _poll(collector)
        first = len(sink.messages)
        server.serve(TFF_PATH, _tff_weeks(shared_data, newest=0))  # the next week's report is out

        await _poll(collector)

    assert first == 4 * 8
    assert [message.item_id for message in sink.messages[first:]] == [
        f"gpe5-46if:{code}:2022-08-16"
        for code in ("090741", "092741", "095741", "096742", "097741", "099741", "112741", "232741")
    ]
    assert {message.change for message in sink.messages} == {ExternalData.CHANGE_NEW}
    euro = sink.messages[first + 5].cot
    assert (euro.market, euro.open_interest, list(euro.categories)[2]) == (
        "EURO FX",
        698570,
        CotPositions(category="leveraged_funds", long=70967, short=93137, spreading=19728),
    )
    assert (collector.stats.items_new, collector.stats.items_unchanged, collector.stats.problems) == (40, 24, {})


async def test_a_refused_app_token_names_its_variable_never_its_value(
    legacy_body: bytes, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    refusal = b'{"code":"permission_denied","error":true,"message":"Invalid app_token specified"}'
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(LEGACY_PATH, Reply(status=403, body=refusal))
        collector = _legacy(server, sink, app_token_env=TOKEN_ENV)

        delay_s = await _poll(collector)

    assert collector.stats.state == "unauthorized"
    assert delay_s == collector.config.refused_retry_s
    [(_, change)] = sink.statuses
    assert change.state == SourceStatus.STATE_UNAUTHORIZED
    assert f"the provider refused the key in {TOKEN_ENV}" in change.detail
    assert TOKEN not in _texts(sink, collector)
    assert "unauthorized" in caplog.text and TOKEN not in caplog.text


async def test_an_unset_app_token_variable_stops_the_collector_naming_it(legacy_body: bytes) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(LEGACY_PATH, Reply(body=legacy_body))
        collector = _legacy(server, sink, app_token_env="FXGW_TEST_UNSET_TOKEN")

        with pytest.raises(ConfigError, match="FXGW_TEST_UNSET_TOKEN"):
            await _poll(collector)

        assert server.requests == []
    assert sink.states() == [SourceStatus.STATE_UNAUTHORIZED]


async def test_a_query_socrata_cannot_run_is_refused_with_its_message() -> None:
    body = b'{"message":"No such column: contract_market_name","errorCode":"query.soql.no-such-column","data":{}}'
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(LEGACY_PATH, Reply(status=400, body=body))
        collector = _legacy(server, sink)

        await _poll(collector)

    assert collector.stats.state == "refused"
    assert [(change.state, change.detail) for _, change in sink.statuses] == [
        (
            SourceStatus.STATE_REJECTED,
            "Socrata refused the query ('query.soql.no-such-column'): No such column: contract_market_name",
        )
    ]


async def test_429_waits_for_retry_after_then_recovers(legacy_body: bytes) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(LEGACY_PATH, Reply(body=legacy_body))
        server.inject(LEGACY_PATH, Fault.too_many("90"))
        collector = _legacy(server, sink)

        delay_s = await _poll(collector)
        state = collector.stats.state
        await _poll(collector)

    assert (state, delay_s >= 90) == ("rate_limited", True)
    assert sink.states() == [SourceStatus.STATE_DISCONNECTED, SourceStatus.STATE_CONNECTED]
    assert len(sink.messages) == 1


@pytest.mark.parametrize(
    ("fault", "state", "words"),
    [
        (Fault.unavailable(), "failing", "HTTP 503"),
        (Fault.slow(2.0), "failing", f"no complete answer within {TIMEOUT_S:g} s"),
        (Fault.truncated(1000, declare_length=False), "malformed", "not valid JSON"),
        (
            Fault.answer(Reply(body=b"<html><body>Maintenance</body></html>", content_type="text/html")),
            "malformed",
            "HTML",
        ),
    ],
)
async def test_a_failed_poll_is_a_named_state_and_the_next_recovers(
    legacy_body: bytes, fault: Fault, state: str, words: str
) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(LEGACY_PATH, Reply(body=legacy_body))
        server.inject(LEGACY_PATH, fault)
        collector = _legacy(server, sink)

        await _poll(collector)
        failed = (collector.stats.state, collector.stats.last_error, len(sink.messages))
        await _poll(collector)

    assert (failed[0], failed[2]) == (state, 0)
    assert words in failed[1]
    assert sink.states() == [SourceStatus.STATE_DISCONNECTED, SourceStatus.STATE_CONNECTED]
    assert (collector.stats.state, len(sink.messages)) == ("ok", 1)


async def test_an_empty_answer_is_counted_as_empty() -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(LEGACY_PATH, Reply(body=b"[]"))
        collector = _legacy(server, sink)

        await _poll(collector)

    assert (collector.stats.state, collector.stats.problems, sink.messages) == ("ok", {"empty": 1}, [])


async def test_a_report_published_before_a_restart_is_not_published_again(legacy_body: bytes, tmp_path: Path) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(LEGACY_PATH, Reply(body=legacy_body))
        config = CotConfig(id="cot", base_url=server.base_url, report="legacy_combined", markets=(RUSSELL,))
        await _poll(CotCollector(config, sink, state_dir=tmp_path))

        restarted = CotCollector(config, sink, state_dir=tmp_path)
        await _poll(restarted)

    assert [message.item_id for message in sink.messages] == ["jun7-fc8e:239747:2024-08-20"]
    assert (restarted.stats.items_new, restarted.stats.items_unchanged) == (0, 1)
