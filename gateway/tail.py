"""Decoding gateway messages for people: ``fxgw tail`` prints what these return."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from gateway.clock import NS_PER_S, format_time_ns
from gateway.echo import clip
from gateway.instruments import display_decimals
from gateway.prices import format_price
from gateway.schema.market.v1.market_pb2 import (
    ExternalData,
    MarketDataStream,
    QualityRejection,
    RejectionReason,
    SourceStatus,
)

_TYPES: dict[str, type[MarketDataStream] | type[QualityRejection] | type[SourceStatus] | type[ExternalData]] = {
    "market.v1.MarketDataStream": MarketDataStream,
    "market.v1.QualityRejection": QualityRejection,
    "market.v1.SourceStatus": SourceStatus,
    "market.v1.ExternalData": ExternalData,
}
PAYLOAD_CHARS: Final = 400
"""Most characters of an external item's fields shown on its line."""
CHANGE_CHARS: Final = 80
"""Most characters of each value of a changed field shown."""


def message_type(subject: str, headers: Mapping[str, str] | None) -> str:
    """The protobuf type named by the Content-Type header, else guessed from the subject."""
    content_type = (headers or {}).get("Content-Type", "")
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.strip().partition("=")
        if key == "proto":
            return value
    if subject.endswith(".rejected"):
        return "market.v1.QualityRejection"
    if ".external." in subject:
        return "market.v1.ExternalData"
    return "market.v1.SourceStatus" if subject.endswith(".status") else "market.v1.MarketDataStream"


def describe(subject: str, headers: Mapping[str, str] | None, data: bytes) -> list[str]:
    """Readable lines for one NATS message; undecodable payloads say so instead of raising."""
    name = message_type(subject, headers)
    decoder = _TYPES.get(name)
    if decoder is None:
        return [f"{subject}: {len(data)} bytes of unknown type {name!r}"]
    try:
        message = decoder.FromString(data)
    except DecodeError as exc:
        return [f"{subject}: {len(data)} bytes that are not a valid {name}: {exc}"]
    if isinstance(message, QualityRejection):
        tick = message.tick
        decimals = display_decimals(tick.instrument)
        prices = (
            f" {format_price(tick.bid_px, decimals)}/{format_price(tick.ask_px, decimals)}"
            if tick.bid_px or tick.ask_px
            else ""
        )
        raw = f" raw={message.raw[:80]!r}" if message.raw else ""
        return [
            f"{subject} {tick.source} {tick.instrument or '?'}{prices} "
            f"{_reason_name(message.reason)}: {message.detail}{raw}"
        ]
    if isinstance(message, SourceStatus):
        return [_status_line(subject, message)]
    if isinstance(message, ExternalData):
        return [_external_line(subject, message)]
    header = f"{subject} batch {message.batch_seq}"
    lines = [
        f"{header} {tick.instrument} {_price(tick.bid_px, tick.instrument)}/{_price(tick.ask_px, tick.instrument)} "
        f"seq={tick.seq} event={format_time_ns(tick.ts_event_ns)}{'' if tick.tradeable else ' NOT TRADEABLE'}"
        f"{' SNAPSHOT' if tick.snapshot else ''}"
        for tick in message.ticks
    ]
    lines.extend(
        f"{header} {best.instrument} best {_price(best.bid_px, best.instrument)} ({best.bid_source}) / "
        f"{_price(best.ask_px, best.instrument)} ({best.ask_source}) live={best.live_sources}"
        f"{' CROSSED' if best.crossed else ''}{'' if best.tradeable else ' NOT TRADEABLE'}"
        for best in message.best_prices
    )
    return lines


def _status_line(subject: str, status: SourceStatus) -> str:
    try:
        state = SourceStatus.State.Name(status.state).removeprefix("STATE_")
    except ValueError:
        state = f"state {status.state}"
    gap = f" gap={status.gap_ns / NS_PER_S:.3f}s" if status.gap_ns else ""
    attempt = f" attempt={status.attempt}" if status.attempt else ""
    return f"{subject} {status.source} {state}{gap}{attempt} at {format_time_ns(status.ts_ns)}: {status.detail}"


def _external_line(subject: str, data: ExternalData) -> str:
    """``subject type source item change rN time: what changed | the payload's fields``, on one bounded line."""
    try:
        change = ExternalData.Change.Name(data.change).removeprefix("CHANGE_")
    except ValueError:
        change = f"change {data.change}"
    changed = "".join(
        f" {item.field}: {clip(item.previous, CHANGE_CHARS)!r} -> {clip(item.current, CHANGE_CHARS)!r};"
        for item in data.changes
    )
    oneof = data.WhichOneof("payload")
    fields = text_format.MessageToString(getattr(data, oneof), as_one_line=True) if oneof else "(no payload)"
    return (
        f"{subject} {data.type} {data.source} {data.item_id} {change} r{data.revision} seq={data.seq} "
        f"at {format_time_ns(data.ts_ns)}:{changed} | {clip(fields, PAYLOAD_CHARS)}"
    )


def _price(px: int, instrument: str) -> str:
    return format_price(px, display_decimals(instrument))


def _reason_name(reason: int) -> str:
    """The reason's short name; a number from a newer schema is shown as such."""
    try:
        return RejectionReason.Name(reason).removeprefix("REJECTION_REASON_")
    except ValueError:
        return f"reason {reason}"
