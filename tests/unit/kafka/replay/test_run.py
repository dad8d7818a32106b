"""gateway.kafka.replay.run: event-time order across sources and partitions, paced output, a replay of a spool."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from gateway.clock import NS_PER_MS, NS_PER_S, parse_time_ns
from gateway.errors import ConfigError, ReplayError
from gateway.kafka.records import DEFAULT_STATUS_TOPIC, DEFAULT_TICKS_TOPIC, KafkaRecord
from gateway.kafka.replay import run as run_module
from gateway.kafka.replay.outputs import NatsTickSink, TextTickSink, TickSink
from gateway.kafka.replay.readers import ReplayRecord
from gateway.kafka.replay.request import OutputFormat, ReplayRequest
from gateway.kafka.replay.run import MAX_SLEEP_NS, replay, run_replay, write_paced
from gateway.kafka.replay.selection import TickSelector
from gateway.kafka.spool import Spool
from gateway.pacing import Pacer
from gateway.wire import ROW_SEQ, STATUS_CONTENT_TYPE, STREAM_CONTENT_TYPE, TickRun, decode_ticks
from tests.support import RecordingNatsClient
from tests.unit.test_wire import T0, record


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, float, list[int]]] = []

    async def write(self, run: TickRun, indices: Sequence[int]) -> None:
        self.events.append(("write", time.monotonic(), [run.rows[i][ROW_SEQ] for i in indices]))

    async def flush(self) -> None:
        self.events.append(("flush", time.monotonic(), []))


# -- event-time order ------------------------------------------------------------------------------------------

CYCLE_NS = 10 * NS_PER_MS
PARTITION_OF = {"EUR_USD": 0, "GBP_USD": 0, "USD_JPY": 1}
"""EUR_USD and GBP_USD share partition 0 (as keys can), USD_JPY has partition 1."""

Tick = tuple[int, str, int]
"""ts_event_ns, source, seq."""


def gateway_like_records(cycles: int) -> tuple[dict[int, list[ReplayRecord]], list[Tick]]:
    """What a gateway with sources a and b writes, by partition, and every tick it holds.

    Each 10 ms publish cycle has, per source and instrument, one record of that
    source's ticks of the cycle, a's records before b's. The two sources quote the
    same instruments a few ms apart, so in one partition their records
    interleave in time, and b's record often starts before the a record written
    just before it.
    """
    rng = random.Random(11)
    partitions: dict[int, list[ReplayRecord]] = {0: [], 1: []}
    ticks: list[Tick] = []
    seqs = {"a": 0, "b": 0}
    for cycle in range(cycles):
        for source in ("a", "b"):
            times = sorted(T0 + cycle * CYCLE_NS + rng.randrange(CYCLE_NS) for _ in range(rng.randrange(1, 12)))
            by_instrument: dict[str, list[tuple[int, int]]] = {}
            for ts in times:
                seqs[source] += 1
                by_instrument.setdefault(rng.choice(list(PARTITION_OF)), []).append((ts, seqs[source]))
                ticks.append((ts, source, seqs[source]))
            for instrument, instrument_ticks in by_instrument.items():
                record_id = f"{source}:{cycle}:{instrument}".encode()
                partitions[PARTITION_OF[instrument]].append(
                    (record(source, instrument, instrument_ticks), record_id, STREAM_CONTENT_TYPE.encode())
                )
    return partitions, sorted(ticks)


class ListReader:
    """A RecordReader over records in memory, handing each partition over in chunks of random size."""

    def __init__(self, partitions: Mapping[int, list[ReplayRecord]], seed: int = 5) -> None:
        self._rest = {partition: list(records) for partition, records in partitions.items()}
        self._rng = random.Random(seed)
        self.total_records = sum(map(len, partitions.values()))

    @property
    def partitions(self) -> list[int]:
        return sorted(self._rest)

    @property
    def done(self) -> bool:
        return not self._rest

    async def fetch(self) -> tuple[dict[int, list[ReplayRecord]], list[int]]:
        records, finished = {}, []
        for partition in list(self._rest):
            rest = self._rest[partition]
            take = self._rng.randrange(0, 8)
            if take:
                records[partition], self._rest[partition] = rest[:take], rest[take:]
            if not self._rest[partition]:
                del self._rest[partition]
                finished.append(partition)
        return records, finished

    def pause(self, partition: int) -> None: ...

    def resume(self, partition: int) -> None: ...


def emitted(output: OutputFormat, text: str, nats: RecordingNatsClient) -> list[Tick]:
    """(ts_event_ns, source, seq) of each tick output, in output order, read back from the format."""
    if output is OutputFormat.NATS:
        return [(tick.ts_event_ns, m.source, tick.seq) for _, m, _ in nats.decoded() for tick in m.ticks]
    if output is OutputFormat.JSONL:
        return [(t["ts_event_ns"], t["source"], t["seq"]) for t in map(json.loads, text.splitlines())]
    if output is OutputFormat.CSV:
        return [(int(r["ts_event_ns"]), r["source"], int(r["seq"])) for r in csv.DictReader(io.StringIO(text))]
    return [
        (parse_time_ns(line.split(" event=")[1].split()[0]), line.split()[0], int(line.split("seq=")[1].split()[0]))
        for line in text.splitlines()
    ]


@pytest.mark.parametrize("output", list(OutputFormat), ids=[output.value for output in OutputFormat])
async def test_sources_interleaved_in_shared_partitions_come_out_in_event_time_order(output: OutputFormat) -> None:
    partitions, ticks = gateway_like_records(cycles=300)
    text, nats = io.StringIO(), RecordingNatsClient()
    sink: TickSink = NatsTickSink(nats) if output is OutputFormat.NATS else TextTickSink(text, output)

    stats = await replay(ListReader(partitions), TickSelector(0, 2**63 - 1), sink)

    out = emitted(output, text.getvalue(), nats)
    assert [ts for ts, _, _ in out] == sorted(ts for ts, _, _ in out), "ts_event_ns never goes back"
    assert out == ticks, "every tick once, ties by source then seq"
    assert stats.ticks_output == len(ticks) and stats.late_ticks == 0


async def test_the_replay_window_of_interleaved_sources_is_in_order_and_complete() -> None:
    partitions, ticks = gateway_like_records(cycles=100)
    since, until = T0 + 205 * NS_PER_MS, T0 + 703 * NS_PER_MS
    text = io.StringIO()

    await replay(ListReader(partitions, seed=9), TickSelector(since, until), TextTickSink(text, OutputFormat.JSONL))

    assert emitted(OutputFormat.JSONL, text.getvalue(), RecordingNatsClient()) == [
        t for t in ticks if since <= t[0] < until
    ]


class UnevenReader(ListReader):
    """Partition 0 hands over five records a fetch unless paused, partition 1 one: partition 0 runs ahead."""

    def __init__(self, partitions: Mapping[int, list[ReplayRecord]]) -> None:
        super().__init__(partitions)
        self.paused: set[int] = set()
        self.pauses: list[int] = []

    async def fetch(self) -> tuple[dict[int, list[ReplayRecord]], list[int]]:
        records, finished = {}, []
        for partition in list(self._rest):
            take = 0 if partition in self.paused else 5 if partition == 0 else 1
            rest = self._rest[partition]
            if take:
                records[partition], self._rest[partition] = rest[:take], rest[take:]
            if not self._rest[partition]:
                del self._rest[partition]
                finished.append(partition)
        return records, finished

    def pause(self, partition: int) -> None:
        self.paused.add(partition)
        self.pauses.append(partition)

    def resume(self, partition: int) -> None:
        self.paused.discard(partition)


async def test_partitions_running_ahead_are_paused_without_stalling_the_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Far fewer ticks may wait than a reorder window holds: the partition behind is read on regardless."""
    monkeypatch.setattr(run_module, "MAX_BUFFERED_TICKS", 40)
    partitions, ticks = gateway_like_records(cycles=200)
    reader = UnevenReader(partitions)
    text = io.StringIO()

    stats = await replay(reader, TickSelector(0, 2**63 - 1), TextTickSink(text, OutputFormat.JSONL))

    assert reader.pauses[0] == 0, "partition 0 ran ahead first"
    assert emitted(OutputFormat.JSONL, text.getvalue(), RecordingNatsClient()) == ticks
    assert stats.late_ticks == 0


# -- pacing ----------------------------------------------------------------------------------------------------


async def test_paced_output_is_flushed_before_each_wait_and_keeps_the_pace() -> None:
    ms = NS_PER_MS
    run = decode_ticks(record("a", "EUR_USD", [(T0, 1), (T0 + ms // 10, 2), (T0 + 40 * ms, 3), (T0 + 80 * ms, 4)]))[0]
    sink = RecordingSink()
    started = time.monotonic()

    await write_paced(sink, run, range(4), Pacer(2, span_ns=NS_PER_S))

    assert [(kind, seqs) for kind, _, seqs in sink.events] == [
        ("write", [1, 2]),  # 0.05 ms apart at speed 2: below a timer tick, no wait
        ("flush", []),
        ("write", [3]),
        ("flush", []),
        ("write", [4]),
    ]
    assert sink.events[-1][1] - started >= 0.039


async def test_a_long_wait_is_slept_in_slices_of_at_most_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = [0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        wall[0] += round(seconds * NS_PER_S)

    monkeypatch.setattr(run_module.asyncio, "sleep", sleep)
    run = decode_ticks(record("a", "EUR_USD", [(T0, 1), (T0 + 3 * NS_PER_MS + 500_000, 2)]))[0]

    await write_paced(RecordingSink(), run, range(2), Pacer(0.001, span_ns=NS_PER_S, clock_ns=lambda: wall[0]))

    assert slept == [MAX_SLEEP_NS / NS_PER_S] * 3 + [0.5]


# -- a whole replay, of a spool --------------------------------------------------------------------------------


async def test_a_spool_replays_its_window_once_even_when_a_record_was_spooled_twice(tmp_path: Path) -> None:
    """A spool can hold a record twice under two seqs (sent again after a lost meta file): the seq mark drops it."""
    first = record("a", "EUR_USD", [(T0 + 1, 1), (T0 + 2, 2)])
    second = record("a", "EUR_USD", [(T0 + 3, 3), (T0 + 50, 4)])
    with Spool(tmp_path, max_bytes=1 << 20, fsync="never") as spool:
        spool.append(
            [
                KafkaRecord(DEFAULT_TICKS_TOPIC, b"EUR_USD", value, STREAM_CONTENT_TYPE)
                for value in (first, second, first)
            ]
        )
    output = io.StringIO()

    stats = await run_replay(ReplayRequest(T0, T0 + 10, "", output=OutputFormat.JSONL, spool_dir=tmp_path), output)

    assert [json.loads(line)["seq"] for line in output.getvalue().splitlines()] == [1, 2, 3]
    assert (stats.records_read, stats.duplicate_records, stats.duplicate_ticks, stats.ticks_output) == (3, 0, 2, 3)


async def test_a_spool_without_the_topic_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20, fsync="never") as spool:
        spool.append([KafkaRecord(DEFAULT_STATUS_TOPIC, b"a", b"\x0a\x01a", STATUS_CONTENT_TYPE)])
    output = io.StringIO()

    with pytest.raises(ConfigError, match=r"topic 'nope' is not in the spool \(it holds 'market-status'\)"):
        await run_replay(
            ReplayRequest(T0, T0 + 10, "", topic="nope", output=OutputFormat.CSV, spool_dir=tmp_path), output
        )
    assert output.getvalue() == ""


class FullStream(io.StringIO):
    """A stream on a full disk."""

    name = "/mnt/full/ticks.csv"

    def flush(self) -> None:
        raise OSError(28, "No space left on device")


async def test_a_stream_refusing_writes_fails_the_replay_naming_it_and_the_reason(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=1 << 20, fsync="never") as spool:
        spool.append(
            [KafkaRecord(DEFAULT_TICKS_TOPIC, b"EUR_USD", record("a", "EUR_USD", [(T0, 1)]), STREAM_CONTENT_TYPE)]
        )

    request = ReplayRequest(T0, T0 + 10, "", output=OutputFormat.CSV, spool_dir=tmp_path)
    with pytest.raises(
        ReplayError, match=r"^cannot write the replay to '/mnt/full/ticks\.csv': No space left on device"
    ):
        await run_replay(request, FullStream())


async def test_a_closed_pipe_is_passed_on_for_fxgw_to_stop_quietly(tmp_path: Path) -> None:
    class ClosedPipe(io.StringIO):
        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        await TextTickSink(ClosedPipe(), OutputFormat.JSONL).flush()
    await asyncio.sleep(0)
