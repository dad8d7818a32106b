"""What the gateway writes to Kafka: topic, key, value and content type of each record of a publish cycle (pure).

Every record is one of:

- a tick batch on the ticks topic: key = instrument, value = MarketDataStream of
  one source and one instrument (``ticks`` only): one instrument's part of a
  cycle's tick batch (gateway.cycle), with that batch's ``batch_seq``,
  ``batch_time_ns`` and ``session_id``, so each instrument stays in order in its
  partition;
- a best-price batch on the best-prices topic: key = instrument, value =
  MarketDataStream with ``source = "best"`` and that instrument's BestPrices;
- a rejection on the rejections topic: key = source, value = QualityRejection;
- a status change on the status topic: key = source, value = SourceStatus;
- an external item on the external topic: key = its type (the collector kind), value = ExternalData, so
  each type stays in order in its partition.

Headers (gateway.wire.kafka_headers): ``content-type`` (the protobuf message
name, as on NATS) and ``fxgw-id``, the record's stable unique id
``<instance_id>:<spool epoch>:<spool seq>`` (the epoch is the spool directory's
creation time, so a new spool never repeats an id). The id is given once, when
the record enters the spool, and a redelivered record (after a Kafka outage or
a crash) carries the same id, so a consumer drops a record whose id it has
seen. Ticks can also be deduplicated one by one on (source, session_id, seq).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.aggregator import BestQuote
from gateway.cycle import PublishCycle
from gateway.wire import (
    EXTERNAL_CONTENT_TYPE,
    REJECTION_CONTENT_TYPE,
    STATUS_CONTENT_TYPE,
    STREAM_CONTENT_TYPE,
    best_prices_message,
    stream_header,
)

DEFAULT_TICKS_TOPIC: Final = "market-data-stream"
DEFAULT_BEST_PRICES_TOPIC: Final = "market-best-prices"
DEFAULT_REJECTIONS_TOPIC: Final = "market-rejections"
DEFAULT_STATUS_TOPIC: Final = "market-status"
DEFAULT_EXTERNAL_TOPIC: Final = "market-external"


@dataclass(frozen=True, slots=True)
class KafkaTopics:
    """The topic of each kind of record (config ``kafka.*_topic``)."""

    ticks: str = DEFAULT_TICKS_TOPIC
    best_prices: str = DEFAULT_BEST_PRICES_TOPIC
    rejections: str = DEFAULT_REJECTIONS_TOPIC
    status: str = DEFAULT_STATUS_TOPIC
    external: str = DEFAULT_EXTERNAL_TOPIC


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """One record bound for Kafka, before it has an id (the spool gives it one)."""

    topic: str
    key: bytes
    value: bytes
    content_type: str


def cycle_records(cycle: PublishCycle, topics: KafkaTopics) -> list[KafkaRecord]:
    """The Kafka records of one publish cycle: ticks, best prices, rejections, statuses, external data, in order."""
    records: list[KafkaRecord] = []
    for batch in cycle.ticks:
        instruments = batch.instruments
        if instruments.count(instruments[0]) == len(instruments):  # one instrument: the NATS message as it is
            records.append(KafkaRecord(topics.ticks, instruments[0].encode(), batch.message, STREAM_CONTENT_TYPE))
            continue
        header = stream_header(batch.source, cycle.time_ns, batch.batch_seq, cycle.session_id)
        for instrument, body in batch.instrument_parts():
            records.append(KafkaRecord(topics.ticks, instrument.encode(), header + body, STREAM_CONTENT_TYPE))
    for best in cycle.best:
        by_instrument: dict[str, list[BestQuote]] = {}
        for change in best.changes:
            by_instrument.setdefault(change.instrument, []).append(change)
        for instrument, changes in by_instrument.items():
            message = best_prices_message(changes)
            message.session_id = cycle.session_id
            message.batch_time_ns = cycle.time_ns
            message.batch_seq = best.batch_seq
            records.append(
                KafkaRecord(topics.best_prices, instrument.encode(), message.SerializeToString(), STREAM_CONTENT_TYPE)
            )
    for rejection in cycle.rejections:
        key = rejection.tick.source.encode()
        records.append(KafkaRecord(topics.rejections, key, rejection.SerializeToString(), REJECTION_CONTENT_TYPE))
    for status in cycle.statuses:
        records.append(
            KafkaRecord(topics.status, status.source.encode(), status.SerializeToString(), STATUS_CONTENT_TYPE)
        )
    for data in cycle.external:
        records.append(
            KafkaRecord(topics.external, data.type.encode(), data.SerializeToString(), EXTERNAL_CONTENT_TYPE)
        )
    return records
