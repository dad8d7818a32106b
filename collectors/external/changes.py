"""Change detection of external items: publish what is new or changed, and remember it across restarts.

A :class:`ChangeTracker` keeps, per ``item_id`` of one collector, a digest of the item last published (its
``ts_ns`` and its payload's deterministic protobuf bytes, less the fields the item calls volatile), its
revision, its time and its payload's fields as text. :meth:`ChangeTracker.diff` sorts a new batch (pure,
nothing recorded):

- an id never seen is ``CHANGE_NEW`` with revision 1;
- an id whose digest differs is ``CHANGE_UPDATED`` with revision + 1 and a :class:`FieldChange` per field that
  differs (``ts_ns`` included when the time moved), values as text clipped to ``CHANGE_TEXT_CHARS``;
- an id with the same digest is unchanged and not published;
- with ``restate=True`` every item is ``CHANGE_CURRENT`` (market sessions restate their state at start), with
  the revision and changes it would otherwise have.

:meth:`ChangeTracker.apply` records decisions once the sink has accepted them, and :meth:`ChangeTracker.save`
writes the state. **Publish, then save**: a crash between the two publishes those items again at the next
start (at least once, consumers dedupe on ``(source, item_id, revision)``); saving first could lose them.

**The state file**: ``<state_dir>/<collector id>.json`` (see README, "External data"), JSON written atomically
(a temporary file beside it, fsync, rename, fsync of the directory), so a crash leaves the old file or the new
one, never half of one. It is bounded: at most ``max_items`` items (the oldest by ``ts_ns`` are evicted
first; an evicted item seen again is NEW again) and at most :data:`MAX_STATE_FILE_BYTES`. Whatever a file
holds is checked on load (types, ranges, sizes, the collector it belongs to); a damaged, foreign or oversized
file is a counted problem (``state_damaged``), logged, renamed ``<name>.damaged-<ns>`` for inspection, and the
collector starts fresh (it publishes its items as NEW again).
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal

import msgspec
from google.protobuf import text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from gateway.clock import now_ns
from gateway.echo import clip, shown
from gateway.events import ExternalItem, ItemProblem
from gateway.schema.market.v1.market_pb2 import ExternalData, FieldChange

logger = logging.getLogger(__name__)

STATE_FORMAT: Final = "fxgw-external-state"
STATE_VERSION: Final = 1
MAX_STATE_FILE_BYTES: Final = 64 * 1024 * 1024
"""Largest state file read: 10,000 items of a few hundred bytes of text each are about 5 MB."""
DEFAULT_MAX_ITEMS: Final = 10_000
"""Items remembered per collector by default: a week of calendar is about 100, a FRED series about 300 per
series, a news feed keeps the last few hundred headlines."""
MAX_ITEM_ID_CHARS: Final = 256
MAX_FIELDS: Final = 64
"""Most payload fields remembered per item (the largest payload, CotReport, has 11)."""
MAX_FIELD_TEXT_CHARS: Final = 4096
"""Longest field value remembered as text (a news summary is clipped by its parser well below this)."""
CHANGE_TEXT_CHARS: Final = 512
"""Longest ``previous`` / ``current`` text in a FieldChange: an update says what changed, bounded."""
TS_FIELD: Final = "ts_ns"
"""The name under which a moved ``ts_ns`` appears in an update's changes."""
DIGEST_BYTES: Final = 16
MAX_REVISION: Final = 2**32 - 1
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

Digest = Annotated[str, msgspec.Meta(pattern=f"^[0-9a-f]{{{2 * DIGEST_BYTES}}}$")]
Revision = Annotated[int, msgspec.Meta(ge=1, le=MAX_REVISION)]
TimeNs = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
ItemId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ITEM_ID_CHARS)]
FieldText = Annotated[str, msgspec.Meta(max_length=MAX_FIELD_TEXT_CHARS)]
FieldName = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ITEM_ID_CHARS)]


class _StoredItem(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One remembered item: ``[digest, revision, ts_ns, {field: text}]``."""

    digest: Digest
    revision: Revision
    ts_ns: TimeNs
    fields: Annotated[dict[FieldName, FieldText], msgspec.Meta(max_length=MAX_FIELDS)]


class _StateFile(msgspec.Struct, forbid_unknown_fields=True):
    format: Literal["fxgw-external-state"]
    version: Literal[1]
    source: str
    kind: str
    items: dict[ItemId, _StoredItem]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to publish for one item: its change, revision and changed fields; recorded by ``apply`` once sent."""

    item: ExternalItem
    change: ExternalData.Change
    revision: int
    changes: tuple[FieldChange, ...]
    digest: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class Diff:
    """A batch sorted by :meth:`ChangeTracker.diff`: what to publish, in batch order, and how many were unchanged."""

    decisions: list[Decision]
    unchanged: int


def digest_of(item: ExternalItem) -> str:
    """The identity of an item's content: its time and its payload's deterministic bytes (without its volatile
    fields), hashed."""
    payload = item.payload
    if item.volatile_fields:
        payload = type(payload)()
        payload.CopyFrom(item.payload)
        for name in item.volatile_fields:
            payload.ClearField(name)
    hasher = hashlib.blake2b(payload.SerializeToString(deterministic=True), digest_size=DIGEST_BYTES)
    hasher.update(item.ts_ns.to_bytes(8, "little", signed=True))
    return hasher.hexdigest()


def field_texts(payload: Message, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every field of ``payload`` but ``skip`` (defaults included) as text: numbers exact (shortest round-trip for
    floats), booleans ``true``/``false``, repeated values joined by ``, ``, nested messages in protobuf text format."""
    texts: dict[str, str] = {}
    for descriptor in payload.DESCRIPTOR.fields[:MAX_FIELDS]:
        assert isinstance(descriptor, FieldDescriptor)
        if descriptor.name in skip:
            continue
        value = getattr(payload, descriptor.name)
        if descriptor.is_repeated:
            text = ", ".join(_value_text(descriptor, element) for element in value)
        else:
            text = _value_text(descriptor, value)
        texts[descriptor.name] = clip(text, MAX_FIELD_TEXT_CHARS - 64)
    return texts


def _value_text(descriptor: FieldDescriptor, value: object) -> str:
    if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
        assert isinstance(value, Message)
        return "{" + text_format.MessageToString(value, as_one_line=True) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


class ChangeTracker:
    """The items one collector last published and their revisions; see the module docstring.

    ``path`` None keeps the state in memory only (tests, ``fxgw demo``).
    """

    def __init__(self, source: str, kind: str, path: Path | None, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        self.source = source
        self.kind = kind
        self.path = path
        self.max_items = max_items
        self._items: dict[str, _StoredItem] = {}
        self.evicted = 0
        """Items forgotten to stay within ``max_items``, since start."""

    def __len__(self) -> int:
        return len(self._items)

    def revision(self, item_id: str) -> int:
        """The revision last published for ``item_id``; 0 when it is not known."""
        stored = self._items.get(item_id)
        return stored.revision if stored is not None else 0

    # -- pure ------------------------------------------------------------------------------------------

    def diff(self, items: Sequence[ExternalItem], *, restate: bool = False) -> Diff:
        """What of ``items`` to publish (see the module docstring); records nothing.

        An id repeated in the batch is judged once, by its last occurrence.
        """
        latest = {item.item_id: item for item in items}
        decisions: list[Decision] = []
        unchanged = 0
        for item_id, item in latest.items():
            digest = digest_of(item)
            stored = self._items.get(item_id)
            if stored is not None and stored.digest == digest and not restate:
                unchanged += 1
                continue
            fields = field_texts(item.payload, item.volatile_fields)
            fields[TS_FIELD] = str(item.ts_ns)
            changes: tuple[FieldChange, ...] = ()
            if stored is None:
                change, revision = ExternalData.CHANGE_NEW, 1
            elif stored.digest == digest:
                change, revision = ExternalData.CHANGE_UPDATED, stored.revision
            else:
                change, revision = ExternalData.CHANGE_UPDATED, min(stored.revision + 1, MAX_REVISION)
                changes = _field_changes(stored.fields, fields)
            if restate:
                change = ExternalData.CHANGE_CURRENT
            decisions.append(Decision(item, change, revision, changes, digest, fields))
        return Diff(decisions, unchanged)

    # -- state -----------------------------------------------------------------------------------------

    def apply(self, decisions: Iterable[Decision]) -> list[str]:
        """Record published decisions; evicts the oldest items beyond ``max_items``. Returns the evicted ids."""
        for decision in decisions:
            item = decision.item
            self._items[item.item_id] = _StoredItem(decision.digest, decision.revision, item.ts_ns, decision.fields)
        return self._evict()

    def _evict(self) -> list[str]:
        excess = len(self._items) - self.max_items
        if excess <= 0:
            return []
        oldest = heapq.nsmallest(excess, self._items, key=lambda item_id: self._items[item_id].ts_ns)
        for item_id in oldest:
            del self._items[item_id]
        self.evicted += len(oldest)
        return oldest

    def encode(self) -> bytes:
        """The state file's bytes."""
        state = _StateFile(STATE_FORMAT, STATE_VERSION, self.source, self.kind, self._items)
        return msgspec.json.encode(state)

    def load(self) -> list[ItemProblem]:
        """Read the state file, if there is one; a damaged one is set aside and reported (the state stays empty).

        Returns the problems found (at most one), for the collector to count and log.
        """
        if self.path is None:
            return []
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        except OSError as exc:
            return [ItemProblem("state_unreadable", f"state file {self.path} cannot be read: {exc}")]
        try:
            if size > MAX_STATE_FILE_BYTES:
                raise ValueError(f"{size:,} bytes, above the limit of {MAX_STATE_FILE_BYTES:,}")
            state = msgspec.json.decode(self.path.read_bytes(), type=_StateFile)
            if (state.source, state.kind) != (self.source, self.kind):
                raise ValueError(
                    f"it belongs to {shown(state.source)} of kind {shown(state.kind)},"
                    f" not {self.source!r} of kind {self.kind!r}"
                )
        except (OSError, ValueError, RecursionError, msgspec.DecodeError) as exc:
            aside = self._set_aside()
            reason = clip(str(exc), 300)
            return [ItemProblem("state_damaged", f"state file {self.path} is damaged ({reason}); {aside}")]
        self._items = state.items
        evicted = self._evict()
        if evicted:
            logger.warning(
                "%s: state file held %d items more than max_items %d; the oldest were forgotten",
                self.source,
                len(evicted),
                self.max_items,
            )
        return []

    def _set_aside(self) -> str:
        assert self.path is not None
        aside = self.path.with_name(f"{self.path.name}.damaged-{now_ns()}")
        try:
            self.path.rename(aside)
        except OSError as exc:
            return f"it could not be set aside ({exc}); starting fresh"
        return f"kept as {aside.name}; starting fresh"

    def save(self, data: bytes | None = None) -> None:
        """Write the state file atomically (``data`` from :meth:`encode`, or encoded now). Raises OSError.

        Blocking: the collector calls it in a thread with the bytes it encoded on the event loop.
        """
        if self.path is None:
            return
        write_atomically(self.path, self.encode() if data is None else data)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a temporary file beside it, fsync, rename, fsync of the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _field_changes(previous: dict[str, str], current: dict[str, str]) -> tuple[FieldChange, ...]:
    """One FieldChange per field whose text differs, in the payload's field order, texts clipped."""
    names = list(current) + [name for name in previous if name not in current]
    return tuple(
        FieldChange(
            field=name,
            previous=clip(previous.get(name, ""), CHANGE_TEXT_CHARS),
            current=clip(current.get(name, ""), CHANGE_TEXT_CHARS),
        )
        for name in names
        if previous.get(name) != current.get(name)
    )
