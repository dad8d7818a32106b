"""Shared by the spool tests: numbered records, a spool with test defaults, a reader of it as the writer makes one."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from gateway.kafka.records import KafkaRecord
from gateway.kafka.spool import Spool, SpoolReader, SpoolRecord

REPO_ROOT = Path(__file__).resolve().parents[3]
TOPIC = "market-data-stream"
CONTENT_TYPE = "application/x-protobuf; proto=market.v1.MarketDataStream"
VALUE_BYTES = 100
HEADER_BYTES = 16
MiB = 1024 * 1024


EMPTY = KafkaRecord(TOPIC, b"", b"", "")


def record(i: int, value_bytes: int = VALUE_BYTES) -> KafkaRecord:
    """Record number ``i``: its value starts with the number, so a mix-up shows."""
    value = f"{i:08d}".encode().ljust(value_bytes, b".")
    return KafkaRecord(TOPIC, b"EUR_USD", value, CONTENT_TYPE)


def frame_bytes(record: KafkaRecord) -> int:
    """On-disk size of a record: header, four length prefixes and the four fields."""
    topic, type_ = record.topic.encode(), record.content_type.encode()
    return HEADER_BYTES + 2 + len(topic) + 4 + len(record.key) + 2 + len(type_) + 4 + len(record.value)


FRAME = frame_bytes(record(0))


def open_spool(directory: Path, **options: object) -> Spool:
    settings: dict[str, object] = {"max_bytes": 64 * MiB, "fsync": "never"} | options
    return Spool(directory, **settings)  # type: ignore[arg-type]


def append_each(spool: Spool, numbers: range, value_bytes: int = VALUE_BYTES) -> None:
    for i in numbers:
        spool.append([record(i, value_bytes)])


def reader_of(spool: Spool) -> SpoolReader:
    """A reader of the spool's unacknowledged records, as the Kafka writer's process makes one."""
    return SpoolReader(spool.layout())


def drain(reader: SpoolReader, **limits: int) -> list[SpoolRecord]:
    """Every record ``reader`` can read now."""
    records: list[SpoolRecord] = []
    while chunk := reader.read(**limits):
        records += chunk
    return records


def read_all(spool: Spool, **limits: int) -> list[SpoolRecord]:
    """Every unacknowledged record, through a new reader."""
    with closing(reader_of(spool)) as reader:
        return drain(reader, **limits)


def ack_read(spool: Spool, reader: SpoolReader) -> int:
    """Acknowledge what ``reader`` read, with its offset hint, as the writer reports it; the seq."""
    seq, end_offset = reader.acknowledge()
    spool.ack(seq, end_offset)
    return seq


def numbers(records: list[SpoolRecord]) -> list[int]:
    """The record numbers written into the values."""
    return [int(r.record.value[:8]) for r in records]


def segment_names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("*.seg"))
