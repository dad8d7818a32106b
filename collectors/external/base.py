"""What every external-data collector shares: config fields, change detection, publishing, status, counters.

INTERFACE FIXED; BODIES TO BE WRITTEN (see the brief). Provider modules use exactly these names.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from gateway.events import ExternalItem, ExternalSink, ItemProblem
from gateway.wire import SOURCE_ID_PATTERN


class ExternalConfig(BaseModel):
    """Fields every entry of ``external:`` in brokers.yaml has."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(pattern=SOURCE_ID_PATTERN, description="Collector id; statuses on market.<id>.status.")
    enabled: bool = True

    @property
    def environment_variables(self) -> tuple[str, ...]:
        """The environment variables this collector reads (its keys), for ``fxgw check-config``; none by default."""
        return ()


ExternalConfigT = TypeVar("ExternalConfigT", bound=ExternalConfig)


class ExternalCollector(abc.ABC, Generic[ExternalConfigT]):
    """Base of the external collectors: subclasses produce ExternalItems, the base publishes what changed.

    ``kind`` is both the registry key in brokers.yaml and ExternalData.type (subject market.external.<kind>).
    """

    kind: ClassVar[str]
    payload_field: ClassVar[str]
    """The ExternalData oneof field its items fill, e.g. "economic_event", "indicator"."""

    def __init__(self, config: ExternalConfigT, sink: ExternalSink, state_dir: Path | None = None) -> None:
        self.config = config
        self.sink = sink
        self.state_dir = state_dir

    @property
    def source_id(self) -> str:
        return self.config.id

    async def publish(self, items: Sequence[ExternalItem], recv_ns: int) -> int:
        """Publish the items that are new or changed since their last publication; returns how many."""
        raise NotImplementedError

    def count_problems(self, problems: Sequence[ItemProblem]) -> None:
        """Count refused items per reason (for /health and /metrics) and log them at most every 10 s."""
        raise NotImplementedError

    @abc.abstractmethod
    async def run(self) -> None:
        """Collect until cancelled."""
