"""Kafka as the durable record: every published item goes to the spool first, then to Kafka, in order.

Flow: the pipeline hands each publish cycle's ticks, best prices, rejections
and status changes to :class:`KafkaBackup` *before* it publishes them on NATS.
:meth:`KafkaBackup.commit` turns them into records (gateway.kafka.records) and
appends them to the on-disk spool with one write, so anything a NATS consumer
has seen is already on disk (in the OS page cache; fsync per the spool's
policy). A writer task sends the spool's records to Kafka (aiokafka,
``acks=all``) and acknowledges them in the spool once Kafka confirmed them.

- **Kafka down or slow**: sends fail or wait; the writer rewinds to the first
  unacknowledged record and retries with capped backoff, forever. The spool
  grows meanwhile; NATS is not affected. After a crash or ``kill -9`` the next
  start sends what the spool still holds before anything newer.
- **Order**: one chunk of records is in flight at a time and a chunk never
  spans two producer batches of a partition, so a retried chunk is resent
  whole and each partition (instrument) receives records in spool order.
- **Exactly once after deduplication**: a resend repeats records Kafka may
  already have; each keeps its ``fxgw-id`` header, which consumers
  deduplicate on. Idempotent producing is not used: not every Kafka-protocol
  broker supports InitProducerId.
- **Spool full** (or the disk failing): new records for Kafka are dropped
  (NATS still gets them), counted in ``stats``, logged at most every 10 s, and
  shown in the status line, on /health and in /metrics (gateway.ops.server).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from gateway.aggregator import BestQuote
from gateway.clock import NS_PER_S, now_ns
from gateway.errors import SpoolError, SpoolFullError
from gateway.kafka.records import (
    KafkaRecord,
    KafkaTopics,
    record_headers,
)
from gateway.kafka.spool import Spool, SpoolRecord
from gateway.publisher import BEST_SOURCE, best_prices_message
from gateway.schema.market.v1.market_pb2 import MarketDataStream, QualityRejection, SourceStatus
from gateway.wire import REJECTION_CONTENT_TYPE, STATUS_CONTENT_TYPE, STREAM_CONTENT_TYPE

if TYPE_CHECKING:
    from gateway.config import KafkaConfig

logger = logging.getLogger(__name__)

CHUNK_BYTES: Final = 960 * 1024
"""Most record bytes in flight at once; below the producer's batch size, so a chunk is one batch per partition.

With one chunk in flight the writer moves at most a chunk per round trip (a tick is about 90 bytes): 256 KiB
capped it near 100,000 ticks/s under load. 960 KiB stays below Kafka's default message.max.bytes (1 MB),
so a partition's batch fits even uncompressed."""
PRODUCER_BATCH_BYTES: Final = 2 * CHUNK_BYTES
CHUNK_RECORDS: Final = 4096
RETRY_MIN_S: Final = 0.2
RETRY_MAX_S: Final = 10.0
LOG_INTERVAL_NS: Final = 10 * NS_PER_S


@dataclass(slots=True)
class KafkaStats:
    """Counters since start, for logs, /health and metrics."""

    connected: bool = False
    records_spooled: int = 0
    ticks_spooled: int = 0
    records_sent: int = 0
    send_failures: int = 0
    records_dropped: int = 0
    ticks_dropped: int = 0
    spool_full: bool = False
    last_error: str = ""
    last_spool_error: str = ""
    last_sent_ns: int = 0


class KafkaRecordBuilder:
    """Groups one publish cycle's output into Kafka records (pure): ticks by (source, instrument)."""

    __slots__ = ("_batch_seq", "_pending", "_records", "_session_id", "_tick_count", "_ticks", "topics")

    def __init__(self, topics: KafkaTopics, session_id: int) -> None:
        self.topics = topics
        self._session_id = session_id
        self._ticks: dict[tuple[str, str], list[bytes]] = {}
        self._records: list[KafkaRecord] = []
        self._batch_seq: dict[str, int] = {}
        self._tick_count = 0
        self._pending = False

    def add_tick(self, source: str, instrument: str, tick_record: bytes) -> None:
        """A Tick already encoded as a MarketDataStream ``ticks`` entry (gateway.wire)."""
        group = self._ticks.get((source, instrument))
        if group is None:
            group = self._ticks[(source, instrument)] = []
        group.append(tick_record)

    def add_best(self, changes: Sequence[BestQuote]) -> None:
        by_instrument: dict[str, list[BestQuote]] = {}
        for best in changes:
            by_instrument.setdefault(best.instrument, []).append(best)
        batch_time_ns = now_ns()
        for instrument, quotes in by_instrument.items():
            message = best_prices_message(quotes)
            message.session_id = self._session_id
            message.batch_time_ns = batch_time_ns
            message.batch_seq = self._next_batch_seq(BEST_SOURCE)
            self._records.append(
                KafkaRecord(
                    self.topics.best_prices, instrument.encode(), message.SerializeToString(), STREAM_CONTENT_TYPE
                )
            )

    def add_rejection(self, rejection: QualityRejection) -> None:
        key = rejection.tick.source.encode()
        self._records.append(
            KafkaRecord(self.topics.rejections, key, rejection.SerializeToString(), REJECTION_CONTENT_TYPE)
        )

    def add_status(self, status: SourceStatus) -> None:
        self._records.append(
            KafkaRecord(self.topics.status, status.source.encode(), status.SerializeToString(), STATUS_CONTENT_TYPE)
        )

    def _next_batch_seq(self, source: str) -> int:
        """Per-source record counter from 1, so a consumer of a topic can see a missing record."""
        batch_seq = self._batch_seq[source] = self._batch_seq.get(source, 0) + 1
        return batch_seq

    def take(self) -> tuple[list[KafkaRecord], int]:
        """The records built since the last call, and how many ticks they hold."""
        records, self._records = self._records, []
        ticks = 0
        if self._ticks:
            batch_time_ns = now_ns()
            for (source, instrument), tick_records in self._ticks.items():
                header = MarketDataStream(
                    source=source,
                    batch_time_ns=batch_time_ns,
                    batch_seq=self._next_batch_seq(source),
                    session_id=self._session_id,
                ).SerializeToString()
                records.append(
                    KafkaRecord(
                        self.topics.ticks, instrument.encode(), header + b"".join(tick_records), STREAM_CONTENT_TYPE
                    )
                )
                ticks += len(tick_records)
            self._ticks = {}
        return records, ticks


class KafkaBackup:
    """Spools each publish cycle and runs the task that delivers the spool to Kafka."""

    def __init__(
        self,
        builder: KafkaRecordBuilder,
        spool: Spool,
        *,
        bootstrap_servers: str,
        instance_id: str,
        compression: str | None = "zstd",
        linger_ms: int = 0,
        request_timeout_ms: int = 30_000,
    ) -> None:
        self.builder = builder
        self.spool = spool
        self.stats = KafkaStats()
        self._bootstrap = bootstrap_servers
        self._instance_id = instance_id
        self._producer_options = {
            "compression_type": compression,
            "linger_ms": linger_ms,
            "request_timeout_ms": request_timeout_ms,
        }
        self._wake = asyncio.Event()
        self._last_full_log_ns = 0
        self._last_send_log_ns = 0

    @classmethod
    def from_config(cls, kafka: KafkaConfig, instance_id: str, session_id: int) -> KafkaBackup:
        """The spool (opened and recovered) and the writer, as ``kafka`` in the config describes them."""
        spool_config = kafka.spool
        spool = Spool(
            spool_config.dir,
            max_bytes=spool_config.max_bytes,
            segment_bytes=spool_config.segment_bytes,
            fsync=spool_config.fsync,
            fsync_interval_ms=spool_config.fsync_interval_ms,
        )
        return cls(
            KafkaRecordBuilder(kafka.topics, session_id),
            spool,
            bootstrap_servers=kafka.bootstrap_servers,
            instance_id=instance_id,
            compression=None if kafka.compression == "none" else kafka.compression,
            linger_ms=kafka.linger_ms,
            request_timeout_ms=kafka.request_timeout_ms,
        )

    def commit(self) -> None:
        """Append what the builder holds to the spool (before it is published on NATS) and wake the writer."""
        records, ticks = self.builder.take()
        if not records:
            return
        try:
            self.spool.append([(r.topic, r.key, r.value, r.content_type) for r in records])
        except SpoolError as exc:
            self.stats.records_dropped += len(records)
            self.stats.ticks_dropped += ticks
            self.stats.spool_full = isinstance(exc, SpoolFullError)
            self.stats.last_spool_error = str(exc)
            self._log_spool_error(exc)
            return
        self.stats.spool_full = False
        self.stats.records_spooled += len(records)
        self.stats.ticks_spooled += ticks
        self._wake.set()

    async def run(self) -> None:
        """Deliver the spool to Kafka forever: connect, send chunk by chunk, rewind and retry on failure."""
        retry_s = RETRY_MIN_S
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                client_id=self._instance_id,
                acks="all",
                enable_idempotence=False,
                max_batch_size=PRODUCER_BATCH_BYTES,
                max_request_size=2 * PRODUCER_BATCH_BYTES,
                **self._producer_options,
            )
            try:
                await producer.start()
                self._set_connected(True)
                retry_s = RETRY_MIN_S
                await self._deliver(producer)
            except (KafkaError, OSError, SpoolError) as exc:
                self._set_connected(False, f"{type(exc).__name__}: {exc}")
            finally:
                self.spool.rewind()
                await _stop_quietly(producer)
            await asyncio.sleep(retry_s)
            retry_s = min(retry_s * 2, RETRY_MAX_S)

    async def _deliver(self, producer: AIOKafkaProducer) -> None:
        """Send chunks in order until one fails (then raise); wait for new records when caught up."""
        spool = self.spool
        while True:
            chunk = spool.read(max_records=CHUNK_RECORDS, max_bytes=CHUNK_BYTES)
            if not chunk:
                self._wake.clear()
                await self._wake.wait()
                continue
            futures = [await self._send(producer, record) for record in chunk]
            results = await asyncio.gather(*futures, return_exceptions=True)
            failures = [result for result in results if isinstance(result, BaseException)]
            if failures:
                self.stats.send_failures += 1
                raise failures[0] if isinstance(failures[0], KafkaError | OSError) else KafkaError(str(failures[0]))
            spool.ack(chunk[-1].seq)
            self.stats.records_sent += len(chunk)
            self.stats.last_sent_ns = now_ns()
            if not self.stats.connected:
                self._set_connected(True)

    async def _send(self, producer: AIOKafkaProducer, record: SpoolRecord) -> asyncio.Future[object]:
        headers = record_headers(record.content_type, self._instance_id, self.spool.epoch, record.seq)
        future: asyncio.Future[object] = await producer.send(
            record.topic, record.value, key=record.key or None, headers=headers
        )
        return future

    async def sync_periodically(self, interval_s: float) -> None:
        """Flush the spool per its fsync policy and persist its checkpoint, also when appends pause; runs forever."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.spool.sync()
            except SpoolError as exc:
                self._log_spool_error(exc)

    async def drain(self, timeout_s: float) -> None:
        """Give the writer up to ``timeout_s`` to deliver what is spooled; what remains is sent on the next start."""
        deadline = time.monotonic() + timeout_s
        while self.spool.pending_records and self.stats.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def _set_connected(self, connected: bool, error: str = "") -> None:
        if connected and not self.stats.connected:
            logger.info("kafka %s: connected; %d records to deliver", self._bootstrap, self.spool.pending_records)
        if not connected:
            self.stats.last_error = error
            current = time.monotonic_ns()
            if self.stats.connected or current - self._last_send_log_ns >= LOG_INTERVAL_NS:
                self._last_send_log_ns = current
                logger.warning(
                    "kafka %s unavailable (%s); %d records (%d bytes) wait in the spool",
                    self._bootstrap,
                    error,
                    self.spool.pending_records,
                    self.spool.pending_bytes,
                )
        self.stats.connected = connected

    def _log_spool_error(self, exc: SpoolError) -> None:
        current = time.monotonic_ns()
        if current - self._last_full_log_ns >= LOG_INTERVAL_NS:
            self._last_full_log_ns = current
            logger.error(
                "%s; dropped from the Kafka copy so far: %d records, %d ticks (NATS still receives them)",
                exc,
                self.stats.records_dropped,
                self.stats.ticks_dropped,
            )


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 5)
    except (KafkaError, OSError, TimeoutError) as exc:
        logger.debug("kafka producer stop: %r", exc)
