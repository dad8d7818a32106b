"""Connecting to NATS: the one place that opens a nats-py client (gateway, ``fxgw tail``, ``fxgw replay``).

nats-py retries a failed first connection for as long as reconnects are
allowed, so the first connection is bounded here by ``connect_timeout_s``: a
wrong URL at start-up is a configuration error, not an outage to wait out.
Later outages are reconnected forever, every ``reconnect_wait_s``, while
nats-py buffers up to ``pending_bytes``. Every failed reconnect attempt reaches
the error callback, which logs at most every 10 s with the count since.
URLs are shown with any ``user:password@`` or token removed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from gateway.errors import NatsUnavailableError
from gateway.logs import ThrottledLog

logger = logging.getLogger(__name__)

DEFAULT_PENDING_BYTES: Final = 2 * 1024 * 1024
"""nats-py's own default buffer while disconnected."""
DEFAULT_RECONNECT_WAIT_S: Final = 2.0
"""nats-py's own default pause between reconnect attempts."""

Callback = Callable[[], Awaitable[None]]


def display_url(url: str) -> str:
    """``url`` without credentials (``nats://user:secret@host`` -> ``nats://***@host``), for logs and errors."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


async def connect_nats(
    url: str,
    *,
    name: str,
    connect_timeout_s: float,
    reconnect_wait_s: float = DEFAULT_RECONNECT_WAIT_S,
    pending_bytes: int = DEFAULT_PENDING_BYTES,
    disconnected_cb: Callback | None = None,
    reconnected_cb: Callback | None = None,
) -> NatsClient:
    """A client connected to ``url`` within ``connect_timeout_s`` seconds, reconnecting forever afterwards.

    ``name`` is the client name nats-server shows and the prefix of log lines.
    Raises NatsUnavailableError naming the URL (without credentials) when the first connection fails.
    """
    shown = display_url(url)
    errors = ThrottledLog(logger)

    async def on_error(exc: Exception) -> None:
        errors.warning("%s: NATS %s: %r", name, shown, exc)

    options: dict[str, object] = {}
    if disconnected_cb is not None:
        options["disconnected_cb"] = disconnected_cb
    if reconnected_cb is not None:
        options["reconnected_cb"] = reconnected_cb
    try:
        connecting = nats.connect(
            servers=[url],
            name=name,
            connect_timeout=connect_timeout_s,
            reconnect_time_wait=reconnect_wait_s,
            max_reconnect_attempts=-1,
            pending_size=pending_bytes,
            error_cb=on_error,
            **options,  # type: ignore[arg-type]
        )
        return await asyncio.wait_for(connecting, connect_timeout_s)
    except (TimeoutError, NatsError, OSError) as exc:
        reason = repr(exc).replace(url, shown)
        raise NatsUnavailableError(
            f"cannot connect to NATS at {shown} within {connect_timeout_s:g} s: {reason}"
        ) from exc
