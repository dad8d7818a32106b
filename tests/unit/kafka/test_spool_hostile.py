"""gateway.kafka.spool against its own files turned hostile: a generated corpus of damaged spool directories.

One spool is built with known records (10 records of varied sizes in 4 segments, seqs 1-2 acknowledged),
then copied and damaged in hundreds of ways: every field of ``meta`` replaced (huge, negative, float, NaN and
Infinity as raw JSON, strings, nested, missing), the whole ``meta`` replaced (empty, binary, 5 MB, not an
object), ``acked`` replaced (huge, negative, text, binary, empty), segment names out of range, and segments
with seeded random byte flips, zeroed pages, truncations and inserted garbage at many offsets.

Each damaged directory goes through :func:`read_spool_directory` (before the gateway touches it) and through
the real :class:`Spool`: open, read everything, acknowledge it, append one batch, close, reopen, read. The
test knows which records each damage may cost (README, "Kafka backup, spool and replay"): a changed byte costs
the record holding it, bytes inserted into a record cost that record, a truncation what it removed, an
ignored file its records, and damaged metadata nothing. Every other unacknowledged record must be delivered,
in order, once; only SpoolError may escape, and only where the oracle expects one (a newer format).

Run with ``-s`` to see the counts per class: inputs, clear errors, crashes, records lost beyond the allowed.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.errors import SpoolError
from gateway.kafka import spool as spool_module
from gateway.kafka.records import KafkaRecord
from gateway.kafka.spool import (
    ACKED_FILE,
    MAX_RESERVED_SEQ,
    MAX_SEQ,
    META_FILE,
    META_MAX_BYTES,
    Spool,
    SpoolReader,
    SpoolRecord,
    checkpoint_bytes,
    read_spool_directory,
    read_spool_epoch,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
SEED = 20261120
VALUE_SIZES = (10, 200, 33, 1500, 64, 7, 300, 90, 2500, 45)  # records 1-10
ACKED = 2
SEGMENT_BYTES = 2200
HEADER = struct.Struct("<IIQ")
EXTRA = [KafkaRecord("market-status", b"oanda", b"after the damage %d" % i, "text/plain") for i in range(2)]


def record(seq: int) -> KafkaRecord:
    """The record appended under ``seq``: its value starts with the seq, so a mix-up shows."""
    return KafkaRecord("market-data-stream", b"EUR_USD", f"{seq:08d}".encode().ljust(VALUE_SIZES[seq - 1], b"."), "t")


@dataclass(frozen=True, slots=True)
class Frame:
    """Where record ``seq`` lies: bytes ``start`` .. ``end`` of segment file ``name``."""

    seq: int
    name: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Pristine:
    """The undamaged spool: its files' bytes, its records' places and its epoch."""

    files: dict[str, bytes]
    frames: list[Frame]
    epoch: int

    @property
    def segments(self) -> list[str]:
        return sorted(name for name in self.files if name.endswith(".seg"))

    def frames_of(self, name: str) -> list[Frame]:
        return [frame for frame in self.frames if frame.name == name]


@dataclass(frozen=True, slots=True)
class Case:
    """One hostile input: the files to write over the pristine ones (None: remove) and what it may cost.

    ``may_lose``: seqs the damage is allowed to cost; ``must_lose``: seqs it certainly costs (a changed byte
    always fails its record's CRC); ``error``: a SpoolError is the expected outcome (a newer format).
    ``valid_meta``: the epoch in ``meta`` must be kept, else a new one start; ``acked``: the acknowledged seq
    the gateway must start from; ``kept_files``: files that must be there, unchanged, after it all;
    ``log_level``: opening must log a line at this level or above naming the damaged file.
    """

    name: str
    files: dict[str, bytes | None]
    may_lose: frozenset[int] = frozenset()
    must_lose: frozenset[int] = frozenset()
    error: bool = False
    valid_meta: bool = True
    acked: int = ACKED
    kept_files: tuple[str, ...] = ()
    log_level: int | None = None


@dataclass(slots=True)
class Tally:
    """Counts over one class of inputs; ``failures`` describes every input that broke a rule."""

    inputs: int = 0
    clear_errors: int = 0
    crashes: int = 0
    lost_beyond_allowed: int = 0
    failures: list[str] = field(default_factory=list)

    def report(self, what: str) -> str:
        return (
            f"{what}: {self.inputs} inputs, {self.clear_errors} clear errors, {self.crashes} crashes, "
            f"{self.lost_beyond_allowed} valid records lost beyond the allowed"
        )


# -- the pristine spool ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    directory = tmp_path_factory.mktemp("pristine")
    with Spool(directory, max_bytes=1 << 20, segment_bytes=SEGMENT_BYTES, fsync="never") as spool:
        for seq in range(1, len(VALUE_SIZES) + 1):
            spool.append([record(seq)])
        spool.ack(ACKED)
        epoch = spool.epoch
    files = {path.name: path.read_bytes() for path in directory.iterdir()}
    frames = [frame for name in sorted(n for n in files if n.endswith(".seg")) for frame in _walk(name, files[name])]
    assert [frame.seq for frame in frames] == list(range(1, len(VALUE_SIZES) + 1))
    assert len({frame.name for frame in frames}) >= 3, "the corpus wants several segments"
    return Pristine(files, frames, epoch)


def _walk(name: str, data: bytes) -> Iterator[Frame]:
    offset = 0
    while offset < len(data):
        length, _crc, seq = HEADER.unpack_from(data, offset)
        yield Frame(seq, name, offset, offset + HEADER.size + length)
        offset += HEADER.size + length


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """Where a corpus's spools go: a tmpfs when there is one, else ``tmp_path``.

    Each case writes ``meta`` durably (fsync of file and directory) about four times; on a disk that is most of
    the corpus's time, and what is tested is the same on a tmpfs.
    """
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="fxgw-spool-corpus-", dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


# -- running one case ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one case broke: ``problem`` (empty: nothing) and the valid records it lost beyond the allowed."""

    problem: str = ""
    lost: int = 0


def _run(case: Case, pristine: Pristine, directory: Path, tally: Tally, caplog: pytest.LogCaptureFixture) -> None:
    """Damage a copy of the pristine spool as ``case`` says, run it through both readers, check the oracle."""
    directory.mkdir()
    for name, data in (pristine.files | case.files).items():
        if data is not None:
            (directory / name).write_bytes(data)
    kept = {name: (directory / name).read_bytes() for name in case.kept_files}
    tally.inputs += 1
    try:
        verdict = _check(case, pristine, directory, kept, caplog)
    except SpoolError as exc:
        tally.clear_errors += 1
        verdict = Verdict("" if case.error else f"unexpected SpoolError: {exc}")
        if "\n" in str(exc):
            verdict = Verdict(f"a SpoolError of several lines: {exc!r}")
    except Exception as exc:  # the one thing this corpus hunts
        tally.crashes += 1
        verdict = Verdict(f"crash: {exc!r}")
    else:
        if case.error:
            verdict = Verdict(verdict.problem or "no SpoolError where one was expected")
    tally.lost_beyond_allowed += verdict.lost
    problem = verdict.problem + _changed(directory, {n: d for n, d in kept.items() if n in case.files}, "in the end")
    if problem:
        tally.failures.append(f"{case.name}: {problem}")


def _check(
    case: Case, pristine: Pristine, directory: Path, kept: dict[str, bytes], caplog: pytest.LogCaptureFixture
) -> Verdict:
    """Run ``case``'s directory through both readers; the first rule broken."""
    replayed = list(read_spool_directory(directory, unacked_only=False))
    if (verdict := _compare("read_spool_directory", replayed, pristine, case, 0)).problem:
        return verdict
    unacked = list(read_spool_directory(directory))
    if (verdict := _compare("read_spool_directory(unacked_only)", unacked, pristine, case, case.acked)).problem:
        return verdict
    meta = (pristine.files | case.files)[META_FILE]
    epoch = json.loads(meta)["epoch"] if case.valid_meta and meta is not None else None
    caplog.clear()
    with Spool(directory, max_bytes=1 << 20, segment_bytes=SEGMENT_BYTES, fsync="never") as spool:
        if epoch is not None and spool.epoch != epoch:
            return Verdict(f"epoch {spool.epoch} replaced the valid {epoch}")
        if epoch is None and spool.epoch == pristine.epoch:
            return Verdict("the epoch of an invalid meta was kept")
        if case.log_level is not None and not any(
            r.levelno >= case.log_level and " at offset " in r.message and name in r.message
            for r in caplog.records
            for name in case.files
        ):
            return Verdict(f"no {logging.getLevelName(case.log_level)} naming the damaged file: {caplog.messages}")
        if problem := _changed(directory, kept, "by opening"):
            return Verdict(problem)
        delivered = _read_all(spool)
        if (verdict := _compare("SpoolReader.read", delivered, pristine, case, case.acked)).problem:
            return verdict
        if delivered:
            spool.ack(delivered[-1].seq)
        first_new = spool.append(EXTRA)
        if first_new <= pristine.frames[-1].seq:
            return Verdict(f"appended under seq {first_new}, a seq of the pristine spool")
    with Spool(directory, max_bytes=1 << 20, segment_bytes=SEGMENT_BYTES, fsync="never") as spool:
        again = _read_all(spool)
        if [(r.seq, r.record) for r in again] != [(first_new, EXTRA[0]), (first_new + 1, EXTRA[1])]:
            return Verdict(f"after a restart read {[r.seq for r in again]}, not the batch appended at {first_new}")
        spool.ack(again[-1].seq)
        spool.append(EXTRA[:1])
    return Verdict()


def _changed(directory: Path, files: dict[str, bytes], when: str) -> str:
    """Which of ``files`` are no longer there with the same bytes."""
    changed = [
        name
        for name, data in files.items()
        if not (directory / name).is_file() or (directory / name).read_bytes() != data
    ]
    return f"; {changed} deleted or changed {when}" if changed else ""


def _compare(reader: str, records: list[SpoolRecord], pristine: Pristine, case: Case, acked: int) -> Verdict:
    """``records`` (read by ``reader``) against the oracle: every record above ``acked`` but those ``case`` may
    cost, each once, in order, with its own bytes; none of those it must cost."""
    seqs = [r.seq for r in records]
    expected = [frame.seq for frame in pristine.frames if frame.seq > acked]
    if seqs != sorted(set(seqs)) or not set(seqs) <= set(expected):
        return Verdict(f"{reader} read {seqs}: out of order, twice, or acknowledged")
    if wrong := [r.seq for r in records if r.record != record(r.seq)]:
        return Verdict(f"{reader} read seqs {wrong} with bytes of other records")
    lost = set(expected) - set(seqs)
    if beyond := lost - case.may_lose:
        return Verdict(f"{reader} lost {sorted(beyond)}", len(beyond))
    if delivered := (case.must_lose & set(expected)) - lost:
        return Verdict(f"{reader} delivered {sorted(delivered)}, which the damage must have cost")
    return Verdict()


def _read_all(spool: Spool) -> list[SpoolRecord]:
    """Every unacknowledged record, through a reader of the spool's layout as the Kafka writer reads them."""
    reader = SpoolReader(spool.layout())
    records: list[SpoolRecord] = []
    try:
        while chunk := reader.read(max_records=3):
            records += chunk
    finally:
        reader.close()
    return records


def _run_all(
    cases: list[Case], pristine: Pristine, tmp_path: Path, caplog: pytest.LogCaptureFixture, what: str
) -> Tally:
    caplog.set_level(logging.WARNING, logger="gateway.kafka.spool")
    tally = Tally()
    for index, case in enumerate(cases):
        _run(case, pristine, tmp_path / f"case{index:04d}", tally, caplog)
    print(tally.report(what))
    assert not tally.failures, f"{len(tally.failures)} of {tally.inputs}:\n" + "\n".join(tally.failures[:40])
    return tally


# -- meta ---------------------------------------------------------------------------------------------------------

_BIG_INT = "9" * 4000
_HOSTILE_VALUES: list[str] = [
    "0",
    "-1",
    "1",
    str(-(2**63)),
    str(2**62),
    str(2**62 + 1),
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    str(2**64 + 1),
    str(10**30),
    _BIG_INT,
    "-" + _BIG_INT,
    "1.0",
    "1.5",
    "-0.0",
    "1e300",
    "1e-300",
    "NaN",
    "Infinity",
    "-Infinity",
    '"1"',
    '""',
    '"NaN"',
    json.dumps("x" * 1000),
    "true",
    "false",
    "null",
    "[]",
    "{}",
    "[1]",
    '{"a": 1}',
    "[" * 1000 + "]" * 1000,
]


def _meta_valid(format_: object, epoch: object, reserved_seq: object) -> bool:
    return (
        format_ == 1
        and type(format_) is int
        and type(epoch) is int
        and 0 <= epoch < 2**63
        and type(reserved_seq) is int
        and 0 <= reserved_seq <= MAX_RESERVED_SEQ
    )


def _parsed(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _meta_cases(pristine: Pristine) -> list[Case]:
    meta = json.loads(pristine.files[META_FILE])
    cases = []
    for key in ("format", "epoch", "reserved_seq"):
        others = ", ".join(f'"{k}": {json.dumps(v)}' for k, v in meta.items() if k != key)
        for value in [*_HOSTILE_VALUES, None]:  # None: the field is missing
            text = "{" + others + ("" if value is None else f', "{key}": {value}') + "}"
            fields = meta | {key: _parsed(value) if value is not None else None}
            readable = len(text) <= META_MAX_BYTES
            newer = readable and key == "format" and type(fields["format"]) is int and fields["format"] > 1
            cases.append(
                Case(
                    f"meta {key}={(value or 'missing')[:30]}",
                    {META_FILE: text.encode()},
                    error=newer,
                    valid_meta=readable and _meta_valid(fields["format"], fields["epoch"], fields["reserved_seq"]),
                )
            )
    whole_files = {
        "empty": b"",
        "binary": random.Random(SEED).randbytes(300),
        "5 MB": pristine.files[META_FILE] + b" " * (5 * 1024 * 1024),
        "5 MB of digits": b"1" * (5 * 1024 * 1024),
        "a number": b"1",
        "a list": b"[1, 1795000000000000000, 0]",
        "a string": b'"meta"',
        "cut short": pristine.files[META_FILE][:20],
        "utf-16": pristine.files[META_FILE].decode().encode("utf-16"),
        "nul bytes": bytes(64),
        "invalid utf-8": b'{"format": 1, "epoch": 5, "reserved_seq": 0, "\xff": 1}',
    }
    for what, data in whole_files.items():
        cases.append(Case(f"meta file {what}", {META_FILE: data}, valid_meta=what == "utf-16"))
    cases.append(Case("meta file missing", {META_FILE: None}, valid_meta=False))
    return cases


def test_hostile_meta_files_cost_no_record(pristine: Pristine, scratch: Path, caplog: pytest.LogCaptureFixture) -> None:
    cases = _meta_cases(pristine)
    assert len(cases) >= 100

    tally = _run_all(cases, pristine, scratch, caplog, "meta")

    assert tally.clear_errors == sum(case.error for case in cases)  # the newer formats only


def test_read_spool_epoch_refuses_every_invalid_meta_with_one_line(pristine: Pristine, tmp_path: Path) -> None:
    for index, case in enumerate(_meta_cases(pristine)):
        directory = tmp_path / f"case{index:04d}"
        directory.mkdir()
        if (data := case.files[META_FILE]) is not None:
            (directory / META_FILE).write_bytes(data)
        if case.valid_meta:
            assert read_spool_epoch(directory) >= 0, case.name
            continue
        with pytest.raises(SpoolError) as caught:
            read_spool_epoch(directory)
        assert "\n" not in str(caught.value) and len(str(caught.value)) < 500, case.name


# -- acked --------------------------------------------------------------------------------------------------------


def _acked_cases(pristine: Pristine) -> list[Case]:
    highest = pristine.frames[-1].seq
    texts = [
        *(v.encode() for v in _HOSTILE_VALUES),
        *(f"{v}\n".encode() for v in (highest + 1, 10**6, 2**63 - 1, 2**63, 2**64, 10**30, -1, -(10**30))),
        b"",
        b"\n",
        b" 2",
        b"2 ",
        b"+2",
        b"2_0",
        b"0x10",
        b"\xff\xfe2\x00",
        random.Random(SEED).randbytes(100),
        b"1" * (5 * 1024 * 1024),
        b"2\n3\n",
    ]
    cases = []
    for text in texts:  # the plain decimal checkpoint of spools written before 5 December 2026
        valid = bool(re.fullmatch(rb"[0-9]{1,19}\n?", text)) and int(text) <= highest
        cases.append(Case(f"acked {text[:30]!r}", {ACKED_FILE: text}, acked=int(text) if valid else 0))
    good = checkpoint_bytes(3)
    assert good == b"0000000000000000003 %08x\n" % zlib.crc32(b"0000000000000000003")
    checksummed = {  # the checkpoint the spool writes now, and what each broken one is worth
        good: 3,
        checkpoint_bytes(0): 0,
        checkpoint_bytes(highest): highest,
        checkpoint_bytes(highest + 1): 0,  # above every record: the segments win
        checkpoint_bytes(MAX_SEQ + 1): 0,
        good[:-1]: 0,  # no newline
        good + b"\n": 0,
        good + good: 0,  # two checkpoints, as a torn rewrite can leave
        good.upper(): 0,
        good[:-2] + (b"0" if good[-2:-1] != b"0" else b"1") + b"\n": 0,  # CRC of other digits
        b"0000000000000000004" + good[19:]: 0,  # digits of another seq under 3's CRC
        good[1:]: 0,  # 18 digits
        b"0" + good: 0,  # 20 digits
        good.replace(b" ", b"\t"): 0,
        good[:20] + b"0x" + good[22:]: 0,
        good[:10] + b"\x00" + good[11:]: 0,
    }
    for text, acked in checksummed.items():
        cases.append(Case(f"acked {text[:30]!r}", {ACKED_FILE: text}, acked=acked))
    return cases


def test_hostile_acked_checkpoints_cost_no_record_and_delete_no_segment(
    pristine: Pristine, scratch: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cases = [
        Case(case.name, case.files, acked=case.acked, kept_files=tuple(pristine.segments))
        if case.acked < pristine.frames_of(pristine.segments[0])[-1].seq
        else case
        for case in _acked_cases(pristine)
    ]
    assert len(cases) >= 40

    tally = _run_all(cases, pristine, scratch, caplog, "acked")

    assert tally.clear_errors == 0


def test_an_impossible_checkpoint_is_said_loudly_with_its_file_and_value(
    pristine: Pristine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for directory in (tmp_path / "big", tmp_path / "above"):
        directory.mkdir()
        for name, data in pristine.files.items():
            (directory / name).write_bytes(data)
    (tmp_path / "big" / ACKED_FILE).write_bytes(b"%d\n" % 10**30)
    (tmp_path / "above" / ACKED_FILE).write_bytes(b"11\n")

    for directory in (tmp_path / "big", tmp_path / "above"):
        Spool(directory, max_bytes=1 << 20, fsync="never").close()

    errors = [r.message for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"acked holds b'{10**30}\\n', not a checkpoint of a seq from 0 to {MAX_SEQ}" in m for m in errors), (
        errors
    )
    assert any("acked says seq 11 is acknowledged, above the last record in the segments (seq 10)" in m for m in errors)


# -- segment names ------------------------------------------------------------------------------------------------

_BAD_NAMES = [
    "00000000000000000000.seg",
    f"{MAX_SEQ + 1:020d}.seg",
    f"{2**64 - 1:020d}.seg",
    f"{2**64:020d}.seg",
    "99999999999999999999.seg",
]


def _name_cases(pristine: Pristine) -> list[Case]:
    cases = []
    for bad in _BAD_NAMES:
        for segment in pristine.segments:
            lost = frozenset(frame.seq for frame in pristine.frames_of(segment))
            moved = {segment: None, bad: pristine.files[segment]}
            acked = ACKED if segment != pristine.segments[0] else max(lost)
            cases.append(Case(f"{segment} renamed {bad}", moved, may_lose=lost, acked=acked, kept_files=(bad,)))
        for what, data in {"a copy of the newest": pristine.files[pristine.segments[-1]], "garbage": b"x" * 99}.items():
            cases.append(Case(f"{what} as {bad}", {bad: data}, kept_files=(bad,)))
    return cases


def test_segments_named_out_of_range_are_ignored_and_kept(
    pristine: Pristine, scratch: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cases = _name_cases(pristine)

    tally = _run_all(cases, pristine, scratch, caplog, "segment names")

    assert tally.clear_errors == 0
    assert "is not a segment name (seq 99999999999999999999 is outside 1 to" in caplog.text


# -- segment contents ---------------------------------------------------------------------------------------------


def _touched(pristine: Pristine, name: str, start: int, end: int) -> frozenset[int]:
    """The seqs of ``name``'s records with a byte in ``start`` .. ``end`` (exclusive)."""
    return frozenset(f.seq for f in pristine.frames_of(name) if f.start < end and start < f.end)


def _damage_cases(pristine: Pristine) -> list[Case]:
    rng = random.Random(SEED)
    cases = []

    def changed(name: str, what: str, data: bytes, offsets: list[int]) -> Case:
        """Bytes at ``offsets`` changed: exactly their records are lost, an error unless all were acknowledged or
        the last record of the newest segment was hit (a length running past the end looks like a torn write)."""
        hit = frozenset().union(*(_touched(pristine, name, offset, offset + 1) for offset in offsets))
        quiet = not hit - set(range(1, ACKED + 1)) or pristine.frames[-1].seq in hit
        level = logging.WARNING if quiet else logging.ERROR
        return Case(f"{name} {what}", {name: data}, hit, hit, log_level=level if hit else None)

    for name in pristine.segments:
        data = pristine.files[name]
        newest = name == pristine.segments[-1]
        for _ in range(50):  # one flipped bit
            offset, bit = rng.randrange(len(data)), 1 << rng.randrange(8)
            damaged = bytearray(data)
            damaged[offset] ^= bit
            cases.append(changed(name, f"bit {bit} at {offset}", bytes(damaged), [offset]))
        for _ in range(15):  # several changed bytes
            damaged = bytearray(data)
            offsets = rng.sample(range(len(data)), rng.randrange(2, 5))
            for offset in offsets:
                damaged[offset] ^= rng.randrange(1, 256)
            cases.append(changed(name, f"bytes at {offsets}", bytes(damaged), offsets))
        for _ in range(10):  # a stretch zeroed (a lost page)
            start = rng.randrange(len(data))
            end = min(len(data), start + rng.randrange(1, 600))
            damaged = bytearray(data)
            damaged[start:end] = bytes(end - start)
            offsets = [i for i in range(start, end) if data[i]]
            cases.append(changed(name, f"zeroed {start}-{end}", bytes(damaged), offsets))
        for frame in pristine.frames_of(name):  # every header field of every record
            for offset in (0, 3, 4, 7, 8, 15):
                damaged = bytearray(data)
                damaged[frame.start + offset] ^= 0xFF
                cases.append(
                    changed(name, f"header byte {offset} of seq {frame.seq}", bytes(damaged), [frame.start + offset])
                )
        for _ in range(20):  # cut short: what the cut removed; a record cut in two is said loudly but in the newest
            cut = rng.randrange(len(data))
            gone = _touched(pristine, name, cut, len(data))
            torn = any(f.start < cut < f.end for f in pristine.frames_of(name))
            level = (logging.WARNING if newest else logging.ERROR) if torn else None
            cases.append(Case(f"{name} cut at {cut}", {name: data[:cut]}, gone, gone, log_level=level))
        for _ in range(25):  # bytes inserted: at most the record they land in
            at = rng.randrange(len(data) + 1)
            garbage = rng.randbytes(rng.randrange(1, 300))
            inside = frozenset(f.seq for f in pristine.frames_of(name) if f.start < at < f.end)
            cases.append(Case(f"{name} {len(garbage)} bytes at {at}", {name: data[:at] + garbage + data[at:]}, inside))
    return cases


@pytest.mark.parametrize("chunk_bytes", [spool_module.SCAN_CHUNK_BYTES, 97], ids=["default chunks", "97-byte chunks"])
def test_damaged_segments_cost_exactly_the_damaged_records(
    pristine: Pristine,
    scratch: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    chunk_bytes: int,
) -> None:
    """97-byte chunks: records and searches cross chunk boundaries everywhere."""
    monkeypatch.setattr(spool_module, "SCAN_CHUNK_BYTES", chunk_bytes)
    cases = _damage_cases(pristine)
    assert len(cases) >= 300

    tally = _run_all(cases, pristine, scratch, caplog, f"segment contents, {chunk_bytes}-byte chunks")

    assert tally.clear_errors == 0


# -- seqs near the limits -----------------------------------------------------------------------------------------


def test_seqs_beyond_the_reservation_limit_cost_an_epoch_not_a_record(
    pristine: Pristine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A reservation at the limit is valid; seqs handed out above it are reserved above it, which the next start
    does not trust: a new epoch, every record kept (only files claiming seqs near 2**62 get there)."""
    for name, data in pristine.files.items():
        (tmp_path / name).write_bytes(data)
    meta = json.loads(pristine.files[META_FILE]) | {"reserved_seq": MAX_RESERVED_SEQ}
    (tmp_path / META_FILE).write_text(json.dumps(meta))

    with Spool(tmp_path, max_bytes=1 << 20, fsync="never") as spool:
        assert spool.epoch == pristine.epoch
        assert spool.append(EXTRA) == MAX_RESERVED_SEQ + 1
    with Spool(tmp_path, max_bytes=1 << 20, fsync="never") as spool:
        assert spool.epoch != pristine.epoch
        assert [r.seq for r in _read_all(spool)] == [*range(ACKED + 1, 11), MAX_RESERVED_SEQ + 1, MAX_RESERVED_SEQ + 2]
        assert spool.append(EXTRA) == MAX_RESERVED_SEQ + 3
    assert f"reserved_seq: {MAX_RESERVED_SEQ + 2} is not an integer from 0 to {MAX_RESERVED_SEQ}" in caplog.text


def test_an_append_beyond_max_seq_is_a_spool_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Spool(tmp_path, max_bytes=1 << 20, fsync="never") as spool:
        monkeypatch.setattr(spool_module, "MAX_RESERVED_SEQ", 1)  # below MAX_SEQ, as the real ones are
        monkeypatch.setattr(spool_module, "MAX_SEQ", 2)
        assert spool.append(EXTRA) == 1
        with pytest.raises(SpoolError, match=r"no seqs left \(the next is 3, the highest allowed 2\)"):
            spool.append(EXTRA[:1])
        assert spool.next_seq == 3 and spool.pending_records == 2


# -- the replay command -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("meta", [b'{"format": 1, "epoch": NaN, "reserved_seq": 3}', b"\xff" * 10])
def test_replay_of_a_spool_with_a_hostile_meta_exits_2_with_one_line(
    pristine: Pristine, tmp_path: Path, meta: bytes
) -> None:
    for name, data in pristine.files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / META_FILE).write_bytes(meta)

    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "replay", "--spool", str(tmp_path), "--since", "-1h", "--to", "jsonl"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "not a readable gateway spool" in result.stderr
