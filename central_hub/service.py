"""A running hub: its NATS connection, its bucket, the registry's watcher and the HTTP server.

:meth:`Hub.start` connects (gateway.nats_connect), opens or creates the bucket (gateway.kv), waits until the
cache holds the bucket's snapshot (so a new hub lists every live gateway from its first answer), binds and
serves; :meth:`Hub.stop` stops serving, the watcher and the connection. The bucket's max age, not the flag, is
authoritative: a hub joining an existing bucket takes its max age and allows heartbeats of a third of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Final

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from central_hub.app import create_app
from central_hub.store import EXPIRY_HEARTBEATS, UNAVAILABLE, Registry
from gateway.errors import RegistryUnavailableError
from gateway.kv import BucketSpec, open_bucket
from gateway.nats_connect import connect_nats
from gateway.ops.server import HttpService
from gateway.secrets import display_url

logger = logging.getLogger(__name__)

DEFAULT_BUCKET: Final = "fxgw_hub"
DEFAULT_HEARTBEAT_S: Final = 10.0
DEFAULT_PORT: Final = 7000
CONNECT_TIMEOUT_S: Final = 5.0
SYNC_TIMEOUT_S: Final = 30.0
"""Longest wait for the watcher's first snapshot at start (1,000 records take well under a second)."""
STOP_TIMEOUT_S: Final = 5.0
SHUTDOWN_GRACE_S: Final = 2
"""Longest wait for open requests (blocking queries wait up to 60 s) when the hub stops."""
MAX_CONNECTIONS: Final = 2000
"""Open connections and requests at once (blocking queries included); uvicorn answers 503 beyond."""
RECONNECT_WAIT_S: Final = 0.5
"""A hub is one client per NATS: it may retry often, and every second without NATS is a second of 503s."""


@dataclass(frozen=True, slots=True)
class HubSettings:
    nats_url: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    """0 = any free port (:attr:`Hub.port` tells which)."""
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    """The heartbeat expected of gateways; records expire after EXPIRY_HEARTBEATS of them."""
    bucket: str = DEFAULT_BUCKET
    replicas: int = 1
    """3 on a NATS cluster: the bucket then survives the loss of a server."""


class Hub:
    """One hub process's parts; several hubs may serve one bucket."""

    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings
        self.registry: Registry | None = None
        self._nats: NatsClient | None = None
        self._watch: asyncio.Task[None] | None = None
        self._http: HttpService | None = None
        self.port = 0

    @property
    def url(self) -> str:
        host = self.settings.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def start(self) -> None:
        """Connect, open the bucket, sync the cache, serve; raises NatsUnavailableError, RegistryUnavailableError
        or HttpBindError."""
        settings = self.settings

        async def on_reconnected() -> None:
            logger.info("hub: NATS reconnected; watching the registry bucket again")
            if self.registry is not None:
                self.registry.resync()

        async def on_disconnected() -> None:
            logger.warning("hub: NATS disconnected; answering 503 until it is back")
            if self.registry is not None:
                self.registry.connection_lost()

        self._nats = await connect_nats(
            settings.nats_url,
            name="fxgw-hub",
            connect_timeout_s=CONNECT_TIMEOUT_S,
            reconnect_wait_s=RECONNECT_WAIT_S,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
        )
        try:
            await self._open(settings)
        except BaseException:
            await self.stop()
            raise

    async def _open(self, settings: HubSettings) -> None:
        assert self._nats is not None
        spec = BucketSpec(
            settings.bucket, EXPIRY_HEARTBEATS * settings.heartbeat_s, settings.replicas, limit_markers=True
        )
        try:
            kv = await open_bucket(self._nats.jetstream(), spec)
            max_age_s = (await kv.status()).ttl or spec.max_age_s
        except UNAVAILABLE as exc:
            raise RegistryUnavailableError(
                f"cannot open the bucket {settings.bucket} on {display_url(settings.nats_url)} (is JetStream "
                f"enabled, nats-server -js?): {type(exc).__name__}: {exc}"
            ) from exc
        self.registry = registry = Registry(kv, max_age_s)
        self._watch = asyncio.create_task(registry.watch(), name="hub-watch")
        try:
            async with asyncio.timeout(SYNC_TIMEOUT_S):
                while not registry.synced:
                    await asyncio.sleep(0.02)
        except TimeoutError as exc:
            raise RegistryUnavailableError(
                f"the bucket {settings.bucket} could not be read within {SYNC_TIMEOUT_S:g} s"
            ) from exc
        app = create_app(
            registry, max_age_s / EXPIRY_HEARTBEATS, lambda: self._nats is not None and self._nats.is_connected
        )
        self._http = http = HttpService(
            app,
            settings.host,
            settings.port,
            purpose="the hub's API (--host, --port)",
            limit_concurrency=MAX_CONNECTIONS,
            grace_s=SHUTDOWN_GRACE_S,
        )
        self.port = http.port
        http.start()
        if not await http.wait_started():
            raise RegistryUnavailableError(f"the HTTP server on {self.url} stopped at start")
        logger.info(
            "hub: serving %s; registry bucket %s on %s (max age %g s, %d gateways)",
            self.url,
            settings.bucket,
            display_url(settings.nats_url),
            max_age_s,
            len(registry.gateways),
        )

    async def stop(self) -> None:
        """Stop serving (open requests get a moment), the watcher, then the NATS connection."""
        if self._http is not None:
            await self._http.stop(STOP_TIMEOUT_S)
            self._http = None
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
            self._watch = None
        if self._nats is not None and not self._nats.is_closed:
            with contextlib.suppress(NatsError, OSError, RuntimeError, TimeoutError):
                await asyncio.wait_for(self._nats.close(), STOP_TIMEOUT_S)
