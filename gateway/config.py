"""The gateway's configuration file (brokers.yaml): typed, frozen, strict.

:func:`load_config` turns YAML into a :class:`GatewayConfig` or raises
ConfigError naming the file, the key path, the bad value and what is allowed.
Unknown keys are errors, not ignored. Secrets are never in the file: brokers
and external collectors name the environment variables that hold them.

Ids are unique across ``brokers`` and ``external`` (both publish statuses on
``market.<id>.status``). A gateway may run external collectors only: ``brokers``
may then be empty or left out; a file with neither an enabled broker nor an
enabled external collector is refused, since it would publish nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from collectors.external.base import ExternalConfig
from collectors.registry import CONFIGS, EXTERNAL_CONFIGS, BrokerConfig, ExternalEntryConfig
from gateway.aggregator import DEFAULT_STALE_AFTER_MS
from gateway.broker_quality import (
    DEFAULT_COMPLETENESS_FLOOR,
    DEFAULT_SWITCH_HOLD_S,
    DEFAULT_SWITCH_LEAD,
    DEFAULT_WEIGHT_AT_BEST,
    DEFAULT_WEIGHT_COMPLETENESS,
    DEFAULT_WEIGHT_QUOTE_AGE,
    DEFAULT_WEIGHT_SPREAD,
    DEFAULT_WEIGHT_UPTIME,
    DEFAULT_WINDOW_S,
    BrokerQualityPolicy,
    ScoreWeights,
)
from gateway.cycle import DEFAULT_MAX_BATCH_TICKS
from gateway.echo import clip, shown
from gateway.errors import ConfigError
from gateway.instruments import INSTRUMENT_PATTERN
from gateway.kafka.records import (
    DEFAULT_BEST_PRICES_TOPIC,
    DEFAULT_EXTERNAL_TOPIC,
    DEFAULT_REJECTIONS_TOPIC,
    DEFAULT_STATUS_TOPIC,
    DEFAULT_TICKS_TOPIC,
    KafkaTopics,
)
from gateway.nats_connect import NatsCredentials
from gateway.prices import PRICE_SCALE
from gateway.quality import (
    DEFAULT_JUMP_CONFIRM_TICKS,
    DEFAULT_JUMP_RESET_AFTER_MS,
    DEFAULT_MAX_AGE_MS,
    DEFAULT_MAX_FUTURE_MS,
    DEFAULT_MAX_JUMP_PIPS,
    DEFAULT_MAX_SPREAD_PIPS,
    InstrumentLimits,
    QualityPolicy,
)
from gateway.secrets import ENV_NAME_PATTERN, display_url, environment_secret, redact

DEFAULT_NATS_URL: Final = "nats://127.0.0.1:4222"
DEFAULT_PENDING_BYTES: Final = 16 * 1024 * 1024
DEFAULT_LINGER_MS: Final = 0.5
DEFAULT_HTTP_HOST: Final = "127.0.0.1"
DEFAULT_HTTP_PORT: Final = 8080
DEFAULT_STATE_DIR: Final = "state"
"""External collectors' state (collectors.external.changes), beside the default spool directory ``spool``."""
DEFAULT_MAX_UNACKED_AGE_S: Final = 5.0
"""Kafka acknowledges within milliseconds when it is well; 5 s of waiting means frozen, partitioned or overloaded."""
SUBJECT_TOKEN: Final = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
MAX_CONFIG_BYTES: Final = 1024 * 1024
"""A real config is a few KB; a larger file is a mistake (or hostile) and is not parsed."""
MAX_PROBLEMS_SHOWN: Final = 50
"""Problems listed in one ConfigError; the rest are counted."""
MAX_CONFIG_VALUES: Final = 100_000
"""Values (keys, scalars, lists, mappings) a config may expand to through YAML aliases."""
_FOREIGN_BOMS: Final = (
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
)
TOPIC_NAME: Final = r"^[A-Za-z0-9._-]{1,249}$"


def _relative(value: Path | None, info: ValidationInfo) -> Path | None:
    """A path of the config, anchored at the config file's folder when relative."""
    base_dir = (info.context or {}).get("base_dir")
    if value is None or base_dir is None or value.is_absolute():
        return value
    return Path(base_dir) / value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NatsConfig(_Strict):
    """Where and how to publish."""

    url: str = Field(default=DEFAULT_NATS_URL, pattern=r"^(nats|tls|ws|wss)://")
    subject_prefix: str = Field(default="market", pattern=SUBJECT_TOKEN)
    max_batch_ticks: int = Field(default=DEFAULT_MAX_BATCH_TICKS, ge=1, le=10_000)
    linger_ms: float = Field(
        default=DEFAULT_LINGER_MS, ge=0, le=100, description="Most a tick waits for others to share its message."
    )
    pending_bytes: int = Field(default=DEFAULT_PENDING_BYTES, ge=0, description="Buffered while disconnected.")
    reconnect_wait_ms: int = Field(default=500, ge=10)
    connect_timeout_s: float = Field(default=5.0, gt=0, description="The first connection must succeed within this.")
    user_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN, description="Variable holding the NATS user.")
    password_env: str | None = Field(
        default=None, pattern=ENV_NAME_PATTERN, description="Variable holding its password."
    )
    token_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN, description="Variable holding a NATS token.")
    creds_file: Path | None = Field(default=None, description="JWT + NKey .creds file, relative to the config file.")
    nkey_seed_file: Path | None = Field(default=None, description="NKey seed file, relative to the config file.")

    @field_validator("creds_file", "nkey_seed_file", mode="after")
    @classmethod
    def _relative_to_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _relative(value, info)

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> NatsConfig:
        if (self.user_env is None) != (self.password_env is None):
            raise ValueError("user_env and password_env go together")
        ways = [self.user_env, self.token_env, self.creds_file, self.nkey_seed_file]
        if sum(way is not None for way in ways) > 1:
            raise ValueError("give one of user_env/password_env, token_env, creds_file or nkey_seed_file")
        return self

    def credentials(self) -> NatsCredentials:
        """The credentials these keys name, read from the environment now (ConfigError for an unset variable)."""

        def secret(name: str | None, key: str) -> str | None:
            return environment_secret(name, f"nats.{key}") if name is not None else None

        return NatsCredentials(
            user=secret(self.user_env, "user_env"),
            password=secret(self.password_env, "password_env"),
            token=secret(self.token_env, "token_env"),
            creds_file=self.creds_file,
            nkey_seed_file=self.nkey_seed_file,
        )

    @property
    def environment_variables(self) -> tuple[str, ...]:
        """The variables these keys name (for ``fxgw check-config``)."""
        return tuple(name for name in (self.user_env, self.password_env, self.token_env) if name is not None)


class InstrumentLimitsConfig(_Strict):
    pip_size: str | None = Field(default=None, description="Decimal string, e.g. '0.01' for XAU_USD.")
    max_spread_pips: float | None = Field(default=None, gt=0)
    max_jump_pips: float | None = Field(default=None, gt=0)

    @field_validator("pip_size")
    @classmethod
    def _pip_is_power_of_ten(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            pip = Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"{value!r} is not a decimal number") from exc
        if not pip.is_finite() or pip <= 0 or (pip * PRICE_SCALE) != int(pip * PRICE_SCALE):
            raise ValueError(f"{value!r} must be positive with at most 9 decimals")
        return value

    def to_limits(self) -> InstrumentLimits:
        pip_px = int(Decimal(self.pip_size) * PRICE_SCALE) if self.pip_size is not None else None
        return InstrumentLimits(pip_px, self.max_spread_pips, self.max_jump_pips)


class QualityConfig(_Strict):
    """Limits of the quality gate; see gateway.quality for what each check does."""

    max_spread_pips: float = Field(default=DEFAULT_MAX_SPREAD_PIPS, gt=0)
    max_jump_pips: float = Field(default=DEFAULT_MAX_JUMP_PIPS, gt=0)
    max_age_ms: int = Field(default=DEFAULT_MAX_AGE_MS, gt=0)
    max_future_ms: int = Field(default=DEFAULT_MAX_FUTURE_MS, ge=0)
    jump_confirm_ticks: int = Field(default=DEFAULT_JUMP_CONFIRM_TICKS, ge=2, le=100)
    jump_reset_after_ms: int = Field(default=DEFAULT_JUMP_RESET_AFTER_MS, gt=0)
    instruments: dict[str, InstrumentLimitsConfig] = Field(default_factory=dict)

    @field_validator("instruments")
    @classmethod
    def _instrument_names(cls, value: dict[str, InstrumentLimitsConfig]) -> dict[str, InstrumentLimitsConfig]:
        for name in value:
            if INSTRUMENT_PATTERN.fullmatch(name) is None:
                raise ValueError(f"instrument {name!r} is not of the form BASE_QUOTE (e.g. XAU_USD)")
        return value

    def to_policy(self) -> QualityPolicy:
        return QualityPolicy(
            max_spread_pips=self.max_spread_pips,
            max_jump_pips=self.max_jump_pips,
            max_age_ms=self.max_age_ms,
            max_future_ms=self.max_future_ms,
            jump_confirm_ticks=self.jump_confirm_ticks,
            jump_reset_after_ms=self.jump_reset_after_ms,
            instruments={name: limits.to_limits() for name, limits in self.instruments.items()},
        )


class BestPriceConfig(_Strict):
    stale_after_ms: int = Field(default=DEFAULT_STALE_AFTER_MS, gt=0)
    publish: bool = Field(
        default=True,
        description="false when a standalone aggregator (fxgw aggregate) publishes the best price: a gateway running"
        " a subset of the brokers would otherwise publish a partial best price of its own (README: Running at scale).",
    )


class ScoreWeightsConfig(_Strict):
    """Weights of the broker score (gateway.broker_quality); they must sum to 1."""

    at_best: float = Field(default=DEFAULT_WEIGHT_AT_BEST, ge=0, le=1)
    spread: float = Field(default=DEFAULT_WEIGHT_SPREAD, ge=0, le=1)
    completeness: float = Field(default=DEFAULT_WEIGHT_COMPLETENESS, ge=0, le=1)
    uptime: float = Field(default=DEFAULT_WEIGHT_UPTIME, ge=0, le=1)
    quote_age: float = Field(default=DEFAULT_WEIGHT_QUOTE_AGE, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> ScoreWeightsConfig:
        total = self.at_best + self.spread + self.completeness + self.uptime + self.quote_age
        if abs(total - 1) > 1e-6:
            raise ValueError(f"the weights must sum to 1, not {total:g}")
        return self


class BrokerQualityConfig(_Strict):
    """Broker quality figures and the recommended broker per instrument (gateway.broker_quality, README)."""

    window_s: float = Field(default=DEFAULT_WINDOW_S, ge=1, le=86_400)
    completeness_floor: float = Field(default=DEFAULT_COMPLETENESS_FLOOR, ge=0, le=1)
    switch_lead: float = Field(default=DEFAULT_SWITCH_LEAD, ge=0, le=1)
    switch_hold_s: float = Field(default=DEFAULT_SWITCH_HOLD_S, ge=0, le=86_400)
    weights: ScoreWeightsConfig = Field(default_factory=ScoreWeightsConfig)

    def to_policy(self, stale_after_ms: int) -> BrokerQualityPolicy:
        """The policy, with the best price's staleness window."""
        weights = self.weights
        return BrokerQualityPolicy(
            window_s=self.window_s,
            completeness_floor=self.completeness_floor,
            switch_lead=self.switch_lead,
            switch_hold_s=self.switch_hold_s,
            weights=ScoreWeights(
                weights.at_best, weights.spread, weights.completeness, weights.uptime, weights.quote_age
            ),
            stale_after_ms=stale_after_ms,
        )


MAX_SPOOL_SEGMENTS: Final = 100_000
"""Most segments a full spool may have (max_bytes / segment_bytes): the Kafka writer process is started with
their list, one line on its stdin (gateway.kafka.writer.MAX_START_BYTES)."""


class SpoolConfig(_Strict):
    """The on-disk spool in front of Kafka (gateway.kafka.spool); relative paths are relative to the config file."""

    dir: Path = Field(default=Path("spool"), validate_default=True)
    """Relative to the config file's folder, the default too (validate_default runs the anchoring on it)."""
    max_bytes: int = Field(default=1024**3, ge=1024**2, description="Undelivered data kept; beyond it, see README.")
    segment_bytes: int = Field(default=64 * 1024**2, ge=64 * 1024)
    fsync: Literal["always", "interval", "never"] = "interval"
    fsync_interval_ms: int = Field(default=200, ge=1)

    @field_validator("dir", mode="after")
    @classmethod
    def _relative_to_config(cls, value: Path, info: ValidationInfo) -> Path:
        relative = _relative(value, info)
        assert relative is not None
        return relative

    @model_validator(mode="after")
    def _segment_fits(self) -> SpoolConfig:
        if self.segment_bytes > self.max_bytes:
            raise ValueError("segment_bytes must not exceed max_bytes")
        if self.max_bytes // self.segment_bytes > MAX_SPOOL_SEGMENTS:
            raise ValueError(
                f"max_bytes / segment_bytes is {self.max_bytes // self.segment_bytes:,} segments, at most "
                f"{MAX_SPOOL_SEGMENTS:,}: raise segment_bytes (the Kafka writer is handed the list of segments)"
            )
        return self


class KafkaConfig(_Strict):
    """Durable backup: what goes to Kafka and how (see gateway.kafka.backup)."""

    enabled: bool = False
    bootstrap_servers: str = Field(default="127.0.0.1:9092", pattern=r"^[^\s,]+:\d+(,[^\s,]+:\d+)*$")
    ticks_topic: str = Field(default=DEFAULT_TICKS_TOPIC, pattern=TOPIC_NAME)
    best_prices_topic: str = Field(default=DEFAULT_BEST_PRICES_TOPIC, pattern=TOPIC_NAME)
    rejections_topic: str = Field(default=DEFAULT_REJECTIONS_TOPIC, pattern=TOPIC_NAME)
    status_topic: str = Field(default=DEFAULT_STATUS_TOPIC, pattern=TOPIC_NAME)
    external_topic: str = Field(default=DEFAULT_EXTERNAL_TOPIC, pattern=TOPIC_NAME)
    compression: Literal["lz4", "zstd", "gzip", "snappy", "none"] = Field(
        default="zstd", description="aiokafka's lz4 is LZ4 HC level 9: 4x zstd's CPU per tick, for a larger result."
    )
    linger_ms: int = Field(
        default=0, ge=0, le=1000, description="The writer hands over a whole chunk at once; lingering only delays it."
    )
    request_timeout_ms: int = Field(default=30_000, ge=100)
    max_unacked_age_s: float = Field(
        default=DEFAULT_MAX_UNACKED_AGE_S,
        gt=0,
        le=86_400,
        description="/health is degraded while the oldest spooled record has waited longer for Kafka.",
    )
    spool: SpoolConfig = Field(default_factory=dict, validate_default=True)  # type: ignore[arg-type]
    """Built from ``{}`` when absent, so that its default ``dir`` is anchored at the config file's folder too."""

    @property
    def topics(self) -> KafkaTopics:
        return KafkaTopics(
            self.ticks_topic, self.best_prices_topic, self.rejections_topic, self.status_topic, self.external_topic
        )


class HttpConfig(_Strict):
    """The operations endpoint, GET /health and GET /metrics (gateway.ops.server).

    On by default and on loopback: an opt-in health check is the one nobody has when the spool fills, and
    the answers name brokers, accounts' errors and topology, so exposing them beyond the host (``0.0.0.0``
    in a container) is a deliberate choice.
    """

    enabled: bool = True
    host: str = Field(default=DEFAULT_HTTP_HOST, pattern=r"^[A-Za-z0-9._:-]+$", description="Address to listen on.")
    port: int = Field(default=DEFAULT_HTTP_PORT, ge=0, le=65535, description="0 = any free port (logged).")
    live_page: bool = Field(default=True, description="Serve the live page (gateway.ops.live_page) at /.")


class CentralHubConfig(_Strict):
    """Registration with the Central Hub (gateway.registration): record at start, heartbeats, deregistration."""

    enabled: bool = False
    url: str = Field(default="http://127.0.0.1:7000", pattern=r"^https?://[^\s/]+/?$")
    heartbeat_interval_s: float = Field(default=10.0, gt=0, le=3600, allow_inf_nan=False)


MAX_CPU_NUMBER: Final = 8191
"""The highest CPU number accepted in ``cpus`` (Linux's default CONFIG_NR_CPUS limit is 8192 CPUs)."""


class CpusConfig(_Strict):
    """CPU placement (gateway.placement, Linux): the event loop's thread alone on ``event_loop``, the gateway's
    helper threads and its Kafka writer on the other CPUs it may use. Empty: the OS places everything."""

    event_loop: tuple[Annotated[int, Field(strict=True, ge=0, le=MAX_CPU_NUMBER)], ...] = Field(
        default=(), max_length=MAX_CPU_NUMBER + 1
    )

    @field_validator("event_loop", mode="after")
    @classmethod
    def _each_cpu_once(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        repeated = sorted(cpu for cpu, times in Counter(value).items() if times > 1)
        if repeated:
            raise ValueError(f"each CPU once; repeated: {', '.join(map(str, repeated))}")
        return value


class GatewayConfig(_Strict):
    """The whole file."""

    instance_id: str = Field(default="fxgw", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    nats: NatsConfig = Field(default_factory=NatsConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    best_price: BestPriceConfig = Field(default_factory=BestPriceConfig)
    broker_quality: BrokerQualityConfig = Field(default_factory=BrokerQualityConfig)
    brokers: tuple[BrokerConfig, ...] = ()
    external: tuple[ExternalEntryConfig, ...] = ()
    state_dir: Path | None = Field(
        default=Path(DEFAULT_STATE_DIR),
        validate_default=True,
        description="Where external collectors keep their change-detection state, relative to the config file;"
        " null keeps it in memory only (nothing survives a restart: the demo).",
    )
    kafka: KafkaConfig = Field(default_factory=dict, validate_default=True)  # type: ignore[arg-type]
    """Built from ``{}`` when absent (see KafkaConfig.spool)."""
    http: HttpConfig = Field(default_factory=HttpConfig)
    central_hub: CentralHubConfig = Field(default_factory=CentralHubConfig)
    cpus: CpusConfig = Field(default_factory=CpusConfig)

    @field_validator("state_dir", mode="after")
    @classmethod
    def _state_dir_relative_to_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _relative(value, info)

    @model_validator(mode="after")
    def _unique_ids_and_supported_parts(self) -> GatewayConfig:
        if not self.brokers and not self.external:  # all disabled is valid here; `fxgw run` refuses to start
            raise ValueError("list at least one broker or external collector")
        ids = [broker.id for broker in self.brokers] + [collector.id for collector in self.external]
        duplicated = sorted({source_id for source_id in ids if ids.count(source_id) > 1})
        if duplicated:
            raise ValueError(
                f"ids of brokers and external collectors must be unique; repeated: {', '.join(duplicated)}"
            )
        return self

    @property
    def enabled_brokers(self) -> tuple[BrokerConfig, ...]:
        return tuple(broker for broker in self.brokers if broker.enabled)

    @property
    def enabled_external(self) -> tuple[ExternalConfig, ...]:
        return tuple(collector for collector in self.external if collector.enabled)


def load_config(path: Path) -> GatewayConfig:
    """Read and validate a YAML config file; raises ConfigError with every problem found.

    The file must be UTF-8 (a byte-order mark of UTF-16 or UTF-32 is named as such), at most
    ``MAX_CONFIG_BYTES``, without duplicate keys, and expand (YAML aliases included) to at most
    ``MAX_CONFIG_VALUES`` values; anything else is a ConfigError naming the file and what was wrong.
    """
    return parse_config(read_config_document(path), str(path), base_dir=path.parent)


def read_config_document(path: Path) -> Any:
    """The YAML document of a config file, with the bounds and checks :func:`load_config` describes (ConfigError)."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    return _load_yaml(raw, path)


def _load_yaml(raw: bytes, path: Path) -> Any:
    """The YAML document in ``raw``, or ConfigError naming what is wrong with it."""
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes; this is not a gateway config")
    for bom, encoding in _FOREIGN_BOMS:
        if raw.startswith(bom):
            raise ConfigError(f"{path}: the file is {encoding}; save it as UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start} (line {line})"
        ) from exc
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {clip(str(exc))}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: nested too deeply to be a gateway config") from exc
    except ValueError as exc:  # an integer of thousands of digits (Python's int conversion limit)
        raise ConfigError(f"{path}: a value is not usable: {clip(str(exc))}") from exc
    _check_size(data, path)
    return data


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader refusing a key given twice in a mapping: YAML keys are unique, PyYAML keeps the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the constructor below names it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {shown(key)} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _check_size(data: Any, path: Path) -> None:
    """ConfigError when ``data`` expands (YAML aliases repeat shared parts) to more than MAX_CONFIG_VALUES values."""
    pending, count = [data], 0
    while pending:
        node = pending.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ConfigError(
                f"{path}: expands to more than {MAX_CONFIG_VALUES:,} values; this is not a gateway config"
            )
        if isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def parse_config(data: Any, origin: str = "<config>", base_dir: Path | None = None) -> GatewayConfig:
    """Validate already-loaded data; ``origin`` names the file, ``base_dir`` anchors relative paths."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return GatewayConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        lines = _merge_union_branches(_describe(e) for e in exc.errors())
        if len(lines) > MAX_PROBLEMS_SHOWN:
            lines = [*lines[:MAX_PROBLEMS_SHOWN], f"... and {len(lines) - MAX_PROBLEMS_SHOWN:,} more problems"]
        problems = "\n".join(f"  {line}" for line in lines)
        raise ConfigError(f"{origin}: invalid configuration:\n{problems}") from exc


def _shown_input(value: object) -> str:
    """A refused value for an error line, bounded, with URL credentials masked and known secrets redacted."""
    return shown(redact(display_url(value)) if isinstance(value, str) else value, 80)


def _describe(error: Any) -> str:
    """One line per problem: key path, bad value, and what is allowed."""
    location = error["loc"]
    path = _format_path(location)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(location[:-1])
        return f"{path}: unknown key; allowed keys: {', '.join(allowed)}"
    message = error["msg"].removeprefix("Value error, ")
    kinds = ", ".join(EXTERNAL_CONFIGS if location[:1] == ("external",) else CONFIGS)
    if error["type"] == "union_tag_not_found":
        return f"{path}.kind: required key is missing; allowed: {kinds}"
    if error["type"] == "union_tag_invalid":
        return f"{path}.kind: {shown(error['input'].get('kind'))} is not a known kind; allowed: {kinds}"
    if error["type"] == "missing":
        return f"{path}: required key is missing"
    if "input" in error and not isinstance(error["input"], dict | list):
        return f"{path}: {_shown_input(error['input'])} is not allowed: {clip(message)}"
    return f"{path}: {clip(message)}"


def _merge_union_branches(lines: Iterable[str]) -> list[str]:
    """One line per key: a value refused by every branch of a union gets the branches' reasons joined."""
    merged: dict[str, str] = {}
    for line in lines:
        path, _, reason = line.partition(": ")
        merged[path] = f"{merged[path]}; or {reason.split(' is not allowed: ')[-1]}" if path in merged else reason
    return [f"{path}: {reason}" for path, reason in merged.items()]


def _format_path(location: tuple[Any, ...]) -> str:
    return _walk(location)[0] or "<top level>"


def _allowed_keys(location: tuple[Any, ...]) -> list[str]:
    """Field names of the model at ``location``."""
    node = _walk(location)[1]
    return sorted(node.model_fields) if isinstance(node, type) and issubclass(node, BaseModel) else []


def _walk(location: tuple[Any, ...]) -> tuple[str, Any]:
    """Follow a pydantic error location through the config models: (key path as written, type there).

    Pydantic also puts union branches in locations (a broker's kind, "float",
    "literal['max']"); they are not keys a user wrote, so they are left out.
    """
    path = ""
    node: Any = GatewayConfig
    kinds = EXTERNAL_CONFIGS if location[:1] == ("external",) else CONFIGS
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
            node = get_args(node)[0] if get_origin(node) in (tuple, list) else None
        elif isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(part)
            path += f".{part}" if path else part
            node = field.annotation if field is not None else None
        elif get_origin(node) is dict:
            path += f".{part}"
            node = get_args(node)[1]
        elif part in kinds:
            node = kinds[part]
    return path, node
