"""Connecting to NATS: the one place that opens a nats-py client (gateway, ``fxgw tail``, ``fxgw replay``).

nats-py retries a failed first connection for as long as reconnects are
allowed, so the first connection is bounded here by ``connect_timeout_s``: a
wrong URL at start-up is a configuration error, not an outage to wait out.
Later outages are reconnected forever, every ``reconnect_wait_s``, while
nats-py buffers up to ``pending_bytes``. Every failed reconnect attempt reaches
the error callback, which logs at most every 10 s with the count since.
URLs are shown with any ``user:password@`` or token removed (gateway.secrets).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from gateway.errors import NatsUnavailableError
from gateway.logs import ThrottledLog
from gateway.secrets import display_url, redact, remember_url_credentials

logger = logging.getLogger(__name__)

DEFAULT_PENDING_BYTES: Final = 2 * 1024 * 1024
"""nats-py's own default buffer while disconnected."""
DEFAULT_RECONNECT_WAIT_S: Final = 2.0
"""nats-py's own default pause between reconnect attempts."""

Callback = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class NatsCredentials:
    """How to authenticate to NATS besides the URL (config ``nats.*``); secrets already read from the environment."""

    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds_file: Path | None = None
    """A JWT + NKey ``.creds`` file (NGS, operator mode)."""
    nkey_seed_file: Path | None = None

    def options(self) -> dict[str, object]:
        """The matching ``nats.connect`` keyword arguments."""
        options: dict[str, object] = {}
        if self.user is not None:
            options["user"] = self.user
        if self.password is not None:
            options["password"] = self.password
        if self.token is not None:
            options["token"] = self.token
        if self.creds_file is not None:
            options["user_credentials"] = str(self.creds_file)
        if self.nkey_seed_file is not None:
            options["nkeys_seed"] = str(self.nkey_seed_file)
        return options


async def connect_nats(
    url: str,
    *,
    name: str,
    connect_timeout_s: float,
    reconnect_wait_s: float = DEFAULT_RECONNECT_WAIT_S,
    pending_bytes: int = DEFAULT_PENDING_BYTES,
    disconnected_cb: Callback | None = None,
    reconnected_cb: Callback | None = None,
    credentials: NatsCredentials | None = None,
) -> NatsClient:
    """A client connected to ``url`` within ``connect_timeout_s`` seconds, reconnecting forever afterwards.

    ``name`` is the client name nats-server shows and the prefix of log lines.
    Raises NatsUnavailableError naming the URL (without credentials) when the first connection fails.
    """
    shown = display_url(remember_url_credentials(url))
    errors = ThrottledLog(logger)

    async def on_error(exc: Exception) -> None:
        errors.warning("%s: NATS %s: %s", name, shown, redact(repr(exc)))

    options = credentials.options() if credentials is not None else {}
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
            flush_timeout=connect_timeout_s,  # a publish waiting for room in a full buffer waits this long at most
            error_cb=on_error,
            **options,  # type: ignore[arg-type]
        )
        return await asyncio.wait_for(connecting, connect_timeout_s)
    except (TimeoutError, NatsError, OSError) as exc:
        reason = redact(repr(exc).replace(url, shown))
        raise NatsUnavailableError(
            f"cannot connect to NATS at {shown} within {connect_timeout_s:g} s: {reason}"
        ) from exc
