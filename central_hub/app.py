"""The Central Hub's HTTP API (FastAPI on uvicorn) over a :class:`~central_hub.store.Registry`.

Routes (all JSON; README "Central Hub" has the table):

- ``PUT /v1/gateways/{instance_id}``: register or refresh with the full record (200 + the stored document;
  409 zombie session or a source owned by another live instance, naming it; 422 bad record or a body over
  :data:`~central_hub.models.MAX_BODY_BYTES`, refused before parsing);
- ``DELETE /v1/gateways/{instance_id}?session_id=N``: deregister (204; 404 absent; 409 another session);
- ``GET /v1/gateways?source=&instrument=&status=&index=&wait=``: the list, filtered; with ``index`` it blocks
  until the registry's index passes it or ``wait`` (default 30 s, at most :data:`MAX_WAIT_S`) ends. The index is
  in the body and in the ``X-Fxgw-Index`` header;
- ``GET /v1/gateways/{instance_id}``, ``GET /v1/routes?instrument=EUR_USD``;
- ``GET /health`` (503 until the cache holds the bucket's snapshot, or while NATS is disconnected), ``GET /metrics``.

Every /v1 route answers 503 with ``Retry-After`` while the bucket cannot be read or written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import ValidationError

from central_hub.models import (
    INSTANCE_ID_PATTERN,
    MAX_BODY_BYTES,
    Filters,
    GatewayRecord,
    Status,
    document,
    routes,
    status_of,
)
from central_hub.store import Refused, Registry
from gateway.echo import shown
from gateway.errors import RegistryUnavailableError
from gateway.instruments import INSTRUMENT_PATTERN

RETRY_AFTER_S: Final = 2
"""What a 503 asks clients to wait: about one NATS reconnect interval."""
DEFAULT_WAIT_S: Final = 30.0
MAX_WAIT_S: Final = 60.0
"""Longest blocking query: beyond it, proxies and clients time out anyway."""
MAX_REPORTED_ERRORS: Final = 10
"""Validation errors listed in a 422 (the count says how many there were)."""
_WAIT: Final = re.compile(r"([0-9]{1,6}(?:\.[0-9]{1,3})?)(ms|s|m)?")
_UNIT_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}
_INSTANCE_ID: Final = re.compile(INSTANCE_ID_PATTERN)
_COUNT: Final = re.compile(r"[0-9]{1,19}")
"""A session id or an index: up to 19 ASCII digits (``str.isdigit`` also takes ``²``)."""


class HubMetrics(Collector):
    """Gauges read from the registry when scraped; counters the routes increment."""

    def __init__(self, registry: Registry, clock_ns: Callable[[], int], prometheus: CollectorRegistry) -> None:
        self._registry = registry
        self._clock_ns = clock_ns
        self.requests = Counter(
            "fxgw_hub_requests",
            "Registry requests by operation and outcome",
            ["operation", "outcome"],
            registry=prometheus,
        )
        prometheus.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._clock_ns()
        gateways = GaugeMetricFamily("fxgw_hub_gateways", "Registered gateways by listed status", labels=["status"])
        listed = [status_of(stored, now) for stored in self._registry.gateways.values()]
        for status in Status:
            gateways.add_metric([status.value], listed.count(status))
        yield gateways
        yield GaugeMetricFamily("fxgw_hub_index", "Registry index (bucket revision)", value=self._registry.index)
        yield GaugeMetricFamily("fxgw_hub_synced", "1 while the cache follows the bucket", value=self._registry.synced)


def _error(status: int, message: str, **fields: Any) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return JSONResponse({"error": message, **fields}, status_code=status, headers=headers)


def _unavailable(reason: str) -> JSONResponse:
    return _error(503, f"registry unavailable: {reason}; retry later")


def _validation_errors(exc: ValidationError) -> list[str]:
    """The first errors, each as ``location: message``, without the input (it may be huge or hostile)."""
    return [
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)[:MAX_REPORTED_ERRORS]
    ]


def parse_wait(text: str | None) -> float | None:
    """``wait`` of a blocking query in seconds (``30s``, ``500ms``, ``1m``, ``10``), capped; None when malformed."""
    if text is None:
        return DEFAULT_WAIT_S
    match = _WAIT.fullmatch(text)
    if match is None:
        return None
    return min(MAX_WAIT_S, float(match[1]) * _UNIT_S[match[2]])


async def read_capped(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The request body, or None as soon as it is known to exceed ``limit`` bytes (the rest is not read)."""
    declared = request.headers.get("content-length", "")
    if _COUNT.fullmatch(declared) is not None and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def create_app(
    registry: Registry,
    max_heartbeat_s: float,
    nats_connected: Callable[[], bool],
    clock_ns: Callable[[], int] = time.time_ns,
) -> FastAPI:
    """The hub's routes over ``registry``; a record whose heartbeat is longer than ``max_heartbeat_s`` would expire
    between its heartbeats, so it is refused (422)."""
    app = FastAPI(title="fxgw central hub", docs_url=None, redoc_url=None, openapi_url=None)
    prometheus = CollectorRegistry(auto_describe=False)
    metrics = HubMetrics(registry, clock_ns, prometheus)

    def count(operation: str, outcome: str) -> None:
        metrics.requests.labels(operation, outcome).inc()

    def not_ready() -> JSONResponse | None:
        if not nats_connected():
            return _unavailable("NATS disconnected")
        if not registry.synced:
            return _unavailable("the registry cache is not synchronised yet")
        return None

    @app.put("/v1/gateways/{instance_id}")
    async def register(instance_id: str, request: Request) -> JSONResponse:
        body = await read_capped(request)
        if body is None:
            count("register", "invalid")
            return _error(422, f"body larger than {MAX_BODY_BYTES:,} bytes")
        try:
            record = GatewayRecord.model_validate_json(body)
        except ValidationError as exc:
            count("register", "invalid")
            problems = _validation_errors(exc)
            return _error(422, "invalid gateway record", problems=problems, error_count=exc.error_count())
        if record.instance_id != instance_id:
            count("register", "invalid")
            return _error(422, f"instance_id {shown(record.instance_id)} does not match the path {shown(instance_id)}")
        if record.heartbeat_interval_s > max_heartbeat_s:
            count("register", "invalid")
            return _error(
                422,
                f"heartbeat_interval_s {record.heartbeat_interval_s:g} is longer than this hub's heartbeat "
                f"{max_heartbeat_s:g} s: the record would expire between heartbeats",
            )
        if not nats_connected():
            count("register", "unavailable")
            return _unavailable("NATS disconnected")
        try:
            outcome = await registry.register(record)
        except RegistryUnavailableError as exc:
            count("register", "unavailable")
            return _unavailable(str(exc))
        if isinstance(outcome, Refused):
            count("register", "conflict")
            return _error(409, outcome.reason, owners=outcome.owners)
        count("register", "ok")
        return JSONResponse(document(outcome, clock_ns()))

    @app.delete("/v1/gateways/{instance_id}")
    async def deregister(instance_id: str, session_id: str = "") -> Response:
        if _COUNT.fullmatch(session_id) is None or len(instance_id) > 64 or _INSTANCE_ID.fullmatch(instance_id) is None:
            count("deregister", "invalid")
            return _error(422, "give a valid instance id and ?session_id=<the session that registered>")
        if not nats_connected():
            count("deregister", "unavailable")
            return _unavailable("NATS disconnected")
        try:
            outcome = await registry.deregister(instance_id, int(session_id))
        except RegistryUnavailableError as exc:
            count("deregister", "unavailable")
            return _unavailable(str(exc))
        if isinstance(outcome, Refused):
            count("deregister", "conflict")
            return _error(409, outcome.reason)
        count("deregister", "ok" if outcome else "absent")
        return Response(status_code=204) if outcome else _error(404, f"instance {shown(instance_id)} not registered")

    @app.get("/v1/gateways")
    async def list_gateways(
        source: str | None = None,
        instrument: str | None = None,
        status: str | None = None,
        index: str | None = None,
        wait: str | None = None,
    ) -> JSONResponse:
        try:
            listed_status = Status(status) if status is not None else None
        except ValueError:
            return _error(422, f"status: {shown(status)} is not one of passing, stale")
        wait_s = parse_wait(wait)
        if wait_s is None:
            return _error(422, f"wait: {shown(wait)} is not a duration such as 30s, 500ms or 1m")
        if index is not None and _COUNT.fullmatch(index) is None:
            return _error(422, f"index: {shown(index)} is not a registry index")
        refused = not_ready()
        if refused is not None:
            return refused
        if index is not None:
            await registry.wait_for_change(int(index), wait_s)
        now = clock_ns()
        filters = Filters(source, instrument, listed_status)
        listed = [
            document(stored, now) for _, stored in sorted(registry.gateways.items()) if filters.match(stored, now)
        ]
        return JSONResponse(
            {"index": registry.index, "gateways": listed}, headers={"X-Fxgw-Index": str(registry.index)}
        )

    @app.get("/v1/gateways/{instance_id}")
    async def get_gateway(instance_id: str) -> JSONResponse:
        refused = not_ready()
        if refused is not None:
            return refused
        stored = registry.gateways.get(instance_id)
        if stored is None:
            return _error(404, f"instance {shown(instance_id)} not registered")
        return JSONResponse(document(stored, clock_ns()))

    @app.get("/v1/routes")
    async def find_routes(instrument: str = "") -> JSONResponse:
        if INSTRUMENT_PATTERN.fullmatch(instrument) is None:
            return _error(422, f"instrument: {shown(instrument)} is not an instrument such as EUR_USD")
        refused = not_ready()
        if refused is not None:
            return refused
        gateways = [stored for _, stored in sorted(registry.gateways.items())]
        return JSONResponse({"instrument": instrument, "routes": routes(gateways, instrument, clock_ns())})

    @app.get("/health")
    async def health() -> JSONResponse:
        connected = nats_connected()
        ok = connected and registry.synced
        problems = [] if ok else ["nats disconnected" if not connected else "registry cache not synchronised yet"]
        return JSONResponse(
            {
                "status": "ok" if ok else "down",
                "problems": problems,
                "nats_connected": connected,
                "synced": registry.synced,
                "gateways": len(registry.gateways),
                "index": registry.index,
            },
            status_code=200 if ok else 503,
        )

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(prometheus), media_type=CONTENT_TYPE_LATEST)

    return app
