"""gateway.backoff: capped exponential backoff with jitter (collectors, the supervisor, the Kafka writer)."""

from __future__ import annotations

import random

import pytest

from gateway.backoff import Backoff


def bases(min_s: float, max_s: float, count: int) -> list[float]:
    """Independent reference: the un-jittered delays, doubling from ``min_s`` and capped at ``max_s``."""
    out = []
    current = min_s
    for _ in range(count):
        out.append(current)
        current = min(current * 2, max_s)
    return out


@pytest.mark.parametrize(
    ("min_s", "max_s", "expected_bases"),
    [
        pytest.param(0.5, 30.0, [0.5, 1, 2, 4, 8, 16, 30, 30, 30], id="oanda_defaults_half_to_thirty"),
        pytest.param(1.0, 60.0, [1, 2, 4, 8, 16, 32, 60, 60], id="supervisor_one_to_sixty"),
        pytest.param(3.0, 10.0, [3, 6, 10, 10], id="cap_that_is_not_a_doubling_of_min"),
        pytest.param(1.0, 8.0, [1, 2, 4, 8, 8], id="cap_that_is_exactly_a_doubling_of_min"),
        pytest.param(2.0, 2.0, [2, 2, 2], id="min_equal_to_max_never_grows"),
        pytest.param(0.2, 10.0, [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10], id="kafka_writer_range"),
    ],
)
def test_backoff_doubles_from_min_to_the_cap_each_delay_jittered_by_the_seeded_rng(
    min_s: float, max_s: float, expected_bases: list[float]
) -> None:
    assert bases(min_s, max_s, len(expected_bases)) == pytest.approx(expected_bases)
    backoff = Backoff(min_s, max_s, random.Random(1234))
    reference = random.Random(1234)  # the same draws, to recompute each jittered delay independently
    delays = [backoff.next_delay() for _ in expected_bases]
    assert delays == pytest.approx([base * reference.uniform(0.5, 1.0) for base in expected_bases])


@pytest.mark.parametrize("seed", [0, 1, 7, 42, 2**31 - 1])
@pytest.mark.parametrize(
    ("min_s", "max_s"),
    [
        pytest.param(0.5, 30.0, id="half_to_thirty"),
        pytest.param(1.0, 60.0, id="one_to_sixty"),
        pytest.param(0.001, 0.004, id="milliseconds"),
    ],
)
def test_every_jittered_delay_lies_between_half_its_base_and_its_base(seed: int, min_s: float, max_s: float) -> None:
    backoff = Backoff(min_s, max_s, random.Random(seed))
    for base in bases(min_s, max_s, 200):
        delay = backoff.next_delay()
        assert base / 2 <= delay <= base
        assert min_s / 2 <= delay <= max_s


def test_jitter_spreads_delays_over_the_whole_range_at_the_cap() -> None:
    backoff = Backoff(1.0, 1.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(1000)]
    assert len(set(delays)) == len(delays)
    assert min(delays) < 0.52
    assert max(delays) > 0.98


@pytest.mark.parametrize(
    ("seed_a", "seed_b", "same"),
    [
        pytest.param(5, 5, True, id="same_seed_same_delays"),
        pytest.param(5, 6, False, id="different_seeds_not_in_lockstep"),
    ],
)
def test_delays_depend_only_on_the_rng(seed_a: int, seed_b: int, same: bool) -> None:
    first = Backoff(0.5, 30.0, random.Random(seed_a))
    second = Backoff(0.5, 30.0, random.Random(seed_b))
    pairs = [(first.next_delay(), second.next_delay()) for _ in range(10)]
    assert all(a == b for a, b in pairs) is same


def test_default_rng_also_stays_within_the_jitter_bounds() -> None:
    backoff = Backoff(0.5, 4.0)
    for base in bases(0.5, 4.0, 50):
        assert base / 2 <= backoff.next_delay() <= base


@pytest.mark.parametrize(
    ("failures_before_reset", "expected_bases_after"),
    [
        pytest.param(0, [0.5, 1, 2], id="reset_before_any_failure"),
        pytest.param(1, [0.5, 1, 2], id="reset_after_one_failure"),
        pytest.param(3, [0.5, 1, 2], id="reset_midway"),
        pytest.param(20, [0.5, 1, 2], id="reset_at_the_cap"),
    ],
)
def test_reset_starts_the_next_failure_from_the_minimum_again(
    failures_before_reset: int, expected_bases_after: list[float]
) -> None:
    backoff = Backoff(0.5, 30.0, random.Random(3))
    reference = random.Random(3)
    for base in bases(0.5, 30.0, failures_before_reset):
        assert backoff.next_delay() == pytest.approx(base * reference.uniform(0.5, 1.0))
    backoff.reset()
    after = [backoff.next_delay() for _ in expected_bases_after]
    assert after == pytest.approx([base * reference.uniform(0.5, 1.0) for base in expected_bases_after])


def test_reset_twice_is_the_same_as_once() -> None:
    backoff = Backoff(1.0, 60.0, random.Random(9))
    reference = random.Random(9)
    for base in bases(1.0, 60.0, 4):
        assert backoff.next_delay() == pytest.approx(base * reference.uniform(0.5, 1.0))
    backoff.reset()
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(1.0 * reference.uniform(0.5, 1.0))
