"""Change detection (collectors.external.changes): what is new, updated or unchanged, and the state file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from collectors.external.changes import (
    CHANGE_TEXT_CHARS,
    MAX_STATE_FILE_BYTES,
    ChangeTracker,
    field_texts,
    write_atomically,
)
from gateway.events import ExternalItem
from gateway.schema.market.v1.market_pb2 import (
    CotPositions,
    CotReport,
    EconomicEvent,
    ExternalData,
    FieldChange,
    IndicatorObservation,
)

DAY_NS = 86_400 * 10**9


def event(item_id: str = "ev-1", ts_ns: int = 10 * DAY_NS, **fields: object) -> ExternalItem:
    payload = EconomicEvent(country="USD", title="CPI m/m", impact="high", forecast="0.3%", previous="0.2%")
    for name, value in fields.items():
        setattr(payload, name, value)
    return ExternalItem(item_id, ts_ns, payload)


def tracker(path: Path | None = None, max_items: int = 100) -> ChangeTracker:
    return ChangeTracker("calendar", "economic_calendar", path, max_items)


def published(tracker: ChangeTracker, *items: ExternalItem, restate: bool = False) -> list[tuple[str, int, int]]:
    """Diff and apply, as the collector does once the sink accepted: (item_id, change, revision) per decision."""
    diff = tracker.diff(items, restate=restate)
    tracker.apply(diff.decisions)
    return [(decision.item.item_id, decision.change, decision.revision) for decision in diff.decisions]


def test_new_then_unchanged_then_updated_with_the_fields_that_changed() -> None:
    changes = tracker()
    assert published(changes, event(), event("ev-2")) == [
        ("ev-1", ExternalData.CHANGE_NEW, 1),
        ("ev-2", ExternalData.CHANGE_NEW, 1),
    ]
    assert changes.diff([event(), event("ev-2")]).decisions == []
    assert changes.diff([event(), event("ev-2")]).unchanged == 2
    diff = changes.diff([event(forecast="0.4%", ts_ns=10 * DAY_NS + 120 * 10**9)])
    [decision] = diff.decisions
    assert (decision.change, decision.revision) == (ExternalData.CHANGE_UPDATED, 2)
    assert decision.changes == (
        FieldChange(field="forecast", previous="0.3%", current="0.4%"),
        FieldChange(field="ts_ns", previous=str(10 * DAY_NS), current=str(10 * DAY_NS + 120 * 10**9)),
    )
    assert changes.revision("ev-1") == 1  # nothing recorded before apply (the sink has not accepted it yet)
    changes.apply(diff.decisions)
    assert changes.revision("ev-1") == 2


def test_volatile_fields_are_published_but_never_make_an_update() -> None:
    def observation(value: float, vintage: str) -> ExternalItem:
        payload = IndicatorObservation(series_id="GDP", date="2024-07-01", value=value, realtime_start=vintage)
        return ExternalItem("GDP:2024-07-01", DAY_NS, payload, ("realtime_start", "realtime_end"))

    changes = tracker()
    published(changes, observation(1.5, "2024-10-30"))
    assert changes.diff([observation(1.5, "2024-10-31")]).decisions == []
    [decision] = changes.diff([observation(1.75, "2024-11-01")]).decisions
    assert decision.changes == (FieldChange(field="value", previous="1.5", current="1.75"),)


def test_restated_items_are_current_with_the_revision_they_would_have() -> None:
    changes = tracker()
    published(changes, event())
    assert published(changes, event(), event("ev-2"), event("ev-3", forecast="1%"), restate=True) == [
        ("ev-1", ExternalData.CHANGE_CURRENT, 1),
        ("ev-2", ExternalData.CHANGE_CURRENT, 1),
        ("ev-3", ExternalData.CHANGE_CURRENT, 1),
    ]
    assert published(changes, event(forecast="0.9%"), restate=True) == [("ev-1", ExternalData.CHANGE_CURRENT, 2)]
    assert changes.diff([event("ev-2")]).decisions == []


def test_field_texts_are_exact_and_bounded() -> None:
    report = CotReport(market="EURO FX", open_interest=700_000, categories=[CotPositions(category="dealer", long=5)])
    texts = field_texts(report)
    assert texts["open_interest"] == "700000" and texts["market"] == "EURO FX"
    assert texts["categories"] == '{category: "dealer" long: 5}'
    assert field_texts(IndicatorObservation(value=0.1, missing=True))["value"] == "0.1"
    assert field_texts(IndicatorObservation(missing=True))["missing"] == "true"
    long_before, long_after = event(title="a" * 5000), event(title="b" * 5000)
    changes = tracker()
    published(changes, long_before)
    [decision] = changes.diff([long_after]).decisions
    [title] = decision.changes
    assert len(title.previous) < CHANGE_TEXT_CHARS + 64 and len(title.current) < CHANGE_TEXT_CHARS + 64


def test_an_id_repeated_in_one_batch_is_judged_by_its_last_occurrence() -> None:
    changes = tracker()
    assert published(changes, event(forecast="1%"), event(forecast="2%")) == [("ev-1", ExternalData.CHANGE_NEW, 1)]
    assert changes.diff([event(forecast="2%")]).decisions == []


def test_the_oldest_items_are_forgotten_beyond_max_items() -> None:
    changes = tracker(max_items=10)
    evicted = changes.apply(changes.diff([event(f"ev-{day}", day * DAY_NS) for day in range(15)]).decisions)
    assert sorted(evicted) == sorted(f"ev-{day}" for day in range(5))
    assert len(changes) == 10 and changes.evicted == 5
    assert [d.change for d in changes.diff([event("ev-0", 0)]).decisions] == [ExternalData.CHANGE_NEW]


def test_the_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "calendar.json"
    first = tracker(path)
    published(first, event(), event("ev-2", forecast="9%"))
    first.save()
    second = tracker(path)
    assert second.load() == []
    assert second.diff([event(), event("ev-2", forecast="9%")]).decisions == []
    [decision] = second.diff([event("ev-2", forecast="10%")]).decisions
    assert (decision.revision, decision.changes) == (2, (FieldChange(field="forecast", previous="9%", current="10%"),))
    assert sorted(os.listdir(path.parent)) == ["calendar.json"]


def test_a_missing_state_file_starts_empty_without_a_problem(tmp_path: Path) -> None:
    assert tracker(tmp_path / "none.json").load() == []


def test_a_state_file_with_more_items_than_max_items_keeps_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "calendar.json"
    big = tracker(path, max_items=100)
    published(big, *(event(f"ev-{day}", day * DAY_NS) for day in range(50)))
    big.save()
    small = tracker(path, max_items=10)
    assert small.load() == []
    assert len(small) == 10 and small.revision("ev-49") == 1 and small.revision("ev-0") == 0


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "calendar.json"
    write_atomically(path, b"old")
    (tmp_path / "blocker").mkdir()
    with pytest.raises(IsADirectoryError):
        write_atomically(tmp_path / "blocker", b"new")
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["blocker", "calendar.json"]


def _valid_state() -> bytes:
    changes = tracker()
    published(changes, event(), event("ev-2"))
    return changes.encode()


def _damaged_states() -> dict[str, bytes]:
    """A generated corpus of state files a crash, a disk or a hostile hand could leave."""
    valid = _valid_state()
    document = json.loads(valid)
    item = document["items"]["ev-1"]

    def variant(**top: object) -> bytes:
        return json.dumps(document | top).encode()

    def with_item(value: object) -> bytes:
        return json.dumps(document | {"items": {"ev-1": value}}).encode()

    corpus = {f"truncated-{cut}": valid[:cut] for cut in range(0, len(valid), max(1, len(valid) // 40))}
    corpus |= {
        "empty": b"",
        "not-json": b"\x00\x01garbage",
        "utf-16": valid.decode().encode("utf-16"),
        "latin-1-bytes": valid.replace(b"USD", b"\xff\xfe\xfd"),
        "array": b"[]",
        "deep-nesting": b'{"items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "wrong-format": variant(format="something-else"),
        "wrong-version": variant(version=2),
        "other-collector": variant(source="news"),
        "other-kind": variant(kind="fred"),
        "items-not-object": variant(items=[1, 2]),
        "unknown-key": variant(extra=1),
        "digest-not-hex": with_item(["z" * 32, *item[1:]]),
        "digest-short": with_item(["ab", *item[1:]]),
        "revision-zero": with_item([item[0], 0, *item[2:]]),
        "revision-huge": with_item([item[0], 2**40, *item[2:]]),
        "revision-float": with_item([item[0], 1.5, *item[2:]]),
        "revision-nan": json.dumps(document).replace('"ev-1": ["', '"ev-1": [NaN, "', 1).encode(),
        "ts-beyond-int64": with_item([*item[:2], 2**70, item[3]]),
        "ts-string": with_item([*item[:2], "yesterday", item[3]]),
        "fields-not-text": with_item([*item[:3], {"title": 5}]),
        "field-too-long": with_item([*item[:3], {"title": "x" * 10_000}]),
        "too-many-fields": with_item([*item[:3], {f"f{n}": "" for n in range(100)}]),
        "item-too-short": with_item(item[:2]),
        "item-id-too-long": json.dumps(document | {"items": {"x" * 1000: item}}).encode(),
        "huge-number": valid.replace(b'"version":1', b'"version":' + b"9" * 5000),
    }
    return corpus


@pytest.mark.parametrize(("name", "content"), list(_damaged_states().items()))
def test_a_damaged_state_file_is_a_counted_problem_and_the_collector_starts_fresh(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / "calendar.json"
    path.write_bytes(content)
    changes = tracker(path)
    [problem] = changes.load()
    assert problem.reason == "state_damaged"
    assert str(path) in problem.detail and "starting fresh" in problem.detail and len(problem.detail) < 1000
    assert len(changes) == 0
    [aside] = tmp_path.iterdir()
    assert not path.exists() and aside.name.startswith("calendar.json.damaged-") and aside.read_bytes() == content
    assert [d.change for d in changes.diff([event()]).decisions] == [ExternalData.CHANGE_NEW]


def test_an_oversized_state_file_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "calendar.json"
    with path.open("wb") as file:
        file.truncate(MAX_STATE_FILE_BYTES + 1)  # sparse: no disk used
    [problem] = tracker(path).load()
    assert problem.reason == "state_damaged" and "above the limit" in problem.detail
