"""Batches pipeline output and publishes it to NATS.

Subjects (``prefix`` defaults to ``market``):

- ``<prefix>.<source>.ticks``: a source's accepted ticks, as MarketDataStream;
- ``<prefix>.best.ticks``: best-price changes, as MarketDataStream with ``best_prices``;
- ``<prefix>.rejected``: one QualityRejection per message.

Batching adds no timer: the pipeline flushes after every batch a collector
hands over, so a lone tick goes out at once while a burst (a busy stream's read
chunk, a fast replay) leaves as few messages of up to ``max_batch_ticks`` each.
Pending data is bounded by the collectors' batch size (at most 1,000 events per
hand-over). While NATS is unreachable, nats-py buffers up to its
``pending_size``; beyond that a message is dropped and counted, and its
``batch_seq`` is skipped so consumers can see the gap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from nats.errors import Error as NatsError

from gateway.clock import NS_PER_S, now_ns
from gateway.schema.market.v1.market_pb2 import BestPrice, MarketDataStream, QualityRejection, Tick

logger = logging.getLogger(__name__)

BEST_SOURCE: Final = "best"
DEFAULT_MAX_BATCH_TICKS: Final = 512
STREAM_CONTENT_TYPE: Final = "application/x-protobuf; proto=market.v1.MarketDataStream"
REJECTION_CONTENT_TYPE: Final = "application/x-protobuf; proto=market.v1.QualityRejection"
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
    last_error: str = ""


class NatsPublisher:
    """Collects ticks, best prices and rejections, and publishes them on :meth:`flush`."""

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
        self._pending_ticks: dict[str, list[Tick]] = {}
        self._pending_best: list[BestPrice] = []
        self._pending_rejections: list[QualityRejection] = []
        self._batch_seq: dict[str, int] = {}
        self._rejection_seq = 0
        self._subjects: dict[str, str] = {}
        self._last_drop_log_ns = 0
        self.stats = PublishStats()

    def add_tick(self, tick: Tick) -> None:
        pending = self._pending_ticks.get(tick.source)
        if pending is None:
            pending = self._pending_ticks[tick.source] = []
        pending.append(tick)

    def add_best_prices(self, best_prices: Iterable[BestPrice]) -> None:
        self._pending_best.extend(best_prices)

    def add_rejection(self, rejection: QualityRejection) -> None:
        self._pending_rejections.append(rejection)

    async def flush(self) -> None:
        """Publish everything pending; failures are counted, never raised."""
        if self._pending_ticks:
            pending, self._pending_ticks = self._pending_ticks, {}
            for source, ticks in pending.items():
                for start in range(0, len(ticks), self._max_batch):
                    chunk = ticks[start : start + self._max_batch]
                    if await self._publish_stream(source, ticks=chunk):
                        self.stats.ticks += len(chunk)
                    else:
                        self.stats.ticks_dropped += len(chunk)
        if self._pending_best:
            best, self._pending_best = self._pending_best, []
            for start in range(0, len(best), self._max_batch):
                chunk = best[start : start + self._max_batch]
                if await self._publish_stream(BEST_SOURCE, best_prices=chunk):
                    self.stats.best_prices += len(chunk)
                else:
                    self.stats.best_prices_dropped += len(chunk)
        if self._pending_rejections:
            rejections, self._pending_rejections = self._pending_rejections, []
            subject = f"{self._prefix}.rejected"
            for rejection in rejections:
                self._rejection_seq += 1
                message_id = f"rejected:{self.session_id}:{self._rejection_seq}"
                if await self._publish(subject, rejection.SerializeToString(), REJECTION_CONTENT_TYPE, message_id):
                    self.stats.rejections += 1
                else:
                    self.stats.rejections_dropped += 1

    async def _publish_stream(
        self, source: str, ticks: list[Tick] | None = None, best_prices: list[BestPrice] | None = None
    ) -> bool:
        batch_seq = self._batch_seq[source] = self._batch_seq.get(source, 0) + 1
        message = MarketDataStream(
            source=source,
            batch_time_ns=now_ns(),
            batch_seq=batch_seq,
            session_id=self.session_id,
            ticks=ticks,
            best_prices=best_prices,
        )
        subject = self._subjects.get(source)
        if subject is None:
            subject = self._subjects[source] = f"{self._prefix}.{source}.ticks"
        return await self._publish(
            subject, message.SerializeToString(), STREAM_CONTENT_TYPE, f"{source}:{self.session_id}:{batch_seq}"
        )

    async def _publish(self, subject: str, payload: bytes, content_type: str, message_id: str) -> bool:
        headers = {"Content-Type": content_type, "Nats-Msg-Id": message_id}
        try:
            await self._client.publish(subject, payload, headers=headers)
        except NatsError as exc:
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            self._log_drop(subject)
            return False
        self.stats.messages += 1
        return True

    def _log_drop(self, subject: str) -> None:
        """Log drops at most every 10 s so an outage does not flood the log."""
        current = time.monotonic_ns()
        if current - self._last_drop_log_ns >= _DROP_LOG_INTERVAL_NS:
            self._last_drop_log_ns = current
            stats = self.stats
            logger.warning(
                "nats publish to %s failed (%s); dropped so far: %d ticks, %d best prices, %d rejections",
                subject,
                stats.last_error,
                stats.ticks_dropped,
                stats.best_prices_dropped,
                stats.rejections_dropped,
            )
