"""The one-line live status of ``fxgw run --status`` and ``fxgw demo``."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.aggregator import BestQuote
from gateway.app import CollectorState, Gateway
from gateway.clock import NS_PER_S
from gateway.instruments import display_decimals
from gateway.prices import format_price
from gateway.schema.market.v1.market_pb2 import SourceStatus

_QUIET_STATES = (SourceStatus.STATE_UNSPECIFIED, SourceStatus.STATE_CONNECTED, SourceStatus.STATE_RECONNECTED)

MAX_BEST_SHOWN = 3


@dataclass(slots=True)
class StatusLine:
    """Turns successive gateway snapshots into rates; call :meth:`render` once per interval."""

    _last_accepted: dict[str, int] = field(default_factory=dict)
    _last_ns: int = 0

    def render(self, gateway: Gateway, now_ns: int) -> str:
        pipeline = gateway.pipeline
        if pipeline is None:
            return "starting"
        elapsed_s = (now_ns - self._last_ns) / NS_PER_S if self._last_ns else 0.0
        self._last_ns = now_ns
        parts = [f"[{gateway.uptime_ns() / NS_PER_S:6.0f}s]"]
        for source, status in gateway.collectors.items():
            stats = pipeline.sources.get(source)
            accepted = stats.accepted if stats else 0
            rate = (accepted - self._last_accepted.get(source, 0)) / elapsed_s if elapsed_s else 0.0
            self._last_accepted[source] = accepted
            state = "" if status.state is CollectorState.RUNNING else f" {status.state.value}"
            if stats is not None and stats.status not in _QUIET_STATES:
                state += " " + SourceStatus.State.Name(stats.status).removeprefix("STATE_").lower()
            parts.append(f"{source} {rate:,.0f} t/s{state}")
        rejected = sum(stats.rejected_total for stats in pipeline.sources.values())
        dropped = pipeline.publisher.stats.ticks_dropped
        parts.append(f"rejected {rejected}" + (f" dropped {dropped}" if dropped else ""))
        backup = gateway.backup
        if backup is not None:
            kafka_stats = backup.stats
            kafka = "kafka" if kafka_stats.connected else "kafka DOWN"
            flag = " SPOOL FULL" if kafka_stats.spool_full else ""
            lost = f" dropped {kafka_stats.records_dropped} records" if kafka_stats.records_dropped else ""
            parts.append(f"{kafka} spool {backup.spool.pending_records}{flag}{lost}")
        best = pipeline.aggregator.current()
        parts.extend(_best(price) for price in list(best.values())[:MAX_BEST_SHOWN])
        return " | ".join(parts)


def _best(price: BestQuote) -> str:
    decimals = display_decimals(price.instrument)
    flag = " CROSSED" if price.crossed else ""
    return (
        f"{price.instrument} {format_price(price.bid_px, decimals)}/{format_price(price.ask_px, decimals)}"
        f" ({price.bid_source}/{price.ask_source}){flag}"
    )
