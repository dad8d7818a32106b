"""gateway.placement and config ``cpus``: which CPUs the event loop and the rest of the gateway get, or why not.

Applying a placement changes the calling thread's CPUs, so it is tested on a real ``fxgw run`` process
(tests/integration/kafka/test_kafka_backup.py), not in the test process.
"""

from __future__ import annotations

import argparse
import importlib
import random
from pathlib import Path
from typing import Any

import pytest

from gateway.config import MAX_CPU_NUMBER, parse_config
from gateway.errors import ConfigError
from gateway.placement import Placement, plan_placement

SIM = {"id": "sim", "kind": "simulated"}


def test_no_event_loop_cpus_leave_everything_to_the_os() -> None:
    assert plan_placement((), frozenset({0, 1})) is None


@pytest.mark.parametrize(
    ("event_loop", "allowed", "expected"),
    [
        ((0,), {0, 1}, Placement(frozenset({0}), frozenset({1}))),
        ((3,), {0, 1, 2, 3}, Placement(frozenset({3}), frozenset({0, 1, 2}))),
        ((1, 2), {0, 1, 2, 3}, Placement(frozenset({1, 2}), frozenset({0, 3}))),
        ((5,), {4, 5, 6}, Placement(frozenset({5}), frozenset({4, 6}))),  # a cpuset that does not start at 0
    ],
)
def test_the_rest_gets_every_other_cpu_the_process_may_use(
    event_loop: tuple[int, ...], allowed: set[int], expected: Placement
) -> None:
    placement = plan_placement(event_loop, allowed)
    assert placement == expected
    assert placement.describe() == (
        f"event loop on CPUs {', '.join(map(str, sorted(expected.event_loop)))}, "
        f"helpers and the Kafka writer on {', '.join(map(str, sorted(expected.others)))}"
    )


@pytest.mark.parametrize(
    ("event_loop", "allowed", "fragments"),
    [
        ((2,), {0, 1}, ["cpus.event_loop: CPU 2 is not one this process may use", "(it may use 0, 1)"]),
        ((0, 7, 9), {0, 1, 2}, ["CPU 7, 9 is not one"]),
        ((0, 1), {0, 1}, ["takes every CPU this process may use (0, 1)", "leave at least one"]),
        ((0,), {0}, ["takes every CPU this process may use (0)"]),
    ],
)
def test_cpus_the_process_cannot_use_or_none_left_are_a_config_error(
    event_loop: tuple[int, ...], allowed: set[int], fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_placement(event_loop, allowed)
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ([-1], "cpus.event_loop[0]: -1 is not allowed: Input should be greater than or equal to 0"),
        ([MAX_CPU_NUMBER + 1], f"cpus.event_loop[0]: {MAX_CPU_NUMBER + 1} is not allowed"),
        ([2**70], "cpus.event_loop[0]:"),
        ([True], "cpus.event_loop[0]: True is not allowed: Input should be a valid integer"),
        ([1.5], "cpus.event_loop[0]: 1.5 is not allowed"),
        ([float("nan")], "cpus.event_loop[0]: nan is not allowed"),
        (["0"], "cpus.event_loop[0]: '0' is not allowed"),
        ([0, 1, 0, 1, 2], "cpus.event_loop: each CPU once; repeated: 0, 1"),
        ("0", "cpus.event_loop: '0' is not allowed"),
        (None, "cpus.event_loop: None is not allowed"),
        ({"cpu": 0}, "cpus.event_loop:"),
        (list(range(MAX_CPU_NUMBER + 2)), "cpus.event_loop"),
    ],
)
def test_hostile_event_loop_cpus_are_a_config_error_naming_the_value(value: Any, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"brokers": [SIM], "cpus": {"event_loop": value}}, "brokers.yaml")
    message = str(caught.value)
    assert fragment in message
    assert len(message) < 2000  # a huge list is named, not echoed


def test_event_loop_cpus_are_read_in_order_and_unknown_keys_refused() -> None:
    config = parse_config({"brokers": [SIM], "cpus": {"event_loop": [3, 1]}}, "brokers.yaml")
    assert config.cpus.event_loop == (3, 1)
    assert parse_config({"brokers": [SIM]}, "brokers.yaml").cpus.event_loop == ()
    with pytest.raises(ConfigError, match=r"cpus\.others: unknown key; allowed keys: event_loop"):
        parse_config({"brokers": [SIM], "cpus": {"others": [1]}}, "brokers.yaml")


@pytest.fixture
def benchkit(monkeypatch: pytest.MonkeyPatch) -> Any:
    """scripts/benchkit.py, whose ``cpu_numbers`` parses the benchmarks' ``--event-loop-cpus``."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "scripts"))
    return importlib.import_module("benchkit")


@pytest.mark.parametrize(
    ("text", "cpus"), [("0", (0,)), ("1", (1,)), ("2,3", (2, 3)), (" 4 , 5", (4, 5)), ("8191", (8191,))]
)
def test_the_benchmarks_event_loop_cpus_flag_reads_a_list(benchkit: Any, text: str, cpus: tuple[int, ...]) -> None:
    assert benchkit.cpu_numbers(text) == cpus


def test_hostile_event_loop_cpus_flags_are_refused_with_a_short_message(benchkit: Any) -> None:
    rng = random.Random(20261205)
    alphabet = "0123456789,, -+.x\u0661\u00b2\n\x00"
    texts = ["", ",", "1,", ",1", "1,1", "-1", "+1", "1.0", "0x1", "8192", "99999", "1" * 10_000, "0," * 10_000]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    accepted = 0
    for text in texts:
        try:
            cpus = benchkit.cpu_numbers(text)
        except argparse.ArgumentTypeError as exc:
            assert len(str(exc)) < 200, text
            continue
        accepted += 1
        assert all(0 <= cpu <= MAX_CPU_NUMBER for cpu in cpus) and len(set(cpus)) == len(cpus), text
    assert 0 < accepted < len(texts)
