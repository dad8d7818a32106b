"""A bounded, crash-safe, append-only spool on local disk for the records bound for Kafka (a write-ahead log).

Every record for Kafka is appended here first (:class:`Spool`, in the gateway, which owns the directory); the
Kafka writer, a process of its own, reads them in order from the oldest unacknowledged one
(:class:`SpoolReader`, read-only, from the :meth:`Spool.layout` it was started with), sends them, and reports
what Kafka confirmed; the gateway acknowledges that in the spool, which deletes segments whose records are all
acknowledged.
Delivery is at least once: a record Kafka received but whose acknowledgement was
not yet persisted is read again after a restart, with the same seq and so the
same id (``gateway.wire.kafka_record_id``), and consumers drop it.

Durability: an append is one ``write`` of the whole batch, so once it returns the
records are in the OS page cache and survive a crash of the gateway (``kill -9``).
A crash of the machine loses what was not yet fsynced: nothing with fsync policy
``"always"``, up to ``fsync_interval_ms`` of appends with ``"interval"``. The
``acked`` checkpoint and segment deletions are not fsynced (the checkpoint is on
close): losing them only makes the next start send acknowledged records again.
The checkpoint is written through a temporary file and a rename once per open
(so a reader never finds it empty), then overwritten in place: one ``pwrite`` of
29 bytes takes about 2 us, a rename about 200 us on ext4, and it runs on the
event loop every CHECKPOINT_INTERVAL_MS while Kafka acknowledges. Its CRC tells
a read that raced a write, or a torn page, from a checkpoint.

Layout of the directory::

    meta                        JSON: format, epoch (ns, fixed at creation), reserved_seq
    acked                       checkpoint: the highest acknowledged seq as 19 decimal digits, a space, the
                                CRC-32 of those digits as 8 lowercase hex digits, a newline (a spool written
                                before 5 December 2026 holds the seq alone, as decimal text: still read)
    00000000000000000001.seg    records 1, 2, 3, ... without gaps
    00000000000000004097.seg    the next segment, named after its first seq

A record is a 16-byte header ``<IIQ`` (payload length, CRC-32 of the seq's 8
bytes then the payload, seq) followed by the payload: topic (u16 length +
UTF-8), key (u32 length + bytes), content type (u16 length + UTF-8), value (u32
length + bytes); all little-endian. The CRC-32 is zlib's (the same values), computed by ISA-L
(``isal``): 1.6 us for a 90 KB publish cycle against zlib's 21 us, on the event loop for every append and in
the writer for every record read.

Seqs are never reused within an epoch, even when a power loss takes records that
Kafka already has (otherwise a consumer would drop a new record as a duplicate
of a lost one): before handing out a seq above ``reserved_seq`` the spool raises
it by ``SEQ_RESERVE`` and writes ``meta`` durably, and a start after a crash
continues above it. Seqs can therefore jump after a crash; ids stay unique.

The spool trusts none of its own files blindly; each finding is logged with the
file (README, "Kafka backup, spool and replay", says what each costs):

- every number read is checked for type and range (``meta``: format, epoch,
  reserved_seq up to MAX_RESERVED_SEQ; ``acked`` and segment names up to
  MAX_SEQ). An invalid ``meta`` is treated like a lost one: a new epoch starts.
  A segment file with an invalid name is ignored and kept.
- ``acked`` is cross-checked with the segments: one above every seq they hold
  is impossible, so the segments win and every record in them is kept (and sent
  again: consumers drop repeats by id). Nothing is deleted on the word of ``acked`` alone.
- every record's CRC is checked when a segment is scanned (on open, and by
  :func:`read_spool_directory`). A damaged record is skipped and scanning
  resumes at the next record whose header verifies (:func:`_resync`), so one
  flipped byte costs one record. A torn tail (the last record cut short, as a
  crash leaves it) is cut off the file; other damaged bytes stay in it, skipped,
  and a file without one verifiable record is renamed aside. Seqs therefore have
  gaps where records were lost; a segment file with a gap is kept as several
  parts (``_Segment.start``), never rewritten.

Errors (``gateway.errors`` is the root)::

    GatewayError
    └── SpoolError            the directory cannot be used: in use, unsupported format, unreadable;
        │                     or the seqs are exhausted (only files claiming seqs near MAX_SEQ do that)
        ├── SpoolFullError    max_bytes of unacknowledged records reached (retriable)
        └── SpoolWriteError   the disk refused a write or fsync, e.g. ENOSPC (retriable)
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import re
import reprlib
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, NoReturn

from isal.isal_zlib import crc32

from gateway.clock import NS_PER_MS
from gateway.errors import DamagedRecordError, SpoolError, SpoolFullError, SpoolWriteError
from gateway.kafka.records import KafkaRecord

logger = logging.getLogger(__name__)

FsyncPolicy = Literal["always", "interval", "never"]

DEFAULT_SEGMENT_BYTES: Final = 64 * 1024 * 1024
DEFAULT_FSYNC_INTERVAL_MS: Final = 200
DEFAULT_READ_MAX_RECORDS: Final = 1000
DEFAULT_READ_MAX_BYTES: Final = 1024 * 1024
CHECKPOINT_INTERVAL_MS: Final = 100
SEQ_RESERVE: Final = 1 << 20
FORMAT_VERSION: Final = 1
META_FILE: Final = "meta"
ACKED_FILE: Final = "acked"
MAX_SEQ: Final = 2**63 - 1
"""The highest seq the spool hands out or accepts in a segment name or ``acked``: seqs (and epochs) stay within a
signed 64-bit integer, which every consumer of the ids can parse."""
MAX_RESERVED_SEQ: Final = 2**62
"""The highest ``reserved_seq`` accepted in ``meta``. It leaves 2**62 seqs to hand out (14,000 years at 10 million
records/s), so a larger one is damage; refusing it costs a new epoch, trusting it could exhaust the seqs."""
META_MAX_BYTES: Final = 4096
"""A ``meta`` file is about 80 bytes; a larger one is damage and is not read whole."""
RESYNC_SEQS: Final = 256
"""After a damaged record, scanning resumes at the first verified header of one of the next RESYNC_SEQS seqs. A lost
4 KiB disk page holds at most 146 of the smallest records (28 bytes). Searching a range costs no more than searching
one seq (one regular expression pass: about 1 s per 64 MB segment when nothing is found, plus ~1.5 us for each
8-byte field in the values that looks like one of the seqs); at most 256 keeps the expression to two alternatives
of a byte class and 7 literal bytes (:func:`_seq_pattern`)."""

_HEADER: Final = struct.Struct("<IIQ")
_SEQ: Final = struct.Struct("<Q")
_U16: Final = struct.Struct("<H")
_U32: Final = struct.Struct("<I")
_SEGMENT_NAME: Final = re.compile(r"([0-9]{20})\.seg")
_CHECKPOINT: Final = re.compile(rb"([0-9]{19}) ([0-9a-f]{8})\n")
_PLAIN_CHECKPOINT: Final = re.compile(rb"[0-9]{1,19}\n?")
"""The checkpoint as spools written before 5 December 2026 hold it (replaced through a temporary file)."""
_CHECKPOINT_MAX_BYTES: Final = 64
_CHECKPOINT_READS: Final = 3
"""Reads of a checkpoint whose CRC fails before it is judged damaged: a reader of a spool in use
(:func:`read_spool_directory`) can catch the owner's ``pwrite`` half done."""
_MAX_U64: Final = 2**64 - 1
_SEQ_AT: Final = 8  # offset of the seq in a header
_MAX_EPOCH: Final = 2**63 - 1  # ns; in ids, which consumers parse as signed 64-bit integers
_Frame = tuple[int, int, int, bytes, int, int]
SCAN_CHUNK_BYTES = 4 * 1024 * 1024
"""Bytes read at once when a whole segment is checked (opening a spool, read_spool_directory); a larger record
is read whole."""
_WALK_CHUNK_BYTES = 64 * 1024
_fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """A record read back from the spool: the record as appended, under its ``seq`` (unique within the epoch)."""

    seq: int
    record: KafkaRecord


@dataclass(slots=True)
class SpoolStats:
    """Counters since the spool was opened; ``fsyncs`` counts flushes of segment data (inline or handed to a
    thread); ``segments_deleted`` the acknowledged segment files deleted or handed to a thread to delete.

    ``corrupt_records`` and ``corrupt_bytes`` are what opening found damaged: the seqs missing between two verified
    records, plus one record for each damaged file end (how many records it held is unknown), and the bytes
    skipped or cut off; acknowledged records included (the log says whether anything undelivered was lost).
    """

    appended_records: int = 0
    appended_bytes: int = 0
    rejected_records: int = 0
    recovered_records: int = 0
    corrupt_records: int = 0
    corrupt_bytes: int = 0
    fsyncs: int = 0
    segments_deleted: int = 0


@dataclass(slots=True, eq=False)  # compared by identity
class _Segment:
    """Records ``first_seq`` .. ``last_seq``, without gaps, in bytes ``start`` .. ``size`` of a segment file.

    A file is one segment, or several parts when damaged records left gaps in it (only files found when opening);
    the parts of a file are consecutive in ``Spool._segments`` and the file is deleted with its last part.
    """

    first_seq: int
    path: Path
    start: int = 0
    size: int = 0
    count: int = 0

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.count - 1


@dataclass(frozen=True, slots=True)
class _Damage:
    """Bytes ``offset`` .. ``resume`` of a segment file that hold no verifiable record (found by :func:`_frames`).

    ``lost_seq`` is the seq expected at ``offset``; ``resume_seq`` the seq of the verified record at ``resume``, or
    None when nothing verifiable follows (``resume`` is then the file's size). ``torn``: such a tail is a record
    cut short (a write cut short by a crash), not corrupted bytes.
    """

    offset: int
    resume: int
    lost_seq: int
    resume_seq: int | None
    reason: str
    torn: bool

    @property
    def lost_records(self) -> int:
        """Records lost: the seqs skipped (0 for bytes inserted between records); 1 for a tail (at least one)."""
        return 1 if self.resume_seq is None else self.resume_seq - self.lost_seq


class Spool:
    """An open spool directory; single-threaded, all methods synchronous (local-disk I/O).

    ``Spool(directory, max_bytes=...)`` creates the directory if needed, takes an
    exclusive lock on it (a second gateway on the same directory gets SpoolError)
    and recovers it: every number in ``meta`` and ``acked`` is checked, every
    segment read and every record's CRC checked; a damaged record is skipped
    (scanning resumes at the next verifiable one), a torn tail is cut off; both
    are counted in ``stats.corrupt_records`` and ``stats.corrupt_bytes`` and
    logged with file, offset and the seqs lost (see the module docstring).

    ``max_bytes`` bounds the unacknowledged records (their on-disk size); the disk
    holds at most one segment more, because segments are deleted whole, and the
    segments acknowledged since the last sync (:meth:`sync`, :meth:`begin_sync`).
    """

    __slots__ = (
        "_ack_offset",
        "_acked",
        "_acked_fd",
        "_checkpoint_ns",
        "_checkpoint_pending",
        "_closed",
        "_deletable",
        "_dir_fd",
        "_dir_unsynced",
        "_directory",
        "_durable",
        "_epoch",
        "_full",
        "_live_bytes",
        "_live_records",
        "_max_bytes",
        "_next_seq",
        "_reserved_seq",
        "_rolled_fds",
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
        arguments and SpoolError when the directory cannot be opened (in use, of
        another format, unreadable, or two segments claim the same seqs); damaged
        contents are logged and recovered from, not raised.
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
        self._ack_offset = 0
        self._live_bytes = 0
        self._live_records = 0
        self._unsynced = False
        self._rolled_fds: list[int] = []
        """Segments rolled over before their appends were flushed ("interval"): flushed by the next sync, closed."""
        self._dir_unsynced = False
        """A segment file was created since the directory was last flushed ("interval")."""
        self._deletable: list[Path] = []
        """Acknowledged segment files not deleted yet: the next sync deletes them."""
        self._synced_ns = time.monotonic_ns()
        self._checkpoint_ns = self._synced_ns
        self._checkpoint_pending = False
        self._full = False
        self._closed = False
        self._dir_fd = -1
        self._acked_fd = -1
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
    def full(self) -> bool:
        """A batch was refused for want of space, and nothing has been acknowledged since.

        Held until an acknowledgement rather than cleared by the next append that fits: near ``max_bytes`` a small
        batch fits where a large one did not, and the state (and its log lines) would flap with the batch sizes."""
        return self._full

    @property
    def pending_bytes(self) -> int:
        """On-disk bytes of the unacknowledged records (headers included); what ``max_bytes`` bounds."""
        segments = self._segments
        return self._live_bytes - self._ack_offset + segments[0].start if segments else 0

    # -- writing -------------------------------------------------------------------------------------------------

    def append(self, records: Sequence[KafkaRecord]) -> int:
        """Store a batch of records with one write; return the first one's seq.

        The records get consecutive seqs from the returned one. Either the whole
        batch is stored or none of it: raises SpoolFullError (counted in
        ``stats.rejected_records``) when it would take the unacknowledged records
        beyond ``max_bytes``, SpoolWriteError when the disk refuses it, SpoolError
        when it would need a seq above MAX_SEQ (only reachable from files that
        claim seqs near it), and ValueError when a field is too long for the format
        (topic and content type 65,535 bytes, key and value 4 GiB).
        """
        self._check_open()
        first_seq = self._next_seq
        if not records:
            return first_seq
        try:
            encoded = [
                (_encode_fields(record.topic, record.key, record.content_type, len(record.value)), record.value)
                for record in records
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
            crc = crc32(value, crc32(fields, _seq_crc(seq)))
            chunks += (_HEADER.pack(len(fields) + len(value), crc, seq), fields, value)
            seq += 1
        data = b"".join(chunks)
        try:
            if seq - 1 > self._reserved_seq:
                self._reserve(seq - 1)
            segment = self._segment_for(len(data))
        except OSError as exc:
            raise self._write_error("cannot reserve seqs or create a segment", exc) from exc
        self._write(segment, data, len(records))
        self._next_seq = seq
        self.stats.appended_records += len(records)
        self.stats.appended_bytes += len(data)
        return first_seq

    def sync(self) -> None:
        """Flush appended records to disk (except with policy ``"never"``) and persist the ack checkpoint.

        With policy ``"interval"`` the owner calls it from a timer, so records
        appended just before a pause do not wait for the next append to be flushed.
        Also deletes the acknowledged segment files (after the checkpoint that says so): :meth:`begin_sync` and
        :func:`finish_sync` inline. Cheap when there is nothing to do. Raises SpoolWriteError.
        """
        work = self.begin_sync()
        if work is not None:
            finish_sync(self._directory, work)

    def begin_sync(self) -> SyncWork | None:
        """:meth:`sync` with the disk work left to the caller, to run off the event loop.

        Persists the ack checkpoint and returns what waits for the disk (None when nothing does), for
        :func:`finish_sync` in a thread: the flush of appends (a duplicate of the segment's descriptor, and the
        segments rolled over and the directory since the last flush), and the acknowledged segment files to
        delete. On the event loop each of these held up every tick behind it: flushing 12 MB (200 ms of appends
        at 600,000 ticks/s) took 8-10 ms at a rollover, and deleting a 64 MB segment 7-12 ms (freeing its pages).
        The flush counts from now: an append flushes inline only once ``fsync_interval_ms`` have passed since, so
        a late timer never stretches what a power loss can take. Raises SpoolWriteError.
        """
        self._check_open()
        flush = self._unsynced and self._durable
        segment_fd = dir_fd = -1
        try:
            if self._checkpoint_pending:
                self._write_checkpoint(durable=False)
            if flush and self._write_fd >= 0:
                segment_fd = os.dup(self._write_fd)
            if flush and self._dir_unsynced:
                dir_fd = os.dup(self._dir_fd)
        except OSError as exc:
            if segment_fd >= 0:
                os.close(segment_fd)
            raise self._write_error("cannot sync", exc, "what was appended is in the OS cache only") from exc
        flush_fds, self._rolled_fds = self._rolled_fds, []
        if segment_fd >= 0:
            flush_fds.append(segment_fd)
        if flush:
            self._dir_unsynced = False
            self._synced()
        work = SyncWork(tuple(flush_fds), dir_fd, self._take_deletable())
        return work if work.flush_fds or work.dir_fd >= 0 or work.delete else None

    def close(self) -> None:
        """Flush (per policy), persist the checkpoint and the seq reservation, release the directory. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._unsynced and self._durable:
                self._flush()
            if self._checkpoint_pending:
                self._write_checkpoint(durable=self._durable)
            if self._reserved_seq != self._next_seq - 1:
                self._write_meta(self._next_seq - 1)  # nothing above was handed out: the next start continues here
            _delete_files(self._directory, self._take_deletable())  # while the directory is still locked
        except OSError as exc:
            raise self._write_error("cannot close cleanly", exc, "the next start recovers") from exc
        finally:
            self._close_fds()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- handing over to the reader, acknowledging ----------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """The seq of the newest record in the spool, or the highest acknowledged one when it holds none."""
        return self._segments[-1].last_seq if self._segments else self._acked

    def layout(self) -> SpoolLayout:
        """Where the unacknowledged records are, for a :class:`SpoolReader` in another process to read them from."""
        self._check_open()
        segments = self._segments
        parts = [SpoolPart(str(segment.path), segment.first_seq, segment.start, segment.size) for segment in segments]
        if parts:
            first = parts[0]
            parts[0] = SpoolPart(first.path, max(self._acked + 1, first.first_seq), self._ack_offset, first.size)
        return SpoolLayout(
            str(self._directory), self._acked + 1, parts, open_last=bool(segments) and segments[-1] is self._writing
        )

    def ack(self, upto_seq: int, end_offset: int | None = None) -> None:
        """Mark every record up to ``upto_seq`` delivered; delete the segments that hold only such records.

        ``end_offset``: where record ``upto_seq`` ends in its segment file, as the reader found it
        (:meth:`SpoolReader.acknowledge`); checked against the record header there, and found by walking the
        headers when absent or wrong.

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
        ack_offset = 0
        if done < len(segments):
            first = segments[done]
            ack_offset = self._ack_offset if done == 0 else first.start
            if first.last_seq <= upto_seq:
                ack_offset = first.size
            elif first.first_seq <= upto_seq:
                ack_offset = self._end_of(first, ack_offset, upto_seq, end_offset)
        for index in range(done):
            segment = segments[index]
            self._delete(segment, last_part=index + 1 == len(segments) or segments[index + 1].path != segment.path)
        del segments[:done]
        self._acked = upto_seq
        self._ack_offset = ack_offset
        if self._full:
            self._full = False
            logger.info("spool %s: acknowledgements free space; accepting records again", self._directory)
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
        """Lock the directory and rebuild the state from its files, trusting none of them blindly (module docstring)."""
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
        files = _segment_files(directory)
        meta = self._recover_meta(bool(files))
        scanned = [self._scan_segment(first_seq, path) for first_seq, path in files]
        parts = [part for file_parts, _damages in scanned for part in file_parts]
        for previous, part in itertools.pairwise(parts):
            if part.first_seq <= previous.last_seq:
                raise SpoolError(
                    f"spool {directory}: {part.path.name} holds seq {part.first_seq}, already in "
                    f"{previous.path.name}; something other than the spool wrote to the directory",
                    directory=directory,
                )
        acked = _read_checkpoint(directory)
        if parts:
            acked = _checked_checkpoint(directory, acked, files[0][0], parts[-1].last_seq)
        for (_first_seq, path), (file_parts, damages) in zip(files, scanned, strict=True):
            for damage in damages:
                self.stats.corrupt_records += damage.lost_records
                self.stats.corrupt_bytes += damage.resume - damage.offset
                _log_damage(directory, path, damage, acked, newest=path == files[-1][1], cut=damage.torn)
            kept = [part for part in file_parts if part.last_seq > acked]
            if kept:
                self._segments += kept
            elif file_parts or all(damage.torn for damage in damages):
                os.unlink(path)  # empty, or every verifiable record in it acknowledged
                self.stats.segments_deleted += 1
            else:
                self._set_aside(path)
        if meta is None:
            self._epoch, self._reserved_seq = time.time_ns(), 0
        else:
            self._epoch, self._reserved_seq = meta
        self._next_seq = max(parts[-1].last_seq if parts else 0, self._reserved_seq) + 1
        if meta is None:
            self._write_meta(self._next_seq - 1)
        self._acked = acked if self._segments else self._next_seq - 1
        self._live_bytes = sum(segment.size - segment.start for segment in self._segments)
        self._live_records = sum(segment.count for segment in self._segments)
        if self._segments:
            first = self._segments[0]
            self._ack_offset = (
                self._offset_of(first, first.start, first.first_seq, acked + 1)
                if first.first_seq <= acked
                else first.start
            )
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

    def _recover_meta(self, has_segments: bool) -> tuple[int, int] | None:
        """``(epoch, reserved_seq)`` from ``meta``; None (logged when records may be affected) to start a new epoch."""
        try:
            return _read_meta(self._directory)
        except FileNotFoundError:
            if not has_segments:
                return None  # a new spool
            reason = "is missing"
        except ValueError as exc:
            reason = f"is invalid ({exc})"
        logger.error(
            "spool %s: %s %s; a new epoch starts%s",
            self._directory,
            META_FILE,
            reason,
            ", so records sent before may reach Kafka again under new ids" if has_segments else "",
        )
        return None

    def _set_aside(self, path: Path) -> None:
        """Rename a segment file without one verifiable record out of the spool's way (a new segment may need its
        name), keeping it for inspection."""
        aside = path.with_name(f"{path.name}.damaged-{time.time_ns()}")
        os.rename(path, aside)
        logger.error(
            "spool %s: %s holds no verifiable record; renamed %s and no longer read",
            self._directory,
            path.name,
            aside.name,
        )

    def _scan_segment(self, first_seq: int, path: Path) -> tuple[list[_Segment], list[_Damage]]:
        """The parts of a segment file left by an earlier run (its verified records) and its damaged stretches.

        A torn tail (the last record cut short, nothing verifiable after it) is cut off the file; other damaged
        bytes stay in the file, skipped. Logging waits for the caller, who knows what was acknowledged.
        """
        parts: list[_Segment] = []
        damages: list[_Damage] = []
        part: _Segment | None = None
        fd = os.open(path, os.O_RDONLY)
        try:
            for seq, offset, end, _buffer, _start, _end in _frames(fd, os.fstat(fd).st_size, first_seq, damages.append):
                if part is None or offset != part.size:  # the first record, or the first after damaged bytes
                    part = _Segment(seq, path, start=offset, size=offset)
                    parts.append(part)
                part.size = end
                part.count += 1
        finally:
            os.close(fd)
        if damages and damages[-1].torn:
            os.truncate(path, damages[-1].offset)
        return parts, damages

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
            if self._unsynced and self._durable:  # "interval": the next sync flushes it, off the event loop
                self._rolled_fds.append(self._write_fd)
                self._write_fd, self._writing = -1, None
            else:
                self._close_writer()
        path = self._directory / f"{self._next_seq:020d}.seg"
        # read too: an acknowledgement checks its offset hint here without opening the file (:meth:`_end_of`)
        self._write_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        segment = self._writing = _Segment(self._next_seq, path)
        self._segments.append(segment)
        if self._sync_interval_ns == 0:  # "always": the file's name is on disk before the append returns
            os.fsync(self._dir_fd)
        elif self._durable:
            self._dir_unsynced = True
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
                self._flush()
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

    def _flush(self) -> None:
        """Flush inline what appends left in the OS cache: segments rolled over since the last flush, the directory
        (the names of new segment files), the segment being written."""
        rolled, self._rolled_fds = self._rolled_fds, []
        _sync_and_close(rolled)
        if self._dir_unsynced:
            os.fsync(self._dir_fd)
            self._dir_unsynced = False
        if self._write_fd >= 0:
            _fdatasync(self._write_fd)
        self._synced()

    def _synced(self) -> None:
        self._unsynced = False
        self._synced_ns = time.monotonic_ns()
        self.stats.fsyncs += 1

    def _write_error(self, what: str, exc: OSError, consequence: str = "the batch was not stored") -> SpoolWriteError:
        return SpoolWriteError(
            f"spool {self._directory}: {what}: {exc.strerror or exc}; {consequence}", directory=self._directory
        )

    def _reserve(self, last_seq: int) -> None:
        """Reserve seqs up to ``last_seq`` and SEQ_RESERVE beyond (up to MAX_RESERVED_SEQ) before handing them out.

        Every seq handed out passes here first, so this is where seqs beyond MAX_SEQ are refused (SpoolError).
        """
        if last_seq > MAX_SEQ:
            raise SpoolError(
                f"spool {self._directory}: no seqs left (the next is {self._next_seq}, the highest allowed "
                f"{MAX_SEQ}): its files claim seqs no spool reaches; move the directory away to start a new spool",
                directory=self._directory,
            )
        self._write_meta(max(min(last_seq + SEQ_RESERVE, MAX_RESERVED_SEQ), last_seq))

    def _write_meta(self, reserved_seq: int) -> None:
        """Persist the epoch and the seq reservation durably, whatever the fsync policy (see the module docstring)."""
        meta = {"format": FORMAT_VERSION, "epoch": self._epoch, "reserved_seq": reserved_seq}
        _replace_file(self._directory / META_FILE, json.dumps(meta).encode(), self._dir_fd)
        self._reserved_seq = reserved_seq

    def _write_checkpoint(self, *, durable: bool) -> None:
        """Write ``acked``: the first time through a temporary file (a reader never finds it empty or holding
        another format's tail), then in place (module docstring); fsynced with ``durable``."""
        self._checkpoint_ns = time.monotonic_ns()
        data = checkpoint_bytes(self._acked)
        if self._acked_fd < 0:
            path = self._directory / ACKED_FILE
            _replace_file(path, data, self._dir_fd if durable else None)
            self._acked_fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        else:
            written = 0
            while written < len(data):
                written += os.pwrite(self._acked_fd, data[written:], written)
            if durable:
                os.fsync(self._acked_fd)
        self._checkpoint_pending = False

    def _delete(self, segment: _Segment, *, last_part: bool) -> None:
        """Forget an acknowledged segment; delete its file unless a later part of the file is still needed."""
        self._live_bytes -= segment.size - segment.start
        self._live_records -= segment.count
        if last_part:
            self._deletable.append(segment.path)

    def _take_deletable(self) -> tuple[Path, ...]:
        """The acknowledged segment files to delete now (counted as deleted: a failure is logged, and the next open
        deletes the file)."""
        paths, self._deletable = tuple(self._deletable), []
        self.stats.segments_deleted += len(paths)
        return paths

    def _end_of(self, segment: _Segment, offset: int, upto_seq: int, hint: int | None) -> int:
        """Byte offset where record ``upto_seq`` of ``segment`` ends, from the first unacknowledged one at ``offset``.

        ``hint`` (the reader's offset) is taken when the record header there carries the next seq; else the headers
        are walked (a wrong hint costs time, never a wrong offset).
        """
        if hint is not None and offset < hint < segment.size:
            try:
                if segment is self._writing:
                    header = os.pread(self._write_fd, _HEADER.size, hint)
                else:
                    fd = os.open(segment.path, os.O_RDONLY)
                    try:
                        header = os.pread(fd, _HEADER.size, hint)
                    finally:
                        os.close(fd)
            except OSError:
                header = b""
            if len(header) == _HEADER.size and _HEADER.unpack(header)[2] == upto_seq + 1:
                return hint
        return self._offset_of(segment, offset, max(self._acked + 1, segment.first_seq), upto_seq + 1)

    def _offset_of(self, segment: _Segment, offset: int, seq: int, target_seq: int) -> int:
        """Byte offset of record ``target_seq`` in ``segment``, walking headers from record ``seq`` at ``offset``."""
        try:
            fd = os.open(segment.path, os.O_RDONLY)
        except OSError as exc:
            raise SpoolError(
                f"spool {self._directory}: cannot read {segment.path}: {exc}", directory=self._directory
            ) from exc
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
            os.close(fd)
        return offset

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"spool {self._directory} is closed")

    def _close_writer(self) -> None:
        if self._write_fd >= 0:
            os.close(self._write_fd)
        self._write_fd, self._writing = -1, None

    def _close_fds(self) -> None:
        self._close_writer()
        rolled, self._rolled_fds = self._rolled_fds, []
        for fd in rolled:
            os.close(fd)
        if self._acked_fd >= 0:
            os.close(self._acked_fd)
            self._acked_fd = -1
        if self._dir_fd >= 0:
            os.close(self._dir_fd)  # releases the lock
            self._dir_fd = -1


@dataclass(frozen=True, slots=True)
class SyncWork:
    """What :meth:`Spool.begin_sync` hands to a thread (:func:`finish_sync`); the descriptors are the work's own."""

    flush_fds: tuple[int, ...]
    """Segment descriptors to fdatasync, then close."""
    dir_fd: int
    """The directory's descriptor to fsync (new segment files in it), then close; -1: none."""
    delete: tuple[Path, ...]
    """Acknowledged segment files to delete."""


def finish_sync(directory: Path, work: SyncWork) -> None:
    """Do the disk work from :meth:`Spool.begin_sync` (in a thread: the spool is not touched); every descriptor is
    closed however it ends.

    Raises SpoolWriteError when the disk refuses a flush.
    """
    _delete_files(directory, work.delete)
    try:
        _sync_and_close(work.flush_fds, work.dir_fd)
    except OSError as exc:
        raise SpoolWriteError(
            f"spool {directory}: cannot sync: {exc.strerror or exc}; what was appended is in the OS cache only",
            directory=directory,
        ) from exc


def _sync_and_close(segment_fds: Sequence[int], dir_fd: int = -1) -> None:
    """fdatasync each segment descriptor, then fsync ``dir_fd`` (-1: none), closing each; all are closed, and the
    first OSError is raised (the flushes after it are not tried)."""
    syncs: list[tuple[int, Callable[[int], None]]] = [(fd, _fdatasync) for fd in segment_fds]
    if dir_fd >= 0:
        syncs.append((dir_fd, os.fsync))
    error: OSError | None = None
    for fd, sync in syncs:
        try:
            if error is None:
                sync(fd)
        except OSError as exc:
            error = exc
        finally:
            os.close(fd)
    if error is not None:
        raise error


def _delete_files(directory: Path, paths: Sequence[Path]) -> None:
    """Delete acknowledged segment files; a failure is logged and the file left (the next open deletes it)."""
    for path in paths:
        try:
            os.unlink(path)
        except OSError as exc:
            logger.warning("spool %s: cannot delete acknowledged %s: %s", directory, path.name, exc)


# -- reading a spool directory from another process ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpoolPart:
    """Records from ``first_seq`` on, in bytes ``start`` .. ``size`` of the segment file ``path``."""

    path: str
    first_seq: int
    start: int
    size: int


@dataclass(frozen=True, slots=True)
class SpoolLayout:
    """The unacknowledged records of an open spool (:meth:`Spool.layout`), for a :class:`SpoolReader` elsewhere.

    ``next_seq``: the first seq to read when ``parts`` is empty. ``open_last``: the last part is the segment being
    written, so it grows beyond ``size``. Records appended later may also be in segment files created after.
    """

    directory: str
    next_seq: int
    parts: list[SpoolPart]
    open_last: bool


@dataclass(slots=True)
class _ReadPart:
    path: Path
    first_seq: int
    start: int
    size: int | None
    """None while the owner may still append to the file; set once a newer segment file exists."""
    closed_by_reader: bool = False


class SpoolReader:
    """Reads an open spool's unacknowledged records in seq order, following its appends, without changing a file.

    The Kafka writer's process reads with it while the gateway's :class:`Spool` appends, acknowledges and deletes;
    the owner deletes only segments whose records the reader acknowledged, so a file the reader needs stays.
    Each record's CRC is checked: a record not yet whole is not returned until it is. The reader moves on from
    the segment being written only once a newer segment file exists, after reading the current one to its end
    (bytes there that never became a record, a write the owner failed to cut, are skipped and logged).
    Single-threaded; synchronous local-disk I/O.
    """

    __slots__ = ("_directory", "_fd", "_fd_path", "_index", "_mark", "_offset", "_parts", "_seq", "skipped_bytes")

    def __init__(self, layout: SpoolLayout) -> None:
        self._directory = Path(layout.directory)
        self._parts = [_ReadPart(Path(part.path), part.first_seq, part.start, part.size) for part in layout.parts]
        if layout.open_last and self._parts:
            self._parts[-1].size = None
        self._index = 0
        first = self._parts[0] if self._parts else None
        self._offset = first.start if first is not None else 0
        self._seq = first.first_seq if first is not None else layout.next_seq
        self._mark = (self._offset, self._seq)
        self._fd = -1
        self._fd_path: Path | None = None
        self.skipped_bytes = 0
        """Bytes skipped at the end of a file the owner left (a failed write it could not cut off)."""

    @property
    def last_read_seq(self) -> int:
        """The seq of the last record read, or the one before the first to read."""
        return self._seq - 1

    def read(
        self, max_records: int = DEFAULT_READ_MAX_RECORDS, max_bytes: int = DEFAULT_READ_MAX_BYTES
    ) -> list[SpoolRecord]:
        """The next whole records in seq order, advancing the cursor; ``[]`` when none is there yet.

        At most ``max_records`` records of at most ``max_bytes`` on disk together, but always one record if any
        is there, however large. Raises SpoolError when a file cannot be read or a record that must be whole
        (before the end of a segment the owner finished) is not.
        """
        records: list[SpoolRecord] = []
        budget = max_bytes
        part: _ReadPart | None = None
        try:
            while len(records) < max_records and budget > 0:
                part = self._parts[self._index] if self._index < len(self._parts) else None
                if part is None or (part.size is not None and self._offset >= part.size):
                    if part is not None and self._index + 1 < len(self._parts):
                        self._move_to(self._index + 1)
                    elif not self._follow_newer(part):
                        break
                    continue
                used = self._read_part(part, records, max_records, budget)
                if used:
                    budget -= used
                elif records:
                    break  # the next record does not fit in what is left of max_bytes
                elif part.closed_by_reader:
                    self._skip_rest(part)
                elif part.size is not None:
                    raise DamagedRecordError(f"no whole record at offset {self._offset} (seq {self._seq} expected)")
                elif not self._follow_newer(part):
                    break
        except (OSError, DamagedRecordError) as exc:
            where = f"{part.path} at offset {self._offset}" if part is not None else str(self._directory)
            raise SpoolError(f"spool {self._directory}: cannot read {where}: {exc}", directory=self._directory) from exc
        return records

    def acknowledge(self) -> tuple[int, int]:
        """Mark what was read delivered: :meth:`rewind` comes back here from now on.

        Returns the last record's seq and the offset where it ends in its file, for :meth:`Spool.ack`.
        """
        del self._parts[: self._index]
        self._index = 0
        self._mark = (self._offset, self._seq)
        return self._seq - 1, self._offset

    def rewind(self) -> None:
        """Back to the record after the last acknowledged one, to read (and send) again in order."""
        self._index = 0
        self._offset, self._seq = self._mark

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._fd_path = -1, None

    def _read_part(self, part: _ReadPart, records: list[SpoolRecord], max_records: int, budget: int) -> int:
        """Decode the whole records at the cursor in ``part`` into ``records``; the bytes used."""
        if self._fd_path != part.path:
            self.close()
            self._fd = os.open(part.path, os.O_RDONLY)
            self._fd_path = part.path
        # never more than the file holds: a damaged length (up to 4 GiB) or a large max_bytes allocates nothing
        available = max((part.size if part.size is not None else os.fstat(self._fd).st_size) - self._offset, 0)
        chunk = os.pread(self._fd, min(max(budget, _HEADER.size), available), self._offset)
        if not records and len(chunk) >= _HEADER.size:
            frame_size = _HEADER.size + _U32.unpack_from(chunk)[0]
            if len(chunk) < frame_size <= available:  # one record larger than max_bytes: returned alone, not never
                chunk = os.pread(self._fd, frame_size, self._offset)
        used, self._seq = _decode_records(chunk, self._seq, records, max_records)
        self._offset += used
        return used

    def _follow_newer(self, current: _ReadPart | None) -> bool:
        """Prepare to read on past ``current`` once a newer segment file exists; False when there is none yet.

        A newer file means the owner no longer appends to the current one: its size is fixed first, and the next
        read takes the rest of it before moving on.
        """
        after = max(self._seq - 1, current.first_seq if current is not None else 0)
        newer = [(first_seq, path) for first_seq, path in _segment_files(self._directory) if first_seq > after]
        if not newer:
            return False
        if current is not None and current.size is None:
            # through the open descriptor: the owner may have deleted the file once what the reader read was acked
            opened = self._fd_path == current.path
            current.size = os.fstat(self._fd).st_size if opened else os.stat(current.path).st_size
            current.closed_by_reader = True
            return True
        first_seq, path = newer[0]
        self._parts.append(_ReadPart(path, first_seq, 0, None))
        self._move_to(len(self._parts) - 1)
        return True

    def _move_to(self, index: int) -> None:
        self._index = index
        part = self._parts[index]
        self._offset, self._seq = part.start, part.first_seq

    def _skip_rest(self, part: _ReadPart) -> None:
        assert part.size is not None
        skipped = part.size - self._offset
        self.skipped_bytes += skipped
        logger.warning(
            "spool %s: %d bytes at offset %d of %s are no whole record (a write the gateway could not cut off); "
            "skipped, reading on in the next segment",
            self._directory,
            skipped,
            self._offset,
            part.path.name,
        )
        part.size = self._offset  # the part ends at its last record: read again after a rewind, nothing is skipped


# -- reading a spool directory without opening it --------------------------------------------------------------


def read_spool_directory(directory: Path, *, unacked_only: bool = True) -> Iterator[SpoolRecord]:
    """Yield the records of a spool directory in seq order, without modifying it (for replay tools).

    Works on a spool in use by a gateway. With ``unacked_only`` it skips what the
    ``acked`` checkpoint covers (cross-checked with the segments as when opening);
    the checkpoint may be up to CHECKPOINT_INTERVAL_MS behind, so some delivered
    records can appear. Every record's CRC is checked; damaged records are
    skipped and logged as when opening, except an incomplete record at the end of
    the newest segment, which is a write in progress. Raises SpoolError for an
    unsupported format or when the directory or a file cannot be read.
    """
    try:
        yield from _read_directory(directory, unacked_only)
    except OSError as exc:
        raise SpoolError(f"spool {directory}: cannot read: {exc}", directory=directory) from exc


def _read_directory(directory: Path, unacked_only: bool) -> Iterator[SpoolRecord]:
    """:func:`read_spool_directory` without the translation of OSError."""
    with contextlib.suppress(FileNotFoundError, ValueError):  # the records are readable without it
        _read_meta(directory)  # for its format: another format's segments cannot be read
    files = _segment_files(directory)
    acked = 0
    if unacked_only and files:
        acked = _read_checkpoint(directory)
        if acked >= files[-1][0]:  # within the newest file or above it: cross-check it with its last record
            acked = _checked_checkpoint(directory, acked, files[0][0], _last_seq(*files[-1]))
        acked = max(acked, files[0][0] - 1)
    for first_seq, path in files:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # acknowledged and deleted since the listing

        def report(damage: _Damage, path: Path = path) -> None:
            newest = path == files[-1][1]
            if not (damage.torn and newest):  # else a write in progress
                _log_damage(directory, path, damage, acked, newest=newest, cut=False)

        try:
            for seq, _offset, _end, buffer, start, end in _frames(fd, os.fstat(fd).st_size, first_seq, report):
                if seq > acked:
                    try:
                        record = _decode_payload(buffer, start, end, seq)
                    except DamagedRecordError as exc:  # a verified CRC over bytes no spool wrote
                        logger.error("spool %s: %s: %s; skipped", directory, path.name, exc)
                        continue
                    yield record
        finally:
            os.close(fd)


def _last_seq(first_seq: int, path: Path) -> int:
    """The seq of the last verifiable record of a segment file (``first_seq - 1`` when it has none)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        frames = _frames(fd, os.fstat(fd).st_size, first_seq, lambda _damage: None)
        return max((frame[0] for frame in frames), default=first_seq - 1)
    finally:
        os.close(fd)


def read_spool_epoch(directory: Path) -> int:
    """The epoch of a spool directory (for the ids of replayed records); SpoolError if ``meta`` is absent or invalid."""
    try:
        return _read_meta(directory)[0]
    except FileNotFoundError as exc:
        raise SpoolError(f"spool {directory}: no {META_FILE} file", directory=directory) from exc
    except ValueError as exc:
        raise SpoolError(f"spool {directory}: {META_FILE} is invalid ({exc})", directory=directory) from exc
    except OSError as exc:
        raise SpoolError(f"spool {directory}: cannot read {META_FILE}: {exc}", directory=directory) from exc


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

    Returns the bytes used and the next seq. Stops at a record cut short, of another seq or whose CRC fails: bytes
    still being written by another process, or damage; the caller knows which (:meth:`SpoolReader.read`).
    """
    pos = 0
    size = len(buffer)
    view = memoryview(buffer)
    while len(out) < limit and pos + _HEADER.size <= size:
        length, crc, frame_seq = _HEADER.unpack_from(buffer, pos)
        end = pos + _HEADER.size + length
        if end > size:
            break
        if frame_seq != seq or crc32(view[pos + _HEADER.size : end], _seq_crc(seq)) != crc:
            break
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
    return SpoolRecord(seq, KafkaRecord(topic, key, buffer[pos:end], content_type))


def _fields_may_fill(buffer: bytes, start: int, length: int) -> bool:
    """Whether a payload of ``length`` bytes at ``buffer[start]`` can be its four length-prefixed fields.

    A cheap test of a resync candidate before its CRC, which may cover megabytes: false candidates (8 bytes that
    happen to look like a seq) fail it. True when the prefixes run beyond ``buffer`` (the CRC decides).
    """
    pos, end = start, start + length
    for prefix in (_U16, _U32, _U16, _U32):
        if pos + prefix.size > len(buffer):
            return True
        pos += prefix.size + prefix.unpack_from(buffer, pos)[0]
        if pos > end:
            return False
    return pos == end


def _frames(fd: int, size: int, first_seq: int, damaged: Callable[[_Damage], None]) -> Iterator[_Frame]:
    """Yield ``(seq, offset, end offset, buffer, payload start, payload end)`` for each verified record of a segment.

    Reads the first ``size`` bytes in large chunks and checks each record's framing, seq and CRC. A record that
    fails is reported to ``damaged`` and scanning resumes at the next verifiable record (:func:`_resync`); when none
    follows, the damage runs to the end of the file and scanning stops.
    """
    buffer = b""
    view = memoryview(buffer)
    base = 0  # file offset of buffer[0]
    offset = 0
    seq = first_seq
    while offset < size:
        pos = offset - base
        if pos + _HEADER.size > len(buffer):
            buffer = os.pread(fd, min(SCAN_CHUNK_BYTES, size - offset), offset)
            view, base, pos = memoryview(buffer), offset, 0
        torn = False
        if pos + _HEADER.size > len(buffer):
            reason, torn = "record header cut short", True
        else:
            length, crc, frame_seq = _HEADER.unpack_from(buffer, pos)
            end = pos + _HEADER.size + length
            if frame_seq != seq:
                reason = f"seq {frame_seq} where {seq} was expected"
            elif base + end > size:
                reason, torn = f"record of {length} bytes runs past the end of the file", True
            else:
                if end > len(buffer):
                    buffer = os.pread(fd, min(max(SCAN_CHUNK_BYTES, end - pos), size - offset), offset)
                    view, base, pos, end = memoryview(buffer), offset, 0, end - pos
                if len(buffer) < end:
                    reason, torn = f"record of {length} bytes cut short", True  # the file shrank while read
                elif crc32(view[pos + _HEADER.size : end], _seq_crc(seq)) != crc:
                    reason = f"CRC mismatch in seq {seq}"
                else:
                    offset = base + end
                    yield seq, base + pos, offset, buffer, pos + _HEADER.size, end
                    seq += 1
                    continue
        found = _resync(fd, size, offset, seq)
        if found is None:
            damaged(_Damage(offset, size, seq, None, reason, torn))
            return
        damaged(_Damage(offset, found[0], seq, found[1], reason, torn=False))
        offset, seq = found


def _resync(fd: int, size: int, offset: int, seq: int) -> tuple[int, int] | None:
    """``(offset, seq)`` of the first verifiable record after the damaged bytes at ``offset``, or None.

    A record qualifies when its seq is one of the RESYNC_SEQS from ``seq`` on (``seq`` itself too: bytes may have
    been inserted before an intact record) and its CRC verifies; records are in seq order, so the first found
    is the earliest. Searches to the end of the file, a chunk at a time, with one regular expression matching
    any of the seqs' 8 bytes; a record whose length field is intact is found right after its damaged bytes.
    """
    pattern = _seq_pattern(seq, min(seq + RESYNC_SEQS - 1, _MAX_U64))
    base = offset + 1  # file offset of chunk[0]; header candidates start here or later
    while base + _HEADER.size <= size:
        chunk = os.pread(fd, min(SCAN_CHUNK_BYTES + _HEADER.size, size - base), base)
        match = pattern.search(chunk, _SEQ_AT)
        while match is not None:  # searched one by one: a false match may overlap a true one
            pos = match.start() - _SEQ_AT
            length, crc, frame_seq = _HEADER.unpack_from(chunk, pos)
            start = base + pos
            if start + _HEADER.size + length <= size and _fields_may_fill(chunk, pos + _HEADER.size, length):
                payload = chunk[pos + _HEADER.size : pos + _HEADER.size + length]
                if len(payload) < length:
                    payload = os.pread(fd, length, start + _HEADER.size)
                if len(payload) == length and crc32(payload, _seq_crc(frame_seq)) == crc:
                    return start, frame_seq
            match = pattern.search(chunk, match.start() + 1)
        base += SCAN_CHUNK_BYTES  # a header starting in the overlap is searched again: harmless
    return None


def _seq_pattern(first: int, last: int) -> re.Pattern[bytes]:
    """A regular expression matching the 8 little-endian bytes of any seq from ``first`` to ``last`` (< 256 apart).

    One alternative per value of the upper 7 bytes (two at most): a byte class for the lowest byte, then the rest.
    """
    alternatives = []
    for high in range(first >> 8, (last >> 8) + 1):
        low_byte = first & 0xFF if high == first >> 8 else 0
        high_byte = last & 0xFF if high == last >> 8 else 0xFF
        rest = _SEQ.pack(high << 8)[1:]
        alternatives.append(b"[\\x%02x-\\x%02x]" % (low_byte, high_byte) + b"".join(b"\\x%02x" % byte for byte in rest))
    return re.compile(b"|".join(alternatives))


def _segment_files(directory: Path) -> list[tuple[int, Path]]:
    """``(first seq, path)`` of every segment file, oldest first; a name outside 1 .. MAX_SEQ is logged and skipped."""
    files = []
    for path in directory.iterdir():
        match = _SEGMENT_NAME.fullmatch(path.name)
        if match:
            first_seq = int(match.group(1))
            if 1 <= first_seq <= MAX_SEQ:
                files.append((first_seq, path))
            else:
                logger.error(
                    "spool %s: %s is not a segment name (seq %d is outside 1 to %d); the file is ignored and kept",
                    directory,
                    path.name,
                    first_seq,
                    MAX_SEQ,
                )
    return sorted(files)


def _read_meta(directory: Path) -> tuple[int, int]:
    """``(epoch, reserved_seq)`` from the ``meta`` file, each checked for type and range.

    Raises FileNotFoundError when there is none, ValueError (its message the reason) when it is unreadable or
    invalid, SpoolError when it is of another format (a newer gateway's spool must not be overwritten), OSError.
    """
    with open(directory / META_FILE, "rb") as file:
        data = file.read(META_MAX_BYTES + 1)
    if len(data) > META_MAX_BYTES:
        raise ValueError(f"larger than {META_MAX_BYTES} bytes")
    try:
        meta = json.loads(data)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"not a JSON object: {reprlib.repr(meta)}")
    version = meta.get("format")
    if type(version) is int and version > FORMAT_VERSION:
        raise SpoolError(
            f"spool {directory}: format {reprlib.repr(version)} is not supported "
            f"(this gateway writes {FORMAT_VERSION})",
            directory=directory,
        )
    _checked_int(meta, "format", FORMAT_VERSION, FORMAT_VERSION)
    return _checked_int(meta, "epoch", 0, _MAX_EPOCH), _checked_int(meta, "reserved_seq", 0, MAX_RESERVED_SEQ)


def _checked_int(meta: dict[str, object], field: str, low: int, high: int) -> int:
    """``meta[field]`` if it is an integer from ``low`` to ``high``; else ValueError naming the field and value."""
    value = meta.get(field)
    if type(value) is not int or not low <= value <= high:
        shown = "missing" if field not in meta else reprlib.repr(value)
        raise ValueError(f"{field}: {shown} is not an integer from {low} to {high}")
    return value


def _seq_crc(seq: int) -> int:
    """The CRC-32 of ``seq``'s 8 bytes: where a record's CRC starts, so that a record moved to another seq fails."""
    return crc32(_SEQ.pack(seq))


def checkpoint_bytes(acked: int) -> bytes:
    """The ``acked`` file's contents for ``acked`` (module docstring: 19 digits, a space, their CRC-32, a newline)."""
    digits = b"%019d" % acked
    return b"%s %08x\n" % (digits, crc32(digits))


def _checkpoint_value(data: bytes) -> int | None:
    """The seq a checkpoint file's contents hold, in either format; None when they hold none within MAX_SEQ."""
    match = _CHECKPOINT.fullmatch(data)
    if match is not None:
        digits, crc = match.groups()
        value = int(digits) if crc32(digits) == int(crc, 16) else None
    else:
        value = int(data) if _PLAIN_CHECKPOINT.fullmatch(data) else None
    return value if value is not None and value <= MAX_SEQ else None


def _read_checkpoint(directory: Path) -> int:
    """The ``acked`` checkpoint; 0 when absent, empty (a power loss can leave it so) or invalid (logged)."""
    data = b""
    for _ in range(_CHECKPOINT_READS):
        try:
            with open(directory / ACKED_FILE, "rb") as file:
                data = file.read(_CHECKPOINT_MAX_BYTES + 1)
        except FileNotFoundError:
            return 0
        value = _checkpoint_value(data)
        if value is not None:
            return value
        if not _CHECKPOINT.fullmatch(data):
            break  # not a checkpoint caught mid-write: reading it again gives the same
    if data:
        logger.error(
            "spool %s: %s holds %r%s, not a checkpoint of a seq from 0 to %d; ignored, so acknowledged records may "
            "be sent again",
            directory,
            ACKED_FILE,
            data[:_CHECKPOINT_MAX_BYTES],
            "..." if len(data) > _CHECKPOINT_MAX_BYTES else "",
            MAX_SEQ,
        )
    else:
        logger.warning("spool %s: %s is empty; acknowledged records may be sent again", directory, ACKED_FILE)
    return 0


def _checked_checkpoint(directory: Path, acked: int, first_seq: int, highest: int) -> int:
    """The checkpoint ``acked`` cross-checked with the segments: the first is named ``first_seq``, their last
    verified record is ``highest``.

    Everything below the first segment is acknowledged (segments are deleted only once they are). A checkpoint
    above ``highest`` is impossible (a power loss cutting records Kafka had is the only innocent cause): the
    segments win, so every record in them is kept and sent again; consumers drop the repeats by id.
    """
    if acked > highest:
        logger.error(
            "spool %s: %s says seq %d is acknowledged, above the last record in the segments (seq %d); ignored: "
            "every record from seq %d on is kept and sent again (consumers drop repeats by fxgw-id)",
            directory,
            ACKED_FILE,
            acked,
            highest,
            first_seq,
        )
        acked = 0
    return max(acked, first_seq - 1)


def _log_damage(directory: Path, path: Path, damage: _Damage, acked: int, *, newest: bool, cut: bool) -> None:
    """Log a damaged stretch of a segment file and what it cost: an error when it may have cost an unacknowledged
    record, else a warning (a torn tail of the ``newest`` file: a write that never completed; bytes inserted
    between records; acknowledged records only). ``cut``: the stretch was cut off the file, not skipped."""
    size = damage.resume - damage.offset
    if damage.resume_seq is None:
        lost = (
            f"seq {damage.lost_seq} and any later seq of the file lost, {size} bytes {'cut off' if cut else 'skipped'}"
        )
        harmless = damage.torn and newest
    else:
        last_lost = damage.resume_seq - 1
        if not damage.lost_records:
            lost = "no record lost (bytes inserted)"
        elif damage.lost_seq == last_lost:
            lost = f"seq {last_lost} lost"
        else:
            lost = f"seqs {damage.lost_seq} to {last_lost} lost"
        if damage.lost_records and last_lost <= acked:
            lost += " (acknowledged already)"
        lost += f", {size} bytes skipped; seq {damage.resume_seq} follows at offset {damage.resume}"
        harmless = last_lost <= acked or not damage.lost_records
    logger.log(
        logging.WARNING if harmless else logging.ERROR,
        "spool %s: %s at offset %d of %s (%s): %s",
        directory,
        "record cut short" if damage.torn else "damaged record",
        damage.offset,
        path.name,
        damage.reason,
        lost,
    )


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
