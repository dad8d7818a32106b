"""Operations endpoint: GET /health, GET /metrics and the live page (GET /), served by uvicorn in the service's loop
(a gateway's, or the standalone aggregator's without the live page: gateway.aggregate.ops).

The server knows the gateway only as a callable that returns a snapshot
(gateway.ops.snapshot). A request takes one and renders it: /health through
gateway.ops.health (with the recent activity of gateway.ops.activity, sampled
from a snapshot once a second by a task of this server), /metrics through
gateway.ops.metrics on a registry of this server's own.

The listening socket is bound when :class:`HealthServer` is created, so a
busy port fails the gateway's start before anything else is opened, as an
:class:`HttpBindError` naming the address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Final

import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from gateway.errors import HttpBindError
from gateway.ops.activity import ActivitySampler
from gateway.ops.health import HealthReport, assess
from gateway.ops.live_page import CONTENT_SECURITY_POLICY, PAGE
from gateway.ops.metrics import GatewayMetrics
from gateway.ops.snapshot import GatewaySnapshot

logger = logging.getLogger(__name__)

RATE_SAMPLE_INTERVAL_S: Final = 1.0
"""How often the activity sampler takes a snapshot: the resolution of ticks/s and of "recent" drops."""
SHUTDOWN_GRACE_S: Final = 2
"""Longest wait for open HTTP requests when the gateway stops."""
HEALTH_PURPOSE: Final = "/health and /metrics (http.host, http.port)"


def create_app(report: Callable[[], HealthReport], registry: CollectorRegistry, *, live_page: bool = True) -> FastAPI:
    """The HTTP routes. Handlers are coroutines, so they run on the gateway's event loop, never in a thread.

    ``live_page`` serves the live page (gateway.ops.live_page) at ``/``.
    """
    app = FastAPI(title="fxgw", docs_url=None, redoc_url=None, openapi_url=None)

    if live_page:

        @app.get("/")
        async def page() -> HTMLResponse:
            return HTMLResponse(
                PAGE,
                headers={
                    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                    "X-Content-Type-Options": "nosniff",
                    "Cache-Control": "no-store",
                },
            )

    @app.get("/health")
    async def health() -> JSONResponse:
        answer = report()
        return JSONResponse(answer.document, status_code=answer.status.http_status)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def bind_socket(host: str, port: int, purpose: str = HEALTH_PURPOSE) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0 = any free port), not yet listening; raises HttpBindError naming
    the address and ``purpose`` (what it is for, and the settings that choose it)."""
    address = f"{host}:{port}"
    try:
        family, kind, protocol, _, sockaddr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise HttpBindError(f"cannot listen on {address} for {purpose}: {exc.strerror}") from exc
    sock = socket.socket(family, kind, protocol)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio does: a restart need not wait
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        raise HttpBindError(f"cannot listen on {address} for {purpose}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


class SignalFreeServer(uvicorn.Server):
    """uvicorn without its signal handlers: SIGINT and SIGTERM belong to the gateway (or hub), which stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpService:
    """An ASGI app served by uvicorn in the running loop: binds at creation, serves from :meth:`start` until
    :meth:`stop`. The gateway's and the aggregator's /health and /metrics (:class:`HttpEndpoint`), the Central
    Hub's API (central_hub.service)."""

    def __init__(
        self,
        app: FastAPI,
        host: str,
        port: int,
        *,
        purpose: str = HEALTH_PURPOSE,
        limit_concurrency: int | None = None,
        grace_s: int = SHUTDOWN_GRACE_S,
    ) -> None:
        """Binds the socket now; beyond ``limit_concurrency`` open connections uvicorn answers 503; open requests
        get ``grace_s`` when the service stops. Raises HttpBindError when the address is not available."""
        self._socket = bind_socket(host, port, purpose)
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            limit_concurrency=limit_concurrency,
            timeout_graceful_shutdown=grace_s,
        )
        self._server = SignalFreeServer(config)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Serve, as a named task of the running loop."""
        self._tasks = [asyncio.create_task(self._serve(), name="http")]

    async def wait_started(self) -> bool:
        """Wait until the server accepts connections: True, or False when it stopped first (logged)."""
        while not self._server.started:
            if not self._tasks or self._tasks[0].done():
                return False
            await asyncio.sleep(0.01)
        return True

    async def stop(self, timeout_s: float) -> None:
        """Stop accepting, let open requests finish within ``timeout_s``, then cancel what is left."""
        self._server.should_exit = True
        serving = self._tasks[:1]
        if serving:
            _, pending = await asyncio.wait(serving, timeout=timeout_s)
            if pending:
                logger.warning("http %s: did not stop within %.0f s; cancelled", self.url, timeout_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.close()

    def close(self) -> None:
        """Release the socket (also when the server never started)."""
        self._socket.close()

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._socket])
        except Exception as exc:  # task top: the service goes on without its HTTP server; say so
            logger.error("http %s: the server failed (%s: %s); it no longer answers", self.url, type(exc).__name__, exc)


class HttpEndpoint(HttpService):
    """/health and /metrics of one service.

    The service is known only as ``report`` (the /health answer, per request) and ``collector`` (the /metrics
    families, per scrape, on a registry of this endpoint's own); the gateway's is :class:`HealthServer`, the
    standalone aggregator's is built in gateway.aggregate.service.
    """

    def __init__(
        self,
        report: Callable[[], HealthReport],
        collector: Collector,
        host: str,
        port: int,
        *,
        live_page: bool = False,
    ) -> None:
        """Binds the socket now; ``live_page`` serves the live page at ``/``.

        Raises HttpBindError when the address is not available.
        """
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        super().__init__(create_app(report, self.registry, live_page=live_page), host, port)


class HealthServer(HttpEndpoint):
    """/health and /metrics for one gateway, with the recent activity sampled once a second."""

    def __init__(
        self, snapshot: Callable[[], GatewaySnapshot], host: str, port: int, *, live_page: bool = True
    ) -> None:
        """``snapshot`` is called per request and per sample, on the event loop; binds the socket now;
        ``live_page`` serves the live page at ``/``.

        Raises HttpBindError when the address is not available.
        """
        self._snapshot = snapshot
        self._activity = ActivitySampler()
        super().__init__(self.report, GatewayMetrics(snapshot), host, port, live_page=live_page)

    def report(self) -> HealthReport:
        """The /health answer for a snapshot taken now."""
        snapshot = self._snapshot()
        return assess(snapshot, self._activity.recent(time.monotonic_ns(), snapshot))

    def start(self) -> None:
        """Serve and sample the activity, as two named tasks of the running loop."""
        super().start()
        self._tasks.append(asyncio.create_task(self._sample_activity(), name="http-rates"))

    async def _sample_activity(self) -> None:
        while True:
            try:
                self._activity.observe(time.monotonic_ns(), self._snapshot())
            except Exception:  # task top: keep sampling
                logger.exception("http %s: sampling tick rates failed", self.url)
            await asyncio.sleep(RATE_SAMPLE_INTERVAL_S)
