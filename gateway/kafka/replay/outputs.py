"""Where replayed ticks go: republished on NATS (:class:`NatsTickSink`) or written as text (:class:`TextTickSink`)."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol, TextIO

import msgspec
from nats.errors import Error as NatsError

from gateway.clock import format_time_ns, now_ns
from gateway.cycle import DEFAULT_MAX_BATCH_TICKS
from gateway.echo import shown
from gateway.errors import ReplayError
from gateway.instruments import display_decimals
from gateway.kafka.replay.request import DEFAULT_SUBJECT_PREFIX, ECHO_CHARS, OutputFormat
from gateway.prices import format_price
from gateway.publisher import NatsPublishClient
from gateway.wire import (
    ROW_SEQ,
    STREAM_CONTENT_TYPE,
    Subjects,
    TickRow,
    TickRun,
    nats_headers,
    replay_message_id,
    stream_header,
)


class TickSink(Protocol):
    """Where selected ticks go; ``write`` may buffer, ``flush`` sends everything written."""

    async def write(self, run: TickRun, indices: Sequence[int]) -> None: ...

    async def flush(self) -> None: ...


@dataclass(slots=True)
class _PendingBatch:
    key: tuple[str, int]
    """(source, session_id) of its ticks."""
    first_seq: int
    parts: list[bytes] = field(default_factory=list)
    ticks: int = 0


class NatsTickSink:
    """Republishes ticks as MarketDataStream messages on ``<prefix>.<source>.ticks``, in the order written.

    A message holds consecutive ticks of one (source, session), up to
    ``max_batch_ticks``: a tick of another one first publishes what is pending,
    so a subscriber to every subject receives the ticks in the order written (the
    merge's event-time order), at the cost of smaller messages where sources
    interleave. ``batch_seq`` counts this replay's messages per subject and
    session from 1. Headers: Content-Type as the gateway's, and ``Nats-Msg-Id``
    ``replay:<source>:<session_id>:<first seq>``. Raises ReplayError when NATS
    does not take a message.
    """

    def __init__(
        self,
        client: NatsPublishClient,
        subject_prefix: str = DEFAULT_SUBJECT_PREFIX,
        max_batch_ticks: int = DEFAULT_MAX_BATCH_TICKS,
    ) -> None:
        self._client = client
        self._subjects = Subjects(subject_prefix)
        self._max_batch = max_batch_ticks
        self._pending: _PendingBatch | None = None
        self._batch_seq: dict[tuple[str, int], int] = {}
        self.messages = 0

    async def write(self, run: TickRun, indices: Sequence[int]) -> None:
        key = (run.source, run.session_id)
        start, total = 0, len(indices)
        while start < total:
            batch = self._pending
            if batch is not None and batch.key != key:
                await self.flush()
                batch = None
            if batch is None:
                batch = self._pending = _PendingBatch(key, run.rows[indices[start]][ROW_SEQ])
            take = min(total - start, self._max_batch - batch.ticks)
            batch.parts.append(run.entry_bytes(indices[start : start + take]))
            batch.ticks += take
            start += take
            if batch.ticks >= self._max_batch:
                await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, None
        if batch is not None:
            await self._publish(batch)

    async def _publish(self, batch: _PendingBatch) -> None:
        source, session_id = key = batch.key
        batch_seq = self._batch_seq[key] = self._batch_seq.get(key, 0) + 1
        header = stream_header(source, now_ns(), batch_seq, session_id)
        try:
            await self._client.publish(
                self._subjects.ticks(source),
                header + b"".join(batch.parts),
                headers=nats_headers(STREAM_CONTENT_TYPE, replay_message_id(source, session_id, batch.first_seq)),
            )
        except NatsError as exc:
            raise ReplayError(f"NATS did not take a replay message for {source}: {exc!r}") from exc
        self.messages += 1


_CSV_COLUMNS: Final = (
    "ts_event",
    "instrument",
    "source",
    "bid",
    "ask",
    "bid_liquidity",
    "ask_liquidity",
    "ts_event_ns",
    "ts_recv_ns",
    "seq",
    "session_id",
    "tradeable",
    "snapshot",
)


class TextTickSink:
    """Writes one line per tick: ``stdout`` human lines, ``jsonl`` JSON objects, or ``csv`` with a header row.

    Prices are exact decimal strings (gateway.prices.format_price), times RFC 3339
    with nanoseconds beside the integer ns. A stream that refuses a write (a full
    disk) raises ReplayError naming it and the reason; a closed pipe
    (BrokenPipeError) is passed on as it is, for fxgw to stop quietly.
    """

    def __init__(self, stream: TextIO, output: OutputFormat) -> None:
        self._stream = stream
        self._output = output
        self._json = msgspec.json.Encoder()
        self._csv = csv.writer(stream, lineterminator="\n")
        if output is OutputFormat.CSV:
            with self._writing():
                self._csv.writerow(_CSV_COLUMNS)

    async def write(self, run: TickRun, indices: Sequence[int]) -> None:
        rows = run.rows
        with self._writing():
            if self._output is OutputFormat.STDOUT:
                self._stream.writelines(_human_line(run, rows[index]) for index in indices)
            elif self._output is OutputFormat.JSONL:
                encode = self._json.encode
                self._stream.writelines(encode(_tick_fields(run, rows[index])).decode() + "\n" for index in indices)
            else:
                self._csv.writerows(_csv_row(run, rows[index]) for index in indices)

    async def flush(self) -> None:
        with self._writing():
            self._stream.flush()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as exc:
            name = shown(getattr(self._stream, "name", "the output"), ECHO_CHARS)
            raise ReplayError(f"cannot write the replay to {name}: {exc.strerror or exc}") from exc


def _human_line(run: TickRun, row: TickRow) -> str:
    """A tick as ``fxgw tail`` shows one, without the subject: source, instrument, bid/ask, seq, time."""
    bid, ask, _, _, ts_event_ns, _, seq, tradeable = row
    decimals = display_decimals(run.instrument)
    return (
        f"{run.source} {run.instrument} {format_price(bid, decimals)}/{format_price(ask, decimals)} "
        f"seq={seq} event={format_time_ns(ts_event_ns)}{'' if tradeable else ' NOT TRADEABLE'}"
        f"{' SNAPSHOT' if run.snapshot else ''}\n"
    )


def _tick_fields(run: TickRun, row: TickRow) -> dict[str, object]:
    """A tick as the JSON object of ``--to jsonl``."""
    bid, ask, bid_liquidity, ask_liquidity, ts_event_ns, ts_recv_ns, seq, tradeable = row
    decimals = display_decimals(run.instrument)
    return {
        "instrument": run.instrument,
        "source": run.source,
        "bid": format_price(bid, decimals),
        "ask": format_price(ask, decimals),
        "bid_liquidity": bid_liquidity,
        "ask_liquidity": ask_liquidity,
        "ts_event": format_time_ns(ts_event_ns),
        "ts_event_ns": ts_event_ns,
        "ts_recv_ns": ts_recv_ns,
        "seq": seq,
        "session_id": run.session_id,
        "tradeable": tradeable,
        "snapshot": run.snapshot,
    }


def _csv_row(run: TickRun, row: TickRow) -> tuple[object, ...]:
    """A tick as a row of ``--to csv``: the JSON fields in column order, flags as ``true``/``false``."""
    fields = _tick_fields(run, row)
    fields["tradeable"] = "true" if fields["tradeable"] else "false"
    fields["snapshot"] = "true" if run.snapshot else "false"
    return tuple(fields[column] for column in _CSV_COLUMNS)
