"""The Kafka writer: its own process, sending the spool's records to Kafka in order and reporting back.

The gateway (gateway.kafka.backup.KafkaBackup) appends every publish cycle to the spool and starts this process
as ``python -m gateway.kafka.writer``, so producing to Kafka (batching, compression, the protocol) runs on the
second core while the gateway's event loop only appends. The two talk over the writer's stdin and stdout
(gateway.kafka.channel): the writer reads the spool with a :class:`~gateway.kafka.spool.SpoolReader` (read-only),
sends, and reports each chunk Kafka confirmed; the gateway acknowledges it in the spool, which deletes delivered
segments. When the gateway stops or dies the writer's stdin closes and it exits; when the writer dies the
gateway starts another, which reads from the first unacknowledged record.

- **Kafka down or slow**: sends fail or wait; the writer rewinds to the first unacknowledged record and retries
  with capped, jittered backoff (gateway.backoff), forever. The spool grows meanwhile; NATS is not affected.
- **Order**: one chunk of records is in flight at a time and a chunk never spans two producer batches of a
  partition, so a retried chunk is resent whole and each partition (instrument) receives records in spool order.
- **Exactly once after deduplication**: a resend repeats records Kafka may already have; each keeps its
  ``fxgw-id`` header, which consumers deduplicate on. Idempotent producing is not used: not every
  Kafka-protocol broker supports InitProducerId.
- **A record too large for Kafka** is resent alone, then set aside (reported; NATS had it) so the rest goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Final

import msgspec
import uvloop
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError

from gateway.backoff import Backoff
from gateway.errors import SpoolError
from gateway.gc_tuning import tune_after_start
from gateway.kafka.channel import (
    Appended,
    Connection,
    Delivered,
    FromWriter,
    SetAside,
    Waiting,
    WriterStart,
    clip,
    decode_to_writer,
    encode,
)
from gateway.kafka.spool import SpoolReader, SpoolRecord
from gateway.logs import ThrottledLog, configure_logging
from gateway.wire import kafka_headers, kafka_record_id

logger = logging.getLogger("gateway.kafka.writer")  # not __name__: it is "__main__" when run with -m

CHUNK_BYTES: Final = 960 * 1024
"""Most record bytes in flight at once; below the producer's batch size, so a chunk is one batch per partition.

With one chunk in flight the writer moves at most a chunk per round trip (a tick is about 90 bytes): 256 KiB
capped it near 100,000 ticks/s under load. 960 KiB stays below Kafka's default message.max.bytes (1 MB),
so a partition's batch fits even uncompressed."""
PRODUCER_BATCH_BYTES: Final = 2 * CHUNK_BYTES
CHUNK_RECORDS: Final = 4096
SIZE_ERRORS: Final = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)
"""Kafka's (or aiokafka's) answers that a record or its batch is too large: sending it again cannot succeed."""
RETRY_MIN_S: Final = 0.2
RETRY_MAX_S: Final = 10.0
READ_RETRY_S: Final = 0.01
"""Pause before reading again when the gateway reported records the reader cannot read yet (not yet whole)."""
STOP_TIMEOUT_S: Final = 2.0
MAX_START_BYTES: Final = 64 * 1024 * 1024
"""The longest line read from the gateway: its start message lists every unacknowledged segment."""


class KafkaWriter:
    """Sends the spool's records to Kafka chunk by chunk; reports through ``report`` (a line to the gateway)."""

    def __init__(self, start: WriterStart, report: Callable[[FromWriter], None]) -> None:
        self._start = start
        self._report = report
        self._reader = SpoolReader(start.layout)
        self._appended = start.layout.next_seq - 1
        self._wake = asyncio.Event()
        self._connected = False
        self._send_errors = ThrottledLog(logger)
        self._set_aside_log = ThrottledLog(logger)
        self._set_aside_count = 0

    def appended(self, last_seq: int) -> None:
        """The gateway appended records up to ``last_seq``."""
        self._appended = max(self._appended, last_seq)
        self._wake.set()

    async def run(self) -> None:
        """Deliver the spool to Kafka forever: connect, send chunk by chunk, rewind and retry on failure."""
        start = self._start
        backoff = Backoff(RETRY_MIN_S, RETRY_MAX_S)
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=start.bootstrap_servers,
                client_id=start.instance_id,
                acks="all",
                enable_idempotence=False,
                max_batch_size=PRODUCER_BATCH_BYTES,
                max_request_size=2 * PRODUCER_BATCH_BYTES,
                compression_type=start.compression,
                linger_ms=start.linger_ms,
                request_timeout_ms=start.request_timeout_ms,
            )
            try:
                await producer.start()
                self._set_connected(True)
                backoff.reset()
                await self._deliver(producer)
            except (KafkaError, OSError, SpoolError) as exc:
                # a failure once connected is a failed send; before, a failed connection
                self._set_connected(False, f"{type(exc).__name__}: {exc}", failed_send=self._connected)
            finally:
                self._reader.rewind()
                await _stop_quietly(producer)
            await asyncio.sleep(backoff.next_delay())

    def close(self) -> None:
        self._reader.close()

    async def _deliver(self, producer: AIOKafkaProducer) -> None:
        """Send chunks in order until one fails (then raise); wait for new records when caught up."""
        reader = self._reader
        while True:
            chunk = reader.read(max_records=CHUNK_RECORDS, max_bytes=CHUNK_BYTES)
            if not chunk:
                await self._wait_for_appends()
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
                raise failures[0] if isinstance(failures[0], KafkaError | OSError) else KafkaError(str(failures[0]))
            upto_seq, end_offset = reader.acknowledge()
            self._report(Delivered(upto_seq, end_offset, len(chunk)))

    async def _wait_for_appends(self) -> None:
        """Wait until the gateway reports records beyond the last one read (it answers :class:`Waiting` at once
        when it has them already)."""
        last_read = self._reader.last_read_seq
        if self._appended > last_read:  # reported, but not whole on disk yet
            await asyncio.sleep(READ_RETRY_S)
            return
        self._wake.clear()
        self._report(Waiting(last_read))
        while self._appended <= last_read:
            await self._wake.wait()
            self._wake.clear()

    async def _send_one_by_one(self, producer: AIOKafkaProducer, chunk: list[SpoolRecord]) -> None:
        """Resend a chunk Kafka refused as too large record by record; set aside the records refused alone.

        A record refused on its own can never be delivered (the broker's ``message.max.bytes`` is below it):
        waiting for it would stop the Kafka copy for good. It is reported, logged and shown on /health, and the
        writer goes on. Any other failure raises, and the chunk is sent again from its first record.
        """
        for record in chunk:
            try:
                await (await self._send(producer, record))
            except SIZE_ERRORS as exc:
                self._set_aside(record, exc)

    def _set_aside(self, spooled: SpoolRecord, exc: KafkaError) -> None:
        record = spooled.record
        description = (
            f"{record.topic} record {spooled.seq} of {len(record.value):,} bytes refused as too large "
            f"({type(exc).__name__})"
        )
        self._set_aside_count += 1
        self._report(SetAside(description))
        self._set_aside_log.error(
            "kafka %s: %s; left out of the Kafka copy (NATS carried it), %d such records since the writer started",
            self._start.bootstrap_servers,
            description,
            self._set_aside_count,
        )

    async def _send(self, producer: AIOKafkaProducer, spooled: SpoolRecord) -> asyncio.Future[object]:
        record = spooled.record
        record_id = kafka_record_id(self._start.instance_id, self._start.epoch, spooled.seq)
        future: asyncio.Future[object] = await producer.send(
            record.topic, record.value, key=record.key or None, headers=kafka_headers(record.content_type, record_id)
        )
        return future

    def _set_connected(self, connected: bool, error: str = "", *, failed_send: bool = False) -> None:
        if connected and not self._connected:
            logger.info("kafka %s: connected", self._start.bootstrap_servers)
        if not connected:
            self._send_errors.log(
                logging.WARNING,
                "kafka %s unavailable (%s); the records wait in the spool",
                self._start.bootstrap_servers,
                error,
                force=self._connected,  # the first failure after a good spell is always logged
            )
        if connected != self._connected or not connected:
            self._report(Connection(connected, clip(error), failed_send))
        self._connected = connected


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 5)
    except (KafkaError, OSError, TimeoutError) as exc:
        logger.debug("kafka producer stop: %r", exc)


def _report(message: FromWriter) -> None:
    """Send a line to the gateway (stdout is the pipe it reads; a blocking write of a few dozen bytes)."""
    data = encode(message)
    while data:
        data = data[os.write(sys.stdout.fileno(), data) :]


async def _serve(start: WriterStart, commands: asyncio.StreamReader) -> None:
    """Run the writer until the gateway closes the pipe (stdin at its end); raise what stopped the writer."""
    writer = KafkaWriter(start, _report)
    tasks = {
        asyncio.create_task(writer.run(), name="kafka-writer"),
        asyncio.create_task(_listen(writer, commands), name="gateway-pipe"),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), STOP_TIMEOUT_S)
        writer.close()
    for task in done:
        task.result()


async def _listen(writer: KafkaWriter, commands: asyncio.StreamReader) -> None:
    """Pass the gateway's messages to ``writer``; return when the gateway closes the pipe."""
    while line := await commands.readline():
        message = decode_to_writer(line)
        if isinstance(message, Appended):
            writer.appended(message.last_seq)


async def _main() -> int:
    """Read the start message, then deliver until the gateway closes the pipe; the exit status."""
    # One reader for every line of stdin, the start message included: nothing is read ahead elsewhere.
    commands = asyncio.StreamReader(limit=MAX_START_BYTES)
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    try:
        start = decode_to_writer(await commands.readline())
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        print(f"fxgw kafka writer: no valid start message on stdin: {exc}", file=sys.stderr)
        return 2
    if not isinstance(start, WriterStart):
        print("fxgw kafka writer: the first message on stdin must be the start message", file=sys.stderr)
        return 2
    configure_logging(start.log_level)
    tune_after_start()
    try:
        await _serve(start, commands)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        logger.error("kafka writer: a message from the gateway is not valid (%s); exiting", exc)
        return 2
    except Exception as exc:  # anything unforeseen: one line, and the gateway starts another writer
        logger.error("kafka writer failed: %s: %s", type(exc).__name__, exc)
        return 1
    return 0


def main() -> int:
    """``python -m gateway.kafka.writer``: read the start message from stdin, deliver until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the gateway, which drains and closes the pipe
    return uvloop.run(_main())


if __name__ == "__main__":
    sys.exit(main())
