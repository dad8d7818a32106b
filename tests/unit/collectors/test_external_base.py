"""What every external collector shares (collectors.external.base): checks, publishing, state, problem counts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from collectors.external.base import (
    MAX_MESSAGES_PER_PUBLISH,
    MAX_PAYLOAD_BYTES,
    MAX_PROBLEM_REASONS,
    ExternalCollector,
    ExternalConfig,
)
from gateway.events import ExternalItem, ItemProblem
from gateway.schema.market.v1.market_pb2 import EconomicEvent, ExternalData, IndicatorObservation, SourceStatus
from tests.support import RecordingExternalSink

RECV_NS = 1_800_000_000 * 10**9


class CalendarConfig(ExternalConfig):
    kind: Literal["economic_calendar"] = "economic_calendar"


class Calendar(ExternalCollector[CalendarConfig]):
    """The smallest external collector: it publishes what a test hands it."""

    kind: ClassVar[str] = "economic_calendar"
    payload_field: ClassVar[str] = "economic_event"

    async def run(self) -> None:
        raise NotImplementedError("tests call publish directly")


class FailingSink(RecordingExternalSink):
    """Refuses the ``fail_on``-th hand-over (1-based), as a pipeline whose publish raised."""

    def __init__(self, fail_on: int) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.calls = 0

    async def publish_external(self, messages: Sequence[ExternalData]) -> None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("sink refused")
        await super().publish_external(messages)


def item(item_id: str = "ev-1", **fields: str) -> ExternalItem:
    payload = EconomicEvent(title="CPI", currency="USD")
    for name, value in fields.items():
        setattr(payload, name, value)
    return ExternalItem(item_id, RECV_NS, payload)


def calendar(sink: RecordingExternalSink, state_dir: Path | None = None, **config: object) -> Calendar:
    return Calendar(CalendarConfig.model_validate({"id": "calendar"} | config), sink, state_dir)


async def test_published_envelopes_are_complete_and_numbered() -> None:
    sink = RecordingExternalSink(session_id=7)
    collector = calendar(sink)
    assert await collector.publish([item(), item("ev-2")], RECV_NS) == 2
    assert await collector.publish([item(), item("ev-2", forecast="1%")], RECV_NS + 1) == 1
    first, _, update = sink.messages
    assert first == ExternalData(
        type="economic_calendar",
        source="calendar",
        ts_ns=RECV_NS,
        ts_recv_ns=RECV_NS,
        item_id="ev-1",
        change=ExternalData.CHANGE_NEW,
        revision=1,
        session_id=7,
        seq=1,
        economic_event=EconomicEvent(title="CPI", currency="USD"),
    )
    assert (update.item_id, update.change, update.revision, update.seq) == ("ev-2", ExternalData.CHANGE_UPDATED, 2, 3)
    stats = collector.stats
    assert (stats.items_new, stats.items_updated, stats.items_unchanged) == (2, 1, 1)


async def test_items_no_message_may_carry_are_refused_and_counted() -> None:
    sink = RecordingExternalSink()
    collector = calendar(sink)
    wrong = ExternalItem("ev-3", RECV_NS, IndicatorObservation(series_id="GDP"))
    volatile = ExternalItem("ev-4", RECV_NS, EconomicEvent(), ("no_such_field",))
    published = await collector.publish(
        [item(""), item("x" * 300), wrong, volatile, item("big", title="x" * (MAX_PAYLOAD_BYTES + 1)), item(), item()],
        RECV_NS,
    )
    assert published == 1 and [message.item_id for message in sink.messages] == ["ev-1"]
    assert collector.stats.problems == {"bad_item_id": 2, "wrong_payload": 2, "too_large": 1, "duplicate_item": 1}


async def test_restate_publishes_everything_as_current_and_records_it() -> None:
    sink = RecordingExternalSink()
    collector = calendar(sink)
    await collector.publish([item()], RECV_NS)
    assert await collector.publish([item(), item("ev-2")], RECV_NS, restate=True) == 2
    assert [message.change for message in sink.messages[1:]] == [ExternalData.CHANGE_CURRENT] * 2
    assert await collector.publish([item(), item("ev-2")], RECV_NS) == 0
    assert collector.stats.items_current == 2


async def test_what_the_sink_refused_is_published_again_next_time(tmp_path: Path) -> None:
    sink = FailingSink(fail_on=2)
    collector = calendar(sink, tmp_path)
    items = [item(f"ev-{n}") for n in range(MAX_MESSAGES_PER_PUBLISH + 5)]
    with pytest.raises(RuntimeError, match="sink refused"):
        await collector.publish(items, RECV_NS)
    assert len(sink.messages) == MAX_MESSAGES_PER_PUBLISH  # the first hand-over was accepted, recorded and saved
    restarted = calendar(sink, tmp_path)
    assert await restarted.publish(items, RECV_NS) == 5
    assert [message.change for message in sink.messages[-5:]] == [ExternalData.CHANGE_NEW] * 5


async def test_a_state_file_that_cannot_be_written_is_counted_not_raised(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_bytes(b"")
    collector = calendar(RecordingExternalSink(), blocked)
    assert await collector.publish([item()], RECV_NS) == 1
    assert collector.stats.problems == {"state_unreadable": 1, "state_not_saved": 1}


async def test_a_damaged_state_file_is_counted_and_everything_is_new_again(tmp_path: Path) -> None:
    (tmp_path / "calendar.json").write_bytes(b'{"format": "fxgw-external-state", "version"')
    sink = RecordingExternalSink()
    collector = calendar(sink, tmp_path)
    assert await collector.publish([item()], RECV_NS) == 1
    assert collector.stats.problems == {"state_damaged": 1}
    assert (tmp_path / "calendar.json").exists()  # the new state, the damaged one set aside beside it


async def test_problem_reasons_are_bounded_and_logged_at_most_every_10_s(caplog: pytest.LogCaptureFixture) -> None:
    collector = calendar(RecordingExternalSink())
    caplog.set_level(logging.WARNING)
    for n in range(MAX_PROBLEM_REASONS + 10):
        collector.count_problems([ItemProblem(f"reason_{n}", "detail")])
    collector.count_problems([ItemProblem("Not A Label!", "detail"), ItemProblem("x" * 100, "detail")])
    problems = collector.stats.problems
    assert len(problems) == MAX_PROBLEM_REASONS + 1 and problems["other"] == 12
    assert len([record for record in caplog.records if record.name == "collectors.external.base"]) == 1


async def test_statuses_are_reported_once_per_change() -> None:
    sink = RecordingExternalSink()
    collector = calendar(sink)
    await collector.report_once(SourceStatus.STATE_REJECTED, "refused")
    await collector.report_once(SourceStatus.STATE_REJECTED, "refused")
    await collector.report_status(SourceStatus.STATE_CONNECTED, "back")
    assert sink.states() == [SourceStatus.STATE_REJECTED, SourceStatus.STATE_CONNECTED]
    assert [source for source, _ in sink.statuses] == ["calendar", "calendar"]


def test_ids_reserved_for_gateway_subjects_are_refused() -> None:
    with pytest.raises(ValueError, match="reserved"):
        CalendarConfig.model_validate({"id": "external"})
