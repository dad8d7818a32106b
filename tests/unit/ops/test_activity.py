"""gateway.ops.activity: rates and increases of counters over a rolling window; recent activity of snapshots."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.clock import NS_PER_S
from gateway.ops.activity import DROP_MEMORY_S, ActivitySampler, RateWindow, RecentActivity
from tests.unit.ops.samples import KAFKA, SIM, kafka, snapshot

# -- the window ------------------------------------------------------------------------------------------------


def test_rate_is_zero_without_an_earlier_sample() -> None:
    window = RateWindow()
    assert window.rates(5 * NS_PER_S, {"sim": 100}) == {"sim": 0.0}
    window.observe(5 * NS_PER_S, {"sim": 100})
    assert window.rates(5 * NS_PER_S, {"sim": 100}) == {"sim": 0.0}


def test_rate_runs_from_the_oldest_sample_to_now_while_the_window_fills() -> None:
    window = RateWindow(window_s=10)
    window.observe(0, {"sim": 0})
    window.observe(1 * NS_PER_S, {"sim": 100})
    assert window.rates(2 * NS_PER_S, {"sim": 300}) == {"sim": 150.0}


def test_rate_forgets_samples_older_than_the_window() -> None:
    window = RateWindow(window_s=10)
    for second in range(16):  # 1,000 ticks/s for 10 s, then 100 ticks/s
        window.observe(second * NS_PER_S, {"sim": 1000 * min(second, 10) + 100 * max(second - 10, 0)})
    # At 15.5 s the oldest sample kept is the one at 6 s (9.5 s ago): 4 s at 1,000 and 5.5 s at 100.
    rates = window.rates(15_500_000_000, {"sim": 10_550})
    assert rates["sim"] == pytest.approx((10_550 - 6000) / 9.5)


def test_rate_when_sampling_stalled_runs_from_the_newest_sample() -> None:
    window = RateWindow(window_s=10)
    window.observe(0, {"sim": 0})
    window.observe(1 * NS_PER_S, {"sim": 100})
    assert window.rates(21 * NS_PER_S, {"sim": 2100}) == {"sim": 100.0}


def test_rate_of_a_source_that_appeared_inside_the_window_counts_from_zero() -> None:
    window = RateWindow()
    window.observe(0, {"sim": 50})
    assert window.rates(2 * NS_PER_S, {"sim": 250, "late": 40}) == {"sim": 100.0, "late": 20.0}


@pytest.mark.parametrize(
    ("samples", "now_s", "counts", "expected"),
    [
        pytest.param([], 1, {"nats": 5}, {"nats": 5}, id="no-sample-yet-all-of-it-is-recent"),
        pytest.param([(0, {"nats": 5})], 100, {"nats": 5}, {"nats": 0}, id="nothing-since-the-first-sample"),
        pytest.param([(0, {"nats": 0}), (200, {"nats": 5})], 250, {"nats": 9}, {"nats": 9}, id="all-within-window"),
        pytest.param(
            [(0, {"nats": 0}), (200, {"nats": 5}), (400, {"nats": 9})],
            450,
            {"nats": 9},
            {"nats": 4},
            id="older-growth-forgotten",
        ),
        pytest.param([(0, {})], 10, {"kafka": 3}, {"kafka": 3}, id="counter-new-since-the-sample"),
    ],
)
def test_increases_are_what_counters_grew_by_within_the_window(
    samples: list[tuple[int, dict[str, int]]], now_s: int, counts: dict[str, int], expected: dict[str, int]
) -> None:
    window = RateWindow(window_s=300)
    for second, sample in samples:
        window.observe(second * NS_PER_S, sample)
    assert window.increases(now_s * NS_PER_S, counts) == expected


# -- the sampler -----------------------------------------------------------------------------------------------


def test_before_any_sample_there_is_no_rate_and_every_drop_is_recent() -> None:
    state = snapshot(nats_ticks_dropped=4, kafka=kafka(records_dropped=2))
    assert ActivitySampler().recent(5 * NS_PER_S, state) == RecentActivity(
        ticks_per_s={"sim": 0.0, "oanda-a": 0.0}, nats_ticks_dropped=4, kafka_records_dropped=2
    )


def test_ticks_per_s_runs_from_the_sampled_snapshot_to_now_by_source() -> None:
    sampler = ActivitySampler()
    sampler.observe(0, snapshot(sources={"sim": SIM}))
    later = snapshot(sources={"sim": dataclasses.replace(SIM, accepted=SIM.accepted + 300)})
    assert sampler.recent(2 * NS_PER_S, later).ticks_per_s == {"sim": 150.0}


def test_drops_count_as_recent_for_drop_memory_s_then_no_longer() -> None:
    sampler = ActivitySampler()
    sampler.observe(0, snapshot(kafka=KAFKA))
    dropped = snapshot(nats_ticks_dropped=25, kafka=kafka(records_dropped=3))
    sampler.observe(1 * NS_PER_S, dropped)
    recent = sampler.recent(2 * NS_PER_S, dropped)
    assert (recent.nats_ticks_dropped, recent.kafka_records_dropped) == (25, 3)
    for second in range(2, DROP_MEMORY_S + 3):
        sampler.observe(second * NS_PER_S, dropped)
    recent = sampler.recent((DROP_MEMORY_S + 3) * NS_PER_S, dropped)
    assert (recent.nats_ticks_dropped, recent.kafka_records_dropped) == (0, 0)


def test_without_a_kafka_backup_no_kafka_drop_is_recent() -> None:
    sampler = ActivitySampler()
    sampler.observe(0, snapshot())
    assert sampler.recent(NS_PER_S, snapshot(nats_ticks_dropped=1)).kafka_records_dropped == 0
