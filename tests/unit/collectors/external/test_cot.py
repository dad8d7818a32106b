"""CFTC COT answers from Socrata through the pure parser: the recorded legacy row, TFF rows built from CFTC's
recorded TFF text file (tests/unit/collectors/external/cftc_tff.py says how), every quirk (numbers as strings,
codes with trailing spaces, missing fields left out, CFTC's typos, holiday weeks), the query, and a generated
hostile corpus."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any, Final

import pytest

from collectors.external.cot import (
    CotCollector,
    CotConfig,
    SecretParam,
    classify_socrata_error,
    parse_rows,
    row_limit,
    soql_request,
)
from gateway.echo import RAW_BYTES
from gateway.errors import MalformedInputError
from gateway.events import Parsed
from gateway.schema.market.v1.market_pb2 import CotPositions, CotReport
from tests.support import RecordingExternalSink
from tests.unit.collectors.external.cftc_tff import tff_rows
from tests.unit.collectors.external.hostile import mutations

NS_PER_S: Final = 1_000_000_000
RECV_NS: Final = 1_724_400_000 * NS_PER_S
"""2024-08-23T08:00:00Z, the Friday the recorded report (as of Tuesday 2024-08-20) was published."""
TFF_RECV_NS: Final = 1_660_900_000 * NS_PER_S
"""2022-08-19T09:06:40Z, the Friday of the newest report in the TFF text file."""
FX: Final = ("EURO FX", "JAPANESE YEN")
DETAIL_LIMIT: Final = 400
REASONS: Final = {
    "bad_shape",
    "bad_encoding",
    "bad_value",
    "bad_time",
    "wrong_dataset",
    "unrequested_market",
    "duplicate",
    "empty",
    "limit_reached",
    "too_many_rows",
}
RECORDED_REPORT: Final = CotReport(
    market="MICRO E-MINI RUSSELL 2000 INDX",
    report_date="2024-08-20",
    noncommercial_long=4773,
    noncommercial_short=10232,
    commercial_long=3060,
    commercial_short=290,
    open_interest=19404,
    dataset="legacy",
    contract_code="239747",
    noncommercial_spreading=258,
)


@pytest.fixture(name="legacy_body")
def _legacy_body(shared_data: Path) -> bytes:
    return (shared_data / "cftc" / "socrata_jun7-fc8e_legacy_combined_239747_2024-08-20.json").read_bytes()


@pytest.fixture(name="legacy_row")
def _legacy_row(legacy_body: bytes) -> dict[str, str]:
    row: dict[str, str] = json.loads(legacy_body)[0]
    return row


def _body(*rows: dict[str, Any]) -> bytes:
    return json.dumps(list(rows)).encode()


def _report(parsed: Parsed, index: int = 0) -> CotReport:
    payload = parsed.items[index].payload
    assert isinstance(payload, CotReport)
    return payload


def test_recorded_legacy_row_gives_its_report(legacy_body: bytes) -> None:
    parsed = parse_rows(legacy_body, "legacy_combined", RECV_NS)

    assert parsed.problems == []
    [item] = parsed.items
    assert (item.item_id, item.ts_ns) == ("jun7-fc8e:239747:2024-08-20", 1_724_112_000 * NS_PER_S)
    assert _report(parsed) == RECORDED_REPORT


def test_tff_rows_give_each_trader_category(shared_data: Path) -> None:
    rows = tff_rows(shared_data, FX, weeks=2)

    parsed = parse_rows(_body(*rows), "tff_futures", TFF_RECV_NS, markets=FX)

    assert parsed.problems == []
    assert [item.item_id for item in parsed.items] == [
        "gpe5-46if:097741:2022-08-16",
        "gpe5-46if:099741:2022-08-16",
        "gpe5-46if:097741:2022-08-09",
        "gpe5-46if:099741:2022-08-09",
    ]
    euro = _report(parsed, 1)
    assert (euro.market, euro.report_date, euro.dataset, euro.contract_code, euro.open_interest) == (
        "EURO FX",
        "2022-08-16",
        "tff",
        "099741",
        698570,
    )
    assert (euro.noncommercial_long, euro.commercial_short) == (0, 0)  # legacy fields: not in a TFF report
    assert list(euro.categories) == [
        CotPositions(category="dealer", long=59450, short=297836, spreading=4996),
        CotPositions(category="asset_manager", long=384008, short=177485, spreading=28848),
        CotPositions(category="leveraged_funds", long=70967, short=93137, spreading=19728),
        CotPositions(category="other_reportable", long=45847, short=13682, spreading=5137),
        CotPositions(category="nonreportable", long=79589, short=57721),
    ]


def test_numbers_with_padding_and_codes_with_trailing_spaces_are_trimmed(legacy_row: dict[str, str]) -> None:
    row = {**legacy_row, "open_interest_all": " 19404 ", "cftc_contract_market_code": "239747 "}

    parsed = parse_rows(_body(row), "legacy_combined", RECV_NS)

    assert (parsed.items[0].item_id, _report(parsed).open_interest) == ("jun7-fc8e:239747:2024-08-20", 19404)


def test_json_integers_read_like_socratas_strings(legacy_row: dict[str, str]) -> None:
    row = {**legacy_row, "open_interest_all": 19404, "comm_positions_long_all": 3060}

    assert parse_rows(_body(row), "legacy_combined", RECV_NS) == parse_rows(
        _body(legacy_row), "legacy_combined", RECV_NS
    )


def test_a_row_without_contract_market_name_takes_it_from_the_market_and_exchange(legacy_row: dict[str, str]) -> None:
    row = {key: value for key, value in legacy_row.items() if key != "contract_market_name"}

    assert _report(parse_rows(_body(row), "legacy_combined", RECV_NS)).market == "MICRO E-MINI RUSSELL 2000 INDX"


def test_a_holiday_delayed_week_and_a_report_not_on_a_tuesday_are_reports(legacy_row: dict[str, str]) -> None:
    """2018-12-21's report came out on Monday 2018-12-24 (Christmas week) and one as of Monday 2018-12-31
    replaced the Tuesday of New Year's day: dates are taken as CFTC gives them."""
    rows = [
        {**legacy_row, "report_date_as_yyyy_mm_dd": "2018-12-31T00:00:00.000"},
        {**legacy_row, "report_date_as_yyyy_mm_dd": "2018-12-18T00:00:00.000"},
    ]

    parsed = parse_rows(_body(*rows), "legacy_combined", RECV_NS)

    assert parsed.problems == []
    assert [item.item_id for item in parsed.items] == ["jun7-fc8e:239747:2018-12-31", "jun7-fc8e:239747:2018-12-18"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"open_interest_all": "-5"}, "bad_value"),
        ({"open_interest_all": "1.5"}, "bad_value"),
        ({"open_interest_all": "1e3"}, "bad_value"),
        ({"open_interest_all": ""}, "bad_value"),
        ({"open_interest_all": "9" * 20}, "bad_value"),
        ({"open_interest_all": 2**70}, "bad_value"),
        ({"open_interest_all": None}, "bad_shape"),
        ({"noncomm_postions_spread_all": None}, "bad_shape"),
        ({"report_date_as_yyyy_mm_dd": "2024-02-30T00:00:00.000"}, "bad_time"),
        ({"report_date_as_yyyy_mm_dd": "2030-01-01T00:00:00.000"}, "bad_time"),
        ({"report_date_as_yyyy_mm_dd": "1970-01-06"}, "bad_time"),
        ({"report_date_as_yyyy_mm_dd": "20240820"}, "bad_time"),
        ({"report_date_as_yyyy_mm_dd": "2024-08-20T12:00:00.000"}, "bad_time"),
        ({"cftc_contract_market_code": "2397"}, "bad_value"),
        ({"cftc_contract_market_code": "23974\u0000"}, "bad_value"),
        ({"contract_market_name": "X" * 200}, "bad_value"),
        ({"contract_market_name": "   "}, "bad_value"),
        ({"futonly_or_combined": "FutOnly"}, "wrong_dataset"),
    ],
)
def test_a_bad_row_is_a_named_problem_and_costs_no_other_row(
    legacy_row: dict[str, str], change: dict[str, Any], reason: str
) -> None:
    other = {**legacy_row, "report_date_as_yyyy_mm_dd": "2024-08-13T00:00:00.000"}

    parsed = parse_rows(_body({**legacy_row, **change}, other), "legacy_combined", RECV_NS)

    assert [problem.reason for problem in parsed.problems] == [reason]
    assert len(parsed.problems[0].raw) <= RAW_BYTES
    assert [item.item_id for item in parsed.items] == ["jun7-fc8e:239747:2024-08-13"]


def test_a_missing_field_is_named(legacy_row: dict[str, str]) -> None:
    """Socrata leaves a missing value's field out of the row."""
    row = {key: value for key, value in legacy_row.items() if key != "comm_positions_short_all"}

    [problem] = parse_rows(_body(row), "legacy_combined", RECV_NS).problems

    assert (problem.reason, problem.detail) == (
        "bad_shape",
        "COT row: Object missing required field `comm_positions_short_all`",
    )


def test_rows_of_markets_not_asked_for_are_refused(shared_data: Path) -> None:
    rows = tff_rows(shared_data, ("EURO FX", "MEXICAN PESO"), weeks=1)

    parsed = parse_rows(_body(*rows), "tff_futures", TFF_RECV_NS, markets=("EURO FX",))

    assert [item.item_id for item in parsed.items] == ["gpe5-46if:099741:2022-08-16"]
    assert [(problem.reason, problem.detail) for problem in parsed.problems] == [
        ("unrequested_market", "COT row: market 'MEXICAN PESO' was not asked for")
    ]


def test_a_second_row_for_one_market_and_date_is_a_duplicate(legacy_row: dict[str, str]) -> None:
    parsed = parse_rows(_body(legacy_row, {**legacy_row, "open_interest_all": "1"}), "legacy_combined", RECV_NS)

    assert [_report(parsed).open_interest] == [19404]
    assert [problem.reason for problem in parsed.problems] == ["duplicate"]


def test_no_rows_is_counted_as_empty_and_a_full_answer_as_limit_reached(legacy_row: dict[str, str]) -> None:
    assert [problem.reason for problem in parse_rows(b"[]", "legacy_combined", RECV_NS).problems] == ["empty"]

    full = parse_rows(_body(legacy_row), "legacy_combined", RECV_NS, limit=1)

    assert [problem.reason for problem in full.problems] == ["limit_reached"]
    assert len(full.items) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Service Unavailable</body></html>",
        b'[{"report_date_as_yyyy_mm_dd":',
        b'{"message": "Unrecognized arguments [$whre]", "errorCode": "query.soql.invalid"}',
        b"",
    ],
)
def test_an_answer_that_is_not_a_json_array_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedInputError):
        parse_rows(body, "legacy_futures", RECV_NS)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            400,
            b'{"message":"No such column: contract_market_nam","errorCode":"query.soql.no-such-column","data":{}}',
            "Socrata refused the query ('query.soql.no-such-column'): No such column: contract_market_nam",
        ),
        (
            400,
            b'{"code":"query.compiler.malformed","error":true,"message":"Could not parse SoQL query"}',
            "Socrata refused the query ('query.compiler.malformed'): Could not parse SoQL query",
        ),
        (400, b"<html>Bad Request</html>", None),
        (403, b'{"code":"permission_denied","error":true,"message":"Invalid app_token specified"}', None),
        (429, b"", None),
    ],
)
def test_socrata_error_bodies_name_the_refusal(status: int, body: bytes, message: str | None) -> None:
    refusal = classify_socrata_error(status, body)

    assert (str(refusal) if refusal is not None else None) == message
    assert refusal is None or refusal.kind == "rejected"


def test_the_query_selects_the_fields_read_and_always_orders_and_limits() -> None:
    config = CotConfig(id="cot", markets=("EURO FX", "O'HARE FX"), lookback_weeks=3, app_token_env="SOCRATA_TOKEN")

    request = soql_request(config, date(2026, 12, 3))

    assert request.url == "https://publicreporting.cftc.gov/resource/6dca-aqww.json"
    params = dict(request.params)
    assert params["$where"] == (
        "contract_market_name in ('EURO FX', 'O''HARE FX') AND report_date_as_yyyy_mm_dd >= '2026-11-12T00:00:00.000'"
    )
    assert params["$order"] == "report_date_as_yyyy_mm_dd DESC, cftc_contract_market_code ASC"
    assert params["$limit"] == str(row_limit(2, 3)) == "16"
    assert set(params["$select"].split(",")) == {
        "report_date_as_yyyy_mm_dd",
        "cftc_contract_market_code",
        "open_interest_all",
        "contract_market_name",
        "market_and_exchange_names",
        "futonly_or_combined",
        "noncomm_positions_long_all",
        "noncomm_positions_short_all",
        "noncomm_postions_spread_all",
        "comm_positions_long_all",
        "comm_positions_short_all",
    }
    assert request.secrets == (SecretParam("header", "X-App-Token", "SOCRATA_TOKEN"),)
    assert config.environment_variables == ("SOCRATA_TOKEN",)


def test_each_report_reads_its_own_dataset() -> None:
    urls = {
        report: soql_request(CotConfig(id="cot", report=report), date(2026, 12, 3)).url
        for report in ("legacy_futures", "legacy_combined", "tff_futures", "tff_combined")
    }

    assert {report: url.rsplit("/", 1)[1] for report, url in urls.items()} == {
        "legacy_futures": "6dca-aqww.json",
        "legacy_combined": "jun7-fc8e.json",
        "tff_futures": "gpe5-46if.json",
        "tff_combined": "yw9f-hn96.json",
    }


def test_the_collector_asks_for_the_window_ending_today() -> None:
    [request] = CotCollector(CotConfig(id="cot"), RecordingExternalSink()).requests()

    assert "report_date_as_yyyy_mm_dd >= '" in dict(request.params)["$where"]
    assert request.secrets == ()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"markets": ("euro fx",)}, "should match pattern"),
        ({"markets": ("EURO FX", "EURO FX")}, "markets repeated: EURO FX"),
        ({"lookback_weeks": 0}, "greater than or equal to 1"),
        ({"lookback_weeks": 1000}, "less than or equal to 260"),
        ({"app_token_env": "not a name"}, "should match pattern"),
        ({"report": "disaggregated"}, "legacy_futures"),
        ({"interval_s": 10}, "minimum of 60"),
    ],
)
def test_config_refuses_what_socrata_could_not_answer(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CotConfig(id="cot", **fields)


def _check_bounded(parsed: Parsed) -> None:
    for problem in parsed.problems:
        assert problem.reason in REASONS, problem
        assert len(problem.detail) <= DETAIL_LIMIT
        assert len(problem.raw) <= RAW_BYTES
    for item in parsed.items:
        report = item.payload
        assert isinstance(report, CotReport)
        assert len(report.contract_code) == 6 and 0 < len(report.market) <= 128
        numbers = [report.open_interest, report.noncommercial_long, report.noncommercial_short]
        numbers += [value for category in report.categories for value in (category.long, category.short)]
        assert all(0 <= number <= 10**12 for number in numbers)


def test_hostile_legacy_answers_never_crash_or_publish_nonsense(legacy_body: bytes) -> None:
    outcomes: Counter[str] = Counter()
    for mutation in mutations(legacy_body, seed=30, max_paths=80):
        try:
            parsed = parse_rows(mutation.body, "legacy_combined", RECV_NS)
        except MalformedInputError as exc:
            assert len(str(exc)) <= DETAIL_LIMIT, mutation.name
            outcomes["malformed"] += 1
            continue
        _check_bounded(parsed)
        outcomes.update(problem.reason for problem in parsed.problems)
        outcomes["items"] += len(parsed.items)

    assert outcomes["malformed"] > 100
    assert outcomes["items"] > 500  # most of the row's 120 fields are not read: changing them costs nothing
    assert outcomes["bad_shape"] > 30 and outcomes["bad_value"] > 30


def test_hostile_tff_answers_cost_no_other_row(shared_data: Path) -> None:
    rows = tff_rows(shared_data, FX, weeks=2)
    body = _body(*rows)
    baseline = parse_rows(body, "tff_futures", TFF_RECV_NS, markets=FX).items
    outcomes: Counter[str] = Counter()
    for mutation in mutations(body, seed=31, max_paths=80):
        try:
            parsed = parse_rows(mutation.body, "tff_futures", TFF_RECV_NS, markets=FX)
        except MalformedInputError:
            outcomes["malformed"] += 1
            continue
        _check_bounded(parsed)
        if mutation.path is not None:
            kept = [item for index, item in enumerate(baseline) if index != mutation.path[0]]
            assert [item for item in parsed.items if item in kept] == kept, mutation.name
        outcomes.update(problem.reason for problem in parsed.problems)

    assert outcomes["malformed"] > 100
    assert outcomes["bad_shape"] > 50 and outcomes["bad_value"] > 50
