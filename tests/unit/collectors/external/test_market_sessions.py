"""Market sessions, pure and driven by a test clock: exact UTC opens and closes across the 2026 DST switch weekends
of the US (Mar 8, Nov 1), Europe (Mar 29, Oct 25) and Australia (Apr 5, Oct 4), the FX week, holidays, the state
at an instant, and the collector publishing CURRENT at start and each event when it happens.

Every expected instant below is worked out by hand from the zones' offsets (AEDT +11, AEST +10, JST +9,
GMT 0, BST +1, EST -5, EDT -4), not computed with zoneinfo."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Final

import pytest
from pydantic import ValidationError

from collectors.external.market_sessions import (
    MAX_HOLIDAYS,
    MAX_SLEEP_S,
    Interval,
    MarketSessionsCollector,
    MarketSessionsConfig,
    SessionHoliday,
    event_id,
    intervals,
    next_event_ns,
    schedule,
    state_at,
)
from gateway.clock import NS_PER_S, parse_time_ns
from gateway.schema.market.v1.market_pb2 import ExternalData, MarketSession, SourceStatus
from tests.support import RecordingExternalSink

ZONES: Final = {
    "fx_week": "America/New_York",
    "sydney": "Australia/Sydney",
    "tokyo": "Asia/Tokyo",
    "london": "Europe/London",
    "new_york": "America/New_York",
}


def t(text: str) -> int:
    """``2026-03-09T05:00`` (UTC) in ns."""
    return parse_time_ns(f"{text}:00Z")


def iv(opens: str, closes: str) -> Interval:
    return Interval(t(opens), t(closes))


# For each switch weekend: the Friday before and the Monday after, every session, in UTC.
# Friday's Sydney session starts on Thursday UTC; Monday's starts on Sunday UTC and is cut to the FX week.
DST_WEEKENDS: Final = {
    "US starts (Sun Mar 8)": (
        ("2026-03-06T00:00", "2026-03-10T00:00"),
        {
            "sydney": [iv("2026-03-05T20:00", "2026-03-06T05:00"), iv("2026-03-08T21:00", "2026-03-09T05:00"),
                       iv("2026-03-09T20:00", "2026-03-10T05:00")],
            "tokyo": [iv("2026-03-06T00:00", "2026-03-06T09:00"), iv("2026-03-09T00:00", "2026-03-09T09:00")],
            "london": [iv("2026-03-06T08:00", "2026-03-06T17:00"), iv("2026-03-09T08:00", "2026-03-09T17:00")],
            "new_york": [iv("2026-03-06T13:00", "2026-03-06T22:00"), iv("2026-03-09T12:00", "2026-03-09T21:00")],
            "fx_week": [iv("2026-03-01T22:00", "2026-03-06T22:00"), iv("2026-03-08T21:00", "2026-03-13T21:00")],
        },
    ),
    "Europe starts (Sun Mar 29)": (
        ("2026-03-27T00:00", "2026-03-31T00:00"),
        {
            "sydney": [iv("2026-03-26T20:00", "2026-03-27T05:00"), iv("2026-03-29T21:00", "2026-03-30T05:00"),
                       iv("2026-03-30T20:00", "2026-03-31T05:00")],
            "tokyo": [iv("2026-03-27T00:00", "2026-03-27T09:00"), iv("2026-03-30T00:00", "2026-03-30T09:00")],
            "london": [iv("2026-03-27T08:00", "2026-03-27T17:00"), iv("2026-03-30T07:00", "2026-03-30T16:00")],
            "new_york": [iv("2026-03-27T12:00", "2026-03-27T21:00"), iv("2026-03-30T12:00", "2026-03-30T21:00")],
            "fx_week": [iv("2026-03-22T21:00", "2026-03-27T21:00"), iv("2026-03-29T21:00", "2026-04-03T21:00")],
        },
    ),
    "Australia ends (Sun Apr 5)": (
        ("2026-04-03T00:00", "2026-04-07T00:00"),
        {
            "sydney": [iv("2026-04-02T20:00", "2026-04-03T05:00"), iv("2026-04-05T21:00", "2026-04-06T06:00"),
                       iv("2026-04-06T21:00", "2026-04-07T06:00")],
            "tokyo": [iv("2026-04-03T00:00", "2026-04-03T09:00"), iv("2026-04-06T00:00", "2026-04-06T09:00")],
            "london": [iv("2026-04-03T07:00", "2026-04-03T16:00"), iv("2026-04-06T07:00", "2026-04-06T16:00")],
            "new_york": [iv("2026-04-03T12:00", "2026-04-03T21:00"), iv("2026-04-06T12:00", "2026-04-06T21:00")],
            "fx_week": [iv("2026-03-29T21:00", "2026-04-03T21:00"), iv("2026-04-05T21:00", "2026-04-10T21:00")],
        },
    ),
    "Australia starts (Sun Oct 4)": (
        ("2026-10-02T00:00", "2026-10-06T00:00"),
        {
            "sydney": [iv("2026-10-01T21:00", "2026-10-02T06:00"), iv("2026-10-04T21:00", "2026-10-05T05:00"),
                       iv("2026-10-05T20:00", "2026-10-06T05:00")],
            "tokyo": [iv("2026-10-02T00:00", "2026-10-02T09:00"), iv("2026-10-05T00:00", "2026-10-05T09:00")],
            "london": [iv("2026-10-02T07:00", "2026-10-02T16:00"), iv("2026-10-05T07:00", "2026-10-05T16:00")],
            "new_york": [iv("2026-10-02T12:00", "2026-10-02T21:00"), iv("2026-10-05T12:00", "2026-10-05T21:00")],
            "fx_week": [iv("2026-09-27T21:00", "2026-10-02T21:00"), iv("2026-10-04T21:00", "2026-10-09T21:00")],
        },
    ),
    "Europe ends (Sun Oct 25)": (
        ("2026-10-23T00:00", "2026-10-27T00:00"),
        {
            "sydney": [iv("2026-10-22T20:00", "2026-10-23T05:00"), iv("2026-10-25T21:00", "2026-10-26T05:00"),
                       iv("2026-10-26T20:00", "2026-10-27T05:00")],
            "tokyo": [iv("2026-10-23T00:00", "2026-10-23T09:00"), iv("2026-10-26T00:00", "2026-10-26T09:00")],
            "london": [iv("2026-10-23T07:00", "2026-10-23T16:00"), iv("2026-10-26T08:00", "2026-10-26T17:00")],
            "new_york": [iv("2026-10-23T12:00", "2026-10-23T21:00"), iv("2026-10-26T12:00", "2026-10-26T21:00")],
            "fx_week": [iv("2026-10-18T21:00", "2026-10-23T21:00"), iv("2026-10-25T21:00", "2026-10-30T21:00")],
        },
    ),
    "US ends (Sun Nov 1)": (
        ("2026-10-30T00:00", "2026-11-03T00:00"),
        {
            "sydney": [iv("2026-10-29T20:00", "2026-10-30T05:00"), iv("2026-11-01T22:00", "2026-11-02T05:00"),
                       iv("2026-11-02T20:00", "2026-11-03T05:00")],
            "tokyo": [iv("2026-10-30T00:00", "2026-10-30T09:00"), iv("2026-11-02T00:00", "2026-11-02T09:00")],
            "london": [iv("2026-10-30T08:00", "2026-10-30T17:00"), iv("2026-11-02T08:00", "2026-11-02T17:00")],
            "new_york": [iv("2026-10-30T12:00", "2026-10-30T21:00"), iv("2026-11-02T13:00", "2026-11-02T22:00")],
            "fx_week": [iv("2026-10-25T21:00", "2026-10-30T21:00"), iv("2026-11-01T22:00", "2026-11-06T22:00")],
        },
    ),
}  # fmt: skip


@pytest.mark.parametrize("weekend", list(DST_WEEKENDS))
def test_sessions_across_the_2026_dst_switch_weekends(weekend: str) -> None:
    (start, end), expected = DST_WEEKENDS[weekend]
    for name, openings in expected.items():
        assert intervals(name, t(start), t(end)) == openings, name


def test_the_sydney_monday_opening_is_cut_to_the_fx_week_only_while_sydney_is_on_summer_time() -> None:
    # AEDT (+11): 07:00 Sydney is 20:00 UTC Sunday, before the week opens (21:00 UTC in EDT, 22:00 in EST)
    assert intervals("sydney", t("2026-03-01T12:00"), t("2026-03-01T23:00")) == [
        iv("2026-03-01T22:00", "2026-03-02T05:00")
    ]
    # AEST (+10): 07:00 Sydney is 21:00 UTC Sunday, the week's own opening
    assert intervals("sydney", t("2026-06-07T12:00"), t("2026-06-07T23:00")) == [
        iv("2026-06-07T21:00", "2026-06-08T06:00")
    ]


def test_schedule_of_the_us_switch_weekend_is_exact() -> None:
    events = schedule(t("2026-03-06T04:00"), t("2026-03-09T06:00"))
    assert [(event.item_id, event.session.open) for event in events] == [
        ("sydney:close:2026-03-06T05:00:00Z", False),
        ("london:open:2026-03-06T08:00:00Z", True),
        ("tokyo:close:2026-03-06T09:00:00Z", False),
        ("new_york:open:2026-03-06T13:00:00Z", True),
        ("london:close:2026-03-06T17:00:00Z", False),
        ("new_york:close:2026-03-06T22:00:00Z", False),  # the week closes with New York, after it
        ("fx_week:close:2026-03-06T22:00:00Z", False),
        ("fx_week:open:2026-03-08T21:00:00Z", True),  # 17:00 EDT: the first Sunday on summer time
        ("sydney:open:2026-03-08T21:00:00Z", True),  # cut to the week: 07:00 AEDT is 20:00 UTC
        ("tokyo:open:2026-03-09T00:00:00Z", True),
        ("sydney:close:2026-03-09T05:00:00Z", False),
    ]
    close = events[0]
    assert (close.at_ns, close.name, close.opening) == (t("2026-03-06T05:00"), "sydney", False)
    assert close.session == MarketSession(
        name="sydney",
        open=False,
        opens_at_ns=t("2026-03-08T21:00"),
        closes_at_ns=t("2026-03-09T05:00"),
        zone="Australia/Sydney",
    )
    week = events[7]
    assert week.session == MarketSession(
        name="fx_week",
        open=True,
        opens_at_ns=t("2026-03-08T21:00"),
        closes_at_ns=t("2026-03-13T21:00"),
        zone="America/New_York",
    )
    item = week.item()
    assert (item.item_id, item.ts_ns, item.payload) == ("fx_week:open:2026-03-08T21:00:00Z", week.at_ns, week.session)


def test_state_at_an_instant() -> None:
    # Saturday: everything closed, each with its last closing and its next opening
    saturday = {event.name: event for event in state_at(t("2026-03-07T12:00"))}
    assert {name: (event.item_id, event.session.open) for name, event in saturday.items()} == {
        "fx_week": ("fx_week:close:2026-03-06T22:00:00Z", False),
        "sydney": ("sydney:close:2026-03-06T05:00:00Z", False),
        "tokyo": ("tokyo:close:2026-03-06T09:00:00Z", False),
        "london": ("london:close:2026-03-06T17:00:00Z", False),
        "new_york": ("new_york:close:2026-03-06T22:00:00Z", False),
    }
    assert saturday["new_york"].session == MarketSession(
        name="new_york",
        open=False,
        opens_at_ns=t("2026-03-09T12:00"),
        closes_at_ns=t("2026-03-09T21:00"),
        zone="America/New_York",
    )
    # Monday 08:30 UTC: week, Sydney? no (closed 05:00), Tokyo and London open
    monday = {event.name: event for event in state_at(t("2026-03-09T08:30"))}
    assert {name: event.session.open for name, event in monday.items()} == {
        "fx_week": True,
        "sydney": False,
        "tokyo": True,
        "london": True,
        "new_york": False,
    }
    assert monday["london"].item_id == "london:open:2026-03-09T08:00:00Z"
    assert monday["london"].session.closes_at_ns == t("2026-03-09T17:00")
    # an opening instant belongs to the open state, a closing instant to the closed one
    assert {event.name: event.session.open for event in state_at(t("2026-03-09T08:00"))}["london"] is True
    assert {event.name: event.session.open for event in state_at(t("2026-03-09T17:00"))}["london"] is False
    assert all(event.session.zone == ZONES[event.name] for event in state_at(t("2026-03-09T08:30")))


def test_next_event() -> None:
    assert next_event_ns(t("2026-03-07T12:00")) == t("2026-03-08T21:00")
    assert next_event_ns(t("2026-03-08T21:00")) == t("2026-03-09T00:00")
    assert next_event_ns(t("2026-03-09T00:00") - 1) == t("2026-03-09T00:00")
    assert next_event_ns(t("2026-03-06T21:59")) == t("2026-03-06T22:00")


def test_holidays_per_session_and_for_all() -> None:
    config = MarketSessionsConfig(
        id="sessions",
        holidays=(
            SessionHoliday(date=dt.date(2026, 12, 25), name="Christmas"),
            SessionHoliday(date=dt.date(2026, 12, 28), sessions=("london", "sydney"), name="Boxing Day (substitute)"),
        ),
    )
    holidays = config.holiday_dates()
    # Sydney's 25 December (AEDT) is 24 Dec 20:00 UTC to 25 Dec 05:00 UTC: gone; so are its 28 December and
    # London's 25th and 28th; Tokyo and New York open on the 28th
    assert intervals("sydney", t("2026-12-24T00:00"), t("2026-12-29T12:00"), holidays) == [
        iv("2026-12-23T20:00", "2026-12-24T05:00"),
        iv("2026-12-28T20:00", "2026-12-29T05:00"),
    ]
    assert intervals("london", t("2026-12-24T00:00"), t("2026-12-29T12:00"), holidays) == [
        iv("2026-12-24T08:00", "2026-12-24T17:00"),
        iv("2026-12-29T08:00", "2026-12-29T17:00"),
    ]
    assert intervals("tokyo", t("2026-12-25T00:00"), t("2026-12-29T00:00"), holidays) == [
        iv("2026-12-28T00:00", "2026-12-28T09:00"),
    ]
    assert intervals("new_york", t("2026-12-25T00:00"), t("2026-12-29T00:00"), holidays) == [
        iv("2026-12-28T13:00", "2026-12-28T22:00"),
    ]
    # the FX week has no holidays; the state skips the days off
    assert intervals("fx_week", t("2026-12-25T00:00"), t("2026-12-25T01:00"), holidays) == [
        iv("2026-12-20T22:00", "2026-12-25T22:00")
    ]
    london = {event.name: event for event in state_at(t("2026-12-28T12:00"), holidays)}["london"]
    assert (london.item_id, london.session.opens_at_ns) == ("london:close:2026-12-24T17:00:00Z", t("2026-12-29T08:00"))
    assert [event.item_id for event in schedule(t("2026-12-28T07:00"), t("2026-12-28T18:00"), holidays)] == [
        "tokyo:close:2026-12-28T09:00:00Z",
        "new_york:open:2026-12-28T13:00:00Z",
    ]


def test_a_long_run_of_holidays_still_finds_the_next_opening() -> None:
    first = dt.date(2026, 1, 1)
    days_off = tuple(
        SessionHoliday(date=first + dt.timedelta(days=offset), sessions=("tokyo",)) for offset in range(MAX_HOLIDAYS)
    )
    holidays = MarketSessionsConfig(id="s", holidays=days_off).holiday_dates()  # 2026-01-01 to 2027-02-04
    (state,) = [event for event in state_at(t("2026-06-01T00:00"), holidays) if event.name == "tokyo"]
    assert state.item_id == "tokyo:close:2025-12-31T09:00:00Z"
    assert state.session.opens_at_ns == t("2027-02-05T00:00")  # Friday 2027-02-05 JST, the first day not listed


@pytest.mark.parametrize(
    "holidays",
    [
        [{"date": "2026-12-25", "sessions": ["frankfurt"]}],
        [{"date": "2026-12-25", "sessions": ["london", "london"]}],
        [{"date": "1999-12-25"}],
        [{"date": "2026-02-30"}],
        [{"date": "2026-12-25", "colour": "red"}],
        [{"date": "2026-12-25", "name": "x" * 65}],
        [{"date": "2026-12-25"}] * (MAX_HOLIDAYS + 1),
    ],
)
def test_bad_holidays_are_refused(holidays: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        MarketSessionsConfig.model_validate({"id": "s", "kind": "market_sessions", "holidays": holidays})


def test_event_ids() -> None:
    assert event_id("london", True, t("2026-03-30T07:00")) == "london:open:2026-03-30T07:00:00Z"
    assert event_id("fx_week", False, t("2026-11-06T22:00")) == "fx_week:close:2026-11-06T22:00:00Z"


# --- the collector, driven by a test clock -----------------------------------------------------------------


class StopClock(Exception):
    """Raised by the test clock's sleep once it reaches its end: ends the collector's run."""


class DrivenClock:
    """A wall clock that moves only when the collector sleeps; records each sleep."""

    def __init__(self, start_ns: int, end_ns: int) -> None:
        self.now_ns = start_ns
        self.end_ns = end_ns
        self.sleeps: list[float] = []
        self.jumps: dict[int, int] = {}
        """Sleep number -> extra ns the clock jumps then (a suspended machine)."""

    def __call__(self) -> int:
        return self.now_ns

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_ns += round(seconds * NS_PER_S) + self.jumps.get(len(self.sleeps), 0)
        await asyncio.sleep(0)
        if self.now_ns >= self.end_ns:
            raise StopClock


async def _run(clock: DrivenClock, config: MarketSessionsConfig | None = None) -> RecordingExternalSink:
    sink = RecordingExternalSink()
    collector = MarketSessionsCollector(
        config or MarketSessionsConfig(id="sessions"), sink, clock_ns=clock, sleep=clock.sleep
    )
    with pytest.raises(StopClock):
        await collector.run()
    assert collector.stats.state == "ok"
    return sink


async def test_collector_restates_at_start_then_publishes_each_event_when_due() -> None:
    clock = DrivenClock(t("2026-03-06T20:30"), t("2026-03-09T05:30"))
    sink = await _run(clock)
    assert sink.states() == [SourceStatus.STATE_CONNECTED]
    current = sink.messages[:5]
    assert [(message.item_id, message.change, message.session.open) for message in current] == [
        ("fx_week:open:2026-03-01T22:00:00Z", ExternalData.CHANGE_CURRENT, True),
        ("sydney:close:2026-03-06T05:00:00Z", ExternalData.CHANGE_CURRENT, False),
        ("tokyo:close:2026-03-06T09:00:00Z", ExternalData.CHANGE_CURRENT, False),
        ("london:close:2026-03-06T17:00:00Z", ExternalData.CHANGE_CURRENT, False),
        ("new_york:open:2026-03-06T13:00:00Z", ExternalData.CHANGE_CURRENT, True),
    ]
    first = current[0]
    assert (first.type, first.source, first.ts_ns, first.ts_recv_ns, first.seq, first.revision) == (
        "market_sessions",
        "sessions",
        t("2026-03-01T22:00"),
        t("2026-03-06T20:30"),
        1,
        1,
    )
    events = sink.messages[5:]
    assert [(message.item_id, message.ts_recv_ns) for message in events] == [
        ("new_york:close:2026-03-06T22:00:00Z", t("2026-03-06T22:00")),
        ("fx_week:close:2026-03-06T22:00:00Z", t("2026-03-06T22:00")),
        ("fx_week:open:2026-03-08T21:00:00Z", t("2026-03-08T21:00")),
        ("sydney:open:2026-03-08T21:00:00Z", t("2026-03-08T21:00")),
        ("tokyo:open:2026-03-09T00:00:00Z", t("2026-03-09T00:00")),
        ("sydney:close:2026-03-09T05:00:00Z", t("2026-03-09T05:00")),
    ]
    assert all(message.change == ExternalData.CHANGE_NEW and message.revision == 1 for message in events)
    assert [message.seq for message in sink.messages] == list(range(1, 12))
    assert events[0].session == MarketSession(
        name="new_york",
        open=False,
        opens_at_ns=t("2026-03-09T12:00"),
        closes_at_ns=t("2026-03-09T21:00"),
        zone="America/New_York",
    )
    assert max(clock.sleeps) <= MAX_SLEEP_S and min(clock.sleeps) > 0


async def test_a_clock_jump_restates_instead_of_replaying() -> None:
    clock = DrivenClock(t("2026-03-06T20:30"), t("2026-03-09T09:30"))
    clock.jumps[3] = (2 * 86_400 + 4 * 3600) * NS_PER_S  # the machine is suspended for 52 h: wakes Mon 00:33
    sink = await _run(clock)
    changes = [(message.item_id, message.change) for message in sink.messages]
    assert changes[5:10] == [
        ("fx_week:open:2026-03-08T21:00:00Z", ExternalData.CHANGE_CURRENT),
        ("sydney:open:2026-03-08T21:00:00Z", ExternalData.CHANGE_CURRENT),
        ("tokyo:open:2026-03-09T00:00:00Z", ExternalData.CHANGE_CURRENT),
        ("london:close:2026-03-06T17:00:00Z", ExternalData.CHANGE_CURRENT),
        ("new_york:close:2026-03-06T22:00:00Z", ExternalData.CHANGE_CURRENT),
    ]
    assert changes[10:] == [
        ("sydney:close:2026-03-09T05:00:00Z", ExternalData.CHANGE_NEW),
        ("london:open:2026-03-09T08:00:00Z", ExternalData.CHANGE_NEW),
        ("tokyo:close:2026-03-09T09:00:00Z", ExternalData.CHANGE_NEW),
    ]


async def test_a_restart_restates_and_does_not_republish_past_events(tmp_path: Path) -> None:
    config = MarketSessionsConfig(id="sessions")
    first = DrivenClock(t("2026-03-09T07:30"), t("2026-03-09T08:30"))
    sink = RecordingExternalSink()
    collector = MarketSessionsCollector(config, sink, tmp_path, clock_ns=first, sleep=first.sleep)
    with pytest.raises(StopClock):
        await collector.run()
    assert [message.item_id for message in sink.messages][5:] == ["london:open:2026-03-09T08:00:00Z"]
    second = DrivenClock(t("2026-03-09T08:45"), t("2026-03-09T09:30"))
    sink = RecordingExternalSink()
    collector = MarketSessionsCollector(config, sink, tmp_path, clock_ns=second, sleep=second.sleep)
    with pytest.raises(StopClock):
        await collector.run()
    london = [message for message in sink.messages if message.session.name == "london"]
    assert [(message.item_id, message.change, message.revision) for message in london] == [
        ("london:open:2026-03-09T08:00:00Z", ExternalData.CHANGE_CURRENT, 1)
    ]
    assert [message.item_id for message in sink.messages][5:] == ["tokyo:close:2026-03-09T09:00:00Z"]
