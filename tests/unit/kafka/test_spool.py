"""gateway.kafka.spool: append, read (SpoolReader), ack, rewind, limits, recovery from torn and corrupt files, kill -9,
fsync policy.

Every test works on real files in ``tmp_path``; crashes are simulated by editing
the files the way a cut-short write or a flipped bit leaves them, and once by a
real process that SIGKILLs itself.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from gateway.errors import SpoolError, SpoolFullError, SpoolWriteError
from gateway.kafka import spool as spool_module
from gateway.kafka.records import KafkaRecord
from gateway.kafka.spool import (
    ACKED_FILE,
    META_FILE,
    SpoolRecord,
    checkpoint_bytes,
    read_spool_directory,
    read_spool_epoch,
)

# -- append, read, ack ------------------------------------------------------------------------------------------
from tests.unit.kafka.spoolkit import (
    EMPTY,
    FRAME,
    HEADER_BYTES,
    REPO_ROOT,
    MiB,
    ack_read,
    append_each,
    drain,
    frame_bytes,
    numbers,
    open_spool,
    read_all,
    reader_of,
    record,
    segment_names,
)


def test_append_read_ack_round_trip(tmp_path: Path) -> None:
    with open_spool(tmp_path / "spool") as spool:
        first = spool.append([record(1), record(2), EMPTY])

        assert first == 1 and spool.next_seq == 4
        assert (spool.pending_records, spool.pending_bytes) == (3, 2 * FRAME + frame_bytes(EMPTY))
        with closing(reader_of(spool)) as reader:
            records = reader.read()
            assert records == [SpoolRecord(1, record(1)), SpoolRecord(2, record(2)), SpoolRecord(3, EMPTY)]
            assert reader.read() == []
            assert reader.last_read_seq == 3
            assert reader.acknowledge() == (3, 2 * FRAME + frame_bytes(EMPTY))

        spool.ack(2)
        assert (spool.acked_seq, spool.pending_records, spool.pending_bytes) == (
            2,
            1,
            frame_bytes(EMPTY),
        )
        spool.ack(3)
        assert (spool.pending_records, spool.pending_bytes) == (0, 0)
        assert spool.stats.appended_records == 3


def test_a_record_is_framed_with_zlibs_crc32_of_its_seq_then_its_payload(tmp_path: Path) -> None:
    """The format on disk, pinned: spools written while zlib computed the CRC read the same under ISA-L's."""
    with open_spool(tmp_path / "spool") as spool:
        spool.append([record(1), record(2, value_bytes=200_000)])
    data = (tmp_path / "spool" / segment_names(tmp_path / "spool")[0]).read_bytes()

    offset = 0
    for seq in (1, 2):
        length, crc, frame_seq = struct.unpack_from("<IIQ", data, offset)
        payload = data[offset + HEADER_BYTES : offset + HEADER_BYTES + length]
        assert frame_seq == seq and len(payload) == length
        assert crc == zlib.crc32(payload, zlib.crc32(seq.to_bytes(8, "little")))
        offset += HEADER_BYTES + length
    assert offset == len(data)


def test_read_sees_each_append_at_once(tmp_path: Path) -> None:
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool, closing(reader_of(spool)) as reader:
        for i in range(1, 8):
            spool.append([record(i)])
            assert numbers(reader.read()) == [i]
            assert ack_read(spool, reader) == i
            assert (spool.pending_records, spool.pending_bytes) == (0, 0)


@pytest.mark.parametrize(
    ("max_records", "max_bytes", "expected_sizes"),
    [
        (1000, MiB, [10]),
        (3, MiB, [3, 3, 3, 1]),
        (1000, 4 * FRAME, [4, 4, 2]),
        (1000, 4 * FRAME - 1, [3, 3, 3, 1]),
        (1000, 1, [1] * 10),  # a record larger than max_bytes comes alone rather than never
    ],
)
def test_read_returns_at_most_max_records_and_max_bytes(
    tmp_path: Path, max_records: int, max_bytes: int, expected_sizes: list[int]
) -> None:
    with open_spool(tmp_path, segment_bytes=MiB) as spool, closing(reader_of(spool)) as reader:
        spool.append([record(i) for i in range(10)])

        sizes = []
        while chunk := reader.read(max_records=max_records, max_bytes=max_bytes):
            sizes.append(len(chunk))

        assert sizes == expected_sizes


def test_records_stay_in_order_across_segment_rolls(tmp_path: Path) -> None:
    with open_spool(tmp_path, segment_bytes=7 * FRAME) as spool:
        for start in range(0, 42, 3):  # batches of 3, two to a segment
            spool.append([record(i) for i in range(start, start + 3)])

        assert len(segment_names(tmp_path)) == 7
        records = read_all(spool, max_records=4)
        assert numbers(records) == list(range(42))
        assert [r.seq for r in records] == list(range(1, 43))


def test_a_batch_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path: Path) -> None:
    with open_spool(tmp_path, segment_bytes=2 * FRAME) as spool:
        spool.append([record(0)])
        spool.append([record(i) for i in range(1, 6)])
        spool.append([record(6)])

        assert segment_names(tmp_path) == [f"{1:020d}.seg", f"{2:020d}.seg", f"{7:020d}.seg"]
        assert numbers(read_all(spool)) == list(range(7))


def test_ack_frees_whole_segments_only_never_the_one_being_written_and_sync_deletes_them(tmp_path: Path) -> None:
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        append_each(spool, range(1, 10))  # segments of seqs 1-3, 4-6, 7-9
        assert len(segment_names(tmp_path)) == 3

        spool.ack(2)
        spool.sync()
        assert len(segment_names(tmp_path)) == 3 and spool.pending_records == 7
        spool.ack(3)
        assert len(segment_names(tmp_path)) == 3  # deleted by the next sync, not on the event loop's ack
        assert (spool.pending_records, spool.pending_bytes) == (6, 6 * FRAME)  # but no longer pending
        spool.sync()
        assert segment_names(tmp_path) == [f"{4:020d}.seg", f"{7:020d}.seg"]
        spool.ack(9)
        spool.sync()
        assert segment_names(tmp_path) == [f"{7:020d}.seg"]  # being written: kept
        assert (spool.pending_records, spool.pending_bytes, spool.stats.segments_deleted) == (0, 0, 2)

        spool.append([record(10)])  # rolls: segment 7 is no longer being written
        assert numbers(read_all(spool)) == [10]
        spool.ack(10)
    assert segment_names(tmp_path) == [f"{10:020d}.seg"]  # close deletes what was acknowledged


@pytest.mark.parametrize("upto_seq", [0, 1, 2])
def test_ack_of_an_older_seq_changes_nothing(tmp_path: Path, upto_seq: int) -> None:
    with open_spool(tmp_path) as spool:
        append_each(spool, range(4))
        spool.ack(2)

        spool.ack(upto_seq)

        assert (spool.acked_seq, spool.pending_records) == (2, 2)


def test_ack_of_a_seq_not_yet_appended_is_refused(tmp_path: Path) -> None:
    with open_spool(tmp_path) as spool:
        append_each(spool, range(3))

        with pytest.raises(ValueError, match="cannot acknowledge 4, the last seq is 3"):
            spool.ack(4)


def test_rewind_goes_back_to_what_was_last_acknowledged(tmp_path: Path) -> None:
    with open_spool(tmp_path, segment_bytes=4 * FRAME) as spool:
        append_each(spool, range(1, 11))  # segments of seqs 1-4, 5-8, 9-10
        reader = reader_of(spool)
        assert numbers(reader.read(max_records=2)) == [1, 2]
        reader.rewind()  # nothing acknowledged yet: from the start
        assert numbers(reader.read(max_records=6)) == [1, 2, 3, 4, 5, 6]
        assert ack_read(spool, reader) == 6  # in the second segment: the first is deleted
        spool.sync()
        assert segment_names(tmp_path) == [f"{5:020d}.seg", f"{9:020d}.seg"]
        assert numbers(reader.read(max_records=3)) == [7, 8, 9]

        reader.rewind()
        assert numbers(drain(reader)) == [7, 8, 9, 10]
        reader.rewind()
        assert numbers(reader.read(max_records=1)) == [7]
        assert ack_read(spool, reader) == 7
        reader.rewind()
        assert numbers(drain(reader)) == [8, 9, 10]
        assert reader.last_read_seq == 10
        assert (spool.pending_records, spool.pending_bytes) == (3, 3 * FRAME)
        reader.close()


def test_acknowledge_with_nothing_read_acknowledges_nothing_new(tmp_path: Path) -> None:
    with open_spool(tmp_path) as spool:
        append_each(spool, range(1, 5))
        spool.ack(2)
        with closing(reader_of(spool)) as reader:
            assert reader.acknowledge() == (2, 2 * FRAME)
            spool.ack(*reader.acknowledge())
            assert numbers(drain(reader)) == [3, 4]
        assert (spool.acked_seq, spool.pending_records, spool.pending_bytes) == (2, 2, 2 * FRAME)


def _hint(kind: str, upto_seq: int) -> int | None:
    """An ``end_offset`` hint for ``Spool.ack(upto_seq)`` in segments of 3 records of FRAME bytes."""
    end = (upto_seq - 1) % 3 * FRAME + FRAME  # where the record ends in its file
    return {
        "none": None,
        "right": end,
        "start of the record": end - FRAME,  # its header holds upto_seq, not the next
        "a record too far": end + FRAME,
        "inside a record": end - 7,
        "beyond the file": 10 * FRAME,
        "zero": 0,
        "negative": -5,
    }[kind]


HINTS = [
    "none",
    "right",
    "start of the record",
    "a record too far",
    "inside a record",
    "beyond the file",
    "zero",
    "negative",
]


@pytest.mark.parametrize("kind", HINTS)
@pytest.mark.parametrize("upto_seq", [1, 2, 4, 5, 7, 8])
def test_ack_is_exact_whatever_the_end_offset_hint(tmp_path: Path, kind: str, upto_seq: int) -> None:
    """A wrong hint costs a walk over the headers, never a wrong pending_bytes or a record lost or repeated."""
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        append_each(spool, range(1, 10))  # segments of seqs 1-3, 4-6, 7-9 (being written)
        spool.ack(upto_seq, _hint(kind, upto_seq))

        assert (spool.acked_seq, spool.pending_records) == (upto_seq, 9 - upto_seq)
        assert spool.pending_bytes == (9 - upto_seq) * FRAME
        assert numbers(read_all(spool)) == list(range(upto_seq + 1, 10))
        spool.ack(upto_seq + 1, _hint(kind, upto_seq + 1))  # from an offset inside a segment
        assert spool.pending_bytes == (8 - upto_seq) * FRAME
        assert numbers(read_all(spool)) == list(range(upto_seq + 2, 10))
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        assert numbers(read_all(spool)) == list(range(upto_seq + 2, 10))


@pytest.mark.parametrize(
    ("records_read", "max_records", "acked_after"),
    [(2, 2, [2]), (3, 3, [3]), (4, 1, [1, 2, 3, 4]), (6, 4, [4, 6])],
)
def test_acknowledging_what_the_reader_reports_keeps_pending_exact(
    tmp_path: Path, records_read: int, max_records: int, acked_after: list[int]
) -> None:
    """Acks at the reader's pace, in the middle of a segment and at its end: offsets and deletions agree."""
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        append_each(spool, range(1, 7))  # segments of seqs 1-3, 4-6
        reader = reader_of(spool)
        read = 0
        acked = []
        while read < records_read:
            read += len(reader.read(max_records=max_records))
            if read in acked_after:
                acked.append(ack_read(spool, reader))
        assert acked == acked_after
        assert (spool.pending_records, spool.pending_bytes) == (6 - read, (6 - read) * FRAME)
        reader.rewind()
        assert numbers(drain(reader)) == list(range(read + 1, 7))
        assert numbers(read_all(spool)) == list(range(read + 1, 7))
        reader.close()


def test_methods_of_a_closed_spool_raise(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.close()
    spool.close()

    for call in (lambda: spool.append([record(1)]), spool.layout, lambda: spool.ack(1), spool.sync, spool.begin_sync):
        with pytest.raises(ValueError, match="is closed"):
            call()


# -- limits and disk errors -------------------------------------------------------------------------------------


def test_full_spool_rejects_the_whole_batch_and_accepts_again_after_ack(tmp_path: Path) -> None:
    with open_spool(tmp_path, max_bytes=5 * FRAME, segment_bytes=2 * FRAME) as spool:
        append_each(spool, range(1, 5))
        sizes_before = {path.name: path.stat().st_size for path in tmp_path.glob("*.seg")}

        full = rf"spool {re.escape(str(tmp_path))} is full: .* max_bytes=\d.*not stored"
        with pytest.raises(SpoolFullError, match=full) as caught:
            spool.append([record(5), record(6)])

        assert caught.value.retriable and caught.value.directory == tmp_path
        assert spool.stats.rejected_records == 2
        assert (spool.next_seq, spool.pending_records) == (5, 4)
        assert {path.name: path.stat().st_size for path in tmp_path.glob("*.seg")} == sizes_before

        spool.ack(2)  # deletes the first segment
        assert spool.append([record(5), record(6)]) == 5
        assert numbers(read_all(spool)) == [3, 4, 5, 6]


def test_full_holds_from_a_refusal_until_an_ack_though_smaller_batches_fit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Near max_bytes a small batch fits where a large one did not: the state (and its log lines) must not flap."""
    caplog.set_level(logging.INFO, logger="gateway.kafka.spool")
    with open_spool(tmp_path, max_bytes=5 * FRAME, segment_bytes=2 * FRAME) as spool:
        append_each(spool, range(1, 4))
        assert not spool.full

        for _ in range(3):
            with pytest.raises(SpoolFullError):
                spool.append([record(4), record(5), record(6)])
            assert spool.full
        spool.append([record(4)])  # fits
        assert spool.full
        with pytest.raises(SpoolFullError):
            spool.append([record(5), record(6)])

        spool.ack(2)
        assert not spool.full
        spool.append([record(5), record(6)])

    messages = [entry.getMessage() for entry in caplog.records]
    assert sum(" full (" in message for message in messages) == 1
    assert sum("accepting records again" in message for message in messages) == 1


def test_a_batch_larger_than_max_bytes_is_always_rejected(tmp_path: Path) -> None:
    with open_spool(tmp_path, max_bytes=3 * FRAME) as spool, pytest.raises(SpoolFullError):
        spool.append([record(i) for i in range(4)])


def test_a_field_too_long_for_the_format_is_a_value_error(tmp_path: Path) -> None:
    with open_spool(tmp_path) as spool, pytest.raises(ValueError, match="too large for the spool format"):
        spool.append([KafkaRecord("t" * 70_000, b"", b"", "")])


@pytest.mark.parametrize("truncate_fails", [False, True], ids=["rolled back", "rollback fails too"])
def test_disk_error_stores_nothing_of_the_batch_and_the_spool_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, truncate_fails: bool
) -> None:
    """The disk fills up half-way through a batch's write (a short write, then ENOSPC)."""
    spool = open_spool(tmp_path)
    spool.append([record(1)])
    real_write = os.write
    calls = []

    def write_half_then_fail(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    def fail_truncate(fd: int, length: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(spool_module.os, "write", write_half_then_fail)
        if truncate_fails:
            patch.setattr(spool_module.os, "ftruncate", fail_truncate)
        with pytest.raises(SpoolWriteError, match=r"cannot write 0+1\.seg: No space left on device; the batch was not"):
            spool.append([record(2), record(3)])

    assert (spool.pending_records, spool.stats.appended_records) == (1, 1)
    if not truncate_fails:
        assert (tmp_path / f"{1:020d}.seg").stat().st_size == FRAME
    next_seq = spool.append([record(4)])
    assert numbers(read_all(spool)) == [1, 4]
    spool.close()

    assert next_seq == (4 if truncate_fails else 2)  # seqs that may be on disk are not given again
    with open_spool(tmp_path) as reopened:
        records = read_all(reopened)
        assert numbers(records) == ([1, 2, 4] if truncate_fails else [1, 4])  # 2: the whole record the write left
        assert [r.seq for r in records] == sorted({r.seq for r in records})


# -- reopening and recovery -------------------------------------------------------------------------------------


def test_reopen_after_close_continues_numbering_and_skips_acknowledged(tmp_path: Path) -> None:
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        append_each(spool, range(1, 9))
        spool.ack(4)

    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        assert (spool.acked_seq, spool.next_seq, spool.pending_records) == (4, 9, 4)
        assert spool.stats.recovered_records == 4
        assert numbers(read_all(spool)) == [5, 6, 7, 8]
        assert spool.append([record(9)]) == 9


def test_reopen_of_a_fully_acknowledged_spool_deletes_its_segments(tmp_path: Path) -> None:
    with open_spool(tmp_path) as spool:
        append_each(spool, range(3))
        spool.ack(3)

    with open_spool(tmp_path) as spool:
        assert segment_names(tmp_path) == []
        assert (spool.pending_records, spool.acked_seq, spool.next_seq) == (0, 3, 4)
        assert read_all(spool) == []
        assert spool.append([record(4)]) == 4
        assert numbers(read_all(spool)) == [4]


def test_lost_checkpoint_sends_the_oldest_segment_again(tmp_path: Path) -> None:
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        append_each(spool, range(1, 10))
        spool.ack(5)
    (tmp_path / ACKED_FILE).write_bytes(b"")  # what a power loss can leave of a new, un-fsynced file

    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        assert numbers(read_all(spool)) == [4, 5, 6, 7, 8, 9]  # the first segment had been deleted


def test_epoch_is_stable_across_reopen_and_new_for_a_new_directory(tmp_path: Path) -> None:
    with open_spool(tmp_path / "a") as spool:
        epoch = spool.epoch
        spool.append([record(1)])
    with open_spool(tmp_path / "a") as spool:
        assert spool.epoch == epoch == read_spool_epoch(tmp_path / "a")
    with open_spool(tmp_path / "b") as other:
        assert other.epoch > epoch


def test_a_second_spool_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    with open_spool(tmp_path), pytest.raises(SpoolError, match="in use by another process"):
        open_spool(tmp_path)
    open_spool(tmp_path).close()  # released on close


def test_an_unsupported_format_is_refused(tmp_path: Path) -> None:
    open_spool(tmp_path).close()
    (tmp_path / META_FILE).write_text('{"format": 2, "epoch": 1, "reserved_seq": 0}')

    with pytest.raises(SpoolError, match="format 2 is not supported"):
        open_spool(tmp_path)


def test_a_lost_meta_file_starts_a_new_epoch_and_keeps_the_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open_spool(tmp_path) as spool:
        epoch = spool.epoch
        append_each(spool, range(1, 4))
    (tmp_path / META_FILE).unlink()

    with open_spool(tmp_path) as spool:
        assert spool.epoch != epoch
        assert numbers(read_all(spool)) == [1, 2, 3]
        assert spool.append([record(4)]) == 4
    assert "a new epoch starts" in caplog.text


def _truncate_to(size: int) -> Callable[[Path], None]:
    return lambda path: os.truncate(path, size)


def _flip_byte_at(offset: int) -> Callable[[Path], None]:
    def flip(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[offset] ^= 0x40
        path.write_bytes(bytes(data))

    return flip


@pytest.mark.parametrize(
    "damage",
    [_truncate_to(4 * FRAME + 10), _truncate_to(5 * FRAME - 1)],
    ids=["torn header", "torn payload"],
)
def test_a_torn_tail_is_cut_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], None]
) -> None:
    with open_spool(tmp_path) as spool:
        spool.append([record(i) for i in range(1, 6)])
    path = tmp_path / f"{1:020d}.seg"
    damage(path)
    damaged_size = path.stat().st_size

    with open_spool(tmp_path) as spool:
        assert numbers(read_all(spool)) == [1, 2, 3, 4]
        assert (spool.stats.corrupt_records, spool.stats.corrupt_bytes) == (1, damaged_size - 4 * FRAME)
        assert path.stat().st_size == 4 * FRAME
        assert spool.next_seq == 6  # the reservation covers the discarded seq: none is given twice
    (message,) = [r for r in caplog.records if r.name == "gateway.kafka.spool" and r.levelno >= logging.WARNING]
    assert message.levelno == logging.WARNING
    assert f"record cut short at offset {4 * FRAME} of {path.name}" in message.message
    assert f"seq 5 and any later seq of the file lost, {damaged_size - 4 * FRAME} bytes cut off" in message.message


@pytest.mark.parametrize(
    ("damage", "lost", "reason"),
    [
        (_flip_byte_at(5 * FRAME - 1), 5, "CRC mismatch in seq 5"),  # the last record: nothing follows
        (_flip_byte_at(2 * FRAME + 30), 3, "CRC mismatch in seq 3"),  # a topic
        (_flip_byte_at(3 * FRAME + 8), 4, "seq 68 where 4 was expected"),
        (_flip_byte_at(1 * FRAME + 3), 2, "record of 1073742017 bytes runs past the end of the file"),
        (_flip_byte_at(1 * FRAME), 2, "CRC mismatch in seq 2"),  # a length that lands inside the next record
    ],
    ids=["flipped last value", "flipped topic", "flipped seq", "flipped length, too long", "flipped length, inside"],
)
def test_a_damaged_record_costs_only_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], None], lost: int, reason: str
) -> None:
    with open_spool(tmp_path) as spool:
        spool.append([record(i) for i in range(1, 6)])
    path = tmp_path / f"{1:020d}.seg"
    damage(path)

    with open_spool(tmp_path) as spool, closing(reader_of(spool)) as reader:
        assert numbers(drain(reader)) == [i for i in range(1, 6) if i != lost]
        assert (spool.stats.corrupt_records, spool.stats.corrupt_bytes) == (1, FRAME)
        assert spool.pending_records == 4 and spool.pending_bytes == 4 * FRAME
        assert spool.append([record(6)]) == 6
        assert numbers(drain(reader)) == [6]
    assert path.stat().st_size == 5 * FRAME  # damaged bytes are skipped, not cut
    (message,) = [r for r in caplog.records if r.name == "gateway.kafka.spool" and r.levelno >= logging.WARNING]
    assert message.levelno == logging.ERROR
    assert f"damaged record at offset {(lost - 1) * FRAME} of {path.name} ({reason}): seq {lost}" in message.message


def test_damaged_headers_in_a_row_cost_the_records_up_to_the_next_verifiable_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open_spool(tmp_path) as spool:
        spool.append([record(i) for i in range(1, 8)])
    path = tmp_path / f"{1:020d}.seg"
    data = bytearray(path.read_bytes())
    data[FRAME : 4 * FRAME + HEADER_BYTES] = bytes(3 * FRAME + HEADER_BYTES)  # records 2-4 and the header of 5
    path.write_bytes(bytes(data))

    with open_spool(tmp_path) as spool:
        assert numbers(read_all(spool)) == [1, 6, 7]
        assert (spool.stats.corrupt_records, spool.stats.corrupt_bytes) == (4, 4 * FRAME)
    assert f"seqs 2 to 5 lost, {4 * FRAME} bytes skipped; seq 6 follows at offset {5 * FRAME}" in caplog.text


@pytest.mark.parametrize(
    ("offset", "corrupt_records"),
    [(0, 0), (FRAME, 0), (3 * FRAME, 1)],  # at the end it may be a damaged record: at least one counted
    ids=["before the first", "between", "at the end"],
)
def test_bytes_inserted_between_records_cost_no_record(tmp_path: Path, offset: int, corrupt_records: int) -> None:
    with open_spool(tmp_path) as spool:
        spool.append([record(i) for i in range(1, 4)])
    path = tmp_path / f"{1:020d}.seg"
    data = path.read_bytes()
    path.write_bytes(data[:offset] + b"\x01garbage" * 5 + data[offset:])

    with open_spool(tmp_path) as spool:
        assert numbers(read_all(spool)) == [1, 2, 3]
        assert (spool.stats.corrupt_records, spool.stats.corrupt_bytes) == (corrupt_records, 40)


def test_a_segment_with_a_gap_is_read_again_after_a_restart_and_deleted_once_acknowledged(tmp_path: Path) -> None:
    with open_spool(tmp_path, segment_bytes=6 * FRAME) as spool:
        append_each(spool, range(1, 10))  # segments of seqs 1-6, 7-9
    _flip_byte_at(FRAME + 40)(tmp_path / f"{1:020d}.seg")
    _flip_byte_at(3 * FRAME + 40)(tmp_path / f"{1:020d}.seg")

    with open_spool(tmp_path, segment_bytes=6 * FRAME) as spool, closing(reader_of(spool)) as reader:
        assert numbers(reader.read(max_records=2)) == [1, 3]
        ack_read(spool, reader)
    with open_spool(tmp_path, segment_bytes=6 * FRAME) as spool:
        assert spool.pending_records == 5 and spool.pending_bytes == 5 * FRAME
        assert numbers(read_all(spool)) == [5, 6, 7, 8, 9]
        spool.ack(5)
        spool.sync()
        assert segment_names(tmp_path) == [f"{1:020d}.seg", f"{7:020d}.seg"]  # seq 6 still needs the file
        spool.ack(6)
        spool.sync()
        assert segment_names(tmp_path) == [f"{7:020d}.seg"]
        assert spool.pending_bytes == 3 * FRAME


def test_damage_in_one_segment_spares_the_next(tmp_path: Path) -> None:
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        append_each(spool, range(1, 10))
    _truncate_to(FRAME + 40)(tmp_path / f"{1:020d}.seg")

    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        assert numbers(read_all(spool)) == [1, 4, 5, 6, 7, 8, 9]
        assert spool.pending_records == 7


def test_damage_in_an_acknowledged_record_costs_no_unacknowledged_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open_spool(tmp_path) as spool:
        append_each(spool, range(1, 6))
        spool.ack(2)
    _flip_byte_at(FRAME - 1)(tmp_path / f"{1:020d}.seg")  # value of seq 1

    with open_spool(tmp_path) as spool:
        assert numbers(read_all(spool)) == [3, 4, 5]
    (message,) = [r for r in caplog.records if r.name == "gateway.kafka.spool" and r.levelno >= logging.WARNING]
    assert message.levelno == logging.WARNING and "seq 1 lost (acknowledged already)" in message.message


def test_a_segment_without_one_verifiable_record_is_set_aside_not_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        append_each(spool, range(1, 7))  # segments of seqs 1-3, 4-6
    first = tmp_path / f"{1:020d}.seg"
    content = bytes(b ^ 0x55 for b in first.read_bytes())
    first.write_bytes(content)

    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        assert numbers(read_all(spool)) == [4, 5, 6]
        assert spool.append([record(7)]) == 7
    (aside,) = tmp_path.glob(f"{first.name}.damaged-*")
    assert aside.read_bytes() == content
    assert "holds no verifiable record; renamed" in caplog.text


def test_an_empty_segment_left_by_a_crash_is_removed(tmp_path: Path) -> None:
    with open_spool(tmp_path) as spool:
        append_each(spool, range(1, 3))
    (tmp_path / f"{3:020d}.seg").touch()

    with open_spool(tmp_path) as spool:
        assert segment_names(tmp_path) == [f"{1:020d}.seg"]
        assert numbers(read_all(spool)) == [1, 2]


def test_records_larger_than_a_read_chunk_are_recovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recovery reads in chunks; records cross chunk boundaries or exceed a whole chunk."""
    monkeypatch.setattr(spool_module, "SCAN_CHUNK_BYTES", 1000)
    sizes = [10, 900, 3000, 1, 999, 5000, 20]
    with open_spool(tmp_path) as spool:
        for i, size in enumerate(sizes):
            spool.append([record(i, size)])

    with open_spool(tmp_path) as spool:
        records = read_all(spool, max_bytes=2000)
        assert numbers(records) == list(range(len(sizes)))
        assert [len(r.record.value) for r in records] == [max(size, 8) for size in sizes]


# -- crashes of a real process ----------------------------------------------------------------------------------

_APPEND_THEN_SIGKILL = """
import os, signal, sys
from pathlib import Path
from gateway.kafka.records import KafkaRecord
from gateway.kafka.spool import Spool

spool = Spool(Path(sys.argv[1]), max_bytes=1 << 30, segment_bytes=int(sys.argv[3]), fsync="never")
for i in range(int(sys.argv[2])):
    spool.append([KafkaRecord("market-data-stream", b"EUR_USD", b"%08d" % i, "application/x-protobuf")])
os.kill(os.getpid(), signal.SIGKILL)
"""


def _append_in_a_process_that_sigkills_itself(directory: Path, count: int) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _APPEND_THEN_SIGKILL, str(directory), str(count), str(50 * FRAME)],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()


def test_kill_9_right_after_appends_loses_nothing(tmp_path: Path) -> None:
    _append_in_a_process_that_sigkills_itself(tmp_path, 500)

    with open_spool(tmp_path) as spool:
        records = read_all(spool)
        assert numbers(records) == list(range(500))
        assert [r.seq for r in records] == list(range(1, 501))
        assert (spool.stats.recovered_records, spool.stats.corrupt_bytes) == (500, 0)


def test_after_kill_9_seqs_continue_above_every_seq_handed_out(tmp_path: Path) -> None:
    """Records a power loss took may already be in Kafka: their seqs (and so ids) must not be reused."""
    _append_in_a_process_that_sigkills_itself(tmp_path, 10)
    with open_spool(tmp_path) as spool:
        first = spool.append([record(10)])

    assert first > 10
    assert [r.seq for r in read_spool_directory(tmp_path)][-2:] == [10, first]


# -- fsync policy -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "fsyncs_after_appends", "fsyncs_after_sync"),
    [("always", 3, 3), ("interval", 0, 1), ("never", 0, 0)],
)
def test_fsync_policy(tmp_path: Path, policy: str, fsyncs_after_appends: int, fsyncs_after_sync: int) -> None:
    with open_spool(tmp_path, fsync=policy, fsync_interval_ms=60_000) as spool:
        append_each(spool, range(3))
        assert spool.stats.fsyncs == fsyncs_after_appends
        spool.sync()
        assert spool.stats.fsyncs == fsyncs_after_sync
        spool.sync()
        assert spool.stats.fsyncs == fsyncs_after_sync  # nothing new to flush


def test_interval_policy_flushes_on_the_append_after_the_interval(tmp_path: Path) -> None:
    with open_spool(tmp_path, fsync="interval", fsync_interval_ms=0) as spool:
        append_each(spool, range(3))
        assert spool.stats.fsyncs == 3


def test_sync_and_close_persist_the_checkpoint(tmp_path: Path) -> None:
    with open_spool(tmp_path) as spool:
        append_each(spool, range(1, 5))
        spool.ack(1)
        spool.sync()
        assert (tmp_path / ACKED_FILE).read_bytes() == checkpoint_bytes(1)
        spool.ack(3)
    assert (tmp_path / ACKED_FILE).read_bytes() == checkpoint_bytes(3)


def test_the_checkpoint_is_overwritten_in_place_and_an_older_plain_one_is_still_read(tmp_path: Path) -> None:
    with open_spool(tmp_path) as spool:
        append_each(spool, range(1, 6))
        spool.ack(2)
        spool.sync()
        inode = (tmp_path / ACKED_FILE).stat().st_ino
        spool.ack(4)
        spool.sync()
        assert (tmp_path / ACKED_FILE).stat().st_ino == inode  # no temporary file renamed over it
        assert (tmp_path / ACKED_FILE).read_bytes() == checkpoint_bytes(4)
    assert sorted(path.name for path in tmp_path.iterdir() if not path.name.endswith(".seg")) == [ACKED_FILE, META_FILE]

    (tmp_path / ACKED_FILE).write_bytes(b"3\n")  # as spools written before 5 December 2026 hold it
    with open_spool(tmp_path) as spool:
        assert spool.acked_seq == 3
        assert numbers(read_all(spool)) == [4, 5]
        spool.ack(4)
    assert (tmp_path / ACKED_FILE).read_bytes() == checkpoint_bytes(4)

    (tmp_path / ACKED_FILE).write_bytes(b"9" * 1000)  # damage longer than a checkpoint: no tail of it is kept
    with open_spool(tmp_path) as spool:
        assert spool.acked_seq == 0  # ignored: every record in the segments is sent again
        assert numbers(read_all(spool)) == [1, 2, 3, 4, 5]
        spool.ack(5)
    assert (tmp_path / ACKED_FILE).read_bytes() == checkpoint_bytes(5)


def test_a_checkpoint_read_during_its_rewrite_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    old, new = checkpoint_bytes(12_345), checkpoint_bytes(12_400)
    torn = new[:17] + old[17:]  # what a read can catch while the owner's pwrite copies: the digits and CRC disagree
    assert spool_module._CHECKPOINT.fullmatch(torn)
    reads: list[bytes] = [torn, torn, new]
    real_open = open

    def open_in_turn(path: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if Path(str(path)).name == ACKED_FILE:
            return io.BytesIO(reads.pop(0))
        return real_open(path, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(spool_module, "open", open_in_turn, raising=False)
    with caplog.at_level(logging.WARNING):
        assert spool_module._read_checkpoint(tmp_path) == 12_400
        assert not reads and not caplog.records

        reads[:] = [torn] * spool_module._CHECKPOINT_READS  # a CRC that never agrees: damage, not a race
        assert spool_module._read_checkpoint(tmp_path) == 0
    assert not reads
    assert [record.levelno for record in caplog.records] == [logging.ERROR]
    assert "not a checkpoint of a seq from 0 to" in caplog.records[0].getMessage()


def test_a_reader_of_a_spool_in_use_sees_each_checkpoint_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    acks = 2000
    with open_spool(tmp_path) as spool:
        append_each(spool, range(1, acks + 2), value_bytes=8)

        def acknowledge() -> None:
            for seq in range(1, acks + 1):
                spool.ack(seq)
                spool.sync()  # writes the checkpoint every time

        writer = threading.Thread(target=acknowledge)
        seen = [spool_module._read_checkpoint(tmp_path)]
        writer.start()
        while writer.is_alive():
            seen.append(spool_module._read_checkpoint(tmp_path))
        writer.join()
    seen.append(spool_module._read_checkpoint(tmp_path))
    assert seen == sorted(seen) and seen[-1] == acks  # never a value mixed from two checkpoints
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_bytes": 0}, "must be positive"),
        ({"segment_bytes": 0}, "must be positive"),
        ({"fsync_interval_ms": -1}, "not negative"),
        ({"fsync": "sometimes"}, "fsync must be"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_spool(tmp_path, **options)


# -- reading a directory without opening it ---------------------------------------------------------------------


def test_read_spool_directory_on_a_live_spool(tmp_path: Path) -> None:
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        append_each(spool, range(1, 9))
        spool.ack(4)
        spool.sync()
        files_before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

        assert numbers(list(read_spool_directory(tmp_path))) == [5, 6, 7, 8]
        assert numbers(list(read_spool_directory(tmp_path, unacked_only=False))) == [4, 5, 6, 7, 8]
        assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == files_before

        with (tmp_path / f"{7:020d}.seg").open("ab") as newest:
            newest.write(b"\x80\x00\x00\x00")  # a write in progress in the newest segment: not an error
        assert numbers(list(read_spool_directory(tmp_path))) == [5, 6, 7, 8]


def test_read_spool_directory_checks_crcs_and_skips_a_damaged_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open_spool(tmp_path, segment_bytes=3 * FRAME) as spool:
        append_each(spool, range(1, 7))
    _flip_byte_at(FRAME + 50)(tmp_path / f"{1:020d}.seg")
    files_before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    assert numbers(list(read_spool_directory(tmp_path))) == [1, 3, 4, 5, 6]
    assert f"damaged record at offset {FRAME} of {1:020d}.seg (CRC mismatch in seq 2): seq 2 lost" in caplog.text
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == files_before
