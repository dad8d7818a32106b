"""alternative.me's and CNN's fear & greed answers through the pure parsers: the recorded bodies, every quirk,
and a generated hostile corpus (tests/unit/collectors/external/hostile.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Final

import pytest

from collectors.external.fear_greed import (
    ALTERNATIVE_ME,
    CNN,
    CNN_COMPONENTS,
    CNN_PATH,
    FearGreedCollector,
    FearGreedConfig,
    classify_refusal,
    parse_alternative_me,
    parse_cnn,
)
from gateway.echo import RAW_BYTES
from gateway.errors import MalformedInputError, ProviderRefusalError
from gateway.events import ExternalItem, Parsed
from gateway.schema.market.v1.market_pb2 import SentimentIndex
from tests.support import RecordingExternalSink
from tests.unit.collectors.external.hostile import mutations

NS_PER_S: Final = 1_000_000_000
FNG_RECV_NS: Final = 1_662_984_000 * NS_PER_S
"""2022-09-12T12:00:00Z, the day alternative.me's answer was recorded."""
CNN_RECV_NS: Final = 1_650_906_000 * NS_PER_S
"""2022-04-25T17:00:00Z, shortly after CNN's graphdata was recorded."""
DETAIL_LIMIT: Final = 400
FNG_REASONS: Final = {"bad_shape", "bad_encoding", "bad_value", "bad_time", "duplicate", "empty"}
CNN_REASONS: Final = {"bad_shape", "bad_encoding", "bad_value", "bad_time", "duplicate", "missing_component"}


@pytest.fixture(name="fng_body")
def _fng_body(shared_data: Path) -> bytes:
    return (shared_data / "feargreed" / "alternative_me_fng_limit2_2022-09-12.json").read_bytes()


@pytest.fixture(name="cnn_body")
def _cnn_body(shared_data: Path) -> bytes:
    return (shared_data / "feargreed" / "cnn_graphdata_2022-04-25.json").read_bytes()


def _sentiment(item: ExternalItem) -> SentimentIndex:
    assert isinstance(item.payload, SentimentIndex)
    return item.payload


def _fng(value: object, timestamp: object, classification: object = "Fear") -> dict[str, object]:
    return {"value": value, "value_classification": classification, "timestamp": timestamp}


def _fng_body_of(*rows: dict[str, object], error: object = None) -> bytes:
    return json.dumps({"name": "Fear and Greed Index", "data": list(rows), "metadata": {"error": error}}).encode()


# -- alternative.me ------------------------------------------------------------------------------------------


def test_recorded_alternative_me_answer_gives_two_daily_values(fng_body: bytes) -> None:
    parsed = parse_alternative_me(fng_body, FNG_RECV_NS)

    assert parsed.problems == []
    assert [item.item_id for item in parsed.items] == [
        "alternative.me:crypto_fear_and_greed:2022-09-12",
        "alternative.me:crypto_fear_and_greed:2022-09-11",
    ]
    assert [item.ts_ns for item in parsed.items] == [1_662_940_800 * NS_PER_S, 1_662_854_400 * NS_PER_S]
    assert _sentiment(parsed.items[0]) == SentimentIndex(
        name="crypto_fear_and_greed", value=25.0, classification="Extreme Fear", provider="alternative.me"
    )
    assert _sentiment(parsed.items[1]) == SentimentIndex(
        name="crypto_fear_and_greed", value=26.0, classification="Fear", provider="alternative.me"
    )


def test_values_and_timestamps_given_as_json_numbers_read_like_the_strings_alternative_me_sends() -> None:
    as_strings = parse_alternative_me(_fng_body_of(_fng("25", "1662940800")), FNG_RECV_NS)
    as_numbers = parse_alternative_me(_fng_body_of(_fng(25, 1662940800)), FNG_RECV_NS)

    assert as_numbers == as_strings
    assert _sentiment(as_numbers.items[0]).value == 25.0


def test_metadata_error_is_a_refusal_of_the_request() -> None:
    with pytest.raises(ProviderRefusalError, match="Invalid limit") as caught:
        parse_alternative_me(_fng_body_of(error="Invalid limit parameter"), FNG_RECV_NS)

    assert caught.value.kind == "rejected"


def test_an_answer_without_rows_is_counted_as_empty() -> None:
    parsed = parse_alternative_me(_fng_body_of(), FNG_RECV_NS)

    assert parsed.items == []
    assert [problem.reason for problem in parsed.problems] == ["empty"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (_fng("abc", "1662940800"), "bad_value"),
        (_fng("101", "1662940800"), "bad_value"),
        (_fng("-1", "1662940800"), "bad_value"),
        (_fng("NaN", "1662940800"), "bad_value"),
        (_fng("9" * 400, "1662940800"), "bad_value"),
        (_fng(1.5e308, "1662940800"), "bad_shape"),
        (_fng(None, "1662940800"), "bad_shape"),
        (_fng("25", "yesterday"), "bad_time"),
        (_fng("25", "-1662940800"), "bad_time"),
        (_fng("25", "99999999999"), "bad_time"),
        (_fng("25", str(FNG_RECV_NS // NS_PER_S + 3 * 86_400)), "bad_time"),
        (_fng("25", "1662940800", "   "), "bad_value"),
        (_fng("25", "1662940800", "Fear\x00"), "bad_value"),
        ({"value": "25", "timestamp": "1662940800"}, "bad_shape"),
    ],
)
def test_a_bad_row_is_a_named_problem_and_costs_no_other_row(row: dict[str, object], reason: str) -> None:
    parsed = parse_alternative_me(_fng_body_of(row, _fng("26", "1662854400")), FNG_RECV_NS)

    assert [problem.reason for problem in parsed.problems] == [reason]
    assert len(parsed.problems[0].raw) <= RAW_BYTES
    assert [item.item_id for item in parsed.items] == ["alternative.me:crypto_fear_and_greed:2022-09-11"]


def test_two_values_for_one_day_keep_the_first_and_count_the_second() -> None:
    parsed = parse_alternative_me(_fng_body_of(_fng("25", "1662940800"), _fng("30", "1662940801")), FNG_RECV_NS)

    assert [_sentiment(item).value for item in parsed.items] == [25.0]
    assert [problem.reason for problem in parsed.problems] == ["duplicate"]


def test_a_long_classification_is_clipped() -> None:
    parsed = parse_alternative_me(_fng_body_of(_fng("25", "1662940800", "Extreme " * 100)), FNG_RECV_NS)

    assert _sentiment(parsed.items[0]).classification == "Extreme Extreme Extreme Extreme"


@pytest.mark.parametrize(
    "body",
    [b"<html><body>Bad gateway</body></html>", b'{"data": [', b'{"data": {}}', b"[]", b"", "é".encode("utf-16")],
)
def test_an_answer_that_is_not_alternative_me_json_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedInputError):
        parse_alternative_me(body, FNG_RECV_NS)


# -- CNN -----------------------------------------------------------------------------------------------------


def test_recorded_cnn_graphdata_gives_the_index_and_its_nine_components(cnn_body: bytes) -> None:
    parsed = parse_cnn(cnn_body, CNN_RECV_NS)

    assert parsed.problems == []
    assert [item.item_id for item in parsed.items] == [
        "cnn:fear_and_greed:2022-04-25",
        *(f"cnn:{name}:2022-04-25" for name in CNN_COMPONENTS),
    ]
    index = parsed.items[0]
    assert index.ts_ns == 1_650_903_669_254_000_000  # 2022-04-25T16:21:09.254+00:00
    assert _sentiment(index) == SentimentIndex(
        name="fear_and_greed", value=30.8254, classification="fear", provider="cnn"
    )
    by_name = {_sentiment(item).name: item for item in parsed.items}
    put_call = by_name["put_call_options"]
    assert put_call.ts_ns == 1_650_903_667_424_000_000  # 1650903667424.0 ms
    assert _sentiment(put_call) == SentimentIndex(
        name="put_call_options", value=16.4329, classification="extreme fear", provider="cnn"
    )
    assert _sentiment(by_name["junk_bond_demand"]).value == 19.2385
    assert by_name["junk_bond_demand"].ts_ns == 1_650_901_087_519_000_000
    assert _sentiment(by_name["market_momentum_sp500"]).classification == "extreme fear"


def test_cnn_components_not_in_the_answer_are_counted_by_name(cnn_body: bytes) -> None:
    document = json.loads(cnn_body)
    del document["put_call_options"], document["safe_haven_demand"]

    parsed = parse_cnn(json.dumps(document).encode(), CNN_RECV_NS)

    assert [problem.detail for problem in parsed.problems] == [
        "CNN graphdata has no 'put_call_options'",
        "CNN graphdata has no 'safe_haven_demand'",
    ]
    assert len(parsed.items) == 8


def test_a_cnn_html_page_is_its_bot_wall_not_data() -> None:
    with pytest.raises(ProviderRefusalError) as caught:
        parse_cnn(b"\n<!DOCTYPE html><html><body>I'm a teapot</body></html>", CNN_RECV_NS)

    assert caught.value.kind == "blocked"


def test_cnn_json_without_its_index_is_malformed() -> None:
    with pytest.raises(MalformedInputError, match="without 'fear_and_greed'"):
        parse_cnn(b'{"market_momentum_sp500": {"score": 1, "rating": "fear", "timestamp": 1650903607285.0}}', 1)


def test_a_bad_cnn_index_still_leaves_the_components(cnn_body: bytes) -> None:
    document = json.loads(cnn_body)
    document["fear_and_greed"]["score"] = 130.0

    parsed = parse_cnn(json.dumps(document).encode(), CNN_RECV_NS)

    assert [(problem.reason, problem.detail[:30]) for problem in parsed.problems] == [
        ("bad_value", "CNN fear_and_greed: value 130.")
    ]
    assert len(parsed.items) == len(CNN_COMPONENTS)


@pytest.mark.parametrize(
    ("provider", "status", "body", "kind"),
    [
        (CNN, 418, b"I'm a teapot", "blocked"),
        (CNN, 403, b"", "blocked"),
        (CNN, 404, b"<html>Not here</html>", "blocked"),
        (ALTERNATIVE_ME, 403, b"<html>Cloudflare</html>", "blocked"),
        (CNN, 404, b"{}", None),
        (CNN, 500, b"<html>oops</html>", None),
        (ALTERNATIVE_ME, 418, b"", None),
        (ALTERNATIVE_ME, 429, b"", None),
    ],
)
def test_error_statuses_without_a_key_to_refuse_are_bot_walls(
    provider: str, status: int, body: bytes, kind: str | None
) -> None:
    refusal = classify_refusal(provider, status, body)

    assert (refusal.kind if refusal is not None else None) == kind


# -- the collector's hooks -----------------------------------------------------------------------------------


def test_requests_ask_alternative_me_for_limit_days_and_cnn_only_when_enabled() -> None:
    sink = RecordingExternalSink()
    only_fng = FearGreedCollector(FearGreedConfig(id="fng", limit=30), sink)
    both = FearGreedCollector(
        FearGreedConfig(id="fng", cnn=True, cnn_url="http://cnn.test/", cnn_user_agent="Mozilla/5.0"), sink
    )

    [fng] = only_fng.requests()
    assert (fng.url, fng.params, fng.label) == (
        "https://api.alternative.me/fng/",
        (("limit", "30"), ("format", "json")),
        "alternative.me",
    )
    assert [(request.url, request.headers, request.label) for request in both.requests()][1] == (
        f"http://cnn.test{CNN_PATH}",
        (("User-Agent", "Mozilla/5.0"),),
        "cnn",
    )


def test_config_refuses_polling_faster_than_a_minute() -> None:
    with pytest.raises(ValueError, match="minimum of 60"):
        FearGreedConfig(id="fng", interval_s=10)


# -- hostile corpus ------------------------------------------------------------------------------------------


def _check_bounded(parsed: Parsed, reasons: set[str]) -> None:
    for problem in parsed.problems:
        assert problem.reason in reasons, problem
        assert len(problem.detail) <= DETAIL_LIMIT
        assert len(problem.raw) <= RAW_BYTES
    for item in parsed.items:
        sentiment = _sentiment(item)
        assert 0.0 <= sentiment.value <= 100.0
        assert 0 < len(sentiment.classification) <= 32 and sentiment.classification.isprintable()
        assert len(item.item_id) <= 80


def test_hostile_alternative_me_answers_never_crash_and_cost_no_other_row(fng_body: bytes) -> None:
    baseline = parse_alternative_me(fng_body, FNG_RECV_NS)
    outcomes: Counter[str] = Counter()
    for mutation in mutations(fng_body, seed=10):
        try:
            parsed = parse_alternative_me(mutation.body, FNG_RECV_NS)
        except (MalformedInputError, ProviderRefusalError) as exc:
            assert len(str(exc)) <= DETAIL_LIMIT, mutation.name
            outcomes[type(exc).__name__] += 1
            continue
        _check_bounded(parsed, FNG_REASONS)
        if mutation.path is not None and len(mutation.path) >= 2 and mutation.path[0] == "data":
            kept = [item for index, item in enumerate(baseline.items) if index != mutation.path[1]]
            assert [item for item in parsed.items if item in kept] == kept, mutation.name
        outcomes["problems"] += len(parsed.problems)
        outcomes["items"] += len(parsed.items)
        outcomes["answers"] += 1

    assert outcomes["MalformedInputError"] > 100
    assert outcomes["ProviderRefusalError"] > 0  # a string in metadata.error
    assert outcomes["problems"] > 100
    assert outcomes["answers"] > 200


def _not_in_a_history(path: tuple[str | int, ...]) -> bool:
    """What the CNN parser reads: everything but the points of the series' histories (``data``), never read."""
    return "data" not in path[:-1]


def test_hostile_cnn_answers_never_crash_and_cost_no_other_component(cnn_body: bytes) -> None:
    """The recorded graphdata with each history cut to its first 3 points (the parser reads none of them; the
    full body is the recorded test's), so that every value the parser reads is mutated within a second."""
    document = json.loads(cnn_body)
    for series in document.values():
        if "data" in series:
            series["data"] = series["data"][:3]
    body = json.dumps(document).encode()
    baseline = {item.item_id: item for item in parse_cnn(body, CNN_RECV_NS).items}
    assert len(baseline) == 10
    outcomes: Counter[str] = Counter()
    for mutation in mutations(body, seed=11, max_paths=80, select=_not_in_a_history):
        try:
            parsed = parse_cnn(mutation.body, CNN_RECV_NS)
        except (MalformedInputError, ProviderRefusalError) as exc:
            assert len(str(exc)) <= DETAIL_LIMIT, mutation.name
            outcomes[type(exc).__name__] += 1
            continue
        _check_bounded(parsed, CNN_REASONS)
        if mutation.path is not None:
            touched = f"cnn:{mutation.path[0]}:2022-04-25"
            kept = [item for item_id, item in baseline.items() if item_id != touched]
            assert [item for item in parsed.items if item in kept] == kept, mutation.name
        outcomes["problems"] += len(parsed.problems)
        outcomes["answers"] += 1

    assert outcomes["MalformedInputError"] > 100
    assert outcomes["ProviderRefusalError"] > 0  # the HTML pages
    assert outcomes["problems"] > 50
    assert outcomes["answers"] > 500
