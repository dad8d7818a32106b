"""A bounded, crash-safe, append-only spool on local disk for the records bound for Kafka (a write-ahead log).

Every record for Kafka is appended here first; the Kafka writer reads records in
order from the oldest unacknowledged one, sends them, and acknowledges them once
Kafka confirmed them; segments whose records are all acknowledged are deleted.
Delivery is at least once: a record Kafka received but whose acknowledgement was
not yet persisted is read again after a restart, with the same seq and so the
same id (``gateway.kafka.records``), and consumers drop it.

Durability: an append is one ``write`` of the whole batch, so once it returns the
records are in the OS page cache and survive a crash of the gateway (``kill -9``).
A crash of the machine loses what was not yet fsynced: nothing with fsync policy
``"always"``, up to ``fsync_interval_ms`` of appends with ``"interval"``. The
``acked`` checkpoint and segment deletions are not fsynced (the checkpoint is on
close): losing them only makes the next start send acknowledged records again.

Layout of the directory::

    meta                        JSON: format, epoch (ns, fixed at creation), reserved_seq
    acked                       checkpoint: the highest acknowledged seq, as decimal text
    00000000000000000001.seg    records 1, 2, 3, ... without gaps
    00000000000000004097.seg    the next segment, named after its first seq

A record is a 16-byte header ``<IIQ`` (payload length, CRC-32 of the seq's 8
bytes then the payload, seq) followed by the payload: topic (u16 length +
UTF-8), key (u32 length + bytes), content type (u16 length + UTF-8), value (u32
length + bytes); all little-endian.

Seqs are never reused within an epoch, even when a power loss takes records that
Kafka already has (otherwise a consumer would drop a new record as a duplicate
of a lost one): before handing out a seq above ``reserved_seq`` the spool raises
it by ``SEQ_RESERVE`` and writes ``meta`` durably, and a start after a crash
continues above it. Seqs can therefore jump after a crash; ids stay unique.

Errors (``gateway.errors`` is the root)::

    GatewayError
    └── SpoolError            the directory cannot be used: in use, unsupported format, unreadable
        ├── SpoolFullError    max_bytes of unacknowledged records reached (retriable)
        └── SpoolWriteError   the disk refused a write or fsync, e.g. ENOSPC (retriable)
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import struct
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, NoReturn

from gateway.clock import NS_PER_MS
from gateway.errors import DamagedRecordError, SpoolError, SpoolFullError, SpoolWriteError

logger = logging.getLogger(__name__)

FsyncPolicy = Literal["always", "interval", "never"]
RecordFields = tuple[str, bytes, bytes, str]
"""What :meth:`Spool.append` takes per record: topic, key, value, content type."""

DEFAULT_SEGMENT_BYTES: Final = 64 * 1024 * 1024
DEFAULT_FSYNC_INTERVAL_MS: Final = 200
DEFAULT_READ_MAX_RECORDS: Final = 1000
DEFAULT_READ_MAX_BYTES: Final = 1024 * 1024
CHECKPOINT_INTERVAL_MS: Final = 100
SEQ_RESERVE: Final = 1 << 20
FORMAT_VERSION: Final = 1
META_FILE: Final = "meta"
ACKED_FILE: Final = "acked"

_HEADER: Final = struct.Struct("<IIQ")
_SEQ: Final = struct.Struct("<Q")
_U16: Final = struct.Struct("<H")
_U32: Final = struct.Struct("<I")
_SEGMENT_NAME: Final = re.compile(r"([0-9]{20})\.seg")
_SCAN_CHUNK_BYTES = 4 * 1024 * 1024
_WALK_CHUNK_BYTES = 64 * 1024
_fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """A record read back from the spool; ``seq`` is unique within the spool's epoch."""

    seq: int
    topic: str
    key: bytes
    value: bytes
    content_type: str


@dataclass(slots=True)
class SpoolStats:
    """Counters since the spool was opened; ``fsyncs`` counts flushes of segment data."""

    appended_records: int = 0
    appended_bytes: int = 0
    rejected_records: int = 0
    recovered_records: int = 0
    truncated_bytes: int = 0
    fsyncs: int = 0
    segments_deleted: int = 0


@dataclass(slots=True, eq=False)  # compared by identity
class _Segment:
    """A segment file: records ``first_seq`` .. ``last_seq`` in its first ``size`` bytes."""

    first_seq: int
    path: Path
    size: int = 0
    count: int = 0

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.count - 1


class Spool:
    """An open spool directory; single-threaded, all methods synchronous (local-disk I/O).

    ``Spool(directory, max_bytes=...)`` creates the directory if needed, takes an
    exclusive lock on it (a second gateway on the same directory gets SpoolError)
    and recovers it: every segment is read and every unacknowledged record's CRC
    checked; a torn tail (a write cut short) or a corrupt record ends its segment,
    which is truncated there, counted in ``stats.truncated_bytes`` and logged.

    ``max_bytes`` bounds the unacknowledged records (their on-disk size); the disk
    holds at most one segment more, because segments are deleted whole.
    """

    __slots__ = (
        "_ack_offset",
        "_acked",
        "_checkpoint_ns",
        "_checkpoint_pending",
        "_closed",
        "_dir_fd",
        "_directory",
        "_durable",
        "_epoch",
        "_full",
        "_live_bytes",
        "_live_records",
        "_max_bytes",
        "_next_seq",
        "_read_fd",
        "_read_fd_segment",
        "_read_offset",
        "_read_segment",
        "_read_seq",
        "_reserved_seq",
        "_segment_bytes",
        "_segments",
        "_sync_interval_ns",
        "_synced_ns",
        "_unsynced",
        "_write_fd",
        "_writing",
        "stats",
    )

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: FsyncPolicy = "interval",
        fsync_interval_ms: int = DEFAULT_FSYNC_INTERVAL_MS,
    ) -> None:
        """Open (create or recover) the spool in ``directory``.

        ``fsync``: ``"always"`` flushes to disk after every append; ``"interval"``
        after an append at least ``fsync_interval_ms`` after the previous flush, and
        on :meth:`sync`; ``"never"`` leaves it to the OS. Raises ValueError for bad
        arguments and SpoolError when the directory cannot be opened.
        """
        if max_bytes <= 0 or segment_bytes <= 0 or fsync_interval_ms < 0:
            raise ValueError(
                f"spool {directory}: max_bytes ({max_bytes}) and segment_bytes ({segment_bytes}) must be positive, "
                f"fsync_interval_ms ({fsync_interval_ms}) not negative"
            )
        if fsync not in ("always", "interval", "never"):
            raise ValueError(f"spool {directory}: fsync must be 'always', 'interval' or 'never', not {fsync!r}")
        self._directory = directory
        self._max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._durable = fsync != "never"
        self._sync_interval_ns = {"always": 0, "interval": fsync_interval_ms * NS_PER_MS, "never": -1}[fsync]
        self.stats = SpoolStats()
        self._epoch = 0
        self._next_seq = 1
        self._reserved_seq = 0
        self._acked = 0
        self._segments: list[_Segment] = []
        self._writing: _Segment | None = None
        self._write_fd = -1
        self._read_fd = -1
        self._read_fd_segment: _Segment | None = None
        self._read_segment: _Segment | None = None
        self._read_offset = 0
        self._read_seq = 0
        self._ack_offset = 0
        self._live_bytes = 0
        self._live_records = 0
        self._unsynced = False
        self._synced_ns = time.monotonic_ns()
        self._checkpoint_ns = self._synced_ns
        self._checkpoint_pending = False
        self._full = False
        self._closed = False
        self._dir_fd = -1
        try:
            self._recover()
        except OSError as exc:
            self._close_fds()
            raise SpoolError(f"spool {directory}: cannot open: {exc}", directory=directory) from exc
        except BaseException:
            self._close_fds()
            raise

    # -- properties ----------------------------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def epoch(self) -> int:
        """Creation time of the spool directory in ns; record ids contain it, so a new spool never repeats one."""
        return self._epoch

    @property
    def next_seq(self) -> int:
        """The seq the next appended record gets."""
        return self._next_seq

    @property
    def acked_seq(self) -> int:
        """Every record up to this seq is acknowledged."""
        return self._acked

    @property
    def pending_records(self) -> int:
        """Records appended and not yet acknowledged."""
        if not self._segments:
            return 0
        first = self._segments[0]
        return self._live_records - min(max(self._acked - first.first_seq + 1, 0), first.count)

    @property
    def pending_bytes(self) -> int:
        """On-disk bytes of the unacknowledged records (headers included); what ``max_bytes`` bounds."""
        return self._live_bytes - self._ack_offset

    # -- writing -------------------------------------------------------------------------------------------------

    def append(self, records: Sequence[RecordFields]) -> int:
        """Store a batch of ``(topic, key, value, content_type)`` records with one write; return the first's seq.

        The records get consecutive seqs from the returned one. Either the whole
        batch is stored or none of it: raises SpoolFullError (counted in
        ``stats.rejected_records``) when it would take the unacknowledged records
        beyond ``max_bytes``, SpoolWriteError when the disk refuses it, and
        ValueError when a field is too long for the format (topic and content
        type 65,535 bytes, key and value 4 GiB).
        """
        self._check_open()
        first_seq = self._next_seq
        if not records:
            return first_seq
        try:
            encoded = [
                (_encode_fields(topic, key, content_type, len(value)), value)
                for topic, key, value, content_type in records
            ]
        except struct.error as exc:
            raise ValueError(f"spool {self._directory}: a record is too large for the spool format: {exc}") from exc
        size = _HEADER.size * len(encoded) + sum(len(fields) + len(value) for fields, value in encoded)
        pending = self.pending_bytes
        if pending + size > self._max_bytes:
            self._reject(len(records), size, pending)
        chunks: list[bytes] = []
        seq = first_seq
        for fields, value in encoded:
            crc = zlib.crc32(value, zlib.crc32(fields, zlib.crc32(_SEQ.pack(seq))))
            chunks += (_HEADER.pack(len(fields) + len(value), crc, seq), fields, value)
            seq += 1
        data = b"".join(chunks)
        try:
            if seq - 1 > self._reserved_seq:
                self._write_meta(seq - 1 + SEQ_RESERVE)
            segment = self._segment_for(len(data))
        except OSError as exc:
            raise self._write_error("cannot reserve seqs or create a segment", exc) from exc
        self._write(segment, data, len(records))
        self._next_seq = seq
        self.stats.appended_records += len(records)
        self.stats.appended_bytes += len(data)
        if self._full:
            self._full = False
            logger.info("spool %s: accepting records again", self._directory)
        return first_seq

    def sync(self) -> None:
        """Flush appended records to disk (except with policy ``"never"``) and persist the ack checkpoint.

        With policy ``"interval"`` the owner calls it from a timer, so records
        appended just before a pause do not wait for the next append to be flushed.
        Cheap when there is nothing to do. Raises SpoolWriteError.
        """
        self._check_open()
        try:
            if self._unsynced and self._durable:
                self._flush(self._write_fd)
            if self._checkpoint_pending:
                self._write_checkpoint(durable=False)
        except OSError as exc:
            raise self._write_error("cannot sync", exc, "what was appended is in the OS cache only") from exc

    def close(self) -> None:
        """Flush (per policy), persist the checkpoint and the seq reservation, release the directory. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._unsynced and self._durable:
                self._flush(self._write_fd)
            if self._checkpoint_pending:
                self._write_checkpoint(durable=self._durable)
            if self._reserved_seq != self._next_seq - 1:
                self._write_meta(self._next_seq - 1)  # nothing above was handed out: the next start continues here
        except OSError as exc:
            raise self._write_error("cannot close cleanly", exc, "the next start recovers") from exc
        finally:
            self._close_fds()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading and acknowledging -------------------------------------------------------------------------------

    def read(
        self, max_records: int = DEFAULT_READ_MAX_RECORDS, max_bytes: int = DEFAULT_READ_MAX_BYTES
    ) -> list[SpoolRecord]:
        """The next records after the read cursor, in seq order, advancing the cursor; ``[]`` when caught up.

        Returns at most ``max_records`` records of at most ``max_bytes`` on disk
        together, but always one record if any is there, however large. Records
        appended earlier in this process are visible at once. Raises SpoolError
        when a segment cannot be read.
        """
        self._check_open()
        records: list[SpoolRecord] = []
        segment = self._read_segment
        if segment is None:
            return records
        offset, seq, budget = self._read_offset, self._read_seq, max_bytes
        try:
            while len(records) < max_records and budget > 0:
                if offset == segment.size:
                    if segment is self._segments[-1]:
                        break
                    segment = self._segments[self._segments.index(segment) + 1]
                    offset, seq = 0, segment.first_seq
                    continue
                fd = self._reader_fd(segment)
                chunk = os.pread(fd, min(segment.size - offset, max(budget, _HEADER.size)), offset)
                if not records:
                    frame_size = _HEADER.size + _U32.unpack_from(chunk)[0]
                    if frame_size > len(chunk):  # one record larger than max_bytes: returned alone rather than never
                        chunk = os.pread(fd, frame_size, offset)
                used, seq = _decode_records(chunk, seq, records, max_records)
                if not used:
                    break
                offset += used
                budget -= used
        except (OSError, DamagedRecordError) as exc:
            raise SpoolError(
                f"spool {self._directory}: cannot read {segment.path} at offset {offset}: {exc}",
                directory=self._directory,
            ) from exc
        self._read_segment, self._read_offset, self._read_seq = segment, offset, seq
        return records

    def rewind(self) -> None:
        """Move the read cursor back to the first unacknowledged record (after a failed send, to resend in order)."""
        self._check_open()
        self._rewind()

    def ack(self, upto_seq: int) -> None:
        """Mark every record up to ``upto_seq`` delivered; delete the segments that hold only such records.

        The segment being written is never deleted. The checkpoint file is
        rewritten at most every CHECKPOINT_INTERVAL_MS (and by :meth:`sync` and
        :meth:`close`), without fsync: an ack is cheap, and a checkpoint lost in a
        crash only makes the next start send some acknowledged records again,
        which consumers drop by id. Acknowledging an older seq does nothing; a seq
        not yet appended raises ValueError. Raises SpoolError when a segment cannot
        be read, SpoolWriteError when the checkpoint cannot be written (the
        acknowledgement took effect; the checkpoint is retried).
        """
        self._check_open()
        if upto_seq <= self._acked:
            return
        if upto_seq >= self._next_seq:
            raise ValueError(
                f"spool {self._directory}: cannot acknowledge {upto_seq}, the last seq is {self._next_seq - 1}"
            )
        segments = self._segments
        done = 0
        while done < len(segments) and segments[done].last_seq <= upto_seq and segments[done] is not self._writing:
            done += 1
        ack_offset = self._ack_offset if done == 0 else 0
        if done < len(segments):
            first = segments[done]
            if self._read_segment is first and self._read_seq == upto_seq + 1:
                ack_offset = self._read_offset  # the usual case: everything read so far is acknowledged
            elif first.last_seq <= upto_seq:
                ack_offset = first.size
            elif first.first_seq <= upto_seq:
                start_seq = max(self._acked + 1, first.first_seq)
                ack_offset = self._offset_of(first, ack_offset, start_seq, upto_seq + 1)
        for segment in segments[:done]:
            self._delete(segment)
        del segments[:done]
        self._acked = upto_seq
        self._ack_offset = ack_offset
        if self._read_seq <= upto_seq + 1:
            self._rewind()
        self._checkpoint_pending = True
        if time.monotonic_ns() - self._checkpoint_ns >= CHECKPOINT_INTERVAL_MS * NS_PER_MS:
            try:
                self._write_checkpoint(durable=False)
            except OSError as exc:
                raise self._write_error(
                    "cannot write the ack checkpoint", exc, "the acknowledgement took effect; the checkpoint is retried"
                ) from exc

    # -- internals -----------------------------------------------------------------------------------------------

    def _recover(self) -> None:
        directory = self._directory
        created = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        self._dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self._dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise SpoolError(f"spool {directory} is in use by another process", directory=directory) from exc
        if created and self._durable:
            _fsync_directory(directory.parent)
        meta = _read_meta(directory)
        files = _segment_files(directory)
        acked = _read_checkpoint(directory)
        if files:
            acked = max(acked, files[0][0] - 1)  # segments are deleted only once wholly acknowledged
        highest = acked
        for first_seq, path in files:
            segment = self._recover_segment(first_seq, path, acked)
            if self._segments and segment.count and segment.first_seq <= self._segments[-1].last_seq:
                raise SpoolError(
                    f"spool {directory}: {path.name} overlaps {self._segments[-1].path.name}; "
                    "something other than the spool wrote to the directory",
                    directory=directory,
                )
            highest = max(highest, segment.last_seq)
            if segment.count and segment.last_seq > acked:
                self._segments.append(segment)
            else:
                os.unlink(path)
                self.stats.segments_deleted += 1
        if meta is None:
            if files:
                logger.error(
                    "spool %s: %s is missing or unreadable; a new epoch starts, so records sent before "
                    "the crash may reach Kafka twice under different ids",
                    directory,
                    META_FILE,
                )
            self._epoch, self._reserved_seq = time.time_ns(), 0
        else:
            self._epoch, self._reserved_seq = meta
        self._next_seq = max(highest, self._reserved_seq) + 1
        if meta is None:
            self._write_meta(self._next_seq - 1)
        self._acked = acked if self._segments else self._next_seq - 1
        self._live_bytes = sum(segment.size for segment in self._segments)
        self._live_records = sum(segment.count for segment in self._segments)
        if self._segments and self._segments[0].first_seq <= acked:
            first = self._segments[0]
            self._ack_offset = self._offset_of(first, 0, first.first_seq, acked + 1)
        self._rewind()
        self.stats.recovered_records = self.pending_records
        logger.info(
            "spool %s: opened (epoch %d): %d unacknowledged records (%d bytes) in %d segments, next seq %d",
            directory,
            self._epoch,
            self.pending_records,
            self.pending_bytes,
            len(self._segments),
            self._next_seq,
        )

    def _recover_segment(self, first_seq: int, path: Path, acked: int) -> _Segment:
        """Scan a segment left by an earlier run; cut it at the first torn or corrupt record."""
        segment = _Segment(first_seq, path)
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            for _seq, end, _buffer, _start, _end in _frames(fd, size, first_seq, verify_after=acked):
                segment.size = end
                segment.count += 1
        except DamagedRecordError as damage:
            self.stats.truncated_bytes += size - segment.size
            log = logger.warning if damage.torn else logger.error
            log(
                "spool %s: %s at offset %d of %s (%s); cut there, %d bytes discarded",
                self._directory,
                "record cut short (a write cut short by a crash, or a damaged length)"
                if damage.torn
                else "corrupt record",
                segment.size,
                path.name,
                damage,
                size - segment.size,
            )
            os.truncate(path, segment.size)
        finally:
            os.close(fd)
        return segment

    def _reject(self, count: int, size: int, pending: int) -> NoReturn:
        self.stats.rejected_records += count
        if not self._full:
            self._full = True
            logger.warning("spool %s: full (%d of %d bytes unacknowledged)", self._directory, pending, self._max_bytes)
        raise SpoolFullError(
            f"spool {self._directory} is full: {pending:,} bytes unacknowledged + {size:,} in this batch exceed "
            f"max_bytes={self._max_bytes:,}; the batch was not stored (Kafka is down or behind; appends succeed "
            "again as soon as acknowledged segments are deleted)",
            directory=self._directory,
        )

    def _segment_for(self, size: int) -> _Segment:
        """The segment to append ``size`` bytes to; rolls to a new one when the current is full."""
        segment = self._writing
        if segment is not None and (segment.size == 0 or segment.size + size <= self._segment_bytes):
            return segment
        if segment is not None:
            if self._unsynced and self._durable:
                self._flush(self._write_fd)  # sync() only flushes the segment being written
            self._close_writer()
        path = self._directory / f"{self._next_seq:020d}.seg"
        self._write_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        segment = self._writing = _Segment(self._next_seq, path)
        self._segments.append(segment)
        if self._read_segment is None:
            self._rewind()
        if self._durable:
            os.fsync(self._dir_fd)
        return segment

    def _write(self, segment: _Segment, data: bytes, count: int) -> None:
        """Append ``data`` (``count`` records) with one write, flush per policy; undo it all on failure."""
        fd = self._write_fd
        try:
            written = os.write(fd, data)
            while written < len(data):
                written += os.write(fd, memoryview(data)[written:])
            interval = self._sync_interval_ns
            if interval == 0 or (interval > 0 and time.monotonic_ns() - self._synced_ns >= interval):
                self._flush(fd)
            else:
                self._unsynced = True
        except OSError as exc:
            try:
                os.ftruncate(fd, segment.size)
            except OSError as truncate_exc:
                logger.error(
                    "spool %s: cannot cut a failed write from %s (%s); continuing in a new segment",
                    self._directory,
                    segment.path.name,
                    truncate_exc,
                )
                self._close_writer()
                self._next_seq += count  # those seqs may be in the abandoned file: never reuse them
            raise self._write_error(f"cannot write {segment.path.name}", exc) from exc
        segment.size += len(data)
        segment.count += count
        self._live_bytes += len(data)
        self._live_records += count

    def _flush(self, fd: int) -> None:
        _fdatasync(fd)
        self._unsynced = False
        self._synced_ns = time.monotonic_ns()
        self.stats.fsyncs += 1

    def _write_error(self, what: str, exc: OSError, consequence: str = "the batch was not stored") -> SpoolWriteError:
        return SpoolWriteError(
            f"spool {self._directory}: {what}: {exc.strerror or exc}; {consequence}", directory=self._directory
        )

    def _write_meta(self, reserved_seq: int) -> None:
        """Persist the epoch and the seq reservation durably, whatever the fsync policy (see the module docstring)."""
        meta = {"format": FORMAT_VERSION, "epoch": self._epoch, "reserved_seq": reserved_seq}
        _replace_file(self._directory / META_FILE, json.dumps(meta).encode(), self._dir_fd)
        self._reserved_seq = reserved_seq

    def _write_checkpoint(self, *, durable: bool) -> None:
        self._checkpoint_ns = time.monotonic_ns()
        _replace_file(self._directory / ACKED_FILE, b"%d\n" % self._acked, self._dir_fd if durable else None)
        self._checkpoint_pending = False

    def _delete(self, segment: _Segment) -> None:
        self._live_bytes -= segment.size
        self._live_records -= segment.count
        if segment is self._read_fd_segment:
            self._close_reader()
        try:
            os.unlink(segment.path)
        except OSError as exc:
            logger.warning("spool %s: cannot delete acknowledged %s: %s", self._directory, segment.path.name, exc)
        else:
            self.stats.segments_deleted += 1

    def _rewind(self) -> None:
        """Read cursor to the first unacknowledged record (``_ack_offset`` in the oldest segment)."""
        if self._segments:
            first = self._segments[0]
            self._read_segment, self._read_offset = first, self._ack_offset
            self._read_seq = max(self._acked + 1, first.first_seq)
        else:
            self._read_segment, self._read_offset, self._read_seq = None, 0, self._next_seq

    def _offset_of(self, segment: _Segment, offset: int, seq: int, target_seq: int) -> int:
        """Byte offset of record ``target_seq`` in ``segment``, walking headers from record ``seq`` at ``offset``."""
        fd = self._read_fd if segment is self._read_fd_segment else os.open(segment.path, os.O_RDONLY)
        try:
            while seq < target_seq:
                chunk = os.pread(fd, _WALK_CHUNK_BYTES, offset)
                pos = 0
                while seq < target_seq and pos + _HEADER.size <= len(chunk):
                    length, _crc, frame_seq = _HEADER.unpack_from(chunk, pos)
                    if frame_seq != seq:
                        raise SpoolError(
                            f"spool {self._directory}: {segment.path.name} holds seq {frame_seq} at offset "
                            f"{offset + pos} where {seq} was written",
                            directory=self._directory,
                        )
                    pos += _HEADER.size + length
                    seq += 1
                if not pos:
                    raise SpoolError(
                        f"spool {self._directory}: {segment.path.name} ends before seq {target_seq}",
                        directory=self._directory,
                    )
                offset += pos
        except OSError as exc:
            raise SpoolError(
                f"spool {self._directory}: cannot read {segment.path}: {exc}", directory=self._directory
            ) from exc
        finally:
            if segment is not self._read_fd_segment:
                os.close(fd)
        return offset

    def _reader_fd(self, segment: _Segment) -> int:
        """The read handle of ``segment``; one is kept open, for the segment being read."""
        if segment is not self._read_fd_segment:
            self._close_reader()
            self._read_fd = os.open(segment.path, os.O_RDONLY)
            self._read_fd_segment = segment
        return self._read_fd

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"spool {self._directory} is closed")

    def _close_reader(self) -> None:
        if self._read_fd >= 0:
            os.close(self._read_fd)
        self._read_fd, self._read_fd_segment = -1, None

    def _close_writer(self) -> None:
        if self._write_fd >= 0:
            os.close(self._write_fd)
        self._write_fd, self._writing = -1, None

    def _close_fds(self) -> None:
        self._close_reader()
        self._close_writer()
        if self._dir_fd >= 0:
            os.close(self._dir_fd)  # releases the lock
            self._dir_fd = -1


# -- reading a spool directory without opening it --------------------------------------------------------------


def read_spool_directory(directory: Path, *, unacked_only: bool = True) -> Iterator[SpoolRecord]:
    """Yield the records of a spool directory in seq order, without modifying it (for replay tools).

    Works on a spool in use by a gateway. With ``unacked_only`` it skips what the
    ``acked`` checkpoint covers; the checkpoint may be up to CHECKPOINT_INTERVAL_MS
    behind, so some delivered records can appear. Every yielded record's CRC is
    checked; a damaged record ends its segment with a warning, except an
    incomplete one at the end of the newest segment, which is a write in progress.
    Raises SpoolError for an unsupported format, OSError when the directory cannot be read.
    """
    _read_meta(directory)
    files = _segment_files(directory)
    acked = 0
    if unacked_only:
        acked = _read_checkpoint(directory)
        if files:
            acked = max(acked, files[0][0] - 1)
    for index, (first_seq, path) in enumerate(files):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # acknowledged and deleted since the listing
        good_end = 0
        try:
            for seq, end, buffer, start, frame_end in _frames(fd, os.fstat(fd).st_size, first_seq, verify_after=acked):
                if seq > acked:
                    yield _decode_payload(buffer, start, frame_end, seq)
                good_end = end
        except DamagedRecordError as damage:
            if not (damage.torn and index == len(files) - 1):
                logger.warning(
                    "spool %s: damaged record at offset %d of %s (%s); the rest of the file is skipped",
                    directory,
                    good_end,
                    path.name,
                    damage,
                )
        finally:
            os.close(fd)


def read_spool_epoch(directory: Path) -> int:
    """The epoch of a spool directory (for the ids of replayed records); SpoolError if it has no readable meta."""
    meta = _read_meta(directory)
    if meta is None:
        raise SpoolError(f"spool {directory}: no readable {META_FILE} file", directory=directory)
    return meta[0]


# -- format helpers --------------------------------------------------------------------------------------------


def _encode_fields(topic: str, key: bytes, content_type: str, value_length: int) -> bytes:
    """The payload up to the value's bytes; raises struct.error when a length does not fit its prefix."""
    topic_bytes = topic.encode()
    type_bytes = content_type.encode()
    return b"".join(
        (
            _U16.pack(len(topic_bytes)),
            topic_bytes,
            _U32.pack(len(key)),
            key,
            _U16.pack(len(type_bytes)),
            type_bytes,
            _U32.pack(value_length),
        )
    )


def _decode_records(buffer: bytes, seq: int, out: list[SpoolRecord], limit: int) -> tuple[int, int]:
    """Decode the whole records at the start of ``buffer`` (``seq`` first) into ``out`` until it holds ``limit``.

    Returns the bytes used and the next seq. CRCs are not checked: the records
    were checked when the spool was opened, or written by this process.
    """
    pos = 0
    size = len(buffer)
    while len(out) < limit and pos + _HEADER.size <= size:
        length, _crc, frame_seq = _HEADER.unpack_from(buffer, pos)
        end = pos + _HEADER.size + length
        if end > size:
            break
        if frame_seq != seq:
            raise DamagedRecordError(f"seq {frame_seq} where {seq} was written")
        out.append(_decode_payload(buffer, pos + _HEADER.size, end, seq))
        pos = end
        seq += 1
    return pos, seq


def _decode_payload(buffer: bytes, start: int, end: int, seq: int) -> SpoolRecord:
    try:
        (length,) = _U16.unpack_from(buffer, start)
        pos = start + 2 + length
        topic = buffer[start + 2 : pos].decode()
        (length,) = _U32.unpack_from(buffer, pos)
        key = buffer[pos + 4 : pos + 4 + length]
        pos += 4 + length
        (length,) = _U16.unpack_from(buffer, pos)
        content_type = buffer[pos + 2 : pos + 2 + length].decode()
        pos += 2 + length
        (length,) = _U32.unpack_from(buffer, pos)
        pos += 4
    except (struct.error, UnicodeDecodeError) as exc:
        raise DamagedRecordError(f"undecodable payload of seq {seq}: {exc}") from exc
    if pos + length != end:
        raise DamagedRecordError(f"payload of seq {seq} does not fill its record")
    return SpoolRecord(seq, topic, key, buffer[pos:end], content_type)


def _frames(fd: int, size: int, first_seq: int, *, verify_after: int) -> Iterator[tuple[int, int, bytes, int, int]]:
    """Yield ``(seq, end offset, buffer, payload start, payload end)`` for each record of a segment file.

    Reads the first ``size`` bytes in large chunks. Records up to ``verify_after``
    are acknowledged: only their framing is checked, so a flipped bit in one does
    not cost the records after it. Raises DamagedRecordError at the first record that
    is cut short, out of sequence or fails its CRC.
    """
    buffer = b""
    view = memoryview(buffer)
    base = 0  # file offset of buffer[0]
    offset = 0
    seq = first_seq
    while offset < size:
        pos = offset - base
        if pos + _HEADER.size > len(buffer):
            buffer = os.pread(fd, min(_SCAN_CHUNK_BYTES, size - offset), offset)
            view, base, pos = memoryview(buffer), offset, 0
            if len(buffer) < _HEADER.size:
                raise DamagedRecordError("record header cut short", torn=True)
        length, crc, frame_seq = _HEADER.unpack_from(buffer, pos)
        if frame_seq != seq:
            raise DamagedRecordError(f"seq {frame_seq} where {seq} was expected")
        end = pos + _HEADER.size + length
        if base + end > size:
            raise DamagedRecordError(f"record of {length} bytes runs past the end of the file", torn=True)
        if end > len(buffer):
            buffer = os.pread(fd, min(max(_SCAN_CHUNK_BYTES, end - pos), size - offset), offset)
            view, base, pos, end = memoryview(buffer), offset, 0, end - pos
            if len(buffer) < end:
                raise DamagedRecordError(f"record of {length} bytes cut short", torn=True)
        if seq > verify_after and zlib.crc32(view[pos + _HEADER.size : end], zlib.crc32(_SEQ.pack(seq))) != crc:
            raise DamagedRecordError(f"CRC mismatch in seq {seq}")
        offset = base + end
        yield seq, offset, buffer, pos + _HEADER.size, end
        seq += 1


def _segment_files(directory: Path) -> list[tuple[int, Path]]:
    """``(first seq, path)`` of every segment file, oldest first."""
    files = []
    for path in directory.iterdir():
        match = _SEGMENT_NAME.fullmatch(path.name)
        if match:
            files.append((int(match.group(1)), path))
    return sorted(files)


def _read_meta(directory: Path) -> tuple[int, int] | None:
    """``(epoch, reserved_seq)``, or None when the file is absent or unreadable; SpoolError for another format."""
    path = directory / META_FILE
    try:
        meta = json.loads(path.read_bytes())
        version, epoch, reserved_seq = meta["format"], int(meta["epoch"]), int(meta["reserved_seq"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        logger.error("spool %s: %s is unreadable (%r)", directory, path.name, exc)
        return None
    if version != FORMAT_VERSION:
        raise SpoolError(
            f"spool {directory}: format {version!r} is not supported (this gateway writes {FORMAT_VERSION})",
            directory=directory,
        )
    return epoch, reserved_seq


def _read_checkpoint(directory: Path) -> int:
    """The ``acked`` checkpoint; 0 when absent or unreadable (a power loss can leave it empty; callers bound it)."""
    try:
        return int((directory / ACKED_FILE).read_bytes())
    except FileNotFoundError:
        return 0
    except ValueError:
        logger.warning("spool %s: %s is unreadable; acknowledged records may be sent again", directory, ACKED_FILE)
        return 0


def _replace_file(path: Path, data: bytes, dir_fd: int | None) -> None:
    """Atomically replace ``path`` with ``data`` (temp file + rename); durably when given the directory's fd."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        if dir_fd is not None:
            file.flush()
            os.fsync(file.fileno())
    os.replace(temporary, path)
    if dir_fd is not None:
        os.fsync(dir_fd)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
