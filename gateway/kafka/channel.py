"""The pipe between the gateway and its Kafka writer process: one JSON line per message, each way.

gateway -> writer (the writer's stdin): :class:`WriterStart` once, then :class:`Appended` when the writer said
it waits and the spool holds more. writer -> gateway (its stdout): :class:`Delivered` after each chunk Kafka
confirmed, :class:`Connection` on each change of the connection, :class:`SetAside` for a record Kafka refused as
too large, :class:`Waiting` when it has read everything. The writer exits when its stdin closes: the gateway
stopped or died.
"""

from __future__ import annotations

from typing import Final

import msgspec

from gateway.kafka.spool import SpoolLayout

MAX_TEXT_CHARS: Final = 1000
"""Error texts from the writer are clipped to this many characters, so every line it sends stays small."""
MAX_LINE_BYTES: Final = 64 * 1024
"""The longest line the gateway reads from the writer; a longer one is a broken writer."""


class WriterStart(msgspec.Struct, frozen=True, tag="start"):
    """What the writer needs: where Kafka is, how to produce, which records are unacknowledged."""

    bootstrap_servers: str
    instance_id: str
    epoch: int
    """The spool's epoch (ns), part of every record id (gateway.wire.kafka_record_id)."""
    layout: SpoolLayout
    compression: str | None
    linger_ms: int
    request_timeout_ms: int
    log_level: int


class Appended(msgspec.Struct, frozen=True, tag="appended"):
    """The spool holds records up to ``last_seq``: the waiting writer reads on."""

    last_seq: int


class Delivered(msgspec.Struct, frozen=True, tag="delivered"):
    """Kafka confirmed every record up to ``upto_seq`` (``records`` in this chunk); it ends at ``end_offset``."""

    upto_seq: int
    end_offset: int
    records: int


class Connection(msgspec.Struct, frozen=True, tag="connection"):
    """The writer connected to Kafka, or lost it (``error`` says why; ``failed_send``: a send failed)."""

    connected: bool
    error: str = ""
    failed_send: bool = False


class SetAside(msgspec.Struct, frozen=True, tag="set_aside"):
    """A record Kafka refused as too large was left out of the Kafka copy (``description`` says which)."""

    description: str


class Waiting(msgspec.Struct, frozen=True, tag="waiting"):
    """The writer read every record up to ``after_seq`` and waits for :class:`Appended`."""

    after_seq: int


ToWriter = WriterStart | Appended
FromWriter = Delivered | Connection | SetAside | Waiting

_encoder: Final = msgspec.json.Encoder()
_to_writer: Final = msgspec.json.Decoder(ToWriter)
_from_writer: Final = msgspec.json.Decoder(FromWriter)


def encode(message: ToWriter | FromWriter) -> bytes:
    """One line of the pipe."""
    return _encoder.encode(message) + b"\n"


def decode_to_writer(line: bytes) -> ToWriter:
    """A line the gateway sent; raises msgspec.DecodeError (or ValidationError) when it is not one."""
    return _to_writer.decode(line)


def decode_from_writer(line: bytes) -> FromWriter:
    """A line the writer sent; raises msgspec.DecodeError (or ValidationError) when it is not one."""
    return _from_writer.decode(line)


def clip(text: str) -> str:
    """``text`` cut to MAX_TEXT_CHARS."""
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 3] + "..."
