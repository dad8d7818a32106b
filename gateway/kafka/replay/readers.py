"""Where a replay reads records: a Kafka topic (:class:`KafkaTickReader`) or a spool (:class:`SpoolTickReader`).

Both hand records over as :data:`ReplayRecord` tuples, the arguments of
``TickSelector.select``, by partition, together with the partitions read to
their end.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from gateway.echo import clip, shown
from gateway.errors import ConfigError, GatewayError, ReplayError, SpoolError
from gateway.kafka.replay.request import DEFAULT_TIMEOUT_S, ECHO_CHARS
from gateway.kafka.spool import SpoolRecord, read_spool_directory, read_spool_epoch
from gateway.wire import CONTENT_TYPE_HEADER, ID_HEADER

FETCH_WAIT_MS: Final = 200
"""Longest wait of one fetch for records; how long Kafka may stay silent is the request's ``timeout_s``."""
SPOOL_READ_RECORDS: Final = 1000
"""Records handed to the merge per read of a spool."""
_TOPICS_SHOWN: Final = 20
"""Most topic names listed in the error for an unknown topic."""
_ERROR_CHARS: Final = 300
"""Most characters of a Kafka client's error echoed (aiokafka's can list every bootstrap address)."""

R = TypeVar("R")

ReplayRecord = tuple[bytes, bytes | None, bytes | None]
"""A record as the replay reads it: value, ``fxgw-id`` and ``content-type`` (None where absent)."""


class RecordReader(Protocol):
    """Where a replay reads records: a Kafka topic or a spool directory."""

    total_records: int
    """Records to read, for a progress bar; 0 when unknown."""

    @property
    def partitions(self) -> list[int]: ...

    @property
    def done(self) -> bool: ...

    async def fetch(self) -> tuple[Mapping[int, Sequence[ReplayRecord]], list[int]]:
        """The next records by partition, and the partitions now read to their end."""
        ...

    def pause(self, partition: int) -> None: ...

    def resume(self, partition: int) -> None: ...


class KafkaTickReader:
    """Reads a topic from the beginning of each partition up to its end offset when :meth:`open` ran.

    No consumer group: nothing is committed and other consumers are not disturbed.
    The end of a partition is the larger of ListOffsets' latest offset and the high
    watermark of the first fetch response: tansu 0.6 answers ListOffsets with the
    base offset of the partition's last batch plus one, short of the real end,
    while its fetch responses carry the right high watermark.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        consumer_factory: Callable[..., AIOKafkaConsumer] = AIOKafkaConsumer,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._shown_bootstrap = clip(bootstrap_servers, ECHO_CHARS)
        self._topic = topic
        self._timeout_s = timeout_s
        self._consumer_factory = consumer_factory
        self._consumer: AIOKafkaConsumer | None = None
        self._ends: dict[TopicPartition, int] = {}
        self._reading: set[TopicPartition] = set()
        self._primed: list[dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]] = []
        self._last_progress = time.monotonic()
        self.total_records = 0

    @property
    def partitions(self) -> list[int]:
        """The partitions with records to read, as found by :meth:`open`."""
        return sorted(tp.partition for tp in self._reading)

    @property
    def done(self) -> bool:
        return not self._reading

    async def open(self) -> None:
        """Connect, check the topic and take its end offsets; raises ReplayError, or ConfigError if unknown or empty."""
        self._consumer = consumer = self._consumer_factory(
            bootstrap_servers=self._bootstrap,
            client_id="fxgw-replay",
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=round(self._timeout_s * 1000),
            auto_offset_reset="earliest",
        )
        try:
            await self._open(consumer)
        except (KafkaError, OSError, TimeoutError) as exc:
            await self.close()
            raise ReplayError(
                f"cannot read from Kafka at {self._shown_bootstrap} within {self._timeout_s:g} s: "
                f"{shown(exc, _ERROR_CHARS)}"
            ) from exc
        except GatewayError:
            await self.close()
            raise

    async def _open(self, consumer: AIOKafkaConsumer) -> None:
        await self._bounded(consumer.start())
        # Only the all-topics metadata request: naming the topic would make tansu create it.
        topics = await self._bounded(consumer.topics())
        partitions = consumer.partitions_for_topic(self._topic) if self._topic in topics else None
        if not partitions:
            known = ", ".join(shown(topic, ECHO_CHARS) for topic in sorted(topics)[:_TOPICS_SHOWN]) or "none"
            raise ConfigError(
                f"topic {shown(self._topic, ECHO_CHARS)} is unknown on Kafka at {self._shown_bootstrap} "
                f"(topics: {known})"
            )
        tps = [TopicPartition(self._topic, partition) for partition in sorted(partitions)]
        consumer.assign(tps)
        # Paused until positioned: a fetch from elsewhere would be long-polled by the broker for nothing.
        consumer.pause(*tps)
        begins = await self._bounded(consumer.beginning_offsets(tps))
        listed = await self._bounded(consumer.end_offsets(tps))
        self._reading = {tp for tp in tps if listed[tp] > begins[tp]}
        if not self._reading:
            raise ConfigError(f"topic {shown(self._topic, ECHO_CHARS)} on Kafka at {self._shown_bootstrap} is empty")
        for tp in self._reading:
            consumer.seek(tp, begins[tp])
        consumer.resume(*self._reading)
        deadline = time.monotonic() + self._timeout_s
        while any(consumer.highwater(tp) is None for tp in self._reading):
            if time.monotonic() > deadline:
                raise ReplayError(
                    f"Kafka at {self._shown_bootstrap} answered no fetch of {shown(self._topic, ECHO_CHARS)} in time"
                )
            self._primed.append(await consumer.getmany(timeout_ms=FETCH_WAIT_MS))
        self._ends = {tp: max(listed[tp], consumer.highwater(tp)) for tp in self._reading}
        self.total_records = sum(self._ends[tp] - begins[tp] for tp in self._reading)
        self._last_progress = time.monotonic()

    async def _bounded(self, request: Awaitable[R]) -> R:
        """aiokafka ends each request after request_timeout_ms; this backstop ends whatever it does not."""
        return await asyncio.wait_for(request, 2 * self._timeout_s)

    async def fetch(self) -> tuple[dict[int, list[ReplayRecord]], list[int]]:
        """The next records by partition, and the partitions now read to their end.

        Raises ReplayError when Kafka delivers nothing for the timeout while records remain.
        """
        consumer = self._open_consumer()
        fetched = self._primed.pop(0) if self._primed else await consumer.getmany(timeout_ms=FETCH_WAIT_MS)
        records: dict[int, list[ReplayRecord]] = {}
        for tp, batch in fetched.items():
            end = self._ends[tp]
            kept = [_replay_record(record) for record in batch if record.offset < end]
            if kept:
                records[tp.partition] = kept
        finished = []
        for tp in list(self._reading):
            if await consumer.position(tp) >= self._ends[tp]:
                self._reading.remove(tp)
                consumer.pause(tp)
                finished.append(tp.partition)
        current = time.monotonic()
        if records or finished:
            self._last_progress = current
        elif current - self._last_progress > self._timeout_s:
            raise ReplayError(
                f"Kafka at {self._shown_bootstrap} delivered nothing for {self._timeout_s:g} s with partitions "
                f"{clip(str(sorted(tp.partition for tp in self._reading)), ECHO_CHARS)} of "
                f"{shown(self._topic, ECHO_CHARS)} still unread"
            )
        return records, finished

    def pause(self, partition: int) -> None:
        """Stop fetching ``partition`` (its records wait in the merge)."""
        self._open_consumer().pause(TopicPartition(self._topic, partition))

    def resume(self, partition: int) -> None:
        tp = TopicPartition(self._topic, partition)
        if tp in self._reading:
            self._open_consumer().resume(tp)

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    def _open_consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise ReplayError(f"the reader of {self._topic!r} is not open")
        return self._consumer

    async def __aenter__(self) -> KafkaTickReader:
        await self.open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


def _replay_record(record: ConsumerRecord[bytes, bytes]) -> ReplayRecord:
    """A Kafka record's value and its ``fxgw-id`` and ``content-type`` headers."""
    record_id = content_type = None
    for key, value in record.headers:
        if key == ID_HEADER:
            record_id = value
        elif key == CONTENT_TYPE_HEADER:
            content_type = value
    return record.value or b"", record_id, content_type


def spool_record_id(epoch: int, seq: int) -> bytes:
    """The id a spool replay gives the record under ``seq`` of a spool of ``epoch``: ``spool@<epoch>:<seq>``.

    A spool does not know the gateway's instance id, so it cannot give the
    record's ``fxgw-id`` (``<instance_id>:<epoch>:<seq>``,
    gateway.wire.kafka_record_id); this id is of a space of its own. It is
    unique within the spool directory, as seqs are never reused there, and a
    replay of a spool reads nothing else, so records are deduplicated as
    consistently as by ``fxgw-id``: each is read once, and a record re-sent under
    a new seq is caught tick by tick. ``@`` is not allowed in an instance id
    (gateway.config), so such an id never has the form of a Kafka record's.
    """
    return b"spool@%d:%d" % (epoch, seq)


class SpoolTickReader:
    """Reads the ticks topic's records from a gateway's spool directory, read-only (replay without Kafka).

    The spool holds what the gateway has not yet delivered to Kafka (and delivered
    segments not yet deleted); it works on a spool a running gateway is writing.
    Record ids are :func:`spool_record_id`.
    """

    def __init__(self, directory: Path, topic: str) -> None:
        self._directory = directory
        self._topic = topic
        self._records: Iterator[SpoolRecord] = iter(())
        self._epoch = 0
        self._done = False
        self.total_records = 0

    @property
    def partitions(self) -> list[int]:
        return [0]

    @property
    def done(self) -> bool:
        return self._done

    async def open(self) -> None:
        """Check that the directory is a spool holding records of the topic; raises ConfigError otherwise.

        The spool is read once here, as the topic is known only from its records:
        an unknown topic is refused before anything is output or connected (as with
        Kafka), and the count of its records gives the progress bar its total.
        """
        try:
            self._epoch = read_spool_epoch(self._directory)
            topics = Counter(
                spooled.record.topic for spooled in read_spool_directory(self._directory, unacked_only=False)
            )
        except (SpoolError, OSError, ValueError) as exc:  # ValueError: a path with a NUL
            raise ConfigError(
                f"--spool {self._shown_directory}: not a readable gateway spool ({shown(str(exc), ECHO_CHARS)})"
            ) from exc
        self.total_records = topics[self._topic]
        if not self.total_records:
            held = ", ".join(shown(topic, ECHO_CHARS) for topic in sorted(topics)[:_TOPICS_SHOWN]) or "no records"
            raise ConfigError(
                f"--spool {self._shown_directory}: topic {shown(self._topic, ECHO_CHARS)} is not in the spool "
                f"(it holds {held})"
            )
        self._records = read_spool_directory(self._directory, unacked_only=False)

    async def fetch(self) -> tuple[dict[int, list[ReplayRecord]], list[int]]:
        """Up to SPOOL_READ_RECORDS records of the topic as partition 0; partition 0 finished at the end.

        Raises ReplayError when the spool cannot be read any more (a segment removed or unreadable).
        """
        batch: list[ReplayRecord] = []
        try:
            for spooled in self._records:
                record = spooled.record
                if record.topic == self._topic:
                    batch.append(
                        (record.value, spool_record_id(self._epoch, spooled.seq), record.content_type.encode())
                    )
                    if len(batch) >= SPOOL_READ_RECORDS:
                        return {0: batch}, []
        except (SpoolError, OSError) as exc:
            raise ReplayError(
                f"--spool {self._shown_directory}: reading failed ({shown(str(exc), ECHO_CHARS)})"
            ) from exc
        self._done = True
        return ({0: batch} if batch else {}), [0]

    @property
    def _shown_directory(self) -> str:
        return shown(str(self._directory), ECHO_CHARS)

    def pause(self, partition: int) -> None:
        """One source: nothing to pause (the merge holds at most one read)."""

    def resume(self, partition: int) -> None:
        """See :meth:`pause`."""

    async def close(self) -> None:
        self._records = iter(())

    async def __aenter__(self) -> SpoolTickReader:
        await self.open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
