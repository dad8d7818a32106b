"""Batches pipeline output and publishes it to NATS.

Subjects (``prefix`` defaults to ``market``):

- ``<prefix>.<source>.ticks``: a source's accepted ticks, as MarketDataStream;
- ``<prefix>.best.ticks``: best-price changes, as MarketDataStream with ``best_prices``;
- ``<prefix>.rejected``: one QualityRejection per message;
- ``<prefix>.<source>.status``: one SourceStatus per message (connection changes).

Accepted quotes are encoded as Tick records as they arrive (gateway.wire) and
appended to their batch's header when it is published. A source's batch is
complete at ``max_batch_ticks``; when to publish is the pipeline's decision
(see gateway.pipeline). While NATS is unreachable, nats-py buffers up to its
``pending_size``; beyond that a message is dropped and counted, and its
``batch_seq`` is skipped so consumers can see the gap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from nats.errors import Error as NatsError

from gateway.aggregator import BestQuote
from gateway.clock import NS_PER_S, now_ns
from gateway.events import Quote
from gateway.schema.market.v1.market_pb2 import MarketDataStream, QualityRejection, SourceStatus
from gateway.wire import REJECTION_CONTENT_TYPE, STATUS_CONTENT_TYPE, STREAM_CONTENT_TYPE, TickRecordEncoder

logger = logging.getLogger(__name__)

BEST_SOURCE: Final = "best"
DEFAULT_MAX_BATCH_TICKS: Final = 512
_DROP_LOG_INTERVAL_NS: Final = 10 * NS_PER_S


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
    last_error: str = ""


class NatsPublisher:
    """Collects ticks, best prices and rejections, and publishes them on :meth:`flush`."""

    __slots__ = (
        "_batch_seq",
        "_best",
        "_client",
        "_encoder",
        "_full",
        "_last_drop_log_ns",
        "_max_batch",
        "_open",
        "_prefix",
        "_rejection_seq",
        "_rejections",
        "_statuses",
        "session_id",
        "stats",
    )

    def __init__(
        self,
        client: NatsPublishClient,
        *,
        subject_prefix: str = "market",
        max_batch_ticks: int = DEFAULT_MAX_BATCH_TICKS,
        session_id: int | None = None,
    ) -> None:
        self._client = client
        self._prefix = subject_prefix
        self._max_batch = max_batch_ticks
        self.session_id = session_id if session_id is not None else now_ns()
        self._encoder = TickRecordEncoder()
        self._open: dict[str, list[bytes]] = {}
        self._full: list[tuple[str, list[bytes]]] = []
        self._best: list[BestQuote] = []
        self._rejections: list[QualityRejection] = []
        self._statuses: list[SourceStatus] = []
        self._batch_seq: dict[str, int] = {}
        self._rejection_seq = 0
        self._last_drop_log_ns = 0
        self.stats = PublishStats()

    def add_tick(self, quote: Quote, seq: int) -> bytes:
        """Append an accepted quote, with its per-source ``seq``, to its source's batch; return its encoded record."""
        records = self._open.get(quote.source)
        if records is None:
            records = self._open[quote.source] = []
        record = self._encoder.encode(quote, seq)
        records.append(record)
        if len(records) >= self._max_batch:
            self._full.append((quote.source, self._open.pop(quote.source)))
        return record

    def add_best(self, best: BestQuote) -> None:
        """Queue a best-price change for the ``best`` subject."""
        self._best.append(best)

    def add_rejection(self, rejection: QualityRejection) -> None:
        self._rejections.append(rejection)

    def add_status(self, status: SourceStatus) -> None:
        self._statuses.append(status)

    @property
    def has_full_batch(self) -> bool:
        return bool(self._full)

    @property
    def has_pending(self) -> bool:
        return bool(self._open or self._full or self._best or self._rejections or self._statuses)

    async def flush(self) -> None:
        """Publish everything pending; failures are counted, never raised."""
        if self._open:
            self._full.extend(self._open.items())
            self._open = {}
        if self._full:
            batches, self._full = self._full, []
            for source, records in batches:
                if await self._publish_stream(MarketDataStream(source=source), records):
                    self.stats.ticks += len(records)
                else:
                    self.stats.ticks_dropped += len(records)
                    self._log_drop(source)
        if self._best:
            best, self._best = self._best, []
            for start in range(0, len(best), self._max_batch):
                chunk = best[start : start + self._max_batch]
                if await self._publish_stream(best_prices_message(chunk)):
                    self.stats.best_prices += len(chunk)
                else:
                    self.stats.best_prices_dropped += len(chunk)
                    self._log_drop(BEST_SOURCE)
        if self._rejections:
            rejections, self._rejections = self._rejections, []
            subject = f"{self._prefix}.rejected"
            for rejection in rejections:
                self._rejection_seq += 1
                message_id = f"rejected:{self.session_id}:{self._rejection_seq}"
                if await self._publish(subject, rejection.SerializeToString(), REJECTION_CONTENT_TYPE, message_id):
                    self.stats.rejections += 1
                else:
                    self.stats.rejections_dropped += 1
                    self._log_drop("rejected")
        if self._statuses:
            statuses, self._statuses = self._statuses, []
            for status in statuses:
                subject = f"{self._prefix}.{status.source}.status"
                message_id = f"{status.source}:status:{status.session_id}:{status.seq}"
                if await self._publish(subject, status.SerializeToString(), STATUS_CONTENT_TYPE, message_id):
                    self.stats.statuses += 1
                else:
                    self.stats.statuses_dropped += 1
                    self._log_drop(subject)

    async def _publish_stream(self, message: MarketDataStream, tick_records: Sequence[bytes] = ()) -> bool:
        """Number and publish one MarketDataStream; ``tick_records`` are appended pre-encoded."""
        source = message.source
        batch_seq = self._batch_seq[source] = self._batch_seq.get(source, 0) + 1
        message.batch_time_ns = now_ns()
        message.batch_seq = batch_seq
        message.session_id = self.session_id
        return await self._publish(
            f"{self._prefix}.{source}.ticks",
            message.SerializeToString() + b"".join(tick_records),
            STREAM_CONTENT_TYPE,
            f"{source}:{self.session_id}:{batch_seq}",
        )

    async def _publish(self, subject: str, payload: bytes, content_type: str, message_id: str) -> bool:
        try:
            await self._client.publish(
                subject, payload, headers={"Content-Type": content_type, "Nats-Msg-Id": message_id}
            )
        except NatsError as exc:
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            return False
        self.stats.messages += 1
        return True

    def _log_drop(self, stream: str) -> None:
        """Log drops at most every 10 s so an outage does not flood the log."""
        current = time.monotonic_ns()
        if current - self._last_drop_log_ns >= _DROP_LOG_INTERVAL_NS:
            self._last_drop_log_ns = current
            stats = self.stats
            logger.warning(
                "nats publish of %s failed (%s); dropped so far: %d ticks, %d best prices, %d rejections, %d statuses",
                stream,
                stats.last_error,
                stats.ticks_dropped,
                stats.best_prices_dropped,
                stats.rejections_dropped,
                stats.statuses_dropped,
            )


def best_prices_message(changes: Sequence[BestQuote]) -> MarketDataStream:
    """A MarketDataStream of the ``best`` source holding ``changes``."""
    message = MarketDataStream(source=BEST_SOURCE)
    add = message.best_prices.add
    for best in changes:
        add(
            instrument=best.instrument,
            bid_px=best.bid_px,
            bid_source=best.bid_source,
            ask_px=best.ask_px,
            ask_source=best.ask_source,
            live_sources=best.live_sources,
            ts_ns=best.ts_ns,
            crossed=best.crossed,
            tradeable=best.tradeable,
        )
    return message
