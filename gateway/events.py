"""What collectors hand to the gateway: quotes, input that could not become one, connection changes, external items.

Collectors produce these events and deliver them to a :class:`TickSink` (the
pipeline); the gateway depends on nothing in ``collectors``.

A :class:`Quote` has the fields of the protobuf ``Tick`` but is a plain slotted object:
reading a field costs about a tenth of a protobuf field read and building one
about a third, which matters at several reads per tick. The protobuf Tick is
written once, straight into the outgoing batch (see gateway.wire and gateway.cycle).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from google.protobuf.message import Message

from gateway.schema.market.v1.market_pb2 import ExternalData, RejectionReason, SourceStatus, Tick


@dataclass(slots=True)
class Quote:
    """One top-of-book quote. Prices in 1e-9 units, times in ns since the epoch."""

    instrument: str = ""
    source: str = ""
    bid_px: int = 0
    ask_px: int = 0
    bid_liquidity: int = 0
    ask_liquidity: int = 0
    ts_event_ns: int = 0
    ts_recv_ns: int = 0
    tradeable: bool = True
    snapshot: bool = False

    def to_tick(self, seq: int = 0) -> Tick:
        """The protobuf Tick of this quote, with ``seq`` (0 for a rejected quote)."""
        return Tick(
            instrument=self.instrument,
            source=self.source,
            bid_px=self.bid_px,
            ask_px=self.ask_px,
            bid_liquidity=self.bid_liquidity,
            ask_liquidity=self.ask_liquidity,
            ts_event_ns=self.ts_event_ns,
            ts_recv_ns=self.ts_recv_ns,
            seq=seq,
            tradeable=self.tradeable,
            snapshot=self.snapshot,
        )


@dataclass(frozen=True, slots=True)
class BadInput:
    """Raw input that could not become a Quote; published as a QualityRejection."""

    source: str
    reason: RejectionReason
    detail: str
    raw: bytes
    ts_recv_ns: int
    instrument: str = ""


Event = Quote | BadInput


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A change in a collector's connection to its source, published on ``market.<source>.status``."""

    state: SourceStatus.State
    detail: str = ""
    gap_ns: int = 0
    attempt: int = 0
    snapshot: bool = False


class TickSink(Protocol):
    """Where collectors deliver events; awaiting ``submit`` is the backpressure."""

    async def submit(self, events: Sequence[Event]) -> None: ...

    async def report_status(self, source: str, change: StatusChange) -> None:
        """Publish a connection change; a source that is not connected leaves the best price."""

    def use_pip_sizes(self, source: str, pip_px: Mapping[str, int]) -> None:
        """Pip sizes (1e-9 units) the broker gives for its instruments, for the quality gate."""


DELIVERING_STATES: Final = frozenset({SourceStatus.STATE_CONNECTED, SourceStatus.STATE_RECONNECTED})
"""Connection states in which a source delivers prices; in any other it leaves the best price."""


def connection_delivers(state: SourceStatus.State) -> bool:
    """The one "is this connection delivering" rule: CONNECTED or RECONNECTED."""
    return state in DELIVERING_STATES


@dataclass(slots=True)
class ConnectionHealth:
    """What a collector with a connection to its provider tells operations beyond its published statuses.

    Kept up to date by the collector (collectors.streaming); read by the gateway's snapshot for /health,
    /metrics and the status line. ``last_error`` never contains a credential.
    """

    unauthorized: bool = False
    """The provider refuses the credentials (401/403) and has not accepted them since."""
    last_error: str = ""
    """Why the last connection attempt or stream ended; empty before any failure."""
    unavailable_instruments: tuple[str, ...] = ()
    """Configured instruments the account does not offer."""


@dataclass(frozen=True, slots=True)
class ExternalItem:
    """One validated item of an external-data provider (a calendar event, an observation, a headline, ...).

    ``payload`` is one of the messages of ExternalData's ``payload`` oneof (EconomicEvent, IndicatorObservation,
    ...), fully validated: nothing from a provider reaches NATS before a parser built it from checked values.
    ``item_id`` identifies the item within its source across polls and restarts, so a changed item is
    published as an update of the same id (collectors.external.changes).
    """

    item_id: str
    ts_ns: int
    """Time the data refers to, ns since the epoch (release time, observation date, publication time)."""
    payload: Message


@dataclass(frozen=True, slots=True)
class ItemProblem:
    """One item (or a whole response) a parser refused: a short reason for counters, a detail for people."""

    reason: str
    """Machine-friendly reason, e.g. ``bad_number``, ``missing_field``, ``bad_time``; a metric label."""
    detail: str
    raw: bytes = b""
    """The offending input, at most a few hundred bytes (clipped by the parser)."""


@dataclass(slots=True)
class Parsed:
    """What a parser made of one provider response: the valid items and the refused ones."""

    items: list[ExternalItem]
    problems: list[ItemProblem]


class ExternalSink(Protocol):
    """Where external collectors deliver ExternalData (the pipeline publishes them on NATS and to Kafka)."""

    async def publish_external(self, messages: Sequence[ExternalData]) -> None:
        """Publish complete envelopes; the sink fills ``session_id`` and ``seq``."""

    async def report_status(self, source: str, change: StatusChange) -> None:
        """Publish a change in the collector's connection to its provider on ``market.<source>.status``."""
