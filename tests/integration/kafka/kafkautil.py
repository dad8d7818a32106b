"""Helpers for tests against a real Kafka-protocol broker: read a topic whole, deduplicate as consumers should."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.structs import TopicPartition

from gateway.kafka.records import DEFAULT_TICKS_TOPIC
from gateway.schema.market.v1.market_pb2 import MarketDataStream
from gateway.wire import ID_HEADER

TickKey = tuple[str, int, int]
"""(source, session_id, seq): unique per accepted tick."""


@dataclass
class KafkaTicks:
    """What a topic holds, deduplicated on the ``fxgw-id`` header, first copy kept, in partition order."""

    records: int = 0
    duplicate_records: int = 0
    ticks: dict[TickKey, tuple[str, int, int, int]] = field(default_factory=dict)
    order: dict[tuple[str, int, str], list[int]] = field(default_factory=dict)
    ids: Counter[bytes] = field(default_factory=Counter)

    def add(self, record_id: bytes, stream: MarketDataStream) -> None:
        self.records += 1
        self.ids[record_id] += 1
        if self.ids[record_id] > 1:
            self.duplicate_records += 1
            return
        for tick in stream.ticks:
            key = (tick.source, stream.session_id, tick.seq)
            assert key not in self.ticks, f"tick {key} in two records with different ids"
            self.ticks[key] = (tick.instrument, tick.bid_px, tick.ask_px, tick.ts_event_ns)
            self.order.setdefault((tick.source, stream.session_id, tick.instrument), []).append(tick.seq)


async def read_topic(bootstrap: str, topic: str = DEFAULT_TICKS_TOPIC, into: KafkaTicks | None = None) -> KafkaTicks:
    """Every tick record of ``topic`` up to its current end, by ``fxgw-id``."""
    result = into if into is not None else KafkaTicks()
    for message in await read_messages(bootstrap, topic):
        result.add(dict(message.headers)[ID_HEADER], MarketDataStream.FromString(message.value))
    return result


async def read_records(bootstrap: str, topic: str) -> list[bytes]:
    """The values of every record of ``topic`` up to its current end, partition by partition."""
    return [message.value for message in await read_messages(bootstrap, topic)]


async def read_messages(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` up to its current end, without a consumer group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    messages: list[ConsumerRecord[bytes, bytes]] = []
    await consumer.start()
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, partition) for partition in sorted(partitions)]
        if not assigned:
            return messages
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        # tansu's end offsets can fall short of the last batch's records: read until a fetch comes back empty too.
        end = await consumer.end_offsets(assigned)
        while True:
            batches = await consumer.getmany(timeout_ms=300)
            for batch in batches.values():
                messages.extend(batch)
            if not batches and all([await consumer.position(tp) >= end[tp] for tp in assigned]):
                break
    finally:
        await consumer.stop()
    return messages
