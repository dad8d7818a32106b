"""What every external-data collector shares: config fields, change detection, publishing, status, counters.

A provider module subclasses :class:`ExternalCollector` (or :class:`collectors.polling.PollingCollector` for an
HTTP provider), produces validated :class:`~gateway.events.ExternalItem` objects and hands them to
:meth:`ExternalCollector.publish`, which

- checks what no parser should get wrong but none may be trusted with (an id of 1 to ``MAX_ITEM_ID_CHARS``
  characters, the payload of this collector's oneof field, a payload of at most ``MAX_PAYLOAD_BYTES``), so
  every message is bounded: a refused item is counted, never sent;
- keeps only what is new or changed (collectors.external.changes), builds the ExternalData envelopes and
  hands them to the sink (the pipeline numbers and publishes them on ``market.external.<kind>`` and to Kafka)
  at most ``MAX_MESSAGES_PER_PUBLISH`` at a time;
- then records them in the change tracker and saves its state file (publish, then save: at least once).

Refused items and answers are counted per reason in :attr:`ExternalCollector.stats` (for /health and
/metrics) with :meth:`ExternalCollector.count_problems`, and logged at most every ``PROBLEM_LOG_INTERVAL_S``.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Final, Generic, TypeVar

from pydantic import ConfigDict, Field

from collectors.base import SourceEntryConfig
from collectors.external.changes import DEFAULT_MAX_ITEMS, MAX_ITEM_ID_CHARS, ChangeTracker, Decision
from gateway.echo import LOG_CHARS, clip
from gateway.events import ExternalItem, ExternalSink, ExternalStats, ItemProblem, StatusChange
from gateway.logs import ThrottledLog
from gateway.schema.market.v1.market_pb2 import ExternalData, SourceStatus
from gateway.secrets import redact

logger = logging.getLogger(__name__)

PROBLEM_LOG_INTERVAL_S: Final = 10.0
"""A provider sending garbage would flood the log: problems are logged at most this often, with the count since."""
MAX_PAYLOAD_BYTES: Final = 64 * 1024
"""Largest payload published: far above any real item (a news item with its summary is about 2 KB), far below
NATS' 1 MiB default message limit and Kafka's 1 MB record limit, with the envelope and its bounded changes."""
MAX_MESSAGES_PER_PUBLISH: Final = 100
"""Most envelopes handed to the sink at once: bounds one publish cycle, and lets ticks interleave with the hundreds
of items of a collector's first poll (scripts/bench_pipeline.py --external)."""
MAX_PROBLEM_REASONS: Final = 32
"""Distinct problem reasons counted per collector; others are counted as ``other`` (bounded metric labels)."""
PROBLEM_REASON: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
"""What a problem reason looks like (a metric label); anything else is counted as ``other``."""
OTHER_REASON: Final = "other"


class ExternalConfig(SourceEntryConfig):
    """Fields every entry of ``external:`` in brokers.yaml has."""

    model_config = ConfigDict(allow_inf_nan=False)

    kind: str = Field(description="The collector kind; each collector's config narrows it to its one value.")
    max_items: int = Field(
        default=DEFAULT_MAX_ITEMS,
        ge=10,
        le=1_000_000,
        description="Items remembered for change detection; the oldest beyond it are forgotten (seen again: NEW).",
    )


ExternalConfigT = TypeVar("ExternalConfigT", bound=ExternalConfig)


@dataclass(frozen=True, slots=True)
class BenchSample:
    """A recorded answer of a collector, for ``scripts/bench_external.py`` (the CPU cost of one poll).

    ``body`` is the recorded body, relative to the shared data directory (``../shared/data``), e.g.
    ``fred/series_observations_GDP.json``; ``config`` the keys of an ``external:`` entry (``id`` and ``kind``
    aside) whose ``requests()[request]`` that body answers. A collector lists its samples in its
    ``bench_samples`` class attribute.
    """

    body: str
    config: Mapping[str, object] = field(default_factory=dict)
    request: int = 0
    content_type: str = "application/json"
    """The answer's ``Content-Type``, as the provider sends it."""
    config_from_body: Callable[[bytes], Mapping[str, object]] | None = None
    """More config keys read from the body itself, when they are too many to list here (CoinGecko's 250 coin
    ids of one recorded page: a config asking for every coin the answer holds)."""


class ExternalCollector(abc.ABC, Generic[ExternalConfigT]):
    """Base of the external collectors: subclasses produce ExternalItems, the base publishes what changed.

    ``kind`` is both the registry key in brokers.yaml and ExternalData.type (subject market.external.<kind>).
    ``state_dir`` is where the change tracker keeps its file (``<state_dir>/<id>.json``); None keeps it in
    memory only.
    """

    kind: ClassVar[str]
    payload_field: ClassVar[str]
    """The ExternalData oneof field its items fill, e.g. "economic_event", "indicator"."""
    bench_samples: ClassVar[tuple[BenchSample, ...]] = ()
    """Recorded answers ``scripts/bench_external.py`` times this collector's parsing and change detection on."""

    def __init__(self, config: ExternalConfigT, sink: ExternalSink, state_dir: Path | None = None) -> None:
        self.config = config
        self.sink = sink
        self.state_dir = state_dir
        self.stats = ExternalStats(kind=self.kind)
        path = state_dir / f"{config.id}.json" if state_dir is not None else None
        self.tracker = ChangeTracker(config.id, self.kind, path, config.max_items)
        self._tracker_loaded = False
        self._problem_log = ThrottledLog(logger, PROBLEM_LOG_INTERVAL_S)
        self._last_report: tuple[SourceStatus.State, str] | None = None

    @property
    def source_id(self) -> str:
        return self.config.id

    async def publish(self, items: Sequence[ExternalItem], recv_ns: int, *, restate: bool = False) -> int:
        """Publish the items that are new or changed since their last publication; returns how many.

        ``recv_ns`` is when the data was fetched (ns since the epoch). With ``restate`` every item is published
        as CHANGE_CURRENT whatever the tracker holds (and still recorded). Whatever the sink raises is raised,
        after what it accepted before was recorded and saved.
        """
        self._load_tracker()
        accepted = self._checked(items)
        diff = self.tracker.diff(accepted, restate=restate)
        self.stats.items_unchanged += diff.unchanged
        published = 0
        try:
            for start in range(0, len(diff.decisions), MAX_MESSAGES_PER_PUBLISH):
                chunk = diff.decisions[start : start + MAX_MESSAGES_PER_PUBLISH]
                await self.sink.publish_external([self._envelope(decision, recv_ns) for decision in chunk])
                self._record(chunk, {item.item_id for item in accepted})
                published += len(chunk)
        finally:
            if published:
                await self._save()
        return published

    def count_problems(self, problems: Sequence[ItemProblem]) -> None:
        """Count refused items per reason (for /health and /metrics) and log them at most every 10 s."""
        if not problems:
            return
        counts = self.stats.problems
        for problem in problems:
            reason = problem.reason if PROBLEM_REASON.fullmatch(problem.reason) else OTHER_REASON
            if reason not in counts and len(counts) >= MAX_PROBLEM_REASONS:
                reason = OTHER_REASON
            counts[reason] = counts.get(reason, 0) + 1
        first = problems[0]
        self._problem_log.warning(
            "%s: %d item(s) refused, first: %s: %s",
            self.source_id,
            len(problems),
            clip(first.reason, LOG_CHARS),
            clip(redact(first.detail), LOG_CHARS),
        )

    async def report_status(self, state: SourceStatus.State, detail: str, *, gap_ns: int = 0) -> None:
        """Publish a change of the collector's connection to its provider on ``market.<id>.status``."""
        self._last_report = (state, detail)
        await self.sink.report_status(self.source_id, StatusChange(state, clip(redact(detail)), gap_ns=gap_ns))

    async def report_once(self, state: SourceStatus.State, detail: str) -> None:
        """:meth:`report_status`, unless the last report said exactly that (a refusal seen again on a retry)."""
        if self._last_report != (state, detail):
            await self.report_status(state, detail)

    @abc.abstractmethod
    async def run(self) -> None:
        """Collect until cancelled."""

    # -- helpers ---------------------------------------------------------------------------------------

    def _load_tracker(self) -> None:
        if not self._tracker_loaded:
            self._tracker_loaded = True
            problems = self.tracker.load()
            if problems:
                logger.error("%s: %s", self.source_id, problems[0].detail)
                self.count_problems(problems)

    def _checked(self, items: Sequence[ExternalItem]) -> list[ExternalItem]:
        """The items fit to publish; each other one is a counted problem."""
        expected = ExternalData.DESCRIPTOR.fields_by_name[self.payload_field].message_type
        accepted: list[ExternalItem] = []
        problems: list[ItemProblem] = []
        seen: set[str] = set()
        for item in items:
            if not item.item_id or len(item.item_id) > MAX_ITEM_ID_CHARS:
                problems.append(ItemProblem("bad_item_id", f"item id of {len(item.item_id)} characters"))
            elif item.payload.DESCRIPTOR is not expected:
                wanted = expected.full_name if expected is not None else self.payload_field
                name = item.payload.DESCRIPTOR.full_name
                problems.append(ItemProblem("wrong_payload", f"{item.item_id}: {name}, not {wanted}"))
            elif any(name not in item.payload.DESCRIPTOR.fields_by_name for name in item.volatile_fields):
                problems.append(ItemProblem("wrong_payload", f"{item.item_id}: volatile_fields not of the payload"))
            elif (size := item.payload.ByteSize()) > MAX_PAYLOAD_BYTES:
                problems.append(ItemProblem("too_large", f"{item.item_id}: payload of {size:,} bytes"))
            elif item.item_id in seen:
                problems.append(ItemProblem("duplicate_item", f"{clip(item.item_id, 200)} twice in one answer"))
            else:
                seen.add(item.item_id)
                accepted.append(item)
        self.count_problems(problems)
        return accepted

    def _envelope(self, decision: Decision, recv_ns: int) -> ExternalData:
        item = decision.item
        message = ExternalData(
            type=self.kind,
            source=self.source_id,
            ts_ns=item.ts_ns,
            ts_recv_ns=recv_ns,
            item_id=item.item_id,
            change=decision.change,
            revision=decision.revision,
            changes=decision.changes,
        )
        getattr(message, self.payload_field).CopyFrom(item.payload)
        return message

    def _record(self, decisions: Sequence[Decision], batch_ids: set[str]) -> None:
        stats = self.stats
        for decision in decisions:
            if decision.change == ExternalData.CHANGE_NEW:
                stats.items_new += 1
            elif decision.change == ExternalData.CHANGE_UPDATED:
                stats.items_updated += 1
            else:
                stats.items_current += 1
        evicted = self.tracker.apply(decisions)
        lost = [item_id for item_id in evicted if item_id in batch_ids]
        if lost:
            self.count_problems(
                [ItemProblem("state_full", f"max_items {self.config.max_items} is below one answer's items")]
                * len(lost)
            )

    async def _save(self) -> None:
        """Write the tracker's state in a thread (encoded here); a failure is counted and logged, not raised."""
        if self.tracker.path is None:
            return
        data = self.tracker.encode()
        try:
            await asyncio.to_thread(self.tracker.save, data)
        except OSError as exc:
            self.count_problems([ItemProblem("state_not_saved", f"state file {self.tracker.path}: {exc}")])
