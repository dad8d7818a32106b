"""What a gateway tells the hub about itself, and how the hub judges and lists it (pure: no I/O, time passed in).

A registration is the full :class:`GatewayRecord`, re-sent on every heartbeat, so the hub never has an
"unknown instance" to recover from. Every field is bounded (lengths, counts, patterns) and unknown keys are
refused, so a hostile or broken body is a 422 naming the field, never an unbounded store. The hub stamps
``registered_at`` and ``last_heartbeat`` itself (:class:`StoredGateway`); a client cannot set them.

Listed status, from the age of the last heartbeat and the record's own heartbeat interval:
``passing`` up to :data:`STALE_AFTER_HEARTBEATS` intervals, ``stale`` beyond; the bucket's max age removes it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from gateway.config import SUBJECT_TOKEN, TOPIC_NAME
from gateway.instruments import INSTRUMENT_PATTERN
from gateway.wire import SOURCE_ID_PATTERN

MAX_BODY_BYTES: Final = 128 * 1024
"""A record of 100 sources with 100 instruments each is about 70 KiB; larger bodies are refused unread."""
STALE_AFTER_HEARTBEATS: Final = 1.5
"""A gateway whose last heartbeat is older than this many of its intervals is listed ``stale``."""
INSTANCE_ID_PATTERN: Final = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
"""As ``instance_id`` in brokers.yaml, without empty dot-separated parts (it ends a key: ``gateways.<id>``)."""
PROTOCOL: Final = "nats+kafka"
MAX_SOURCES: Final = 256
MAX_INSTRUMENTS: Final = 512
MAX_SUBJECTS: Final = 1024
MAX_PROBLEMS: Final = 64

Text = Annotated[str, StringConstraints(max_length=256)]
Url = Annotated[str, StringConstraints(max_length=512, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s]+$")]
Subject = Annotated[str, StringConstraints(max_length=256, pattern=r"^[A-Za-z0-9_.*>-]+$")]
Instrument = Annotated[str, StringConstraints(max_length=32, pattern=INSTRUMENT_PATTERN.pattern)]
Topic = Annotated[str, StringConstraints(max_length=249, pattern=TOPIC_NAME)]
SourceId = Annotated[str, StringConstraints(pattern=SOURCE_ID_PATTERN)]
InstanceId = Annotated[str, StringConstraints(max_length=64, pattern=INSTANCE_ID_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SourceRecord(_Strict):
    """One source the gateway runs: a broker (with instruments) or an external collector (without)."""

    id: SourceId
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]
    instruments: tuple[Instrument, ...] = Field(default=(), max_length=MAX_INSTRUMENTS)
    external: bool = False
    """An external-data collector: no ticks, its items on ``<prefix>.external.<kind>``."""


class KafkaRecord(_Strict):
    bootstrap: Annotated[str, StringConstraints(max_length=512, pattern=r"^[^\s,]+:\d+(,[^\s,]+:\d+)*$")]
    ticks_topic: Topic
    best_prices_topic: Topic
    rejections_topic: Topic
    status_topic: Topic
    external_topic: Topic


class GatewayRecord(_Strict):
    """What a gateway registers, in full, on every heartbeat."""

    instance_id: InstanceId
    session_id: int = Field(gt=0, lt=2**63)
    """The gateway's session: ns since the epoch at its start (as on /health and in every batch); a later start
    has a larger one, which is how the hub tells a restarted gateway from a zombie of its previous run."""
    version: Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9_.+-]+$")]
    host: Annotated[str, StringConstraints(max_length=255, pattern=r"^[A-Za-z0-9_.:-]+$")]
    http_port: int | None = Field(default=None, ge=1, le=65535)
    health_url: Url | None = None
    metrics_url: Url | None = None
    protocol: Annotated[str, StringConstraints(pattern=f"^{re.escape(PROTOCOL)}$")] = PROTOCOL
    nats_url: Url
    """Without credentials (gateway.secrets.display_url)."""
    subject_prefix: Annotated[str, StringConstraints(max_length=64, pattern=SUBJECT_TOKEN)]
    subjects: tuple[Subject, ...] = Field(max_length=MAX_SUBJECTS)
    kafka: KafkaRecord | None = None
    """None when the gateway has no Kafka copy."""
    sources: tuple[SourceRecord, ...] = Field(max_length=MAX_SOURCES)
    heartbeat_interval_s: float = Field(gt=0, le=3600, allow_inf_nan=False)
    status: Annotated[str, StringConstraints(pattern=r"^(ok|degraded|down|starting)$")]
    """The gateway's own /health status."""
    problems: tuple[Text, ...] = Field(default=(), max_length=MAX_PROBLEMS)

    @model_validator(mode="after")
    def _unique_sources(self) -> GatewayRecord:
        ids = [source.id for source in self.sources]
        if len(set(ids)) != len(ids):
            raise ValueError("sources: ids must be unique")
        return self


class StoredGateway(_Strict):
    """A record as the bucket holds it: the gateway's, plus the hub's own times (ns since the epoch)."""

    record: GatewayRecord
    registered_ns: int
    last_heartbeat_ns: int

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, value: bytes) -> StoredGateway | None:
        """The stored record, or None for bytes that are not one (written by something else): never listed."""
        try:
            return cls.model_validate_json(value, strict=False)
        except ValidationError:
            return None


class Status(enum.Enum):
    PASSING = "passing"
    STALE = "stale"


def status_of(stored: StoredGateway, now_ns: int) -> Status:
    """``passing`` until :data:`STALE_AFTER_HEARTBEATS` heartbeat intervals without a refresh, ``stale`` after."""
    limit_ns = STALE_AFTER_HEARTBEATS * stored.record.heartbeat_interval_s * 1e9
    return Status.STALE if now_ns - stored.last_heartbeat_ns > limit_ns else Status.PASSING


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def document(stored: StoredGateway, now_ns: int) -> dict[str, object]:
    """The JSON of one listed gateway: its record, the hub's times and its listed status."""
    return {
        **stored.record.model_dump(mode="json"),
        "registered_at": _iso(stored.registered_ns),
        "last_heartbeat": _iso(stored.last_heartbeat_ns),
        "last_heartbeat_age_s": round(max(0, now_ns - stored.last_heartbeat_ns) / 1e9, 3),
        "listed_status": status_of(stored, now_ns).value,
    }


@dataclass(frozen=True, slots=True)
class Filters:
    """``GET /v1/gateways`` filters; None = any."""

    source: str | None = None
    instrument: str | None = None
    status: Status | None = None

    def match(self, stored: StoredGateway, now_ns: int) -> bool:
        sources = stored.record.sources
        if self.source is not None and all(source.id != self.source for source in sources):
            return False
        if self.instrument is not None and all(self.instrument not in source.instruments for source in sources):
            return False
        return self.status is None or status_of(stored, now_ns) is self.status


def routes(gateways: Iterable[StoredGateway], instrument: str, now_ns: int) -> list[dict[str, object]]:
    """Where ``instrument`` travels: per gateway and source, its NATS subject and Kafka topic and key.

    The best price of a gateway that has the instrument from any source and publishes its best price is listed
    too (source ``best``).
    """
    found: list[dict[str, object]] = []
    for stored in gateways:
        record = stored.record
        kafka = record.kafka
        carrying = [source for source in record.sources if instrument in source.instruments]
        publishes_best = f"{record.subject_prefix}.best.ticks" in record.subjects  # not with best_price.publish off
        for source, topic in [(s.id, kafka.ticks_topic if kafka else None) for s in carrying] + (
            [("best", kafka.best_prices_topic if kafka else None)] if carrying and publishes_best else []
        ):
            found.append(
                {
                    "instance_id": record.instance_id,
                    "source": source,
                    "subject": f"{record.subject_prefix}.{source}.ticks",
                    "kafka_topic": topic,
                    "kafka_key": instrument if topic is not None else None,
                    "listed_status": status_of(stored, now_ns).value,
                }
            )
    return found


def table(gateways: list[dict[str, object]]) -> str:
    """``fxgw hub ls``: one line per gateway, for people."""
    header = ("INSTANCE", "STATUS", "HEALTH", "AGE_S", "SOURCES", "HEALTH_URL")
    rows = [header] + [
        (
            str(gateway.get("instance_id", "")),
            str(gateway.get("listed_status", "")),
            str(gateway.get("status", "")),
            f"{gateway.get('last_heartbeat_age_s', 0)}",
            ",".join(str(source.get("id", "")) for source in gateway.get("sources", ()) if isinstance(source, dict))  # type: ignore[attr-defined]
            or "-",
            str(gateway.get("health_url") or "-"),
        )
        for gateway in gateways
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )
