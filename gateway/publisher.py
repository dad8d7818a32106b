"""Publishes each publish cycle (gateway.cycle) to NATS.

Subjects (gateway.wire.Subjects; ``prefix`` defaults to ``market``):

- ``<prefix>.<source>.ticks``: a source's accepted ticks, one MarketDataStream per batch;
- ``<prefix>.best.ticks``: best-price changes, as MarketDataStream with ``best_prices``;
- ``<prefix>.rejected``: one QualityRejection per message;
- ``<prefix>.<source>.status``: one SourceStatus per message (connection changes);
- ``<prefix>.external.<type>``: one ExternalData per message (external collectors).

Tick records arrive encoded (gateway.wire) and are appended to their batch's
header. While NATS is unreachable, nats-py buffers up to its ``pending_size``;
beyond that a message is dropped and counted, and its ``batch_seq`` stays
skipped so consumers can see the gap. Failures are counted, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from nats.errors import Error as NatsError

from gateway.cycle import PublishCycle
from gateway.logs import ThrottledLog
from gateway.wire import (
    BEST_SOURCE,
    EXTERNAL_CONTENT_TYPE,
    REJECTION_CONTENT_TYPE,
    STATUS_CONTENT_TYPE,
    STREAM_CONTENT_TYPE,
    Subjects,
    best_prices_message,
    external_message_id,
    nats_headers,
    rejection_message_id,
    status_message_id,
    stream_message_id,
)

logger = logging.getLogger(__name__)


class NatsPublishClient(Protocol):
    """The part of ``nats.aio.client.Client`` the publisher uses."""

    async def publish(
        self, subject: str, payload: bytes = b"", reply: str = "", headers: dict[str, str] | None = None
    ) -> None: ...


@dataclass(slots=True)
class PublishStats:
    """Counters since start; ``*_dropped`` counts items in messages NATS did not take."""

    messages: int = 0
    ticks: int = 0
    best_prices: int = 0
    rejections: int = 0
    ticks_dropped: int = 0
    best_prices_dropped: int = 0
    rejections_dropped: int = 0
    statuses: int = 0
    statuses_dropped: int = 0
    external: int = 0
    external_dropped: int = 0
    last_error: str = ""
    confirmed: int = 0
    """Messages nats-server has confirmed receiving (a PING answered after them)."""
    unconfirmed_at_outages: int = 0
    """Messages handed to NATS but not confirmed when the connection was lost: at most this many were lost."""
    outages: int = 0


class NatsPublisher:
    """Sends publish cycles to NATS, one message per batch, rejection and status."""

    __slots__ = ("_client", "_drops", "_subjects", "stats")

    def __init__(self, client: NatsPublishClient, *, subject_prefix: str = "market") -> None:
        self._client = client
        self._subjects = Subjects(subject_prefix)
        self._drops = ThrottledLog(logger)
        self.stats = PublishStats()

    async def publish(self, cycle: PublishCycle) -> None:
        """Publish everything in ``cycle``; failures are counted and logged at most every 10 s, never raised."""
        stats = self.stats
        subjects = self._subjects
        session_id = cycle.session_id
        for batch in cycle.ticks:
            source = batch.source
            message_id = stream_message_id(source, session_id, batch.batch_seq)
            if await self._publish(subjects.ticks(source), batch.message, STREAM_CONTENT_TYPE, message_id):
                stats.ticks += len(batch.records)
            else:
                stats.ticks_dropped += len(batch.records)
                self._log_drop(source)
        for best in cycle.best:
            message = best_prices_message(best.changes)
            message.batch_time_ns = cycle.time_ns
            message.batch_seq = best.batch_seq
            message.session_id = session_id
            message_id = stream_message_id(BEST_SOURCE, session_id, best.batch_seq)
            subject = subjects.ticks(BEST_SOURCE)
            if await self._publish(subject, message.SerializeToString(), STREAM_CONTENT_TYPE, message_id):
                stats.best_prices += len(best.changes)
            else:
                stats.best_prices_dropped += len(best.changes)
                self._log_drop(BEST_SOURCE)
        for seq, rejection in enumerate(cycle.rejections, cycle.first_rejection_seq):
            message_id = rejection_message_id(session_id, seq)
            payload = rejection.SerializeToString()
            if await self._publish(subjects.rejected, payload, REJECTION_CONTENT_TYPE, message_id):
                stats.rejections += 1
            else:
                stats.rejections_dropped += 1
                self._log_drop("rejected")
        for status in cycle.statuses:
            subject = subjects.status(status.source)
            message_id = status_message_id(status.source, status.session_id, status.seq)
            if await self._publish(subject, status.SerializeToString(), STATUS_CONTENT_TYPE, message_id):
                stats.statuses += 1
            else:
                stats.statuses_dropped += 1
                self._log_drop(subject)
        for data in cycle.external:
            subject = subjects.external(data.type)
            message_id = external_message_id(data.source, data.session_id, data.seq)
            if await self._publish(subject, data.SerializeToString(), EXTERNAL_CONTENT_TYPE, message_id):
                stats.external += 1
            else:
                stats.external_dropped += 1
                self._log_drop(subject)

    async def confirm(self, flush: Callable[[], Awaitable[None]]) -> None:
        """Ask nats-server to confirm what was handed over so far (``flush``: PING, wait for PONG); raises its errors.

        Core NATS is at most once: a message written to the socket just before the server dies is lost
        without an error. What was confirmed is safe; what was not when the connection drops is counted by
        :meth:`connection_lost` as possibly lost.
        """
        handed_over = self.stats.messages
        await flush()
        self.stats.confirmed = max(self.stats.confirmed, handed_over)

    def connection_lost(self) -> int:
        """Count the messages not confirmed when the connection dropped (an upper bound of what was lost)."""
        stats = self.stats
        unconfirmed = stats.messages - stats.confirmed
        stats.unconfirmed_at_outages += unconfirmed
        stats.outages += 1
        stats.confirmed = stats.messages  # nats-py resends what it still buffered; later messages are new
        return unconfirmed

    async def _publish(self, subject: str, payload: bytes, content_type: str, message_id: str) -> bool:
        try:
            await self._client.publish(subject, payload, headers=nats_headers(content_type, message_id))
        except NatsError as exc:
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            return False
        self.stats.messages += 1
        return True

    def _log_drop(self, stream: str) -> None:
        stats = self.stats
        self._drops.warning(
            "nats publish of %s failed (%s); dropped so far: %d ticks, %d best prices, %d rejections, %d statuses,"
            " %d external items",
            stream,
            stats.last_error,
            stats.ticks_dropped,
            stats.best_prices_dropped,
            stats.rejections_dropped,
            stats.statuses_dropped,
            stats.external_dropped,
        )
