"""The standalone aggregator's configuration file (``aggregate.yaml``): typed, frozen, strict.

It reuses the gateway's sections where they mean the same thing (``nats``: where to subscribe and publish;
``kafka``: the best-price topic and this aggregator's own spool) and adds ``lease`` (the hot standby) and
``best_price.priorities`` (the brokers' priorities, which a gateway reads from its ``brokers`` list).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from pydantic import Field, ValidationError, field_validator

from gateway.aggregator import DEFAULT_STALE_AFTER_MS
from gateway.config import DEFAULT_HTTP_HOST, KafkaConfig, NatsConfig, _Strict, read_config_document
from gateway.echo import clip
from gateway.errors import ConfigError
from gateway.wire import BEST_SOURCE, SOURCE_ID

DEFAULT_LEASE_BUCKET: Final = "fxgw_aggregate"
DEFAULT_LEASE_TTL_S: Final = 3.0
DEFAULT_HTTP_PORT: Final = 8090
"""Not the gateway's 8080: an aggregator often shares a host with a gateway."""
MAX_PRIORITY: Final = 1_000_000
MAX_PROBLEMS_SHOWN: Final = 20


class LeaseConfig(_Strict):
    """The publish lease in a JetStream key-value bucket of its own (gateway.kv).

    Its own bucket because a bucket's ``max_age`` is the lease time: the Central Hub's bucket expires after three
    of its heartbeats, far longer than a standby should wait.
    """

    bucket: str = Field(default=DEFAULT_LEASE_BUCKET, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    key: str = Field(default="best", pattern=r"^[A-Za-z0-9_=-]+(\.[A-Za-z0-9_=-]+)*$", max_length=128)
    ttl_s: float = Field(
        default=DEFAULT_LEASE_TTL_S,
        ge=0.5,
        le=60,
        description="Seconds the lease lives after its last renewal (the bucket's max_age): the longest failover.",
    )
    replicas: int = Field(default=1, ge=1, le=5, description="1 on a single nats-server; 3 on a NATS cluster.")


class AggregateBestPriceConfig(_Strict):
    """The best-price rules; the same as a gateway's, plus the brokers' priorities for equal prices."""

    stale_after_ms: int = Field(default=DEFAULT_STALE_AFTER_MS, gt=0)
    priorities: dict[str, int] = Field(default_factory=dict, max_length=10_000)
    """Broker id -> priority (higher wins an equal price); a broker not listed has 0, as in a gateway."""

    @field_validator("priorities")
    @classmethod
    def _broker_ids(cls, value: dict[str, int]) -> dict[str, int]:
        for source, priority in value.items():
            if SOURCE_ID.fullmatch(source) is None or source == BEST_SOURCE:
                raise ValueError(f"{clip(repr(source), 80)} is not a broker id (letters, digits, _ and -)")
            if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
                raise ValueError(f"priority of {source} must be within +-{MAX_PRIORITY:,}")
        return value


class AggregateHttpConfig(_Strict):
    """GET /health and GET /metrics (gateway.aggregate.ops); on by default and on loopback, as a gateway's."""

    enabled: bool = True
    host: str = Field(default=DEFAULT_HTTP_HOST, pattern=r"^[A-Za-z0-9._:-]+$", description="Address to listen on.")
    port: int = Field(default=DEFAULT_HTTP_PORT, ge=0, le=65535, description="0 = any free port (logged).")


class AggregateConfig(_Strict):
    """The whole file."""

    instance_id: str = Field(default="fxgw-aggregate", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    nats: NatsConfig = Field(default_factory=NatsConfig)
    best_price: AggregateBestPriceConfig = Field(default_factory=AggregateBestPriceConfig)
    lease: LeaseConfig = Field(default_factory=LeaseConfig)
    http: AggregateHttpConfig = Field(default_factory=AggregateHttpConfig)
    kafka: KafkaConfig = Field(default_factory=dict, validate_default=True)  # type: ignore[arg-type]
    """Built from ``{}`` when absent, so its spool directory is anchored at the config file's folder."""


def load_aggregate_config(path: Path) -> AggregateConfig:
    """Read and validate ``aggregate.yaml``; ConfigError naming the file and every problem (the first 20)."""
    return parse_aggregate_config(read_config_document(path), str(path), path.parent)


def parse_aggregate_config(data: Any, origin: str = "<config>", base_dir: Path | None = None) -> AggregateConfig:
    """Validate already-loaded data; ``base_dir`` anchors the spool directory."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return AggregateConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        lines = [
            f"{clip('.'.join(str(part) for part in error['loc']), 200) or '<top level>'}: {clip(error['msg'], 200)}"
            for error in exc.errors()
        ]
        if len(lines) > MAX_PROBLEMS_SHOWN:
            lines = [*lines[:MAX_PROBLEMS_SHOWN], f"... and {len(lines) - MAX_PROBLEMS_SHOWN:,} more problems"]
        problems = "\n".join(f"  {line}" for line in lines)
        raise ConfigError(f"{origin}: invalid aggregator configuration:\n{problems}") from exc
