"""The gateway's side of the Central Hub: its record, registration, heartbeats, deregistration, NATS discovery.

With ``central_hub.enabled`` the gateway registers its full record (:func:`build_record`) with the hub at
start, before its collectors run: a broker source the hub says another live instance owns (409) is not
started, and the log and /health name the owner. Then it re-sends the record every
``heartbeat_interval_s`` with the status and problems of its own /health, and deregisters on a clean stop.

The hub being down or slow never holds up ticks: the start waits at most :data:`START_TIMEOUT_S` for it and
then starts every source; later failures are counted, logged (throttled), shown on /health as degraded,
and retried with gateway.backoff, from :data:`RETRY_MIN_S` up to one heartbeat interval apart. A source the hub
names as another's only after it started here (the hub was unreachable at start) keeps running, is left out of
the record and is named on /health: stopping one of the two is the operator's call.

Whether the hub is enabled or not, every gateway also answers NATS's service discovery (nats-py's
``nats.micro``: ``$SRV.PING``, ``$SRV.INFO``, ``$SRV.STATS``; ``nats micro ls``) as service ``fxgw`` with its
instance id, health URL and subjects as metadata, and an ``info`` endpoint (``fxgw.info.<instance_id>``)
answering its record as JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import httpx
from nats.aio.client import Client as NatsClient
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import EndpointConfig, Service

from gateway.backoff import Backoff
from gateway.config import GatewayConfig
from gateway.echo import clip
from gateway.logs import ThrottledLog
from gateway.secrets import display_url, redact, remember_url_credentials
from gateway.wire import BEST_SOURCE, Subjects

logger = logging.getLogger(__name__)

PROTOCOL: Final = "nats+kafka"
SERVICE_NAME: Final = "fxgw"
START_TIMEOUT_S: Final = 3.0
"""Longest wait for the hub at start; beyond it every source starts and registration is retried."""
REQUEST_TIMEOUT_S: Final = 5.0
MAX_ANSWER_BYTES: Final = 64 * 1024
"""The hub's answers are a few KiB (the stored record, an error); more is not read."""
RETRY_MIN_S: Final = 0.5
_WILDCARD_HOSTS: Final = ("0.0.0.0", "::", "")


def package_version() -> str:
    try:
        return version("fxgw")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "0.0.0"


def build_record(
    config: GatewayConfig,
    session_id: int,
    http_port: int | None,
    status: str,
    problems: tuple[str, ...],
    excluded: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The record the hub stores (central_hub.models.GatewayRecord), from the config and the running gateway.

    ``excluded`` are sources not running (refused by the hub); the NATS URL is shown without credentials.
    """
    subjects = Subjects(config.nats.subject_prefix)
    brokers = [broker for broker in config.enabled_brokers if broker.id not in excluded]
    external = config.enabled_external
    host = socket.gethostname()
    http_host = host if config.http.host in _WILDCARD_HOSTS else config.http.host
    http_host = f"[{http_host}]" if ":" in http_host else http_host
    base = f"http://{http_host}:{http_port}" if http_port is not None else None
    kafka = config.kafka
    names = [name for broker in brokers for name in (subjects.ticks(broker.id), subjects.status(broker.id))]
    names += [subjects.ticks(BEST_SOURCE)] if brokers and config.best_price.publish else []
    names += [subjects.rejected] if brokers else []
    names += [name for entry in external for name in (subjects.status(entry.id), subjects.external(entry.kind))]
    return {
        "instance_id": config.instance_id,
        "session_id": session_id,
        "version": package_version(),
        "host": host[:255],
        "http_port": http_port,
        "health_url": f"{base}/health" if base else None,
        "metrics_url": f"{base}/metrics" if base else None,
        "protocol": PROTOCOL,
        "nats_url": display_url(config.nats.url),
        "subject_prefix": config.nats.subject_prefix,
        "subjects": list(dict.fromkeys(names)),
        "kafka": {
            "bootstrap": kafka.bootstrap_servers,
            "ticks_topic": kafka.ticks_topic,
            "best_prices_topic": kafka.best_prices_topic,
            "rejections_topic": kafka.rejections_topic,
            "status_topic": kafka.status_topic,
            "external_topic": kafka.external_topic,
        }
        if kafka.enabled
        else None,
        "sources": [
            {"id": broker.id, "kind": broker.kind, "instruments": list(broker.instruments)} for broker in brokers
        ]
        + [{"id": entry.id, "kind": entry.kind, "external": True} for entry in external],
        "heartbeat_interval_s": config.central_hub.heartbeat_interval_s,
        "status": status,
        "problems": [clip(problem, 256 - 40) for problem in problems[:64]],
    }


@dataclass(slots=True)
class RegistrationStats:
    """What /health shows of the registration (gateway.ops.snapshot.HubSnapshot copies it)."""

    registered: bool = False
    """The hub's last answer accepted the record."""
    heartbeats: int = 0
    failures: int = 0
    """Registrations or heartbeats that did not get through (hub unreachable, 5xx, refused)."""
    last_error: str = ""
    refused_sources: dict[str, str] = field(default_factory=dict)
    """Sources not started because another instance owns them: source id -> owner instance id."""
    contested_sources: dict[str, str] = field(default_factory=dict)
    """Sources already running here when the hub named another owner (it was unreachable at start): both run."""


class HubRegistration:
    """Registers one gateway with the hub and keeps it registered; :meth:`run` is a task of the gateway."""

    def __init__(
        self,
        config: GatewayConfig,
        session_id: int,
        record: Callable[[frozenset[str]], dict[str, Any]],
    ) -> None:
        """``record(excluded)`` builds the current record (status and problems of /health included)."""
        self._config = config
        self._session_id = session_id
        self._record = record
        hub_url = remember_url_credentials(config.central_hub.url)  # user:password@ in it: redacted from now on
        self._url = f"{hub_url.rstrip('/')}/v1/gateways/{config.instance_id}"
        self._client = httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S)
        self._errors = ThrottledLog(logger)
        self.stats = RegistrationStats()
        self._started = False
        self._brokers = frozenset(broker.id for broker in config.enabled_brokers)
        """The only sources a refusal may name (a hub's answer is bounded by them)."""

    @property
    def excluded(self) -> frozenset[str]:
        """Sources left out of the record: not started (owned elsewhere) or contested since the start."""
        return frozenset(self.stats.refused_sources) | frozenset(self.stats.contested_sources)

    @property
    def hub_url(self) -> str:
        return display_url(self._config.central_hub.url)

    async def register_at_start(self) -> frozenset[str]:
        """Register before the sources start; the sources another instance owns (not to be started)."""
        try:
            await asyncio.wait_for(self._send(), START_TIMEOUT_S)
        except TimeoutError:
            self._failed(f"no answer within {START_TIMEOUT_S:g} s")
        self._started = True
        return frozenset(self.stats.refused_sources)

    async def run(self) -> None:
        """Heartbeat every ``heartbeat_interval_s``; after a failure retry sooner, with backoff, up to that."""
        interval_s = self._config.central_hub.heartbeat_interval_s
        backoff = Backoff(min(RETRY_MIN_S, interval_s), interval_s)
        while True:
            if self.stats.registered:
                backoff.reset()
                await asyncio.sleep(interval_s)
            else:
                await asyncio.sleep(backoff.next_delay())
            await self._send()

    async def deregister(self, timeout_s: float) -> None:
        """Remove this session's record and release its claims; a failure is logged, never raised."""
        try:
            if self.stats.registered:
                status, body = await asyncio.wait_for(
                    self._request("DELETE", params={"session_id": str(self._session_id)}), timeout_s
                )
                if status in (204, 404):
                    logger.info("gateway %s: deregistered from the central hub", self._config.instance_id)
                else:
                    logger.warning(
                        "gateway %s: the central hub refused the deregistration: %s %s",
                        self._config.instance_id,
                        status,
                        clip(body.decode(errors="replace"), 200),
                    )
        except (httpx.HTTPError, TimeoutError) as exc:
            logger.warning(
                "gateway %s: deregistration from the central hub %s failed: %s; the record expires by itself",
                self._config.instance_id,
                self.hub_url,
                type(exc).__name__,
            )
        finally:
            await self._client.aclose()

    async def _send(self) -> None:
        """One registration or heartbeat; the outcome goes to :attr:`stats` and the log."""
        stats = self.stats
        refused = stats.contested_sources if self._started else stats.refused_sources
        record = self._record(self.excluded)
        try:
            status, answer = await self._request("PUT", content=json.dumps(record).encode())
        except httpx.HTTPError as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return
        if status == 200:
            if not self.stats.registered:
                logger.info("gateway %s: registered with the central hub %s", self._config.instance_id, self.hub_url)
            self.stats.registered = True
            self.stats.heartbeats += 1
            self.stats.last_error = ""
            return
        body = _json_object(answer)
        owners = body.get("owners")
        if status == 409 and isinstance(owners, dict) and owners:
            known = len(refused)
            for source, owner in owners.items():
                if source in self._brokers and source not in refused and isinstance(owner, str):
                    refused[source] = clip(owner, 64)
                    logger.error(
                        "gateway %s: source %s %s: the central hub says instance %s owns it",
                        self._config.instance_id,
                        source,
                        "runs here too (left out of the record; stop one of them)" if self._started else "not started",
                        refused[source],
                    )
            if len(refused) > known:  # again without them, at once
                await self._send()
                return
        error = body.get("error")
        self._failed(f"HTTP {status}: {clip(str(error) if error else answer.decode(errors='replace'), 300)}")

    async def _request(self, method: str, **options: Any) -> tuple[int, bytes]:
        """Status and body (at most :data:`MAX_ANSWER_BYTES`: the rest is not read) of one request to the hub."""
        async with self._client.stream(method, self._url, **options) as answer:
            body = bytearray()
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    break
            return answer.status_code, bytes(body[:MAX_ANSWER_BYTES])

    def _failed(self, reason: str) -> None:
        self.stats.registered = False
        self.stats.failures += 1
        self.stats.last_error = clip(redact(reason), 300)
        self._errors.warning(
            "gateway %s: central hub %s: %s (ticks keep flowing; retrying)",
            self._config.instance_id,
            self.hub_url,
            self.stats.last_error,
        )


def _json_object(answer: bytes) -> dict[str, Any]:
    """The hub's JSON answer as a dict; empty for anything else (not JSON, too deep, cut at the size cap)."""
    try:
        body = json.loads(answer)
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


async def start_discovery(client: NatsClient, current_record: Callable[[], dict[str, Any]]) -> Service:
    """The gateway's NATS service (``$SRV.*``), with an ``info`` endpoint answering ``current_record()`` as JSON."""
    record = current_record()
    metadata = {
        "instance_id": str(record["instance_id"]),
        "session_id": str(record["session_id"]),
        "health_url": str(record["health_url"] or ""),
        "subject_prefix": str(record["subject_prefix"]),
        "subjects": ",".join(record["subjects"]),
        "sources": ",".join(source["id"] for source in record["sources"]),
    }
    service = await add_service(
        client,
        name=SERVICE_NAME,
        version=package_version(),
        description="fxgw forex tick gateway",
        metadata=metadata,
    )

    async def info(request: Request) -> None:
        await request.respond(json.dumps(current_record()).encode())

    await service.add_endpoint(
        EndpointConfig(name="info", subject=f"{SERVICE_NAME}.info.{record['instance_id']}", handler=info)
    )
    return service
