"""What every collector shares: its config fields, the sink it feeds, the ``run`` contract.

A collector reads one source and hands batches of events to a :class:`TickSink`
(the pipeline). It converts raw input to Quotes itself (pure parsing lives in
each collector's parsing functions) and reports input it could not convert as
a :class:`BadInput`, so nothing is dropped silently. ``run`` returns when the
source is exhausted and is cancelled to stop; the gateway supervises it.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from gateway.errors import BadValueError, InputError
from gateway.events import BadInput, ConnectionHealth, TickSink
from gateway.instruments import INSTRUMENT_PATTERN
from gateway.schema.market.v1.market_pb2 import RejectionReason
from gateway.wire import SOURCE_ID_PATTERN

MAX_EVENTS_PER_SUBMIT: Final = 1000
"""Most events a collector hands to the sink at once; this bounds what the pipeline holds."""
MIN_SLEEP_S: Final = 0.001
"""Shortest pause a collector takes: uvloop returns at once from shorter sleeps, which would spin the CPU."""
RESERVED_SOURCE_IDS = frozenset({"best", "external", "rejected"})


class SourceEntryConfig(BaseModel):
    """Fields every entry of ``brokers:`` and ``external:`` in brokers.yaml has: an id and a switch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        pattern=SOURCE_ID_PATTERN,
        description="Source id; appears in subjects market.<id>.status (and market.<id>.ticks for a broker).",
    )
    enabled: bool = True

    @property
    def environment_variables(self) -> tuple[str, ...]:
        """The environment variables this source reads (its secrets), for ``fxgw check-config``; none by default."""
        return ()

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_SOURCE_IDS:
            raise ValueError(f"{value!r} is reserved for gateway subjects; choose another id")
        return value


class CollectorConfig(SourceEntryConfig):
    """Fields every broker entry in brokers.yaml has."""

    priority: int = Field(default=0, description="Higher wins best-price ties.")
    instruments: tuple[str, ...] = Field(default=("EUR_USD",), min_length=1)

    @field_validator("instruments")
    @classmethod
    def _instrument_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for instrument in value:
            if INSTRUMENT_PATTERN.fullmatch(instrument) is None:
                raise ValueError(f"instrument {instrument!r} is not of the form BASE_QUOTE (e.g. EUR_USD)")
        if len(set(value)) != len(value):
            raise ValueError("instruments are listed more than once")
        return value


class PlaybackConfig(CollectorConfig):
    """Fields of a source that plays recorded files: where they are, how fast, whether to start again."""

    path: Path
    speed: float | Literal["max"] = Field(
        default=1.0, description="1 = recorded pace, 10 = ten times faster, max = as fast as possible."
    )
    loop: bool = False

    @field_validator("path")
    @classmethod
    def _anchor_relative_path(cls, value: Path, info: ValidationInfo) -> Path:
        """Relative paths are relative to the config file's folder."""
        base_dir = (info.context or {}).get("base_dir")
        if base_dir is not None and not value.is_absolute():
            return Path(base_dir) / value
        return value

    @field_validator("speed")
    @classmethod
    def _positive_speed(cls, value: float | str) -> float | str:
        if isinstance(value, str) or value > 0:
            return value
        raise ValueError("speed must be a positive number or 'max'")


ConfigT = TypeVar("ConfigT", bound=CollectorConfig)


class Collector(abc.ABC, Generic[ConfigT]):
    """Base of all collectors: holds the config and the sink; subclasses implement ``run``."""

    kind: ClassVar[str]

    def __init__(self, config: ConfigT, sink: TickSink) -> None:
        self.config = config
        self.sink = sink

    @property
    def connection(self) -> ConnectionHealth | None:
        """The health of the collector's connection to its provider; None for sources without one (simulated)."""
        return None

    @property
    def source_id(self) -> str:
        return self.config.id

    @abc.abstractmethod
    async def run(self) -> None:
        """Deliver events to the sink until the source ends or the task is cancelled."""


def bad_input(exc: InputError, source: str, ts_recv_ns: int, *, detail: str = "", instrument: str = "") -> BadInput:
    """The rejection of input that raised ``exc``: BAD_VALUE for a value out of range, MALFORMED otherwise.

    ``detail`` defaults to the error's message and ``instrument`` to the one the error names.
    """
    reason = (
        RejectionReason.REJECTION_REASON_BAD_VALUE
        if isinstance(exc, BadValueError)
        else RejectionReason.REJECTION_REASON_MALFORMED
    )
    return BadInput(source, reason, detail or str(exc), exc.raw, ts_recv_ns, instrument or exc.instrument)
