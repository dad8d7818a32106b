"""A TickSink for collector unit tests: keeps everything a collector hands over, in order (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from gateway.events import Event, StatusChange


class RecordingSink:
    """Keeps every event, status change and pip size; ``enough`` is set once ``wanted`` events have arrived."""

    def __init__(self, wanted: int = 0) -> None:
        self.events: list[Event] = []
        self.batches = 0
        self.statuses: list[StatusChange] = []
        self.pip_sizes: dict[str, int] = {}
        self.wanted = wanted
        self.enough = asyncio.Event()
        self.changed = asyncio.Event()
        """Set on every hand-over; a test clears it before waiting for the next."""

    async def submit(self, events: Sequence[Event]) -> None:
        self.events.extend(events)
        self.batches += 1
        if self.wanted and len(self.events) >= self.wanted:
            self.enough.set()
        self.changed.set()

    async def report_status(self, source: str, change: StatusChange) -> None:
        self.statuses.append(change)
        self.changed.set()

    def use_pip_sizes(self, source: str, pip_px: Mapping[str, int]) -> None:
        self.pip_sizes.update(pip_px)
