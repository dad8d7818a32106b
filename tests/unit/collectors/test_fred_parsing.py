"""FRED's pure parser on the recorded answer and on a generated corpus of damaged and hostile ones."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from collectors.external.fred import FredConfig, parse_observations, refusal
from gateway.echo import RAW_BYTES
from gateway.errors import MalformedInputError, ProviderRefusalError
from gateway.events import Parsed
from tests.unit.collectors.external.hostile import mutations


@pytest.fixture
def recorded(shared_data: Path) -> bytes:
    return (shared_data / "fred" / "series_observations_GDP.json").read_bytes()


def answer(*observations: Any) -> bytes:
    return json.dumps({"units": "lin", "observations": list(observations)}).encode()


def observation(**changes: Any) -> dict[str, Any]:
    return {
        "realtime_start": "2024-10-30",
        "realtime_end": "2024-10-30",
        "date": "2024-07-01",
        "value": "1.5",
    } | changes


def test_the_recorded_answer_parses_whole(recorded: bytes) -> None:
    parsed = parse_observations("GDP", recorded)
    assert len(parsed.items) == 315 and parsed.problems == []
    assert [item.item_id for item in parsed.items[:2]] == ["GDP:1946-01-01", "GDP:1946-04-01"]
    assert sum(item.payload.missing for item in parsed.items) == 4  # type: ignore[attr-defined]
    assert all(item.volatile_fields == ("realtime_start", "realtime_end") for item in parsed.items)


def test_observations_come_out_oldest_first_whatever_the_order_asked() -> None:
    parsed = parse_observations("GDP", answer(observation(date="2024-07-01"), observation(date="2024-01-01")))
    assert [item.item_id for item in parsed.items] == ["GDP:2024-01-01", "GDP:2024-07-01"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"value": ""}, "bad_number"),
        ({"value": "abc"}, "bad_number"),
        ({"value": "NaN"}, "bad_number"),
        ({"value": "Infinity"}, "bad_number"),
        ({"value": "1e400"}, "bad_number"),
        ({"value": "1,000.5"}, "bad_number"),
        ({"value": " 1.5"}, "bad_number"),
        ({"value": "9" * 41}, "bad_number"),
        ({"value": 1.5}, "bad_observation"),
        ({"value": None}, "bad_observation"),
        ({"value": {"nested": ["deep"]}}, "bad_observation"),
        ({"date": "2024-13-01"}, "bad_date"),
        ({"date": "2024-1-1"}, "bad_date"),
        ({"date": "1600-01-01"}, "bad_date"),
        ({"date": "9999-12-31"}, "bad_date"),
        ({"date": 20240701}, "bad_observation"),
        ({"realtime_start": "yesterday"}, "bad_date"),
        ({"date": "２０２４-07-01"}, "bad_date"),
    ],
)
def test_a_bad_observation_is_one_named_problem_and_costs_no_other(changes: dict[str, Any], reason: str) -> None:
    parsed = parse_observations("GDP", answer(observation(date="2024-01-01"), observation(**changes)))
    assert [item.item_id for item in parsed.items] == ["GDP:2024-01-01"]
    [problem] = parsed.problems
    assert problem.reason == reason
    assert problem.detail.startswith("GDP: ") and len(problem.detail) < 400 and len(problem.raw) <= RAW_BYTES


def test_an_observation_without_its_fields_is_a_problem() -> None:
    parsed = parse_observations("GDP", answer({"realtime_start": "2024-10-30"}, "not an object", 7))
    assert parsed.items == [] and [problem.reason for problem in parsed.problems] == ["bad_observation"] * 3


def _damaged_bodies(recorded: bytes) -> list[bytes]:
    """The shared hostile corpus of the recorded answer (truncations, type swaps, hostile sizes and nesting, wrong
    encodings, other documents), with FRED's own: a 5-million-digit value, a thousand ``NaN`` values."""
    bodies = [mutation.body for mutation in mutations(recorded, seed=7, max_paths=12)]
    bodies += [
        b'{"observations": [' + b'{"date":"2024-01-01","value":"' + b"7" * 5_000_000 + b'"}]}',
        answer(*[observation(value="NaN")] * 1000),
    ]
    return bodies


def test_no_damaged_or_hostile_answer_gets_past_the_parser_unjudged(recorded: bytes) -> None:
    outcomes = {"parsed": 0, "malformed": 0}
    for body in _damaged_bodies(recorded):
        try:
            parsed = parse_observations("GDP", body)
        except MalformedInputError as exc:
            assert len(str(exc)) < 400
            outcomes["malformed"] += 1
            continue
        assert isinstance(parsed, Parsed)
        for item in parsed.items:
            assert math.isfinite(item.payload.value)  # type: ignore[attr-defined]
        for problem in parsed.problems:
            assert len(problem.detail) < 400 and len(problem.raw) <= RAW_BYTES
        outcomes["parsed"] += 1
    assert outcomes["malformed"] >= 30 and outcomes["parsed"] >= 3


def test_fred_error_objects_are_refusals_by_kind() -> None:
    refused = refusal("GDP", 400, b'{"error_code":400,"error_message":"Bad Request.  The value for variable api_key"}')
    unknown = refusal("GDP", 400, b'{"error_code":400,"error_message":"Bad Request.  The series does not exist."}')
    assert refused is not None and refused.kind == "unauthorized"
    assert unknown is not None and unknown.kind == "rejected"
    assert refusal("GDP", 500, b"<html>oops</html>") is None
    assert refusal("GDP", 400, b'{"error_message": "' + b"x" * 100_000 + b'"}') is not None


def test_an_error_object_answered_with_200_is_a_refusal_not_a_malformed_answer() -> None:
    with pytest.raises(ProviderRefusalError, match="The series does not exist"):
        parse_observations("GDP", b'{"error_code":400,"error_message":"Bad Request.  The series does not exist."}')


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"series": []}, "at least 1"),
        ({"series": ["GDP", "GDP"]}, "more than once"),
        ({"series": ["GDP; DROP"]}, "not a FRED series id"),
        ({"interval_s": 30}, "below this provider's minimum of 60"),
        ({"api_key_env": "fred key"}, "should match pattern"),
        ({"kind": "fred", "token": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_the_config_is_strict(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FredConfig.model_validate({"id": "fred", "series": ["GDP"]} | changes)


def test_the_config_names_its_key_variable() -> None:
    config = FredConfig.model_validate({"id": "fred", "series": ["GDP"], "api_key_env": "MY_FRED_KEY"})
    assert config.environment_variables == ("MY_FRED_KEY",)
