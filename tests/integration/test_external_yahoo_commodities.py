"""The yahoo_commodities collector against a local HTTP server serving Yahoo's recorded v8 chart of GC=F.

Only GC=F's chart is recorded (no CL=F, SI=F, NG=F or HG=F recording exists), so the server answers every
symbol with that same recorded body, read in place, with ``meta.symbol`` set to the symbol asked (the one
field the collector checks against the request); the other values are gold's. Each test drives single polls
(PollingCollector.poll) and reads what reached a RecordingExternalSink. Yahoo has no keys, so there is no
refused key to test; a 401/403 is a refusal of the client.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from collectors.external.yahoo_commodities import CHART_PATH, YahooCommoditiesCollector, YahooCommoditiesConfig
from collectors.polling import forget_shared_answers
from gateway.backoff import Backoff
from gateway.clock import now_ns
from gateway.schema.market.v1.market_pb2 import CommodityQuote, ExternalData, FieldChange, SourceStatus
from tests.servers.http_provider import Fault, ProviderServer, Reply, SeenRequest
from tests.support import RecordingExternalSink

SYMBOLS: Final = ("GC=F", "SI=F", "CL=F", "NG=F", "HG=F")
TIMEOUT_S: Final = 0.5
MARKET_TIME_NS: Final = 1_740_051_311 * 1_000_000_000
UNKNOWN_SYMBOL_BODY: Final = (
    b'{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}'
)


@pytest.fixture(name="gold")
def _gold(shared_data: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (shared_data / "yahoo" / "chart-GC_F-2020-01-01-to-2020-01-03.body.json").read_bytes()
    )
    return document


def _as_symbol(gold: dict[str, Any], symbol: str, **meta: Any) -> bytes:
    """The recorded gold chart answered for ``symbol`` (its ``meta.symbol``), with ``meta`` changed."""
    document = json.loads(json.dumps(gold))
    document["chart"]["result"][0]["meta"].update(symbol=symbol, **meta)
    return json.dumps(document, indent=2).encode()


def _serve_all(server: ProviderServer, gold: dict[str, Any], **meta: Any) -> None:
    for symbol in SYMBOLS:
        server.serve(CHART_PATH + symbol, Reply(body=_as_symbol(gold, symbol, **meta)))


def _collector(server: ProviderServer, sink: RecordingExternalSink, **fields: Any) -> YahooCommoditiesCollector:
    config = YahooCommoditiesConfig(id="commodities", base_url=server.base_url, timeout_s=TIMEOUT_S, **fields)
    return YahooCommoditiesCollector(config, sink)


async def _poll(collector: YahooCommoditiesCollector) -> float:
    """One poll, as run() makes it, never answered from the shared cache (each test poll must reach the server);
    returns the seconds it would sleep before the next."""
    forget_shared_answers()
    async with httpx.AsyncClient(trust_env=False) as client:
        return await collector.poll(client, Backoff(1.0, 60.0))


def _quote(symbol: str, **fields: Any) -> CommodityQuote:
    values: dict[str, Any] = {
        "symbol": symbol,
        "price": 2952.5,
        "currency": "USD",
        "change_pct": (2952.5 - 1519.5) / 1519.5 * 100,
        "contract": "Gold Apr 25",
        "exchange": "CMX",
        "previous_close": 1519.5,
        "market_time_ns": MARKET_TIME_NS,
    }
    return CommodityQuote(**{**values, **fields})


def _message(seq: int, quote: CommodityQuote, **fields: Any) -> ExternalData:
    values: dict[str, Any] = {"change": ExternalData.CHANGE_NEW, "revision": 1}
    return ExternalData(
        type="yahoo_commodities",
        source="commodities",
        ts_ns=quote.market_time_ns,
        item_id=quote.symbol,
        session_id=1,
        seq=seq,
        commodity=quote,
        **{**values, **fields},
    )


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


async def test_the_five_futures_are_published_exactly_then_only_when_they_move(gold: dict[str, Any]) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        _serve_all(server, gold)
        collector = _collector(server, sink)
        start_ns = now_ns()

        await _poll(collector)
        await _poll(collector)  # the same answers: nothing to publish
        server.serve(
            CHART_PATH + "GC=F",
            Reply(body=_as_symbol(gold, "GC=F", regularMarketPrice=2960.0, regularMarketTime=1_740_051_371)),
        )
        await _poll(collector)

        assert [(request.path, request.query) for request in server.requests[:5]] == [
            (f"{CHART_PATH}{symbol}", {"range": ["1d"], "interval": ["1d"]}) for symbol in SYMBOLS
        ]
    received = _received(sink, start_ns)
    assert received[:5] == [_message(seq, _quote(symbol)) for seq, symbol in enumerate(SYMBOLS, 1)]
    moved = _quote(
        "GC=F",
        price=2960.0,
        change_pct=(2960.0 - 1519.5) / 1519.5 * 100,
        market_time_ns=MARKET_TIME_NS + 60_000_000_000,
    )
    assert received[5:] == [
        _message(
            6,
            moved,
            change=ExternalData.CHANGE_UPDATED,
            revision=2,
            changes=[
                FieldChange(field="price", previous="2952.5", current="2960.0"),
                FieldChange(
                    field="change_pct", previous=repr(_quote("GC=F").change_pct), current=repr(moved.change_pct)
                ),
                FieldChange(field="market_time_ns", previous=str(MARKET_TIME_NS), current=str(moved.market_time_ns)),
                FieldChange(field="ts_ns", previous=str(MARKET_TIME_NS), current=str(moved.market_time_ns)),
            ],
        )
    ]
    assert sink.states() == [SourceStatus.STATE_CONNECTED]
    stats = collector.stats
    assert (stats.state, stats.items_new, stats.items_updated, stats.items_unchanged) == ("ok", 5, 1, 9)


async def test_a_roll_to_the_next_contract_is_an_update_of_the_contract(gold: dict[str, Any]) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(CHART_PATH + "GC=F", Reply(body=_as_symbol(gold, "GC=F")))
        collector = _collector(server, sink, symbols=("GC=F",))
        await _poll(collector)
        server.serve(CHART_PATH + "GC=F", Reply(body=_as_symbol(gold, "GC=F", shortName="Gold Jun 25")))

        await _poll(collector)

    assert [(message.change, list(message.changes)) for message in sink.messages] == [
        (ExternalData.CHANGE_NEW, []),
        (ExternalData.CHANGE_UPDATED, [FieldChange(field="contract", previous="Gold Apr 25", current="Gold Jun 25")]),
    ]


async def test_an_unknown_symbol_is_refused_by_name_and_the_others_go_on(gold: dict[str, Any]) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        _serve_all(server, gold)
        server.serve(CHART_PATH + "XX=F", Reply(status=404, body=UNKNOWN_SYMBOL_BODY))
        collector = _collector(server, sink, symbols=("GC=F", "XX=F", "CL=F"))

        delay_s = await _poll(collector)

    assert [message.item_id for message in sink.messages] == ["GC=F", "CL=F"]
    assert collector.stats.state == "refused"
    detail = "XX=F: Yahoo has no chart for this symbol ('Not Found': No data found, symbol may be delisted)"
    assert [(change.state, change.detail) for _, change in sink.statuses] == [
        (SourceStatus.STATE_CONNECTED, f"polling {server.base_url} every 60 s"),
        (SourceStatus.STATE_REJECTED, detail),
    ]
    assert delay_s >= 60 * 0.9  # the other symbols answered: the schedule goes on


async def test_429_with_an_http_date_waits_until_then(gold: dict[str, Any]) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        _serve_all(server, gold)
        server.inject(CHART_PATH + "GC=F", Fault.too_many("Wed, 21 Oct 2099 07:28:00 GMT"))
        collector = _collector(server, sink, symbols=("GC=F",))

        delay_s = await _poll(collector)
        state = collector.stats.state
        await _poll(collector)

    assert state == "rate_limited"
    assert delay_s >= 3600  # Retry-After is capped by the base, far above the 60 s interval
    assert sink.states() == [SourceStatus.STATE_DISCONNECTED, SourceStatus.STATE_CONNECTED]
    assert [message.item_id for message in sink.messages] == ["GC=F"]


@pytest.mark.parametrize(
    ("fault", "state", "words"),
    [
        (Fault.unavailable(502), "failing", "HTTP 502"),
        (Fault.slow(2.0), "failing", f"no complete answer within {TIMEOUT_S:g} s"),
        (Fault.truncated(700, declare_length=False), "malformed", "not valid JSON"),
        (Fault.answer(Reply(body=b"<!DOCTYPE html><html>Yahoo</html>", content_type="text/html")), "malformed", "HTML"),
        (Fault.answer(Reply(status=403, body=b"")), "refused", "Yahoo refused the client (HTTP 403)"),
    ],
)
async def test_a_failed_symbol_is_a_named_state_and_the_next_poll_recovers(
    gold: dict[str, Any], fault: Fault, state: str, words: str
) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        _serve_all(server, gold)
        server.inject(CHART_PATH + "SI=F", fault)
        collector = _collector(server, sink, symbols=("GC=F", "SI=F"))

        await _poll(collector)
        failed = (collector.stats.state, collector.stats.last_error, [message.item_id for message in sink.messages])
        await _poll(collector)

    assert (failed[0], failed[2]) == (state, ["GC=F"])
    assert words in failed[1] and "SI=F" in failed[1]
    assert collector.stats.state == "ok"
    assert [message.item_id for message in sink.messages] == ["GC=F", "SI=F"]


async def test_an_empty_chart_and_nulls_only_are_counted_problems(gold: dict[str, Any]) -> None:
    nulls = json.loads(_as_symbol(gold, "SI=F"))
    result = nulls["chart"]["result"][0]
    del result["meta"]["regularMarketPrice"]
    result["indicators"]["quote"][0]["close"] = [None]
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.serve(CHART_PATH + "GC=F", Reply(body=b'{"chart":{"result":[],"error":null}}'))
        server.serve(CHART_PATH + "SI=F", Reply(body=json.dumps(nulls).encode()))
        collector = _collector(server, sink, symbols=("GC=F", "SI=F"))

        await _poll(collector)

    assert (collector.stats.state, collector.stats.problems, sink.messages) == (
        "ok",
        {"empty": 1, "no_price": 1},
        [],
    )


def _symbol_checker(gold: dict[str, Any]) -> Callable[[SeenRequest], Reply]:
    """Answers every symbol's path with the gold chart for that symbol (unused paths 404 as Yahoo's do)."""

    def answer(request: SeenRequest) -> Reply:
        symbol = request.path.removeprefix(CHART_PATH)
        if symbol in SYMBOLS:
            return Reply(body=_as_symbol(gold, symbol))
        return Reply(status=404, body=UNKNOWN_SYMBOL_BODY)

    return answer


async def test_symbols_that_need_escaping_reach_the_right_path(gold: dict[str, Any]) -> None:
    sink = RecordingExternalSink()
    async with ProviderServer() as server:
        server.fallback = _symbol_checker(gold)
        collector = _collector(server, sink, symbols=("^GSPC", "HG=F"))

        await _poll(collector)

        assert [request.path for request in server.requests] == [f"{CHART_PATH}^GSPC", f"{CHART_PATH}HG=F"]
    assert [message.item_id for message in sink.messages] == ["HG=F"]
    assert "^GSPC: Yahoo has no chart for this symbol" in collector.stats.last_error
