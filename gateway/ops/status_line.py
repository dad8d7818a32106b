"""The one-line live status of ``fxgw run --status`` and ``fxgw demo``, rendered from gateway snapshots.

One line per interval: uptime, each source's ticks/s since the previous line
(with the collector's state unless it runs, and the connection's unless it
delivers), each external collector's items published since start (with its
state unless it is ok), rejections and NATS drops since start, the Kafka backup and its
spool, and the first MAX_BEST_SHOWN best prices.
"""

from __future__ import annotations

from typing import Final

from gateway.aggregator import BestQuote
from gateway.events import connection_delivers
from gateway.instruments import display_decimals
from gateway.ops.snapshot import ExternalSnapshot, GatewaySnapshot, KafkaSnapshot, SourceSnapshot
from gateway.prices import format_price

MAX_BEST_SHOWN: Final = 3


class StatusLine:
    """Renders successive snapshots; rates run from the previous snapshot, so render once per interval."""

    __slots__ = ("_previous",)

    def __init__(self) -> None:
        self._previous: GatewaySnapshot | None = None

    def render(self, snapshot: GatewaySnapshot) -> str:
        """The line for ``snapshot``; the first one shows rates of 0 (there is no interval yet)."""
        previous, self._previous = self._previous, snapshot
        elapsed_s = snapshot.uptime_s - previous.uptime_s if previous is not None else 0.0
        parts = [f"[{snapshot.uptime_s:6.0f}s]"]
        for source_id, source in snapshot.sources.items():
            before = previous.sources.get(source_id) if previous is not None else None
            grown = source.accepted - (before.accepted if before is not None else 0)
            rate = grown / elapsed_s if elapsed_s > 0 else 0.0
            parts.append(f"{source_id} {rate:,.0f} t/s{_state(source)}")
        parts.extend(_external(source_id, collector) for source_id, collector in snapshot.external.items())
        dropped = snapshot.nats.ticks_dropped
        parts.append(f"rejected {snapshot.rejected_total}" + (f" dropped {dropped}" if dropped else ""))
        if snapshot.kafka is not None:
            parts.append(_kafka(snapshot.kafka))
        parts.extend(_best(price) for price in snapshot.best[:MAX_BEST_SHOWN])
        return " | ".join(parts)


def _state(source: SourceSnapshot) -> str:
    """The collector's state unless it runs, then the connection's unless it delivers or has none yet."""
    state = "" if source.state == "running" else f" {source.state}"
    name = source.connection_name
    if name is not None and not connection_delivers(source.connection):
        state += f" {name}"
    return state


def _external(source_id: str, collector: ExternalSnapshot) -> str:
    """An external collector: items published since start, and its state unless all is well."""
    state = "" if collector.state == "running" else f" {collector.state}"
    if collector.status != "ok":
        state += f" {collector.status}"
    return f"{source_id} {collector.published} items{state}"


def _kafka(kafka: KafkaSnapshot) -> str:
    connected = "kafka" if kafka.connected else "kafka DOWN"
    full = " SPOOL FULL" if kafka.spool_full else ""
    lost = f" dropped {kafka.records_dropped} records" if kafka.records_dropped else ""
    return f"{connected} spool {kafka.spool_pending_records}{full}{lost}"


def _best(price: BestQuote) -> str:
    decimals = display_decimals(price.instrument)
    flag = " CROSSED" if price.crossed else ""
    return (
        f"{price.instrument} {format_price(price.bid_px, decimals)}/{format_price(price.ask_px, decimals)}"
        f" ({price.bid_source}/{price.ask_source}){flag}"
    )
