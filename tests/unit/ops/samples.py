"""Hand-built gateway snapshots shared by the gateway.ops tests: one simulated source, one OANDA, one Kafka backup."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from gateway.aggregator import BestQuote
from gateway.ops.activity import RecentActivity
from gateway.ops.snapshot import ExternalSnapshot, GatewaySnapshot, KafkaSnapshot, NatsSnapshot, SourceSnapshot
from gateway.schema.market.v1.market_pb2 import SourceStatus

NATS_URL = "nats://127.0.0.1:4222"

CONNECTED = SourceStatus.STATE_CONNECTED
RECONNECTED = SourceStatus.STATE_RECONNECTED
DISCONNECTED = SourceStatus.STATE_DISCONNECTED
UNAUTHORIZED = SourceStatus.STATE_UNAUTHORIZED
REJECTED = SourceStatus.STATE_REJECTED
NONE_YET = SourceStatus.STATE_UNSPECIFIED

SIM = SourceSnapshot(kind="simulated", priority=1, accepted=500, rejected={"CROSSED": 3})
OANDA = SourceSnapshot(kind="oanda", priority=20, connection=CONNECTED, has_connection=True, accepted=900)
KAFKA = KafkaSnapshot(connected=True, records_sent=40, writer_pid=4242, writer_restarts=1)
NOTHING_RECENT = RecentActivity()


def snapshot(
    *,
    nats_connected: bool = True,
    nats_ticks_dropped: int = 0,
    sources: Mapping[str, SourceSnapshot] | None = None,
    kafka: KafkaSnapshot | None = None,
    uptime_s: float = 12.3456,
    best: tuple[BestQuote, ...] = (),
    external: Mapping[str, ExternalSnapshot] | None = None,
) -> GatewaySnapshot:
    """A gateway with the simulated and the OANDA source unless ``sources`` says otherwise, and no external
    collector unless ``external`` says otherwise."""
    return GatewaySnapshot(
        instance_id="fxgw-test",
        session_id=1_700_000_000_000_000_000,
        uptime_s=uptime_s,
        nats=NatsSnapshot(nats_connected, NATS_URL, messages=70, ticks=1400, ticks_dropped=nats_ticks_dropped),
        sources={"sim": SIM, "oanda-a": OANDA} if sources is None else sources,
        kafka=kafka,
        best=best,
        external=external or {},
    )


def oanda(**changes: object) -> SourceSnapshot:
    return dataclasses.replace(OANDA, **changes)  # type: ignore[arg-type]


def kafka(**changes: object) -> KafkaSnapshot:
    return dataclasses.replace(KAFKA, **changes)  # type: ignore[arg-type]
