"""gateway.pacing: event time mapped to wall time at a speed, bounded by a span when given."""

from __future__ import annotations

from gateway.pacing import Pacer

MS = 1_000_000
T0 = 1_700_000_000_000_000_000


def test_the_pacer_maps_event_time_to_wall_time_at_its_speed() -> None:
    wall = [1_000]
    pacer = Pacer(10, span_ns=10**12, clock_ns=lambda: wall[0])

    assert pacer.ahead_ns(T0) == 0, "the first tick anchors"
    assert pacer.ahead_ns(T0 + 50 * MS) == 5 * MS
    wall[0] += 4 * MS
    assert pacer.ahead_ns(T0 + 50 * MS) == MS
    assert pacer.ahead_ns(T0 + 10 * MS) < 0, "an earlier tick is due at once"


def test_no_tick_is_due_later_than_the_window_over_the_speed() -> None:
    pacer = Pacer(0.001, span_ns=60 * MS, clock_ns=lambda: 0)
    pacer.ahead_ns(T0)

    assert pacer.ahead_ns(T0 + 10**18) == 60 * MS * 1000


def test_without_a_span_a_far_tick_is_due_at_its_own_pace() -> None:
    pacer = Pacer(2, clock_ns=lambda: 0)
    pacer.ahead_ns(T0)

    assert pacer.ahead_ns(T0 + 3_600_000 * MS) == 1_800_000 * MS
