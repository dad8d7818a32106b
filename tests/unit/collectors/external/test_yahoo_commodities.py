"""Yahoo's v8 chart answers through the pure parser: the recorded GC=F chart, every quirk (nulls in the price
arrays, the error envelope, the front-month contract, negative prices) and a generated hostile corpus."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Final

import pytest

from collectors.external.yahoo_commodities import (
    YahooCommoditiesCollector,
    YahooCommoditiesConfig,
    classify_chart_error,
    parse_chart,
)
from gateway.echo import RAW_BYTES
from gateway.errors import MalformedInputError
from gateway.events import ExternalItem, Parsed
from gateway.schema.market.v1.market_pb2 import CommodityQuote
from tests.support import RecordingExternalSink
from tests.unit.collectors.external.hostile import mutations

NS_PER_S: Final = 1_000_000_000
RECV_NS: Final = 1_740_052_000 * NS_PER_S
"""2025-02-20T11:46:40Z, minutes after Yahoo's answer was recorded (regularMarketTime 1740051311)."""
DETAIL_LIMIT: Final = 400
REASONS: Final = {
    "bad_shape",
    "bad_encoding",
    "bad_value",
    "bad_time",
    "no_price",
    "symbol_mismatch",
    "unknown_symbol",
    "provider_error",
    "empty",
    "duplicate",
    "too_many_rows",
}
RECORDED_GOLD: Final = CommodityQuote(
    symbol="GC=F",
    price=2952.5,
    currency="USD",
    change_pct=(2952.5 - 1519.5) / 1519.5 * 100,
    contract="Gold Apr 25",
    exchange="CMX",
    previous_close=1519.5,
    market_time_ns=1_740_051_311 * NS_PER_S,
)
"""The recorded chart asked for 2020-01-01..03, so its chartPreviousClose is the close before that window
(1519.5, 2019-12-31): that is what Yahoo answered. With ``range=1d``, as the collector asks, it is the
previous session's close."""


@pytest.fixture(name="gold_body")
def _gold_body(shared_data: Path) -> bytes:
    return (shared_data / "yahoo" / "chart-GC_F-2020-01-01-to-2020-01-03.body.json").read_bytes()


def _commodity(item: ExternalItem) -> CommodityQuote:
    assert isinstance(item.payload, CommodityQuote)
    return item.payload


def _edited(body: bytes, edit: Any) -> bytes:
    """``body`` with ``edit(result)`` applied to its first chart result."""
    document = json.loads(body)
    edit(document["chart"]["result"][0])
    return json.dumps(document).encode()


def test_recorded_gold_chart_gives_the_front_month_quote(gold_body: bytes) -> None:
    parsed = parse_chart(gold_body, "GC=F", RECV_NS)

    assert parsed.problems == []
    [item] = parsed.items
    assert (item.item_id, item.ts_ns) == ("GC=F", 1_740_051_311 * NS_PER_S)
    assert _commodity(item) == RECORDED_GOLD
    assert _commodity(item).change_pct == pytest.approx(94.3073379)


def test_previous_close_is_preferred_to_the_charts_previous_close(gold_body: bytes) -> None:
    body = _edited(gold_body, lambda result: result["meta"].update(previousClose=2940.0))

    quote = _commodity(parse_chart(body, "GC=F", RECV_NS).items[0])

    assert quote.previous_close == 2940.0
    assert quote.change_pct == pytest.approx((2952.5 - 2940.0) / 2940.0 * 100)


def test_a_contract_symbol_is_kept_beside_the_contract_name(gold_body: bytes) -> None:
    body = _edited(gold_body, lambda result: result["meta"].update(underlyingSymbol="GCJ25.CMX"))

    assert _commodity(parse_chart(body, "GC=F", RECV_NS).items[0]).contract == "Gold Apr 25 (GCJ25.CMX)"


def _without_market_price(closes: list[float | None], times: list[int | None]) -> Any:
    def edit(result: dict[str, Any]) -> None:
        del result["meta"]["regularMarketPrice"]
        result["timestamp"] = times
        result["indicators"]["quote"][0]["close"] = closes

    return edit


def test_without_a_market_price_the_last_close_that_is_not_null_is_the_price(gold_body: bytes) -> None:
    edit = _without_market_price([1524.5, 1530.25, None], [1577941200, 1578027600, 1578114000])

    [item] = parse_chart(_edited(gold_body, edit), "GC=F", RECV_NS).items

    assert _commodity(item).price == 1530.25
    assert item.ts_ns == _commodity(item).market_time_ns == 1_578_027_600 * NS_PER_S


def test_only_null_closes_and_no_market_price_is_a_named_problem(gold_body: bytes) -> None:
    parsed = parse_chart(_edited(gold_body, _without_market_price([None, None], [1577941200, 1578027600])), "GC=F", 1)

    assert parsed.items == []
    assert [problem.reason for problem in parsed.problems] == ["no_price"]


def test_a_negative_price_is_a_price(gold_body: bytes) -> None:
    """WTI's May 2020 contract settled at -37.63 USD on 2020-04-20."""
    body = _edited(
        gold_body, lambda result: result["meta"].update(symbol="CL=F", regularMarketPrice=-37.63, previousClose=18.27)
    )

    quote = _commodity(parse_chart(body, "CL=F", RECV_NS).items[0])

    assert (quote.price, quote.change_pct) == (-37.63, pytest.approx((-37.63 - 18.27) / 18.27 * 100))


def test_an_answer_for_another_symbol_is_refused(gold_body: bytes) -> None:
    parsed = parse_chart(gold_body, "SI=F", RECV_NS)

    assert parsed.items == []
    assert [(problem.reason, problem.detail) for problem in parsed.problems] == [
        ("symbol_mismatch", "SI=F: the answer is for 'GC=F', not the symbol asked")
    ]


@pytest.mark.parametrize(
    ("code", "reason"), [("Not Found", "unknown_symbol"), ("Internal Server Error", "provider_error")]
)
def test_the_error_envelope_in_an_ok_answer_is_a_problem_of_that_symbol(code: str, reason: str) -> None:
    body = json.dumps({"chart": {"result": None, "error": {"code": code, "description": "No data found"}}}).encode()

    parsed = parse_chart(body, "XX=F", RECV_NS)

    assert parsed.items == []
    assert [(problem.reason, problem.detail) for problem in parsed.problems] == [
        (reason, f"XX=F: Yahoo says {code!r}: No data found")
    ]


def test_the_recorded_404_envelope_refuses_the_symbol_by_name(shared_data: Path) -> None:
    """The recorded 404 is quoteSummary's; the chart's has the same shape under "chart" (as Yahoo sends it)."""
    recorded = json.loads((shared_data / "yahoo" / "quoteSummary-assetProfile-GC_F.404.body.json").read_bytes())
    body = json.dumps({"chart": recorded["quoteSummary"]}).encode()

    refusal = classify_chart_error(404, body, "XX=F")

    assert refusal is not None
    assert refusal.kind == "rejected"
    assert str(refusal) == (
        "XX=F: Yahoo has no chart for this symbol ('Not Found': "
        "No fundamentals data found for any of the summaryTypes=assetProfile)"
    )


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, b"<html>Not found</html>", "rejected"),
        (401, b'{"finance":{"error":{"code":"Unauthorized"}}}', "blocked"),
        (403, b"", "blocked"),
        (429, b"Too Many Requests", None),
        (500, b"{}", None),
    ],
)
def test_other_error_answers_are_judged_by_status(status: int, body: bytes, kind: str | None) -> None:
    refusal = classify_chart_error(status, body, "GC=F")

    assert (refusal.kind if refusal is not None else None) == kind


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda result: result["meta"].update(regularMarketPrice=1e300), "bad_value"),
        (lambda result: result["meta"].update(regularMarketPrice="2952.5"), "bad_shape"),
        (lambda result: result["meta"].update(previousClose=-1e12), "bad_value"),
        (lambda result: result["meta"].update(regularMarketTime=10**12), "bad_time"),
        (lambda result: result["meta"].update(regularMarketTime=-5), "bad_time"),
        (lambda result: result["meta"].update(currency="US$"), "bad_value"),
        (lambda result: result["meta"].update(shortName="Gold\x00Apr"), "bad_value"),
        (lambda result: result["meta"].pop("symbol"), "bad_shape"),
        (lambda result: result.update(meta=[]), "bad_shape"),
    ],
)
def test_a_bad_value_is_a_named_problem(gold_body: bytes, edit: Any, reason: str) -> None:
    parsed = parse_chart(_edited(gold_body, edit), "GC=F", RECV_NS)

    assert parsed.items == []
    assert [problem.reason for problem in parsed.problems] == [reason]
    assert len(parsed.problems[0].raw) <= RAW_BYTES


def test_long_names_are_clipped(gold_body: bytes) -> None:
    body = _edited(gold_body, lambda result: result["meta"].update(shortName="Gold " * 100, exchangeName="X" * 500))

    quote = _commodity(parse_chart(body, "GC=F", RECV_NS).items[0])

    assert (quote.contract, quote.exchange) == ("Gold " * 12 + "Gold", "X" * 64)


@pytest.mark.parametrize(
    "body",
    [b"<!DOCTYPE html><html>Yahoo! - Error</html>", b'{"chart":', b'{"chart":{"result":[NaN]}}', b"[]", b"{}"],
)
def test_an_answer_that_is_not_a_chart_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedInputError):
        parse_chart(body, "GC=F", RECV_NS)


def test_requests_ask_one_daily_chart_per_symbol() -> None:
    config = YahooCommoditiesConfig(id="commodities", symbols=("GC=F", "^GSPC"), base_url="http://yahoo.test/")

    requests = YahooCommoditiesCollector(config, RecordingExternalSink()).requests()

    assert [(request.url, request.params, request.label) for request in requests] == [
        ("http://yahoo.test/v8/finance/chart/GC=F", (("range", "1d"), ("interval", "1d")), "GC=F"),
        ("http://yahoo.test/v8/finance/chart/%5EGSPC", (("range", "1d"), ("interval", "1d")), "^GSPC"),
    ]


def test_default_symbols_are_the_five_front_month_futures() -> None:
    assert YahooCommoditiesConfig(id="commodities").symbols == ("GC=F", "SI=F", "CL=F", "NG=F", "HG=F")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"symbols": ("GC=F", "GC=F")}, "symbols repeated: GC=F"),
        ({"symbols": ("GC F",)}, "should match pattern"),
        ({"symbols": ()}, "at least 1 item"),
        ({"interval_s": 5}, "minimum of 30"),
    ],
)
def test_config_refuses_bad_symbols_and_fast_polling(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        YahooCommoditiesConfig(id="commodities", **fields)


def _check_bounded(parsed: Parsed) -> None:
    assert len(parsed.items) <= 1
    for problem in parsed.problems:
        assert problem.reason in REASONS, problem
        assert len(problem.detail) <= DETAIL_LIMIT
        assert len(problem.raw) <= RAW_BYTES
    for item in parsed.items:
        quote = _commodity(item)
        assert item.item_id == quote.symbol == "GC=F"
        for number in (quote.price, quote.previous_close, quote.change_pct):
            assert math.isfinite(number)
        assert abs(quote.price) <= 1e9
        assert len(quote.contract) <= 130 and len(quote.exchange) <= 64 and len(quote.currency) in (0, 3)


def test_hostile_chart_answers_never_crash_or_publish_nonsense(gold_body: bytes) -> None:
    outcomes: Counter[str] = Counter()
    for mutation in mutations(gold_body, seed=20, max_paths=80, select=lambda path: "validRanges" not in path):
        try:
            parsed = parse_chart(mutation.body, "GC=F", RECV_NS)
        except MalformedInputError as exc:
            assert len(str(exc)) <= DETAIL_LIMIT, mutation.name
            outcomes["malformed"] += 1
            continue
        _check_bounded(parsed)
        outcomes.update(problem.reason for problem in parsed.problems)
        outcomes["items"] += len(parsed.items)

    assert outcomes["malformed"] > 100
    assert outcomes["items"] > 500  # values the quote does not read, and harmless ones, cost nothing
    assert outcomes["bad_shape"] > 100
    assert outcomes["bad_value"] > 10
    assert outcomes["bad_time"] > 5
