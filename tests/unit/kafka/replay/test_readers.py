"""gateway.kafka.replay.readers: the Kafka reader on a stand-in consumer, the spool reader on a real spool."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from gateway.errors import ConfigError, ReplayError
from gateway.kafka.records import DEFAULT_STATUS_TOPIC, DEFAULT_TICKS_TOPIC, KafkaRecord
from gateway.kafka.replay.readers import KafkaTickReader, SpoolTickReader, spool_record_id
from gateway.kafka.spool import Spool
from gateway.wire import CONTENT_TYPE_HEADER, ID_HEADER, STATUS_CONTENT_TYPE, STREAM_CONTENT_TYPE
from tests.unit.test_wire import ONE

KAFKA_RECORD_ID: re.Pattern[bytes] = re.compile(rb"[A-Za-z0-9_.-]{1,64}:[0-9]+:[0-9]+")
"""An fxgw-id as the writer gives it (gateway.wire.kafka_record_id, instance ids as gateway.config allows)."""


# -- the Kafka reader, on a stand-in consumer ------------------------------------------------------------------


class TansuLikeConsumer:
    """Partition 0 holds offsets 0-2 and partition 1 offsets 0-1; ListOffsets answers 1 for both, as tansu does.

    Partition 0 is delivered in the first fetch, with an extra record written after
    the replay began; partition 1 never arrives.
    """

    def __init__(self, **_settings: object) -> None:
        self.fetches = 0
        self.paused: set[TopicPartition] = set()
        self.positions: dict[TopicPartition, int] = {}

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def topics(self) -> set[str]:
        return {"ticks", "other"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1}

    def assign(self, partitions: list[TopicPartition]) -> None: ...

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(partitions)

    async def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 0)

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 1)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.positions[partition] = offset

    def highwater(self, partition: TopicPartition) -> int | None:
        return {0: 3, 1: 2}[partition.partition] if self.fetches else None

    async def getmany(self, timeout_ms: int = 0) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        self.fetches += 1
        if self.fetches > 1:
            return {}
        first = TopicPartition("ticks", 0)
        self.positions[first] = 4
        return {first: [self.record(offset) for offset in range(4)]}

    async def position(self, partition: TopicPartition) -> int:
        return self.positions[partition]

    @staticmethod
    def record(offset: int) -> ConsumerRecord[bytes, bytes]:
        """Record ``offset`` of partition 0, its fxgw-id ending in the offset."""
        headers = ((CONTENT_TYPE_HEADER, STREAM_CONTENT_TYPE.encode()), (ID_HEADER, b"gw:1:%d" % offset))
        return ConsumerRecord("ticks", 0, offset, 0, 0, b"EUR_USD", ONE, None, 7, len(ONE), headers)


async def test_the_reader_ends_partitions_at_the_high_watermark_and_fails_when_kafka_goes_silent() -> None:
    reader = KafkaTickReader("kafka:9092", "ticks", timeout_s=0.05, consumer_factory=TansuLikeConsumer)
    await reader.open()
    assert (reader.partitions, reader.total_records) == ([0, 1], 5)

    records, finished = await reader.fetch()
    assert [record_id for _, record_id, _ in records[0]] == [b"gw:1:0", b"gw:1:1", b"gw:1:2"], (
        "offset 3 came after the replay began"
    )
    assert records[0][0] == (ONE, b"gw:1:0", STREAM_CONTENT_TYPE.encode())
    assert finished == [0] and not reader.done

    with pytest.raises(ReplayError, match=r"kafka:9092 delivered nothing for 0\.05 s with partitions \[1\]"):
        while True:
            await reader.fetch()
    await reader.close()


async def test_the_reader_refuses_an_unknown_topic_naming_those_there() -> None:
    with pytest.raises(
        ConfigError, match=r"topic 'tick' is unknown on Kafka at kafka:9092 \(topics: 'other', 'ticks'\)"
    ):
        await KafkaTickReader("kafka:9092", "tick", consumer_factory=TansuLikeConsumer).open()


# -- the spool reader ------------------------------------------------------------------------------------------


async def test_the_spool_reader_reads_the_ticks_topic_under_spool_local_ids(tmp_path: Path) -> None:
    ticks = KafkaRecord(DEFAULT_TICKS_TOPIC, b"EUR_USD", ONE, STREAM_CONTENT_TYPE)
    status = KafkaRecord(DEFAULT_STATUS_TOPIC, b"a", b"\x0a\x01a", STATUS_CONTENT_TYPE)
    with Spool(tmp_path, max_bytes=1 << 20, fsync="never") as spool:  # left open: a live gateway's spool
        spool.append([ticks, status, ticks])
        epoch = spool.epoch

        async with SpoolTickReader(tmp_path, DEFAULT_TICKS_TOPIC) as reader:
            records, finished = await reader.fetch()

    assert records == {
        0: [
            (ONE, b"spool@%d:1" % epoch, STREAM_CONTENT_TYPE.encode()),
            (ONE, b"spool@%d:3" % epoch, STREAM_CONTENT_TYPE.encode()),
        ]
    }
    assert finished == [0] and reader.done
    assert not any(KAFKA_RECORD_ID.fullmatch(record_id or b"") for _, record_id, _ in records[0])


def test_spool_ids_are_unique_per_record_and_never_of_the_kafka_form() -> None:
    ids = {spool_record_id(epoch, seq) for epoch in (1, 1_795_000_000_000_000_000) for seq in (1, 2, 2**40)}

    assert len(ids) == 6
    assert not any(KAFKA_RECORD_ID.fullmatch(record_id) for record_id in ids)


async def test_a_directory_that_is_not_a_spool_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--spool '.*nothing': not a readable gateway spool"):
        await SpoolTickReader(tmp_path / "nothing", DEFAULT_TICKS_TOPIC).open()


async def test_a_topic_the_spool_does_not_hold_is_a_config_error_naming_those_it_holds(tmp_path: Path) -> None:
    status = KafkaRecord(DEFAULT_STATUS_TOPIC, b"a", b"\x0a\x01a", STATUS_CONTENT_TYPE)
    with Spool(tmp_path, max_bytes=1 << 20, fsync="never") as spool:
        spool.append([status])

    with pytest.raises(
        ConfigError, match=r"--spool '.*': topic 'ticks-x' is not in the spool \(it holds 'market-status'\)"
    ):
        await SpoolTickReader(tmp_path, "ticks-x").open()


async def test_an_empty_spool_holds_no_topic(tmp_path: Path) -> None:
    Spool(tmp_path, max_bytes=1 << 20, fsync="never").close()

    with pytest.raises(ConfigError, match=r"topic 'market-data-stream' is not in the spool \(it holds no records\)"):
        await SpoolTickReader(tmp_path, DEFAULT_TICKS_TOPIC).open()


async def test_the_spool_reader_counts_the_topic_records_for_the_progress_bar(tmp_path: Path) -> None:
    ticks = KafkaRecord(DEFAULT_TICKS_TOPIC, b"EUR_USD", ONE, STREAM_CONTENT_TYPE)
    status = KafkaRecord(DEFAULT_STATUS_TOPIC, b"a", b"\x0a\x01a", STATUS_CONTENT_TYPE)
    with Spool(tmp_path, max_bytes=1 << 20, fsync="never") as spool:
        spool.append([ticks, status, ticks, ticks])

    async with SpoolTickReader(tmp_path, DEFAULT_TICKS_TOPIC) as reader:
        assert reader.total_records == 3
