"""The replay itself: records read, selected, merged, paced and written (:func:`replay`), and a whole request."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Protocol, TextIO

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.errors import NatsUnavailableError, ReplayError
from gateway.kafka.replay.merge import TickMerge
from gateway.kafka.replay.outputs import NatsTickSink, TextTickSink, TickSink
from gateway.kafka.replay.readers import KafkaTickReader, RecordReader, SpoolTickReader
from gateway.kafka.replay.request import OutputFormat, ReplayRequest
from gateway.kafka.replay.selection import ReplayStats, TickSelector
from gateway.nats_connect import connect_nats
from gateway.pacing import Pacer
from gateway.secrets import display_url
from gateway.wire import ROW_TS_EVENT, TickRun

MAX_BUFFERED_TICKS: Final = 200_000
"""Ticks of one partition waiting for the merge: fetching the partition pauses beyond, resumes below half.

About 85 MB (a decoded tick takes about 420 bytes). A partition the merge waits
for (TickMerge.holds_back) is never paused.
"""
MIN_SLEEP_NS: Final = NS_PER_MS
"""Shortest wait of paced output: uvloop's timers are 1 ms coarse, so ticks due sooner go out at once."""
MAX_SLEEP_NS: Final = NS_PER_S
"""Longest single sleep of paced output: a longer wait is slept in slices, the clock read again after each, so no
timer is ever armed for longer than this whatever the data (the whole replay's waits are bounded by the Pacer)."""


class Progress(Protocol):
    """What the replay reports progress to (a tqdm bar fits)."""

    def update(self, n: float | None = 1) -> object: ...

    def close(self) -> None: ...


async def replay(
    reader: RecordReader,
    selector: TickSelector,
    sink: TickSink,
    *,
    pacer: Pacer | None = None,
    progress: Progress | None = None,
) -> ReplayStats:
    """Read ``reader`` to its end, select, merge, pace (``pacer``; None: at once) and write to ``sink``.

    Returns the selector's stats, with the ticks output and those out of order.
    """
    started = time.perf_counter()
    stats = selector.stats
    merge = TickMerge(reader.partitions)
    paused: set[int] = set()
    select, add = selector.select, merge.add
    while not reader.done or len(merge):
        fetched: Iterable[int] = ()
        if not reader.done:
            records, finished = await reader.fetch()
            fetched = records.keys()
            for partition, batch in records.items():
                for value, record_id, content_type in batch:
                    for run, kept in select(value, record_id, content_type):
                        add(partition, run, kept)
                if progress is not None:
                    progress.update(len(batch))
            for partition in finished:
                merge.close(partition)
        while (item := merge.pop()) is not None:
            run, indices = item
            await write_paced(sink, run, indices, pacer)
            stats.ticks_output += len(indices)
        _pause_or_resume(reader, merge, fetched, paused)
    await sink.flush()
    stats.late_ticks = merge.late_ticks
    stats.elapsed_s = time.perf_counter() - started
    return stats


def _pause_or_resume(reader: RecordReader, merge: TickMerge, fetched: Iterable[int], paused: set[int]) -> None:
    """Pause the partitions just ``fetched`` with MAX_BUFFERED_TICKS waiting; resume those below half, or waited for."""
    for partition in fetched:
        full = merge.weight(partition) >= MAX_BUFFERED_TICKS
        if full and partition not in paused and not merge.holds_back(partition):
            reader.pause(partition)
            paused.add(partition)
    for partition in [p for p in paused if merge.weight(p) < MAX_BUFFERED_TICKS // 2 or merge.holds_back(p)]:
        reader.resume(partition)
        paused.remove(partition)


async def write_paced(sink: TickSink, run: TickRun, indices: Sequence[int], pacer: Pacer | None) -> None:
    """Write the ticks of ``run`` at ``indices`` to ``sink`` at the pace of ``pacer`` (None: at once).

    Before a tick due at least MIN_SLEEP_NS later, what was written is flushed and
    the wait slept (in slices of at most MAX_SLEEP_NS), so each tick leaves on
    time rather than in the next batch.
    """
    if pacer is None:
        await sink.write(run, indices)
        return
    rows = run.rows
    start = 0
    for position, index in enumerate(indices):
        ts_event_ns = rows[index][ROW_TS_EVENT]
        ahead_ns = pacer.ahead_ns(ts_event_ns)
        if ahead_ns >= MIN_SLEEP_NS:
            if position > start:
                await sink.write(run, indices[start:position])
            await sink.flush()
            while ahead_ns >= MIN_SLEEP_NS:
                await asyncio.sleep(min(ahead_ns, MAX_SLEEP_NS) / NS_PER_S)
                ahead_ns = pacer.ahead_ns(ts_event_ns)
            start = position
    if start < len(indices):
        await sink.write(run, indices[start:])


async def run_replay(
    request: ReplayRequest,
    stream: TextIO | None = None,
    progress: Callable[[int], Progress] | None = None,
) -> ReplayStats:
    """The whole replay of ``request``: Kafka (or the spool) is checked first, then NATS connected (``--to nats``).

    ``stream`` (default: standard output) receives the text formats; ``progress(total_records)``
    makes a progress bar.
    Raises ConfigError (bad topic) or ReplayError (Kafka or NATS unreachable or failing).
    """
    selector = TickSelector(
        request.since_ns, request.until_ns, instruments=request.instruments, sources=request.sources
    )
    pacer = Pacer(request.speed, request.until_ns - request.since_ns) if request.speed is not None else None
    reader: KafkaTickReader | SpoolTickReader = (
        SpoolTickReader(request.spool_dir, request.topic)
        if request.spool_dir is not None
        else KafkaTickReader(request.bootstrap_servers, request.topic, request.timeout_s)
    )
    async with reader:
        bar = progress(reader.total_records) if progress is not None else None
        try:
            if request.output is not OutputFormat.NATS:
                text = TextTickSink(stream or sys.stdout, request.output)
                return await replay(reader, selector, text, pacer=pacer, progress=bar)
            try:
                client = await connect_nats(request.nats_url, name="fxgw-replay", connect_timeout_s=request.timeout_s)
            except NatsUnavailableError as exc:
                raise ReplayError(str(exc)) from exc
            try:
                sink = NatsTickSink(client, request.subject_prefix)
                stats = await replay(reader, selector, sink, pacer=pacer, progress=bar)
                await _confirm(client, request)
            finally:
                await client.close()
            return stats
        finally:
            if bar is not None:
                bar.close()


async def _confirm(client: NatsClient, request: ReplayRequest) -> None:
    """Wait until nats-server has everything published (a PING answered after it)."""
    try:
        await client.flush(timeout=math.ceil(request.timeout_s))
    except (NatsError, TimeoutError) as exc:
        raise ReplayError(f"NATS at {display_url(request.nats_url)} did not confirm the replay: {exc!r}") from exc
