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
from dataclasses import dataclass, field
from typing import Final, Protocol

from google.protobuf.message import Message

from gateway.schema.market.v1.market_pb2 import ExternalData, RejectionReason, SourceStatus, Tick


@dataclass(slots=True, init=False)  # the __init__ below: see gateway.compiled, "Dataclasses built per tick"
class Quote:
    """One top-of-book quote. Prices in 1e-9 units, times in ns since the epoch."""

    instrument: str
    source: str
    bid_px: int
    ask_px: int
    bid_liquidity: int
    ask_liquidity: int
    ts_event_ns: int
    ts_recv_ns: int
    tradeable: bool
    snapshot: bool

    def __init__(
        self,
        instrument: str = "",
        source: str = "",
        bid_px: int = 0,
        ask_px: int = 0,
        bid_liquidity: int = 0,
        ask_liquidity: int = 0,
        ts_event_ns: int = 0,
        ts_recv_ns: int = 0,
        tradeable: bool = True,
        snapshot: bool = False,
    ) -> None:
        self.instrument = instrument
        self.source = source
        self.bid_px = bid_px
        self.ask_px = ask_px
        self.bid_liquidity = bid_liquidity
        self.ask_liquidity = ask_liquidity
        self.ts_event_ns = ts_event_ns
        self.ts_recv_ns = ts_recv_ns
        self.tradeable = tradeable
        self.snapshot = snapshot

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

    def observe_heartbeat(self, source: str, event_ns: int, recv_ns: int) -> None:
        """A heartbeat's broker time and receive time (ns since the epoch), for broker quality's heartbeat age."""


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
    volatile_fields: tuple[str, ...] = ()
    """Payload fields that change without the item changing (FRED's real-time period, which is the day of the
    request): published with the item, but not compared, so they alone never make an update."""


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


@dataclass(slots=True)
class ExternalStats:
    """What an external collector tells operations: its state and counters since it started.

    Kept up to date by the collector (collectors.external.base, collectors.polling); read by the gateway's
    snapshot for /health, /metrics and the status line. ``last_error`` never contains a credential.
    ``problems`` has at most a bounded number of reasons (collectors.external.base.MAX_PROBLEM_REASONS).
    """

    kind: str
    state: str = "starting"
    """``starting`` (before its first poll), ``ok``, ``unauthorized``, ``rate_limited``, ``refused``,
    ``failing`` (5xx, timeouts, lost connections) or ``malformed`` (an answer that is not data)."""
    polls_ok: int = 0
    """Requests answered with data (a shared answer from the cache included)."""
    polls_failed: int = 0
    polls_not_modified: int = 0
    """Requests answered ``304 Not Modified``: nothing changed, nothing parsed."""
    items_new: int = 0
    items_updated: int = 0
    items_unchanged: int = 0
    items_current: int = 0
    """Items restated as CHANGE_CURRENT (market sessions at start)."""
    problems: dict[str, int] = field(default_factory=dict)
    """Refused items and answers, per reason (``bad_number``, ``malformed_response``, ``state_damaged``, ...)."""
    last_error: str = ""
    last_success_ns: int = 0
    """Wall-clock time of the last answer with data, ns since the epoch; 0 before the first."""
