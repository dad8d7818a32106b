"""OANDA v20 streaming price collector: one per configured account, reconnecting forever.

The lifecycle (reconnects with backoff, the silence watchdog, refusals, statuses, bad lines, a line cut
by a disconnect) is :class:`collectors.streaming.StreamingCollector`'s; the bytes become events in
:mod:`collectors.oanda.framing`. What is OANDA's is here:

- **Instruments.** Before streaming, the account's instruments are read over
  REST with OANDA's own ``v20`` package (in a thread: it is synchronous). A
  configured instrument the account does not have is named in an error and
  left out; each instrument's ``pipLocation`` becomes the quality gate's pip.
- **Stream.** ``GET /v3/accounts/{id}/pricing/stream`` is read with httpx in
  raw chunks: v20's own stream reader is synchronous (a thread per broker) and
  its parser builds an object graph per line, about 3x the cost of ours
  (README, "OANDA collector"; scripts/bench_oanda.py).
- **Limits.** At most 2 new connections per second per host and 20 streams per
  account, across all collectors of the event loop (OANDA's limits).
- **Errors.** OANDA's error bodies become ProviderHttpError messages naming the
  broker, the account and the token's environment variable (never the token).
- **The token** is read with gateway.secrets.environment_secret: surrounding
  whitespace removed (the ``\r`` of a CRLF file would otherwise make every
  request fail with an error quoting the header), and remembered for redaction;
  an error text of httpx, v20 or requests, which may quote request headers, is
  redacted and clipped before it reaches a log, a status or /health.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar, Final
from urllib.parse import urlsplit

import httpx
import v20

from collectors.oanda.config import OandaConfig
from collectors.oanda.framing import OandaFraming
from collectors.oanda.parsing import error_message, pip_px_from_location
from collectors.streaming import ConnectionPacer, StreamingCollector, parse_retry_after
from gateway.echo import clip
from gateway.errors import BadValueError, ProviderHttpError, SourceError
from gateway.events import TickSink
from gateway.secrets import environment_secret, environment_value, redact

logger = logging.getLogger(__name__)

NEW_CONNECTIONS_PER_SECOND: Final = 2.0
STREAMS_PER_ACCOUNT: Final = 20
USER_AGENT: Final = "fxgw"
MAX_ERROR_BODY_BYTES: Final = 64 * 1024
"""Most of an error body read: OANDA's are a few hundred bytes; only its errorMessage is shown."""


class _Limits:
    """OANDA's limits shared by all collectors of one event loop: new connections per host, streams per account."""

    def __init__(self) -> None:
        self.pacers: dict[str, ConnectionPacer] = {}
        self.stream_slots: dict[tuple[str, str], asyncio.Semaphore] = {}


_limits_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Limits] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class _Session:
    """What one run of a collector uses: its HTTP client, and the pacer and stream slots of its host."""

    client: httpx.AsyncClient
    pacer: ConnectionPacer
    stream_slot: asyncio.Semaphore


class OandaCollector(StreamingCollector[OandaConfig]):
    """Streams one account's prices into the sink; see the module docstring for the behaviour."""

    kind: ClassVar[str] = "oanda"
    transient_errors: ClassVar[tuple[type[Exception], ...]] = (httpx.HTTPError, OSError, SourceError)

    def __init__(self, config: OandaConfig, sink: TickSink) -> None:
        """Reads the token (and account id) from the environment; a missing or blank variable is a ConfigError."""
        super().__init__(config, sink)
        self._token = environment_secret(config.token_env, f"brokers[{config.id}].token_env")
        self.account_id = config.account_id or environment_value(
            config.account_id_env or "", f"brokers[{config.id}].account_id_env"
        )
        self.rest_url, self.stream_url = config.hosts
        self._session: _Session | None = None

    @property
    def endpoint(self) -> str:
        return self.stream_url

    async def run(self) -> None:
        """Stream through one HTTP client, closed when the run ends."""
        stream_host = urlsplit(self.stream_url).netloc
        limits = _limits_by_loop.setdefault(asyncio.get_running_loop(), _Limits())
        pacer = limits.pacers.setdefault(stream_host, ConnectionPacer(NEW_CONNECTIONS_PER_SECOND))
        stream_slot = limits.stream_slots.setdefault(
            (stream_host, self.account_id), asyncio.Semaphore(STREAMS_PER_ACCOUNT)
        )
        # httpx bounds only the connect: the base's silence watchdog bounds every wait for bytes, headers included.
        timeout = httpx.Timeout(self.config.connect_timeout_s, read=None)
        # identity: the stream is read raw (aiter_raw), and an error body must not inflate beyond what is read
        headers = {"Authorization": f"Bearer {self._token}", "User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        async with httpx.AsyncClient(timeout=timeout, headers=headers, trust_env=False) as client:
            self._session = _Session(client, pacer, stream_slot)
            try:
                await super().run()
            finally:
                self._session = None

    async def prepare(self) -> None:
        """Validate the configured instruments against the account; paced like a new connection."""
        await self._running().pacer.wait()
        await self._check_instruments()

    @contextlib.asynccontextmanager
    async def connection_slot(self) -> AsyncIterator[None]:
        """One of the account's streams, and a new connection to the host when the pacer allows it."""
        session = self._running()
        async with session.stream_slot:
            await session.pacer.wait()
            yield

    @contextlib.asynccontextmanager
    async def open_stream(self) -> AsyncIterator[AsyncIterator[bytes]]:
        """The raw chunks of a stream that OANDA accepted; raises ProviderHttpError otherwise."""
        url = f"{self.stream_url}/v3/accounts/{self.account_id}/pricing/stream"
        params = {"instruments": ",".join(self.instruments), "snapshot": "true"}
        async with self._running().client.stream("GET", url, params=params) as response:
            if response.status_code != 200:
                body = await _read_at_most(response, MAX_ERROR_BODY_BYTES)
                raise self._http_error(response.status_code, body, response.headers.get("Retry-After"), "stream")
            yield response.aiter_raw()

    def new_framing(self) -> OandaFraming:
        return OandaFraming(self.source_id, self.instruments, self.config.max_line_bytes)

    def _running(self) -> _Session:
        if self._session is None:
            raise RuntimeError(f"{self.source_id}: the collector is not running")
        return self._session

    async def _check_instruments(self) -> None:
        """Validate the configured instruments against the account and hand their pip sizes to the gate."""
        context = _rest_context(self.rest_url, self._token, self.config.connect_timeout_s)
        try:
            response = await asyncio.to_thread(context.account.instruments, self.account_id)
        except Exception as exc:  # v20 raises its own and requests' exceptions, and JSON errors on odd bodies
            # Their text may quote the request, headers included: redacted first, then clipped (clipping
            # first could cut a token in half, out of redaction's reach).
            shown = clip(redact(repr(exc)))
            raise SourceError(f"{self.source_id}: instruments request to {self.rest_url} failed: {shown}") from exc
        if response.status != 200:
            raise self._http_error(
                response.status, (response.raw_body or "").encode(), response.headers.get("Retry-After"), "instruments"
            )
        available = {instrument.name: instrument for instrument in response.get("instruments", 200)}
        streamable = await self.narrow_instruments(available, f"OANDA does not list them for account {self.account_id}")
        pip_sizes: dict[str, int] = {}
        for name in streamable:
            try:
                pip_sizes[name] = pip_px_from_location(available[name].pipLocation)
            except BadValueError as exc:
                logger.warning("%s: %s: %s; using the configured or usual pip size", self.source_id, name, exc)
        self.sink.use_pip_sizes(self.source_id, pip_sizes)

    def _http_error(self, status: int, body: bytes, retry_after: str | None, request: str) -> ProviderHttpError:
        message = error_message(body)
        if status in (401, 403):
            text = (
                f"{self.source_id}: OANDA refused the token from ${self.config.token_env} for account "
                f"{self.account_id} (HTTP {status}: {message})"
            )
        elif status == 400:
            text = (
                f"{self.source_id}: OANDA rejected the {request} request for "
                f"{', '.join(self.instruments)} (HTTP 400: {message})"
            )
        elif status == 404:
            text = f"{self.source_id}: OANDA does not know account {self.account_id} (HTTP 404: {message})"
        elif status == 429:
            text = f"{self.source_id}: OANDA rate limit (HTTP 429: {message})"
        else:
            text = f"{self.source_id}: {request} request failed with HTTP {status}: {message}"
        return ProviderHttpError(text, status=status, retry_after_s=parse_retry_after(retry_after))


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The first ``limit`` bytes of a response body (an error body can be anything, of any size)."""
    body = b""
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) >= limit:
            return body[:limit]
    return body


def _rest_context(rest_url: str, token: str, timeout_s: float) -> v20.Context:
    parts = urlsplit(rest_url)
    secure = parts.scheme == "https"
    return v20.Context(
        parts.hostname,
        parts.port or (443 if secure else 80),
        ssl=secure,
        application=USER_AGENT,
        token=token,
        datetime_format="RFC3339",
        poll_timeout=timeout_s,
    )
