"""``kind: market_sessions``: the opens and closes of the Sydney, Tokyo, London and New York FX sessions.

No provider and no HTTP: every instant is computed from the IANA time-zone rules (``zoneinfo``, which reads the
system's zone database or else the ``tzdata`` package), so each session keeps its local hours across the
daylight-saving switches of its own region, which fall on different weekends (2026: the US on March 8 and
November 1, Europe on March 29 and October 25, Australia ends on April 5 and starts on October 4).

**Hours** (:data:`SESSIONS`, local time of the session's city, Monday to Friday local): Sydney 07:00-16:00
Australia/Sydney, Tokyo 09:00-18:00 Asia/Tokyo, London 08:00-17:00 Europe/London, New York 08:00-17:00
America/New_York: the usual business hours of each centre's FX desks (conventions vary by an hour; these are the
common ones). None of these hours falls in a daylight-saving gap or overlap (switches happen at 01:00-03:00 local),
so each local time maps to exactly one instant.

**The FX week** (``fx_week``) runs from Sunday 17:00 to Friday 17:00 America/New_York. A session is open only
inside it: Sydney's Monday opening at 07:00 Sydney time falls before the week opens whenever Sydney is on
summer time and New York is not (the Sydney session then opens with the week, e.g. 22:00 UTC on Sunday
2026-03-01 instead of 20:00 UTC); New York's Friday close is the week's close.

**Holidays** (``holidays`` in the config): a local date on which the named sessions (all four when none is
named) do not open. The date is read in each session's own calendar (Sydney's 2026-12-25 begins 13:00 UTC
the day before). The FX week itself has no holidays.

**Published** (MarketSession on ``market.external.market_sessions``):

- at start, the current state of the four sessions and the FX week, as CHANGE_CURRENT (restated on every
  start), each with the id of the event that made it so;
- each open and close when it happens, as NEW: ``item_id`` ``<session>:<open|close>:<UTC ISO time>``
  (``london:open:2026-03-30T07:00:00Z``), ``ts_ns`` the instant. An open says ``open`` true with this
  opening and its closing; a close says ``open`` false with the next opening and its closing.

The collector sleeps until the next event (at most :data:`MAX_SLEEP_S` at a time, re-reading the wall clock,
so a clock step or a suspended machine is noticed). Woken more than :data:`MAX_LATE_S` after an event (the
machine slept, the clock jumped forward), it restates the current state instead of replaying old events.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from collectors.external.base import ExternalCollector, ExternalConfig
from collectors.polling import STATE_OK
from gateway.clock import NS_PER_S, now_ns
from gateway.events import ExternalItem, ExternalSink
from gateway.schema.market.v1.market_pb2 import MarketSession, SourceStatus

SessionName = Literal["sydney", "tokyo", "london", "new_york"]


@dataclass(frozen=True, slots=True)
class SessionHours:
    """A session's local opening and closing time on each of its weekdays, in its IANA zone."""

    name: str
    zone: str
    opens: dt.time
    closes: dt.time


SESSIONS: Final = (
    SessionHours("sydney", "Australia/Sydney", dt.time(7), dt.time(16)),
    SessionHours("tokyo", "Asia/Tokyo", dt.time(9), dt.time(18)),
    SessionHours("london", "Europe/London", dt.time(8), dt.time(17)),
    SessionHours("new_york", "America/New_York", dt.time(8), dt.time(17)),
)
"""The four sessions, in the order the trading day meets them."""
SESSION_NAMES: Final = tuple(session.name for session in SESSIONS)
FX_WEEK: Final = "fx_week"
FX_WEEK_ZONE: Final = "America/New_York"
FX_WEEK_OPENS: Final = dt.time(17)
"""Sunday 17:00 New York."""
FX_WEEK_CLOSES: Final = dt.time(17)
"""Friday 17:00 New York."""
SATURDAY: Final = 5
SUNDAY: Final = 6
FX_WEEK_DAYS: Final = 5
"""From Sunday to Friday."""
ALL_NAMES: Final = (FX_WEEK, *SESSION_NAMES)
"""Order of events at the same instant: the FX week opens before its sessions and closes after them."""

MAX_HOLIDAYS: Final = 400
"""Most holiday entries in a config: a year of every centre's holidays is about 40."""
MIN_HOLIDAY_YEAR: Final = 2000
MAX_HOLIDAY_YEAR: Final = 2200
MAX_HOLIDAY_NAME_CHARS: Final = 64
SESSION_MARGIN_DAYS: Final = 2
"""Local dates looked at beyond a range's UTC dates: a session's local date is within a day of its UTC dates."""
SEARCH_CHUNK_DAYS: Final = 14
"""Days computed at a time when looking for the next or previous opening."""
MAX_SEARCH_DAYS: Final = 2 * MAX_HOLIDAYS + 2 * SEARCH_CHUNK_DAYS
"""Far enough to always find an opening: MAX_HOLIDAYS dates cannot cover every weekday of twice as many days."""
MAX_SLEEP_S: Final = 60.0
"""Longest single sleep: the wall clock is read again at least this often (clock steps, suspended machines)."""
MAX_LATE_S: Final = 3600.0
"""Woken this long after an event, the collector restates the current state rather than replay old events."""
NS_PER_DAY: Final = 86_400 * NS_PER_S
DEFAULT_MAX_ITEMS: Final = 1000
"""Events remembered for change detection: about four months (every id is new, so little needs remembering)."""

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ZONES: Final = {
    name: ZoneInfo(zone) for name, zone in [(FX_WEEK, FX_WEEK_ZONE), *((s.name, s.zone) for s in SESSIONS)]
}
_HOURS: Final = {session.name: session for session in SESSIONS}

Holidays = Mapping[str, frozenset[dt.date]]
"""Per session name, the local dates it does not open."""
NO_HOLIDAYS: Final[Holidays] = {}


@dataclass(frozen=True, slots=True)
class Interval:
    """One opening of a session: from ``opens_ns`` (included) to ``closes_ns`` (excluded), ns since the epoch."""

    opens_ns: int
    closes_ns: int


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """An opening or a closing of a session, with the MarketSession it publishes."""

    at_ns: int
    name: str
    opening: bool
    session: MarketSession

    @property
    def item_id(self) -> str:
        return event_id(self.name, self.opening, self.at_ns)

    def item(self) -> ExternalItem:
        return ExternalItem(item_id=self.item_id, ts_ns=self.at_ns, payload=self.session)


def event_id(name: str, opening: bool, at_ns: int) -> str:
    """``<session>:<open|close>:<UTC ISO time>``, e.g. ``london:open:2026-03-30T07:00:00Z``."""
    return f"{name}:{'open' if opening else 'close'}:{iso(at_ns)}"


def iso(at_ns: int) -> str:
    """UTC time to the second, ``2026-03-30T07:00:00Z`` (every event is on a whole minute)."""
    moment = _EPOCH + dt.timedelta(seconds=at_ns // NS_PER_S)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _instant_ns(day: dt.date, local: dt.time, zone: ZoneInfo) -> int:
    """The instant of local time ``local`` on ``day`` in ``zone``, ns since the epoch."""
    moment = dt.datetime.combine(day, local, tzinfo=zone)
    return (moment - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def _utc_date(at_ns: int) -> dt.date:
    return (_EPOCH + dt.timedelta(microseconds=at_ns // 1000)).date()


def _days(start_ns: int, end_ns: int, margin_days: int) -> list[dt.date]:
    """The dates from ``margin_days`` before ``start_ns``'s UTC date to as many after ``end_ns``'s."""
    first = _utc_date(start_ns) - dt.timedelta(days=margin_days)
    last = _utc_date(end_ns) + dt.timedelta(days=margin_days)
    return [first + dt.timedelta(days=offset) for offset in range((last - first).days + 1)]


def fx_weeks(start_ns: int, end_ns: int) -> list[Interval]:
    """The FX weeks (Sunday 17:00 to Friday 17:00 New York) overlapping [start_ns, end_ns), in order."""
    zone = _ZONES[FX_WEEK]
    weeks = []
    for day in _days(start_ns, end_ns, margin_days=7):
        if day.weekday() == SUNDAY:
            week = Interval(
                _instant_ns(day, FX_WEEK_OPENS, zone),
                _instant_ns(day + dt.timedelta(days=FX_WEEK_DAYS), FX_WEEK_CLOSES, zone),
            )
            if week.closes_ns > start_ns and week.opens_ns < end_ns:
                weeks.append(week)
    return weeks


def intervals(name: str, start_ns: int, end_ns: int, holidays: Holidays = NO_HOLIDAYS) -> list[Interval]:
    """The openings of session ``name`` (or of ``fx_week``) overlapping [start_ns, end_ns), in order.

    A session opens on each local weekday that is not one of its holidays, at its local hours, cut to the FX
    week (a part outside it is closed). Raises KeyError for an unknown name.
    """
    if name == FX_WEEK:
        return fx_weeks(start_ns, end_ns)
    hours = _HOURS[name]
    zone = _ZONES[name]
    days_off = holidays.get(name, frozenset())
    margin_ns = SESSION_MARGIN_DAYS * NS_PER_DAY
    weeks = fx_weeks(start_ns - margin_ns, end_ns + margin_ns)
    found = []
    for day in _days(start_ns, end_ns, margin_days=SESSION_MARGIN_DAYS):
        if day.weekday() >= SATURDAY or day in days_off:
            continue
        opens_ns = _instant_ns(day, hours.opens, zone)
        closes_ns = _instant_ns(day, hours.closes, zone)
        for week in weeks:
            piece = Interval(max(opens_ns, week.opens_ns), min(closes_ns, week.closes_ns))
            if piece.opens_ns < piece.closes_ns and piece.closes_ns > start_ns and piece.opens_ns < end_ns:
                found.append(piece)
    return found


def next_opening(name: str, after_ns: int, holidays: Holidays = NO_HOLIDAYS) -> Interval:
    """The first opening of ``name`` at or after ``after_ns``.

    Always found within MAX_SEARCH_DAYS, since the config holds at most MAX_HOLIDAYS holidays.
    """
    for start_ns in range(after_ns, after_ns + MAX_SEARCH_DAYS * NS_PER_DAY, SEARCH_CHUNK_DAYS * NS_PER_DAY):
        for interval in intervals(name, start_ns, start_ns + SEARCH_CHUNK_DAYS * NS_PER_DAY, holidays):
            if interval.opens_ns >= after_ns:
                return interval
    raise ValueError(f"{name} has no opening within {MAX_SEARCH_DAYS} days of {iso(after_ns)}")


def last_closing(name: str, at_ns: int, holidays: Holidays = NO_HOLIDAYS) -> Interval:
    """The last opening of ``name`` that closed at or before ``at_ns`` (same bound as :func:`next_opening`)."""
    for end_ns in range(at_ns, at_ns - MAX_SEARCH_DAYS * NS_PER_DAY, -SEARCH_CHUNK_DAYS * NS_PER_DAY):
        closed = [
            interval
            for interval in intervals(name, end_ns - SEARCH_CHUNK_DAYS * NS_PER_DAY, end_ns, holidays)
            if interval.closes_ns <= at_ns
        ]
        if closed:
            return closed[-1]
    raise ValueError(f"{name} has no closing within {MAX_SEARCH_DAYS} days before {iso(at_ns)}")


def _zone_of(name: str) -> str:
    return FX_WEEK_ZONE if name == FX_WEEK else _HOURS[name].zone


def _opened(name: str, interval: Interval) -> MarketSession:
    return MarketSession(
        name=name, open=True, opens_at_ns=interval.opens_ns, closes_at_ns=interval.closes_ns, zone=_zone_of(name)
    )


def _closed(name: str, following: Interval) -> MarketSession:
    return MarketSession(
        name=name, open=False, opens_at_ns=following.opens_ns, closes_at_ns=following.closes_ns, zone=_zone_of(name)
    )


def schedule(start_ns: int, end_ns: int, holidays: Holidays = NO_HOLIDAYS) -> list[SessionEvent]:
    """Every opening and closing in [start_ns, end_ns) of the four sessions and the FX week, in time order.

    At the same instant closes come before opens; the FX week opens before its sessions and closes after them
    (Friday 17:00 New York: ``new_york`` closes, then ``fx_week``). A close's MarketSession carries the next
    opening.
    """
    events = []
    for name in ALL_NAMES:
        for interval in intervals(name, start_ns, end_ns, holidays):
            if start_ns <= interval.opens_ns < end_ns:
                events.append(SessionEvent(interval.opens_ns, name, True, _opened(name, interval)))
            if start_ns <= interval.closes_ns < end_ns:
                following = next_opening(name, interval.closes_ns, holidays)
                events.append(SessionEvent(interval.closes_ns, name, False, _closed(name, following)))
    order = {name: index for index, name in enumerate(ALL_NAMES)}
    events.sort(key=lambda event: (event.at_ns, event.opening, order[event.name] * (1 if event.opening else -1)))
    return events


def next_event_ns(after_ns: int, holidays: Holidays = NO_HOLIDAYS) -> int:
    """The instant of the first opening or closing of any session strictly after ``after_ns``."""
    candidates = []
    for name in ALL_NAMES:
        current = intervals(name, after_ns, after_ns + 1, holidays)
        if current and current[0].closes_ns > after_ns:
            candidates.append(current[0].closes_ns)
        candidates.append(next_opening(name, after_ns + 1, holidays).opens_ns)
    return min(candidates)


def state_at(at_ns: int, holidays: Holidays = NO_HOLIDAYS) -> list[SessionEvent]:
    """The state of the FX week and the four sessions at ``at_ns``: for each, the event that made it so.

    An open session: its last opening (this opening, its closing). A closed one: its last closing (with the
    next opening). Pure; ``at_ns`` is ns since the epoch.
    """
    states = []
    for name in ALL_NAMES:
        current = [interval for interval in intervals(name, at_ns, at_ns + 1, holidays) if interval.opens_ns <= at_ns]
        if current:
            states.append(SessionEvent(current[0].opens_ns, name, True, _opened(name, current[0])))
        else:
            closed = last_closing(name, at_ns, holidays)
            following = next_opening(name, at_ns, holidays)
            states.append(SessionEvent(closed.closes_ns, name, False, _closed(name, following)))
    return states


# ---------------------------------------------------------------------------------------------------------------
# Config and collector


class SessionHoliday(BaseModel):
    """A local date on which the named sessions (all four when ``sessions`` is empty) do not open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: dt.date
    sessions: tuple[SessionName, ...] = ()
    name: str = Field(default="", max_length=MAX_HOLIDAY_NAME_CHARS, description="For people, e.g. 'Christmas'.")

    @field_validator("date")
    @classmethod
    def _plausible_year(cls, value: dt.date) -> dt.date:
        if not MIN_HOLIDAY_YEAR <= value.year <= MAX_HOLIDAY_YEAR:
            raise ValueError(f"year {value.year} is outside {MIN_HOLIDAY_YEAR}-{MAX_HOLIDAY_YEAR}")
        return value

    @field_validator("sessions")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("sessions are listed more than once")
        return value


class MarketSessionsConfig(ExternalConfig):
    """``kind: market_sessions``: no provider, no key; only holidays to configure."""

    kind: Literal["market_sessions"] = "market_sessions"
    max_items: int = Field(default=DEFAULT_MAX_ITEMS, ge=10, le=1_000_000, description="Events remembered.")
    holidays: tuple[SessionHoliday, ...] = Field(default=(), max_length=MAX_HOLIDAYS)

    def holiday_dates(self) -> dict[str, frozenset[dt.date]]:
        """Per session, its local dates off."""
        return {
            name: frozenset(
                holiday.date for holiday in self.holidays if not holiday.sessions or name in holiday.sessions
            )
            for name in SESSION_NAMES
        }


class MarketSessionsCollector(ExternalCollector[MarketSessionsConfig]):
    """Restates the current state at start, then publishes each open and close as it happens.

    ``clock_ns`` (wall clock, ns since the epoch) and ``sleep`` (seconds) are injectable: a test drives a clock
    of its own and never sleeps in real time.
    """

    kind: ClassVar[str] = "market_sessions"
    payload_field: ClassVar[str] = "session"

    def __init__(
        self,
        config: MarketSessionsConfig,
        sink: ExternalSink,
        state_dir: Path | None = None,
        *,
        clock_ns: Callable[[], int] = now_ns,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(config, sink, state_dir)
        self._clock_ns = clock_ns
        self._sleep = sleep
        self._holidays = config.holiday_dates()

    async def run(self) -> None:
        now = self._clock_ns()
        await self.report_status(SourceStatus.STATE_CONNECTED, "computing sessions from the IANA time-zone rules")
        await self._restate(now)
        cursor = now
        while True:
            due = next_event_ns(cursor, self._holidays)
            now = await self._sleep_until(due)
            if now - due > MAX_LATE_S * NS_PER_S:
                await self._restate(now)
            else:
                await self._publish_events(schedule(cursor + 1, now + 1, self._holidays), now)
            cursor = now

    async def _restate(self, now: int) -> None:
        await self.publish([event.item() for event in state_at(now, self._holidays)], now, restate=True)
        self._delivered(now)

    async def _publish_events(self, events: Sequence[SessionEvent], now: int) -> None:
        await self.publish([event.item() for event in events], now)
        self._delivered(now)

    def _delivered(self, now: int) -> None:
        self.stats.state = STATE_OK
        self.stats.last_success_ns = now

    async def _sleep_until(self, due_ns: int) -> int:
        """Sleep until the wall clock reaches ``due_ns`` (in steps of at most MAX_SLEEP_S); returns the time then."""
        now = self._clock_ns()
        while now < due_ns:
            await self._sleep(min((due_ns - now) / NS_PER_S, MAX_SLEEP_S))
            now = self._clock_ns()
        return now
