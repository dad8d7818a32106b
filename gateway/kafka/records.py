"""What the gateway writes to Kafka: topics, keys, values and headers of each record (pure).

Every record is one of:

- a tick batch on the ticks topic: key = instrument, value = MarketDataStream of
  one source and one instrument (``ticks`` only), so each instrument stays in
  order in its partition;
- a best-price batch on the best-prices topic: key = instrument, value =
  MarketDataStream with ``source = "best"`` and that instrument's BestPrices;
- a rejection on the rejections topic: key = source, value = QualityRejection;
- a status change on the status topic: key = source, value = SourceStatus.

Headers: ``content-type`` (the protobuf message name, as on NATS) and
``fxgw-id``, the record's stable unique id ``<instance_id>:<spool epoch>:<spool seq>``
(the epoch is the spool directory's creation time, so a new spool never repeats
an id). The id is given once, when the record enters the spool, and a redelivered record
(after a Kafka outage or a crash) carries the same id, so a consumer drops a
record whose id it has seen. Ticks can also be deduplicated one by one on
(source, session_id, seq).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ID_HEADER: Final = "fxgw-id"
CONTENT_TYPE_HEADER: Final = "content-type"

DEFAULT_TICKS_TOPIC: Final = "market-data-stream"
DEFAULT_BEST_PRICES_TOPIC: Final = "market-best-prices"
DEFAULT_REJECTIONS_TOPIC: Final = "market-rejections"
DEFAULT_STATUS_TOPIC: Final = "market-status"


@dataclass(frozen=True, slots=True)
class KafkaTopics:
    """The topic of each kind of record (config ``kafka.*_topic``)."""

    ticks: str = DEFAULT_TICKS_TOPIC
    best_prices: str = DEFAULT_BEST_PRICES_TOPIC
    rejections: str = DEFAULT_REJECTIONS_TOPIC
    status: str = DEFAULT_STATUS_TOPIC


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """One record bound for Kafka, before it has an id."""

    topic: str
    key: bytes
    value: bytes
    content_type: str


def record_headers(content_type: str, instance_id: str, spool_epoch: int, spool_seq: int) -> list[tuple[str, bytes]]:
    return [
        (CONTENT_TYPE_HEADER, content_type.encode()),
        (ID_HEADER, record_id(instance_id, spool_epoch, spool_seq)),
    ]


def record_id(instance_id: str, spool_epoch: int, spool_seq: int) -> bytes:
    """The ``fxgw-id`` header value of the record stored under ``spool_seq``."""
    return f"{instance_id}:{spool_epoch}:{spool_seq}".encode()
