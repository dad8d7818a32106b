"""Micro-benchmarks of the Kafka spool (gateway.kafka.spool): append on the hot path; read + ack and recovery.

Run them with ``pytest tests/benchmarks/test_spool_benchmarks.py --benchmark-enable``.
Records are 30 KB, the size of a MarketDataStream of 512 ticks, the largest
batch the gateway publishes; the spool lives in pytest's ``tmp_path`` (local
disk) and files are read back from the OS page cache, as the Kafka writer does
when it keeps up. Per-record figures are printed after the benchmark table;
``extra_info`` also holds MB/s and records/s.
"""

from __future__ import annotations

import shutil
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from gateway.kafka.records import KafkaRecord
from gateway.kafka.spool import DEFAULT_SEGMENT_BYTES, Spool, SpoolReader

if TYPE_CHECKING:
    from tests.benchmarks.conftest import PerTick

pytestmark = pytest.mark.benchmark

VALUE_BYTES: Final = 30_000
RECORD: Final = KafkaRecord(
    "market-data-stream",
    b"EUR_USD",
    bytes(range(256)) * (VALUE_BYTES // 256) + bytes(VALUE_BYTES % 256),
    "application/x-protobuf; proto=market.v1.MarketDataStream",
)
FRAME_BYTES: Final = 16 + 2 + 18 + 4 + 7 + 2 + 56 + 4 + VALUE_BYTES
SPOOLED_RECORDS: Final = 2_000  # 60 MB
SEGMENT_BYTES: Final = 8 * 1024 * 1024
MAX_BYTES: Final = 1024**3
UNFLUSHED_RECORDS: Final = 400
"""12 MB: what 200 ms (the default fsync interval) of appends hold at 600,000 ticks/s of about 100 bytes."""


def _throughput(benchmark: Any, records_per_round: int) -> None:
    """MB/s and records/s at the median round time, in ``extra_info``."""
    if benchmark.stats is None:
        return
    median_s = benchmark.stats.stats.median
    benchmark.extra_info["records_per_s"] = records_per_round / median_s
    benchmark.extra_info["mb_per_s"] = records_per_round * FRAME_BYTES / median_s / 1e6


@pytest.mark.parametrize("fsync", ["never", "interval", "always"])
def test_append_30kb_record(benchmark: Any, per_tick: PerTick, tmp_path: Path, fsync: str) -> None:
    """Spool.append of one 30 KB record: encode, CRC, one write (and an fsync per the policy)."""
    with Spool(tmp_path, max_bytes=MAX_BYTES, segment_bytes=SEGMENT_BYTES, fsync=fsync) as spool:  # type: ignore[arg-type]
        batch = [RECORD]
        benchmark.pedantic(spool.append, args=(batch,), rounds=2_000, warmup_rounds=50)

        assert spool.pending_bytes == spool.stats.appended_bytes == spool.stats.appended_records * FRAME_BYTES
    per_tick(1, unit="record")
    _throughput(benchmark, 1)


def test_read_and_ack_30kb_records(benchmark: Any, per_tick: PerTick, tmp_path: Path) -> None:
    """The Kafka writer's loop without Kafka: read up to 1 MiB, ack it, until the spool is empty (60 MB a round);
    then the sync that deletes the acknowledged segments."""
    spools: list[Spool] = []
    rounds = count()

    def filled_spool() -> tuple[tuple[Spool], dict[str, Any]]:
        for old in spools:  # the previous round's, emptied
            old.close()
            shutil.rmtree(old.directory)
        spools.clear()
        spool = Spool(tmp_path / str(next(rounds)), max_bytes=MAX_BYTES, segment_bytes=SEGMENT_BYTES, fsync="never")
        for _ in range(SPOOLED_RECORDS):
            spool.append([RECORD])
        spools.append(spool)
        return (spool,), {}

    def drain(spool: Spool) -> int:
        reader = SpoolReader(spool.layout())
        delivered = 0
        while chunk := reader.read():
            spool.ack(*reader.acknowledge())
            delivered += len(chunk)
        reader.close()
        spool.sync()  # deletes the acknowledged segments, as the gateway's sync thread does
        return delivered

    try:
        delivered = benchmark.pedantic(drain, setup=filled_spool, rounds=10, warmup_rounds=1)
        assert delivered == SPOOLED_RECORDS
        assert spools[0].pending_records == 0 and spools[0].stats.segments_deleted > 0
    finally:
        for spool in spools:
            spool.close()
    per_tick(SPOOLED_RECORDS, unit="record")
    _throughput(benchmark, SPOOLED_RECORDS)


def test_open_recovers_30kb_records(benchmark: Any, per_tick: PerTick, tmp_path: Path) -> None:
    """Opening a spool left with 60 MB unacknowledged: every record's framing and CRC checked (page cache warm)."""
    with Spool(tmp_path, max_bytes=MAX_BYTES, segment_bytes=SEGMENT_BYTES, fsync="never") as spool:
        for _ in range(SPOOLED_RECORDS):
            spool.append([RECORD])

    def recover() -> int:
        with Spool(tmp_path, max_bytes=MAX_BYTES, segment_bytes=SEGMENT_BYTES, fsync="never") as reopened:
            return reopened.stats.recovered_records

    assert benchmark.pedantic(recover, rounds=10, warmup_rounds=1) == SPOOLED_RECORDS
    per_tick(SPOOLED_RECORDS, unit="record")
    _throughput(benchmark, SPOOLED_RECORDS)


def test_the_ack_that_frees_a_full_segment(benchmark: Any, per_tick: PerTick, tmp_path: Path) -> None:
    """Spool.ack of a whole segment of the default size (64 MB), on the event loop as the writer's report arrives.

    Deleting the file there freed its 16,000 cached pages on the loop: 12 ms. The next sync (in a thread) deletes it.
    """
    per_segment = DEFAULT_SEGMENT_BYTES // FRAME_BYTES
    with Spool(tmp_path, max_bytes=MAX_BYTES, fsync="never") as spool:
        rounds = _Rounds()

        def a_full_segment() -> tuple[tuple[int], dict[str, Any]]:
            spool.sync()  # deletes the previous round's segment, as the sync thread does: not measured
            rounds.fill_segment(spool, per_segment)
            return (spool.last_seq - 1,), {}  # the last record rolled to a new segment

        benchmark.pedantic(spool.ack, setup=a_full_segment, rounds=5, warmup_rounds=0)

        spool.sync()
        assert (spool.pending_records, spool.stats.segments_deleted) == (1, rounds.count)
    per_tick(1, unit="segment")


def test_the_append_that_rolls_to_a_new_segment(benchmark: Any, per_tick: PerTick, tmp_path: Path) -> None:
    """Spool.append of a 30 KB record that rolls to a new segment, with fsync "interval" and 12 MB unflushed.

    The rollover flushed the full segment and the directory on the event loop: 8-10 ms for 12 MB. The next sync (in a
    thread) flushes both; the append only opens the new file.
    """
    with Spool(
        tmp_path,
        max_bytes=MAX_BYTES,
        segment_bytes=UNFLUSHED_RECORDS * FRAME_BYTES,
        fsync="interval",
        fsync_interval_ms=3_600_000,
    ) as spool:
        rounds = _Rounds()

        def a_full_unflushed_segment() -> tuple[tuple[list[KafkaRecord]], dict[str, Any]]:
            spool.ack(spool.last_seq)
            spool.sync()  # flushes and deletes the previous round's records, as the sync thread does: not measured
            rounds.fill_segment(spool, UNFLUSHED_RECORDS - 1)
            return ([RECORD],), {}

        benchmark.pedantic(spool.append, setup=a_full_unflushed_segment, rounds=10, warmup_rounds=0)

        assert spool.stats.appended_records == rounds.count * UNFLUSHED_RECORDS + 1
        assert spool.layout().parts[-1].first_seq == spool.last_seq  # the measured append began a new segment
    per_tick(1, unit="record")


class _Rounds:
    """Counts a benchmark's rounds, each of which fills the segment being written with 30 KB records."""

    def __init__(self) -> None:
        self.count = 0

    def fill_segment(self, spool: Spool, records: int) -> None:
        """Append ``records`` records, and one more in the first round: the round before left one in the segment."""
        for _ in range(records + (self.count == 0)):
            spool.append([RECORD])
        self.count += 1
