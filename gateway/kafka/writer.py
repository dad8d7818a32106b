"""Kafka as the durable record: every published item goes to the spool first, then to Kafka, in order.

Flow: the pipeline hands each publish cycle (gateway.cycle) to
:meth:`KafkaBackup.commit` *before* it publishes it on NATS; commit turns it
into records (gateway.kafka.records) and appends them to the on-disk spool with
one write, so anything a NATS consumer
has seen is already on disk (in the OS page cache; fsync per the spool's
policy). A writer task sends the spool's records to Kafka (aiokafka,
``acks=all``) and acknowledges them in the spool once Kafka confirmed them.

- **Kafka down or slow**: sends fail or wait; the writer rewinds to the first
  unacknowledged record and retries with capped, jittered backoff
  (gateway.backoff), forever. The spool
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
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError

from gateway.backoff import Backoff
from gateway.clock import NS_PER_S
from gateway.cycle import PublishCycle
from gateway.errors import SpoolError, SpoolFullError
from gateway.kafka.records import KafkaTopics, cycle_records
from gateway.kafka.spool import Spool, SpoolRecord
from gateway.logs import ThrottledLog
from gateway.wire import kafka_headers, kafka_record_id

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
MAX_AGE_ENTRIES: Final = 4096
"""Most commit times kept to age the oldest waiting record (PendingAges); beyond, neighbours merge."""
SIZE_ERRORS: Final = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)
"""Kafka's (or aiokafka's) answers that a record or its batch is too large: sending it again cannot succeed."""
RETRY_MIN_S: Final = 0.2
RETRY_MAX_S: Final = 10.0


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
    records_set_aside: int = 0
    """Records Kafka refused as too large: left out of the Kafka copy so the writer goes on (NATS had them)."""
    last_set_aside: str = ""


class PendingAges:
    """When the records still waiting for Kafka were spooled, to tell how long the oldest has waited (monotonic ns).

    One entry per commit ``(last seq, time of the commit)``, dropped when acknowledged; past ``MAX_AGE_ENTRIES``
    neighbours are merged (the earlier time kept), so the age is never understated and the memory is bounded.
    Records an earlier run left in the spool count from ``opened_ns``, when this run opened it.
    """

    __slots__ = ("_entries", "_first_own_seq", "_opened_ns")

    def __init__(self, first_own_seq: int, opened_ns: int) -> None:
        self._entries: deque[tuple[int, int]] = deque()
        self._first_own_seq = first_own_seq
        self._opened_ns = opened_ns

    def appended(self, last_seq: int, now_ns: int) -> None:
        self._entries.append((last_seq, now_ns))
        if len(self._entries) > MAX_AGE_ENTRIES:
            entries = list(self._entries)
            merged = [(entries[i + 1][0], entries[i][1]) for i in range(0, len(entries) - 1, 2)]
            if len(entries) % 2:
                merged.append(entries[-1])
            self._entries = deque(merged)

    def __len__(self) -> int:
        """Commit times kept (at most MAX_AGE_ENTRIES + 1)."""
        return len(self._entries)

    def acknowledged(self, upto_seq: int) -> None:
        entries = self._entries
        while entries and entries[0][0] <= upto_seq:
            entries.popleft()

    def oldest_age_ns(self, acked_seq: int, pending_records: int, now_ns: int) -> int:
        """How long the oldest unacknowledged record has waited; 0 when none waits."""
        if not pending_records:
            return 0
        if acked_seq + 1 < self._first_own_seq or not self._entries:
            return max(0, now_ns - self._opened_ns)
        return max(0, now_ns - self._entries[0][1])


class KafkaBackup:
    """Spools each publish cycle and runs the task that delivers the spool to Kafka."""

    def __init__(
        self,
        topics: KafkaTopics,
        spool: Spool,
        *,
        bootstrap_servers: str,
        instance_id: str,
        compression: str | None = "zstd",
        linger_ms: int = 0,
        request_timeout_ms: int = 30_000,
    ) -> None:
        self.topics = topics
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
        self._spool_errors = ThrottledLog(logger)
        self._send_errors = ThrottledLog(logger)
        self._set_aside_log = ThrottledLog(logger)
        self.pending_ages = PendingAges(spool.next_seq, time.monotonic_ns())

    @classmethod
    def from_config(cls, kafka: KafkaConfig, instance_id: str) -> KafkaBackup:
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
            kafka.topics,
            spool,
            bootstrap_servers=kafka.bootstrap_servers,
            instance_id=instance_id,
            compression=None if kafka.compression == "none" else kafka.compression,
            linger_ms=kafka.linger_ms,
            request_timeout_ms=kafka.request_timeout_ms,
        )

    def commit(self, cycle: PublishCycle) -> None:
        """Append the cycle's records to the spool (before it is published on NATS) and wake the writer."""
        records = cycle_records(cycle, self.topics)
        ticks = cycle.tick_count
        if not records:
            return
        try:
            self.spool.append(records)
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
        self.pending_ages.appended(self.spool.next_seq - 1, time.monotonic_ns())
        self._wake.set()

    def oldest_pending_age_s(self) -> float:
        """Seconds the oldest record not yet acknowledged by Kafka has waited in the spool (0 when none waits)."""
        spool = self.spool
        age_ns = self.pending_ages.oldest_age_ns(spool.acked_seq, spool.pending_records, time.monotonic_ns())
        return age_ns / NS_PER_S

    async def run(self) -> None:
        """Deliver the spool to Kafka forever: connect, send chunk by chunk, rewind and retry on failure."""
        backoff = Backoff(RETRY_MIN_S, RETRY_MAX_S)
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
                backoff.reset()
                await self._deliver(producer)
            except (KafkaError, OSError, SpoolError) as exc:
                self._set_connected(False, f"{type(exc).__name__}: {exc}")
            finally:
                self.spool.rewind()
                await _stop_quietly(producer)
            await asyncio.sleep(backoff.next_delay())

    async def _deliver(self, producer: AIOKafkaProducer) -> None:
        """Send chunks in order until one fails (then raise); wait for new records when caught up."""
        spool = self.spool
        while True:
            chunk = spool.read(max_records=CHUNK_RECORDS, max_bytes=CHUNK_BYTES)
            if not chunk:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                futures = [await self._send(producer, record) for record in chunk]
                results = await asyncio.gather(*futures, return_exceptions=True)
            except SIZE_ERRORS as exc:  # aiokafka checks a record's size when it is handed over
                results = [exc]
            failures = [result for result in results if isinstance(result, BaseException)]
            if failures and all(isinstance(failure, SIZE_ERRORS) for failure in failures):
                await self._send_one_by_one(producer, chunk)
            elif failures:
                self.stats.send_failures += 1
                raise failures[0] if isinstance(failures[0], KafkaError | OSError) else KafkaError(str(failures[0]))
            spool.ack(chunk[-1].seq)
            self.pending_ages.acknowledged(chunk[-1].seq)
            self.stats.records_sent += len(chunk)
            if not self.stats.connected:
                self._set_connected(True)

    async def _send_one_by_one(self, producer: AIOKafkaProducer, chunk: list[SpoolRecord]) -> None:
        """Resend a chunk Kafka refused as too large record by record; set aside the records refused alone.

        A record refused on its own can never be delivered (the broker's ``message.max.bytes`` is below it):
        waiting for it would stop the Kafka copy for good. It is counted, logged and shown on /health, and the
        writer goes on. Any other failure raises, and the chunk is sent again from its first record.
        """
        for record in chunk:
            try:
                await (await self._send(producer, record))
            except SIZE_ERRORS as exc:
                self._set_aside(record, exc)

    def _set_aside(self, spooled: SpoolRecord, exc: KafkaError) -> None:
        record = spooled.record
        self.stats.records_set_aside += 1
        self.stats.records_dropped += 1  # counted with every other record left out of the Kafka copy
        self.stats.last_set_aside = (
            f"{record.topic} record {spooled.seq} of {len(record.value):,} bytes refused as too large "
            f"({type(exc).__name__})"
        )
        self._set_aside_log.error(
            "kafka %s: %s; left out of the Kafka copy (NATS carried it), %d such records so far",
            self._bootstrap,
            self.stats.last_set_aside,
            self.stats.records_set_aside,
        )

    async def _send(self, producer: AIOKafkaProducer, spooled: SpoolRecord) -> asyncio.Future[object]:
        record = spooled.record
        headers = kafka_headers(record.content_type, kafka_record_id(self._instance_id, self.spool.epoch, spooled.seq))
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
        if connected:
            self.stats.last_error = ""  # /health shows a current error, not one Kafka has recovered from
        if not connected:
            self.stats.last_error = error
            self._send_errors.log(
                logging.WARNING,
                "kafka %s unavailable (%s); %d records (%d bytes) wait in the spool",
                self._bootstrap,
                error,
                self.spool.pending_records,
                self.spool.pending_bytes,
                force=self.stats.connected,  # the first failure after a good spell is always logged
            )
        self.stats.connected = connected

    def _log_spool_error(self, exc: SpoolError) -> None:
        self._spool_errors.error(
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
