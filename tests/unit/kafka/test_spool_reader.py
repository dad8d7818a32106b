"""gateway.kafka.spool.SpoolReader: the Kafka writer's process reading a spool the gateway appends to.

The reader follows appends across segment rolls, finds segment files created after its layout was taken, reads
recovered spools with gaps exactly as recovery left them, returns no record before it is whole, skips what an
abandoned file holds beyond its last record, and reads from another process while this one appends and
acknowledges. A seeded corpus of damaged bytes checks it never returns a wrong record and raises only SpoolError.
Also ``Spool.begin_sync`` / ``finish_sync``, the fsync run off the event loop.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from gateway.errors import SpoolError, SpoolWriteError
from gateway.kafka import spool as spool_module
from gateway.kafka.spool import (
    ACKED_FILE,
    SEQ_RESERVE,
    SpoolReader,
    SpoolRecord,
    SyncWork,
    checkpoint_bytes,
    finish_sync,
    read_spool_directory,
)
from tests.unit.kafka.spoolkit import (
    FRAME,
    REPO_ROOT,
    append_each,
    drain,
    numbers,
    open_spool,
    read_all,
    reader_of,
    record,
    segment_names,
)

SEED = 20261204


# -- following the owner -----------------------------------------------------------------------------------------


def test_layout_of_an_empty_spool_then_appends_across_segment_rolls(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    with open_spool(tmp_path, segment_bytes=2 * FRAME) as spool:
        layout = spool.layout()
        assert (layout.next_seq, layout.parts) == (1, [])
        with closing(SpoolReader(layout)) as reader:
            assert reader.read() == [] and reader.last_read_seq == 0
            appended = 0
            for _ in range(40):
                count = rng.randrange(1, 5)
                spool.append([record(appended + i + 1) for i in range(count)])
                appended += count
                assert numbers(drain(reader, max_records=rng.randrange(1, 4))) == list(
                    range(appended - count + 1, appended + 1)
                )
                seq, end_offset = reader.acknowledge()
                spool.ack(seq, end_offset)
                assert (seq, spool.pending_records, spool.pending_bytes) == (appended, 0, 0)
        spool.sync()
        assert len(segment_names(tmp_path)) == 1  # every acknowledged segment deleted but the one being written
        assert spool.stats.segments_deleted > 20


def test_a_reader_from_an_older_layout_finds_the_segments_created_since(tmp_path: Path) -> None:
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        spool.append([record(1), record(2)])
        layout = spool.layout()
        assert layout.open_last and len(layout.parts) == 1
        for i in range(3, 21):
            spool.append([record(i)])
        assert len(segment_names(tmp_path)) == 7

        with closing(SpoolReader(layout)) as reader:
            records = drain(reader, max_records=4)
            assert numbers(records) == list(range(1, 21)) and [r.seq for r in records] == list(range(1, 21))
            assert reader.skipped_bytes == 0


def test_a_followed_segment_deleted_once_acknowledged_is_left_for_the_next(tmp_path: Path) -> None:
    """The reader still has the segment it followed open when the owner deletes it: it moves on, no error."""
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool, closing(reader_of(spool)) as reader:
        spool.append([record(i) for i in range(1, 4)])
        assert [r.seq for r in reader.read()] == [1, 2, 3]
        spool.append([record(4)])  # rolls
        spool.ack(*reader.acknowledge())
        spool.sync()
        assert segment_names(tmp_path) == [f"{4:020d}.seg"]
        assert [r.seq for r in drain(reader)] == [4]
        reader.rewind()
        assert [r.seq for r in drain(reader)] == [4]


def test_a_fully_acknowledged_reopened_spool_has_an_empty_layout_and_reads_what_follows(tmp_path: Path) -> None:
    with open_spool(tmp_path, segment_bytes=2 * FRAME) as spool:
        spool.append([record(i) for i in range(1, 6)])
        spool.ack(5)
    with open_spool(tmp_path, segment_bytes=2 * FRAME) as spool:
        layout = spool.layout()
        assert (layout.parts, layout.next_seq, spool.last_seq) == ([], 6, 5)
        with closing(SpoolReader(layout)) as reader:
            assert reader.read() == [] and reader.last_read_seq == 5
            spool.append([record(6), record(7)])
            spool.append([record(8)])
            assert [r.seq for r in drain(reader)] == [6, 7, 8]


def _flip_byte_at(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("acked", [0, 1, 3, 4, 6])
def test_a_recovered_spool_with_gaps_reads_exactly_the_recovered_records(tmp_path: Path, acked: int) -> None:
    with open_spool(tmp_path, segment_bytes=6 * FRAME) as spool:
        spool.append([record(i) for i in range(1, 7)])  # seqs 1-6 in one file
        spool.append([record(i) for i in range(7, 10)])  # 7-9 in the next
        spool.ack(acked)
    first = tmp_path / f"{1:020d}.seg"
    for lost in (2, 4, 8):
        path = first if lost <= 6 else tmp_path / f"{7:020d}.seg"
        if path.exists():  # a segment whose records are all acknowledged is deleted
            _flip_byte_at(path, ((lost - 1) % 6) * FRAME + 40)
    recovered = [r.seq for r in read_spool_directory(tmp_path)]

    with open_spool(tmp_path, segment_bytes=6 * FRAME) as spool:
        layout = spool.layout()
        assert recovered == [seq for seq in (1, 3, 5, 6, 7, 9) if seq > acked]
        with closing(SpoolReader(layout)) as reader:
            records = drain(reader, max_records=2)
            assert [r.seq for r in records] == recovered
            assert all(r.record == record(r.seq) for r in records)
            spool.append([record(10)])
            assert [r.seq for r in drain(reader)] == [10]
            reader.rewind()
            assert [r.seq for r in drain(reader)] == [*recovered, 10]
            spool.ack(*reader.acknowledge())
            assert (spool.pending_records, spool.pending_bytes) == (0, 0)


_APPEND_THEN_SIGKILL = """
import os, signal, sys
from pathlib import Path
from gateway.kafka.records import KafkaRecord
from gateway.kafka.spool import Spool

spool = Spool(Path(sys.argv[1]), max_bytes=1 << 30, segment_bytes=int(sys.argv[3]), fsync="never")
for i in range(1, int(sys.argv[2]) + 1):
    spool.append([KafkaRecord("t", b"", b"%08d" % i, "")])
os.kill(os.getpid(), signal.SIGKILL)
"""


def _crash_after_appending(directory: Path, count: int, segment_bytes: int) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _APPEND_THEN_SIGKILL, str(directory), str(count), str(segment_bytes)],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()


def test_seqs_jumping_after_crashes_are_followed_across_files(tmp_path: Path) -> None:
    _crash_after_appending(tmp_path, 5, 100)  # small records: 2 to a segment
    with open_spool(tmp_path, segment_bytes=100) as spool:
        reader = reader_of(spool)
        jumped = spool.append([record(6)])
        assert jumped == 1 + SEQ_RESERVE + 1  # the first append reserved seqs up to 1 + SEQ_RESERVE
        spool.append([record(7)])
        spool.append([record(8)])
    with open_spool(tmp_path, segment_bytes=100) as spool:  # closed cleanly: no jump
        assert spool.append([record(9)]) == jumped + 3
    expected = [1, 2, 3, 4, 5, jumped, jumped + 1, jumped + 2, jumped + 3]
    with closing(reader):
        assert [r.seq for r in drain(reader)] == expected
        assert numbers(drain(reader)) == []


# -- records not yet whole, abandoned files ----------------------------------------------------------------------


def test_a_record_not_yet_whole_is_returned_only_once_complete(tmp_path: Path) -> None:
    with open_spool(tmp_path / "other") as other:
        other.append([record(1), record(2)])
        frame = (tmp_path / "other" / f"{1:020d}.seg").read_bytes()[FRAME:]
    assert len(frame) == FRAME
    with open_spool(tmp_path / "spool") as spool, closing(reader_of(spool)) as reader:
        spool.append([record(1)])
        assert numbers(reader.read()) == [1]
        with (tmp_path / "spool" / f"{1:020d}.seg").open("ab", buffering=0) as segment:
            for byte in range(FRAME - 1):  # as a concurrent write may show it: a byte at a time
                segment.write(frame[byte : byte + 1])
                assert reader.read() == [], byte
            segment.write(frame[-1:])
        assert reader.read() == [SpoolRecord(2, record(2))]


def test_a_file_abandoned_with_a_partial_record_is_skipped_to_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The disk fails half-way through a batch and the owner cannot cut it off: it goes on in a new segment."""
    spool = open_spool(tmp_path)
    spool.append([record(1)])
    reader = reader_of(spool)
    assert numbers(reader.read()) == [1]
    real_write = os.write

    def write_half_then_fail(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    def fail_truncate(fd: int, length: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(spool_module.os, "write", write_half_then_fail)
        patch.setattr(spool_module.os, "ftruncate", fail_truncate)
        with pytest.raises(SpoolWriteError):
            spool.append([record(2), record(3), record(4)])  # record 2 whole on disk, half of 3
    assert reader.read() == [SpoolRecord(2, record(2))]  # whole and verified: sent, as recovery would keep it
    assert reader.read() == []  # the owner has not moved on yet
    assert spool.append([record(5)]) == 5
    assert segment_names(tmp_path) == [f"{1:020d}.seg", f"{5:020d}.seg"]

    with closing(reader):
        assert [r.seq for r in drain(reader)] == [5]
        assert reader.skipped_bytes == 3 * FRAME // 2 - FRAME
        reader.rewind()  # read again (Kafka failed): the same bytes are skipped, not counted again
        assert [r.seq for r in drain(reader)] == [1, 2, 5]
        assert reader.skipped_bytes == 3 * FRAME // 2 - FRAME
        spool.ack(*reader.acknowledge())
    assert spool.pending_records == 0
    spool.close()
    (message,) = [r.message for r in caplog.records if "no whole record" in r.message]
    assert f"{3 * FRAME // 2 - FRAME} bytes at offset {2 * FRAME} of {1:020d}.seg are no whole record" in message


# -- a reader in another process ---------------------------------------------------------------------------------

_READ_IN_ANOTHER_PROCESS = """
import json, sys, time
from gateway.kafka.spool import SpoolLayout, SpoolPart, SpoolReader

layout = json.loads(sys.argv[1])
parts = [SpoolPart(**part) for part in layout.pop("parts")]
reader = SpoolReader(SpoolLayout(parts=parts, **layout))
total, read = int(sys.argv[2]), 0
deadline = time.monotonic() + 60
while read < total and time.monotonic() < deadline:
    records = reader.read(max_records=7, max_bytes=3000)
    if not records:
        time.sleep(0.0005)
        continue
    read += len(records)
    seq, end_offset = reader.acknowledge()
    values = [r.record.value[:8].decode() for r in records]
    print(json.dumps({"seqs": [r.seq for r in records], "values": values, "ack": [seq, end_offset]}), flush=True)
reader.close()
"""


def test_a_reader_in_another_process_gets_every_record_once_in_order(tmp_path: Path) -> None:
    """This process appends 400 batches across ~100 segment rolls and acknowledges what the other reports read."""
    rng = random.Random(SEED)
    batches = [rng.randrange(1, 12) for _ in range(400)]
    total = sum(batches)
    seqs: list[int] = []
    values: list[str] = []
    with open_spool(tmp_path, segment_bytes=20 * FRAME) as spool:
        spool.append([record(i) for i in range(1, batches[0] + 1)])
        layout = json.dumps(dataclasses.asdict(spool.layout()))
        child = subprocess.Popen(
            [sys.executable, "-c", _READ_IN_ANOTHER_PROCESS, layout, str(total)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None
        stdout = child.stdout.fileno()
        pending = b""

        def take_reports(timeout_s: float) -> None:
            nonlocal pending
            while select.select([stdout], [], [], timeout_s)[0]:
                data = os.read(stdout, 65536)
                if not data:
                    return
                *lines, pending = (pending + data).split(b"\n")
                for line in lines:
                    report = json.loads(line)
                    seqs.extend(report["seqs"])
                    values.extend(report["values"])
                    spool.ack(*report["ack"])
                spool.sync()  # deletes the acknowledged segments while the other process reads on, as the gateway does
                timeout_s = 0

        try:
            take_reports(30)  # the first batch: the other process is reading
            appended = batches[0]
            for count in batches[1:]:
                spool.append([record(i) for i in range(appended + 1, appended + count + 1)])
                appended += count
                take_reports(0.0005)
            read_while_appending = len(seqs)
            deadline = time.monotonic() + 60
            while len(seqs) < total and time.monotonic() < deadline and child.poll() is None:
                take_reports(0.1)
            take_reports(0)
            _, stderr = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        assert child.returncode == 0, stderr.decode()
        assert read_while_appending > total // 2  # read and acknowledged as it was appended, not afterwards
        assert seqs == list(range(1, total + 1))
        assert values == [f"{i:08d}" for i in range(1, total + 1)]
        assert (spool.acked_seq, spool.pending_records, spool.pending_bytes) == (total, 0, 0)
        assert len(segment_names(tmp_path)) == 1 and spool.stats.segments_deleted > 50


# -- begin_sync / finish_sync --------------------------------------------------------------------------------------


def test_begin_sync_hands_over_the_flush_and_counts_it(tmp_path: Path) -> None:
    with open_spool(tmp_path, fsync="interval", fsync_interval_ms=60_000) as spool:
        assert spool.begin_sync() is None  # nothing appended
        spool.append([record(1), record(2)])
        spool.ack(1)
        assert spool.stats.fsyncs == 0

        work = spool.begin_sync()
        assert work is not None and len(work.flush_fds) == 1 and work.delete == ()
        assert work.dir_fd >= 0  # the first segment's file was created since the directory was flushed
        assert spool.stats.fsyncs == 1
        assert (tmp_path / ACKED_FILE).read_bytes() == checkpoint_bytes(1)  # the checkpoint is written at once
        finish_sync(tmp_path, work)
        for fd in (*work.flush_fds, work.dir_fd):
            with pytest.raises(OSError, match="Bad file descriptor"):
                os.fstat(fd)  # closed by finish_sync
        assert spool.begin_sync() is None  # nothing new to flush

        spool.append([record(3)])
        assert spool.stats.fsyncs == 1  # within the interval of the handed-over flush: not flushed inline
        work = spool.begin_sync()
        assert work is not None and len(work.flush_fds) == 1 and work.dir_fd == -1  # no new segment file
        finish_sync(tmp_path, work)
        assert spool.stats.fsyncs == 2


def test_a_rollover_and_the_deletion_of_acknowledged_segments_are_handed_over_too(tmp_path: Path) -> None:
    """With "interval" the append that rolls to a new segment flushes neither the old one nor the directory, and
    an ack deletes nothing: the next sync does both, off the event loop, then closes the old segments."""
    with open_spool(tmp_path, fsync="interval", fsync_interval_ms=60_000, segment_bytes=2 * FRAME) as spool:
        spool.append([record(1)])
        spool.append([record(2)])
        spool.append([record(3)])  # rolls: segment 1 (seqs 1-2) is not flushed yet
        spool.append([record(4)])
        spool.append([record(5)])  # rolls again
        assert spool.stats.fsyncs == 0 and len(segment_names(tmp_path)) == 3
        spool.ack(4)
        assert len(segment_names(tmp_path)) == 3

        work = spool.begin_sync()
        assert work is not None
        assert len(work.flush_fds) == 3 and work.dir_fd >= 0  # segments 1 and 3, a duplicate of 5's; the directory
        assert work.delete == (tmp_path / f"{1:020d}.seg", tmp_path / f"{3:020d}.seg")
        assert spool.stats.segments_deleted == 2
        finish_sync(tmp_path, work)
        assert segment_names(tmp_path) == [f"{5:020d}.seg"]
        for fd in (*work.flush_fds, work.dir_fd):
            with pytest.raises(OSError, match="Bad file descriptor"):
                os.fstat(fd)
        assert spool.stats.fsyncs == 1
        assert numbers(read_all(spool)) == [5]


def test_an_inline_flush_also_flushes_the_segments_rolled_over_and_the_directory(tmp_path: Path) -> None:
    """A late sync timer: the append that finds the interval passed flushes everything left, on the event loop."""
    with open_spool(tmp_path, fsync="interval", fsync_interval_ms=1, segment_bytes=2 * FRAME) as spool:
        spool.append([record(1)])
        time.sleep(0.002)
        spool.append([record(2), record(3)])  # rolls, then flushes inline: the interval has passed
        fsyncs = spool.stats.fsyncs
        assert spool.begin_sync() is None  # nothing left to hand over
        assert spool.stats.fsyncs == fsyncs


@pytest.mark.parametrize("policy", ["always", "never"])
def test_begin_sync_has_nothing_to_hand_over_with_policy(tmp_path: Path, policy: str) -> None:
    with open_spool(tmp_path, fsync=policy, segment_bytes=2 * FRAME) as spool:
        append_each(spool, range(1, 6))  # rolls twice: "always" flushes the old segment and the directory inline
        fsyncs = spool.stats.fsyncs
        assert spool.begin_sync() is None
        assert spool.stats.fsyncs == fsyncs


def test_finish_sync_refused_by_the_disk_is_a_spool_write_error_and_closes_every_descriptor(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()  # fdatasync on a pipe fails with EINVAL, as a refusing device would
    other_end, other_write_end = os.pipe()
    directory = os.open(tmp_path, os.O_RDONLY)
    for fd in (write_end, other_write_end):
        os.close(fd)
    with pytest.raises(SpoolWriteError, match="cannot sync: Invalid argument; what was appended is in the OS cache"):
        finish_sync(tmp_path, SyncWork((read_end, other_end), directory, ()))
    for fd in (read_end, other_end, directory):
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(fd)


def test_a_segment_file_that_cannot_be_deleted_is_logged_and_the_rest_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / f"{1:020d}.seg"  # gone already: unlink fails
    present = tmp_path / f"{9:020d}.seg"
    present.write_bytes(b"x")
    finish_sync(tmp_path, SyncWork((), -1, (missing, present)))
    assert not present.exists()
    assert f"cannot delete acknowledged {missing.name}" in caplog.text


def test_begin_sync_of_a_closed_spool_raises(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.close()
    with pytest.raises(ValueError, match="is closed"):
        spool.begin_sync()


# -- hostile bytes ---------------------------------------------------------------------------------------------------


def _hostile_tails(rng: random.Random, valid: bytes, seq: int) -> list[tuple[str, bytes]]:
    """Bytes that are no record ``seq`` (``valid`` is its frame), as damage may put them after the last record."""
    header = spool_module._HEADER
    cases = [
        ("zeros", bytes(64)),
        ("huge length", header.pack(0xFFFF_FFF0, 0, seq)),
        ("huge length, wrong seq", header.pack(0xFFFF_FFF0, 0, seq + 1)),
        ("length 0, bad crc", header.pack(0, 1, seq)),
        ("wrong seq, right frame", header.pack(len(valid) - 16, 0, seq + 7) + valid[16:]),
        ("crc off by one", valid[:4] + (int.from_bytes(valid[4:8], "little") ^ 1).to_bytes(4, "little") + valid[8:]),
    ]
    for _ in range(60):
        damaged = bytearray(valid)
        for _ in range(rng.randrange(1, 4)):
            damaged[rng.randrange(16, len(damaged))] ^= 1 << rng.randrange(8)
        cases.append(("flipped payload", bytes(damaged)))
        cases.append(("random", rng.randbytes(rng.randrange(1, 300))))
        cut = rng.randrange(1, len(valid))
        cases.append(("cut short", valid[:cut]))
    return cases


def test_hostile_bytes_in_the_open_segment_never_give_a_wrong_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Damaged bytes after the last record of the segment being written: the record before them is delivered, they
    are waited on (they may be a write in progress) and skipped once the owner moved on; no error, no wrong record,
    and no read asks for more bytes than the file holds (a damaged length says up to 4 GiB).

    The reads are counted rather than the process's peak memory: tracemalloc's peak includes whatever the test
    process's other threads allocate meanwhile (3.9 MB once in CI's whole-suite run; far less when run alone)."""
    rng = random.Random(SEED)
    with open_spool(tmp_path / "source") as source:
        source.append([record(1), record(2)])
    valid = (tmp_path / "source" / f"{1:020d}.seg").read_bytes()[FRAME:]
    cases = _hostile_tails(rng, valid, 2)
    assert len(cases) >= 180
    requested: list[int] = []
    real_pread = os.pread
    reading_thread = threading.get_ident()

    def counted_pread(fd: int, length: int, offset: int) -> bytes:
        if threading.get_ident() == reading_thread:
            requested.append(length)
        return real_pread(fd, length, offset)

    monkeypatch.setattr(os, "pread", counted_pread)
    for index, (name, tail) in enumerate(cases):
        directory = tmp_path / f"case{index}"
        with open_spool(directory, segment_bytes=FRAME) as spool, closing(reader_of(spool)) as reader:
            spool.append([record(1)])
            segment_path = directory / f"{1:020d}.seg"
            with segment_path.open("ab") as segment:
                segment.write(tail)
            requested.clear()
            assert drain(reader) == [SpoolRecord(1, record(1))], name
            assert reader.read() == [], name  # perhaps a write in progress
            assert requested, name
            assert max(requested) <= segment_path.stat().st_size, name

            spool.append([record(2)])  # a segment of its own: the owner moved on
            assert drain(reader) == [SpoolRecord(2, record(2))], name
            assert reader.skipped_bytes == len(tail), name


def test_damage_in_a_finished_part_is_a_spool_error_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A byte changed under a finished segment after its layout was taken: SpoolError naming it, or the true records."""
    rng = random.Random(SEED)
    caplog.set_level(logging.ERROR)
    errors = 0
    with open_spool(tmp_path / "source", segment_bytes=3 * FRAME) as source:
        source.append([record(i) for i in range(1, 4)])
        source.append([record(4)])
    pristine = (tmp_path / "source" / f"{1:020d}.seg").read_bytes()
    for index in range(80):
        directory = tmp_path / f"case{index}"
        with open_spool(directory, segment_bytes=3 * FRAME) as spool:
            spool.append([record(i) for i in range(1, 4)])
            spool.append([record(4)])  # rolled: seqs 1-3 are a finished part
            damaged = bytearray(pristine)
            offset = rng.randrange(len(damaged))
            damaged[offset] ^= rng.randrange(1, 256)
            reader = reader_of(spool)
            (directory / f"{1:020d}.seg").write_bytes(bytes(damaged))
            with closing(reader):
                try:
                    records = drain(reader)
                except SpoolError as exc:
                    errors += 1
                    assert f"{1:020d}.seg at offset" in str(exc)
                    continue
            assert all(r.record == record(r.seq) for r in records)
            assert [r.seq for r in records] == [1, 2, 3, 4][: len(records)]
    assert errors == 80  # every changed byte of seqs 1-3 breaks a length, a seq or a CRC
