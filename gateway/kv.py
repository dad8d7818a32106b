"""NATS JetStream key-value: opening a bucket, reading a key's live value, and owning a key exclusively.

One mechanism serves every "only one of us" question in fxgw: the Central Hub's
claim that a broker source runs in one gateway only, and the standby
aggregators' publish lease. A claim is a key whose value names its owner:

- **acquire**: ``create`` succeeds only while the key is absent (never written,
  deleted, or expired); a key already holding our own owner value is adopted
  (a restart of the same owner); any other value is the current owner, returned
  to the caller to name in its refusal.
- **renew**: ``update`` with the revision of our last write, so a write by
  anyone else in between makes ours fail instead of overwriting theirs.
- **expiry**: the bucket's ``max_age`` (seconds). A holder that stops renewing
  (killed, frozen, cut off) loses the key when the server removes it, and the
  next ``acquire`` by anyone succeeds.
- **local validity**: :meth:`KeyClaim.holds` answers from the monotonic clock
  alone, without a round trip: a claim is held until ``ttl_s`` after the start
  of the last successful write. A holder frozen past that (SIGSTOP) wakes up
  not holding it, before it has talked to the server, so it never acts on a
  claim the server may already have given away.

Known nats-py defects guarded against here (measured with nats-py 2.16,
nats-server 2.11+): with limit markers on, an expired key reads back as an
entry with an empty value, and ``create`` on it fails as if the key existed;
both are treated as "absent, write after this revision".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError, BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

NEVER: Final = float("-inf")
WRONG_LAST_SEQUENCE: Final = 10071
"""JetStream's error code for a write whose expected last revision is not the key's; nats-py raises it from
``update`` as KeyWrongLastSequenceError but from ``delete`` as a plain BadRequestError."""


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """How a bucket is created when absent (an existing bucket is used as it is)."""

    name: str
    max_age_s: float
    """Seconds a key lives after its last write: the expiry of claims and records."""
    replicas: int = 1
    """1 on a single server; 3 on a NATS cluster."""
    limit_markers: bool = False
    """Have the server write a marker when a key expires, so watchers see the removal (nats-server >= 2.11)."""
    max_value_bytes: int = 128 * 1024


async def open_bucket(js: JetStreamContext, spec: BucketSpec) -> KeyValue:
    """Bind to the bucket, creating it (file storage, history 1) when it does not exist yet."""
    try:
        return await js.key_value(spec.name)
    except BucketNotFoundError:
        pass
    config = KeyValueConfig(
        bucket=spec.name,
        history=1,
        ttl=spec.max_age_s,
        storage=StorageType.FILE,
        replicas=spec.replicas,
        max_value_size=spec.max_value_bytes,
        limit_marker_ttl=spec.max_age_s if spec.limit_markers else None,
    )
    return await js.create_key_value(config=config)


@dataclass(frozen=True, slots=True)
class LiveValue:
    """What a key holds now: ``value`` is None when it is absent; ``revision`` is the one to write after."""

    value: bytes | None
    revision: int


async def read_live(kv: KeyValue, key: str) -> LiveValue:
    """The key's current value, with deletes, purges and expiry markers read as absent."""
    try:
        entry = await kv.get(key)
    except KeyNotFoundError as exc:
        tombstone = exc.entry
        return LiveValue(None, tombstone.revision if tombstone is not None and tombstone.revision else 0)
    if not entry.value:  # an expiry marker reads back as an entry with an empty value
        return LiveValue(None, entry.revision or 0)
    return LiveValue(entry.value, entry.revision or 0)


class KeyClaim:
    """Exclusive ownership of one key by one owner value (see the module docstring for the rules)."""

    def __init__(
        self, kv: KeyValue, key: str, owner: bytes, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.key = key
        self.owner = owner
        self._kv = kv
        self._ttl_s = ttl_s
        self._clock = clock
        self._revision: int | None = None
        self._valid_until = NEVER

    def holds(self, now_s: float) -> bool:
        """Whether the claim is ours at monotonic time ``now_s``, judged without asking the server."""
        return now_s < self._valid_until

    async def acquire(self) -> bytes | None:
        """Take or renew the key; None when it is ours, else the value of its current owner.

        Raises nats-py's errors when NATS or JetStream cannot answer (the caller counts and retries).
        """
        started = self._clock()
        for _ in range(3):  # a write between our read and our write by someone else: read again
            try:
                self._revision = await self._write()
            except KeyWrongLastSequenceError:
                self._revision = None
                current = await read_live(self._kv, self.key)
                if current.value is not None and current.value != self.owner:
                    self._valid_until = NEVER
                    return current.value
                try:  # absent (deleted or expired) or our own value: write after its revision
                    self._revision = await self._kv.update(self.key, self.owner, last=current.revision)
                except KeyWrongLastSequenceError:
                    continue
            self._valid_until = started + self._ttl_s
            return None
        self._valid_until = NEVER
        current = await read_live(self._kv, self.key)
        return current.value if current.value is not None else b""

    async def _write(self) -> int:
        if self._revision is None:
            return await self._kv.create(self.key, self.owner)
        return await self._kv.update(self.key, self.owner, last=self._revision)

    async def release(self) -> None:
        """Give the key up, only if our write is still the last one (never deletes a successor's claim)."""
        revision, self._revision = self._revision, None
        self._valid_until = NEVER
        if revision is None:
            return
        try:
            await self._kv.delete(self.key, last=revision)
        except BadRequestError as exc:
            if exc.err_code != WRONG_LAST_SEQUENCE:
                raise  # expired or taken over since (the code above): nothing of ours to remove
