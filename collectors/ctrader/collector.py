"""cTrader Open API spot collector: one per configured account, reconnecting forever.

The lifecycle (reconnects with backoff, the silence watchdog, refusals, statuses, bad frames, a frame cut by
a disconnect) is :class:`collectors.streaming.StreamingCollector`'s; the bytes of a subscribed stream become
events in :mod:`collectors.ctrader.framing`. What is cTrader's is here, the I/O of one connection:

- **Connection.** TLS to the Open API proxy (``demo.ctraderapi.com`` or ``live.ctraderapi.com``, port 5035),
  opened within ``connect_timeout_s``. Every connection authenticates again: the server keeps no session.
- **Handshake**, one request at a time, each answer awaited (bounded by ``max_response_bytes`` and by the
  silence watchdog): ``ProtoOAApplicationAuthReq`` (client id and secret) -> ``ProtoOAAccountAuthReq``
  (account id, access token) -> ``ProtoOASymbolsListReq`` (the configured instruments' symbol ids, by broker
  name: ``EUR_USD`` -> ``EURUSD`` unless ``symbols`` says otherwise; the others are left out, named, and
  reported as REJECTED) -> ``ProtoOASymbolByIdReq`` (each symbol's ``pipPosition``, the quality gate's pip)
  -> ``ProtoOASubscribeSpotsReq`` with ``subscribeToSpotTimestamp``. Then the stream is handed to the base.
- **Heartbeats both ways**: a ``ProtoHeartbeatEvent`` is sent every ``heartbeat_interval_s`` (10 s, as the
  documentation asks of an idle client); the server's heartbeats, like any bytes, keep the watchdog quiet.
- **Errors.** An error answer or event is mapped (collectors.ctrader.parsing.refusal codes) to UNAUTHORIZED
  naming the environment variable refused (never its value), REJECTED, a rate limit honouring the server's
  ``retryAfter`` or maintenance end (capped at an hour), or a reconnect with backoff. A token invalidated
  mid-stream (``ProtoOAAccountsTokenInvalidatedEvent``) ends the stream as UNAUTHORIZED; there is no token
  refresh: the operator renews the token and the collector picks it up on restart.
- **The secrets** are read with gateway.secrets.environment_secret (whitespace stripped, remembered for
  redaction) when the collector is built: a missing variable is a ConfigError naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import ClassVar, Final, TypeVar

from google.protobuf.message import Message

from collectors.ctrader.config import CtraderConfig
from collectors.ctrader.framing import CtraderFraming
from collectors.ctrader.messages.OpenApiMessages_pb2 import (
    ProtoOAAccountAuthReq,
    ProtoOAAccountAuthRes,
    ProtoOAApplicationAuthReq,
    ProtoOAApplicationAuthRes,
    ProtoOASubscribeSpotsReq,
    ProtoOASubscribeSpotsRes,
    ProtoOASymbolByIdReq,
    ProtoOASymbolByIdRes,
    ProtoOASymbolsListReq,
    ProtoOASymbolsListRes,
)
from collectors.ctrader.parsing import (
    COMMON_ERROR_RES,
    ERROR_RES,
    HEARTBEAT_FRAME,
    PREFIX_BYTES,
    SPOT_EVENT,
    Refusal,
    ServerError,
    decode_envelope,
    decode_payload,
    encode_frame,
    frame_length,
    prefixed,
    resolve_symbols,
    server_error,
    symbol_pip_sizes,
)
from collectors.streaming import StreamingCollector
from gateway.errors import ConfigError, InputError, ProviderRefusalError, SourceError
from gateway.events import TickSink
from gateway.secrets import environment_secret

logger = logging.getLogger(__name__)

READ_BYTES: Final = 256 * 1024
"""Most bytes read from the socket at once: a few thousand spot events, framed in one go."""
MAX_SKIPPED_FRAMES: Final = 1000
"""Most frames of other types (heartbeats, early spots, events) accepted while waiting for one answer."""
CLOSE_TIMEOUT_S: Final = 1.0
"""Longest wait for the TLS close of a connection that ended."""

R = TypeVar("R", bound=Message)


class CtraderCollector(StreamingCollector[CtraderConfig]):
    """Streams one cTrader account's spot prices into the sink; see the module docstring for the behaviour."""

    kind: ClassVar[str] = "ctrader"
    transient_errors: ClassVar[tuple[type[Exception], ...]] = (OSError, SourceError)

    def __init__(self, config: CtraderConfig, sink: TickSink) -> None:
        """Reads the credentials from the environment; a missing or blank variable is a ConfigError, as is a
        ``ca_file`` that cannot be read."""
        super().__init__(config, sink)
        key = f"brokers[{config.id}]"
        self._client_id = environment_secret(config.client_id_env, f"{key}.client_id_env")
        self._client_secret = environment_secret(config.client_secret_env, f"{key}.client_secret_env")
        self._access_token = environment_secret(config.access_token_env, f"{key}.access_token_env")
        try:
            self._ssl = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file is not None else None)
        except (OSError, ssl.SSLError) as exc:  # a missing or unreadable file, or one that holds no certificate
            raise ConfigError(f"{key}.ca_file: {config.ca_file} cannot be used: {exc}") from exc
        self._symbols: dict[int, str] = {}
        """The subscribed symbol ids of the current connection and their instruments."""
        self._framing: CtraderFraming | None = None

    @property
    def endpoint(self) -> str:
        host, port = self.config.address
        return f"{host}:{port}"

    def new_framing(self) -> CtraderFraming:
        self._framing = CtraderFraming(
            self.source_id, self.config.account_id, self._symbols, self.config.max_frame_bytes
        )
        return self._framing

    @contextlib.asynccontextmanager
    async def open_stream(self) -> AsyncIterator[AsyncIterator[bytes]]:
        """A connection that went through the handshake: its bytes after the subscription, as they arrive."""
        host, port = self.config.address
        async with asyncio.timeout(self.config.connect_timeout_s):
            reader, writer = await asyncio.open_connection(host, port, ssl=self._ssl, server_hostname=host)
        heartbeats = asyncio.create_task(self._send_heartbeats(writer), name=f"{self.source_id}-heartbeats")
        chunks: AsyncGenerator[bytes] | None = None
        try:
            early = await self._handshake(reader, writer)
            chunks = self._chunks(reader, early, heartbeats)
            yield chunks
        finally:
            if chunks is not None:
                await chunks.aclose()
            heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await heartbeats
            writer.close()
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await writer.wait_closed()

    async def _send_heartbeats(self, writer: asyncio.StreamWriter) -> None:
        """Send a heartbeat every ``heartbeat_interval_s`` until cancelled or the connection fails."""
        interval_s = self.config.heartbeat_interval_s
        while True:
            await asyncio.sleep(interval_s)
            writer.write(HEARTBEAT_FRAME)
            await writer.drain()

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        """Authenticate, find the symbols, subscribe; returns the frames of spot events that came early."""
        config = self.config
        account = config.account_id
        early = bytearray()
        await self._request(
            reader,
            writer,
            ProtoOAApplicationAuthReq(clientId=self._client_id, clientSecret=self._client_secret),
            ProtoOAApplicationAuthRes,
            "application auth",
            early,
        )
        await self._request(
            reader,
            writer,
            ProtoOAAccountAuthReq(ctidTraderAccountId=account, accessToken=self._access_token),
            ProtoOAAccountAuthRes,
            "account auth",
            early,
        )
        listed = await self._request(
            reader, writer, ProtoOASymbolsListReq(ctidTraderAccountId=account), ProtoOASymbolsListRes, "symbols", early
        )
        names = config.symbol_names
        found, missing = resolve_symbols(listed, names)
        offered = set(found.values())
        absent = ", ".join(f"{names[name]} for {name}" for name in missing)
        streamable = await self.narrow_instruments(offered, f"account {account} lists no enabled symbol {absent}")
        symbols = {symbol_id: instrument for symbol_id, instrument in found.items() if instrument in streamable}
        details = await self._request(
            reader,
            writer,
            ProtoOASymbolByIdReq(ctidTraderAccountId=account, symbolId=sorted(symbols)),
            ProtoOASymbolByIdRes,
            "symbol details",
            early,
        )
        pip_sizes, problems = symbol_pip_sizes(details, symbols)
        for problem in problems:
            logger.warning("%s: %s; using the configured or usual pip size", self.source_id, problem)
        self.sink.use_pip_sizes(self.source_id, pip_sizes)
        self._symbols = symbols
        subscribe = ProtoOASubscribeSpotsReq(
            ctidTraderAccountId=account, symbolId=sorted(symbols), subscribeToSpotTimestamp=True
        )
        await self._request(reader, writer, subscribe, ProtoOASubscribeSpotsRes, "spot subscription", early)
        return bytes(early)

    async def _request(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Message,
        answer: type[R],
        step: str,
        early: bytearray,
    ) -> R:
        """Send ``request`` and return its ``answer``; an error answer raises what it means.

        Heartbeats and other events are skipped (at most MAX_SKIPPED_FRAMES); spot events are kept in ``early``
        with their prefix, for the framing. Raises ProviderRefusalError or SourceError.
        """
        writer.write(encode_frame(request))
        await writer.drain()
        expected: int = answer().payloadType  # type: ignore[attr-defined]
        for _ in range(MAX_SKIPPED_FRAMES):
            frame = await self._read_frame(reader, step)
            try:
                payload_type, payload = decode_envelope(frame)
                if payload_type == expected:
                    return decode_payload(answer, payload, payload_type)
                if payload_type in (ERROR_RES, COMMON_ERROR_RES):
                    raise self._refused(server_error(payload_type, payload, time.time()), step)
            except InputError as exc:
                raise SourceError(f"{self.source_id}: {step}: unreadable answer: {exc}") from exc
            if payload_type == SPOT_EVENT:
                early += prefixed(frame)
        raise SourceError(f"{self.source_id}: {step}: no answer among {MAX_SKIPPED_FRAMES} frames")

    async def _read_frame(self, reader: asyncio.StreamReader, step: str) -> bytes:
        """One frame of the handshake; SourceError if the connection ends or announces one too long."""
        limit = self.config.max_response_bytes
        try:
            length = frame_length(await reader.readexactly(PREFIX_BYTES))
            if length > limit:
                raise SourceError(
                    f"{self.source_id}: {step}: answer of {length:,} bytes is above max_response_bytes ({limit:,})"
                )
            return await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise SourceError(
                f"{self.source_id}: {step}: the server closed the connection ({len(exc.partial)} bytes of a frame)"
            ) from exc

    async def _chunks(
        self, reader: asyncio.StreamReader, early: bytes, heartbeats: asyncio.Task[None]
    ) -> AsyncGenerator[bytes]:
        """The bytes after the subscription; ends the stream with what the framing's ``stop`` says."""
        if early:
            yield early
            self._check_stop()
        while True:
            chunk = await reader.read(READ_BYTES)
            if not chunk:
                if heartbeats.done() and not heartbeats.cancelled() and heartbeats.exception() is not None:
                    raise SourceError(f"{self.source_id}: sending a heartbeat failed: {heartbeats.exception()}")
                return
            yield chunk
            self._check_stop()

    def _check_stop(self) -> None:
        """Raise what ended the stream, if the framing saw it end."""
        framing = self._framing
        if framing is None or framing.stop is None:
            return
        stop = framing.stop
        if isinstance(stop, ServerError):
            raise self._refused(stop, "stream")
        raise SourceError(f"{self.source_id}: {stop}")

    def _refused(self, error: ServerError, step: str) -> SourceError:
        """The exception an error answer means; names the variables refused, never their values."""
        config = self.config
        account = config.account_id
        if error.refusal is Refusal.APPLICATION:
            return ProviderRefusalError(
                f"{self.source_id}: cTrader refused the application credentials from ${config.client_id_env} and "
                f"${config.client_secret_env} ({step}: {error})",
                kind="unauthorized",
            )
        if error.refusal is Refusal.TOKEN:
            return ProviderRefusalError(
                f"{self.source_id}: cTrader refused the access token from ${config.access_token_env} for account "
                f"{account} ({step}: {error})",
                kind="unauthorized",
            )
        if error.refusal is Refusal.REJECTED:
            return ProviderRefusalError(
                f"{self.source_id}: cTrader rejected the {step} for account {account} ({error})", kind="rejected"
            )
        if error.refusal is Refusal.RATE_LIMITED:
            return ProviderRefusalError(
                f"{self.source_id}: cTrader rate limit ({step}: {error})",
                kind="rate_limited",
                retry_after_s=error.retry_after_s,
            )
        return SourceError(f"{self.source_id}: {step}: cTrader answered {error}")
