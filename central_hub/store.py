"""The registry: gateway records and source claims in one JetStream key-value bucket, and the hub's cache of it.

Bucket layout (gateway.kv, file storage, history 1, max age = :data:`EXPIRY_HEARTBEATS` hub heartbeats,
limit markers on so watchers see an expiry as a removal):

- ``gateways.<instance_id>``: the :class:`~central_hub.models.StoredGateway` JSON, rewritten by revision on every
  heartbeat; removed by a deregistration (same session only) or by expiry;
- ``sources.<source_id>``: the claim of a broker source by one instance (value: the ``instance_id``), a
  gateway.kv.KeyClaim renewed with each heartbeat: one source, one owner. The claim's owner is the instance, not
  the session, so a restarted gateway adopts its own claims at once (KeyClaim's rule for its own value); sessions
  are told apart on the gateway record, before any claim is touched.

The hub keeps no state of its own: :meth:`Registry.watch` fills a cache from a KV watcher's initial snapshot
(a new hub lists every live entry before it serves) and applies its updates. nats-py's watcher does not
resume after a server restart, so the hub's reconnect callback calls :meth:`Registry.resync`, which makes a new
watcher and replaces the cache from its snapshot. ``index`` is the highest bucket revision seen: blocking list
queries (``?index=N``) wait for it to pass N.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import nats.errors
from nats.errors import Error as NatsError
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from central_hub.models import GatewayRecord, StoredGateway
from gateway.backoff import Backoff
from gateway.errors import RegistryUnavailableError
from gateway.kv import KeyClaim, read_live
from gateway.logs import ThrottledLog

logger = logging.getLogger(__name__)

EXPIRY_HEARTBEATS: Final = 3
"""A record and its claims expire this many hub heartbeats after their last write."""
GATEWAYS: Final = "gateways"
SOURCES: Final = "sources"
WRITE_ATTEMPTS: Final = 3
"""Writes by revision retried when another hub wrote the same key in between."""
WATCH_POLL_S: Final = 0.5
"""How long the watcher loop waits for an update before it looks at the resync flag again."""
UNAVAILABLE: Final = (NatsError, TimeoutError, OSError)
OWN_WRITE_WAIT_S: Final = 1.0
"""A write returns once this hub's cache shows it (read your writes), or after this long at most."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A registration or deregistration refused (409): why, and who holds what."""

    reason: str
    owners: dict[str, str]
    """Source id -> instance id owning it, for a source conflict; empty otherwise."""


class Registry:
    """Registration, deregistration and the watcher-fed cache of one bucket (several hubs may share it)."""

    def __init__(self, kv: KeyValue, claim_ttl_s: float, clock_ns: Callable[[], int] = time.time_ns) -> None:
        """``claim_ttl_s`` is the bucket's max age; ``clock_ns`` stamps the hub's times (ns since the epoch)."""
        self._kv = kv
        self._claim_ttl_s = claim_ttl_s
        self._clock_ns = clock_ns
        self.gateways: dict[str, StoredGateway] = {}
        self.index = 0
        self.synced = False
        """The cache holds a watcher's complete snapshot and follows its updates."""
        self._changed = asyncio.Event()
        self._resync = asyncio.Event()

    async def register(self, record: GatewayRecord) -> StoredGateway | Refused:
        """Write or refresh ``record``; Refused for a zombie session or a source another instance owns.

        Raises RegistryUnavailableError when NATS or JetStream does not answer.
        """
        key = f"{GATEWAYS}.{record.instance_id}"
        try:
            for _ in range(WRITE_ATTEMPTS):
                current = await read_live(self._kv, key)
                previous = StoredGateway.decode(current.value) if current.value is not None else None
                if previous is not None and previous.record.session_id > record.session_id:
                    return Refused(
                        f"instance {record.instance_id} is registered by a newer session "
                        f"({previous.record.session_id}); session {record.session_id} is a zombie",
                        {},
                    )
                owners = await self._claim_sources(record)
                if owners:
                    named = ", ".join(f"{source} (owned by {owner})" for source, owner in sorted(owners.items()))
                    return Refused(f"sources owned by another live instance: {named}", owners)
                now = self._clock_ns()
                same_session = previous is not None and previous.record.session_id == record.session_id
                registered_ns = previous.registered_ns if previous is not None and same_session else now
                stored = StoredGateway(record=record, registered_ns=registered_ns, last_heartbeat_ns=now)
                try:
                    revision = await self._kv.update(key, stored.encode(), last=current.revision)
                except KeyWrongLastSequenceError:
                    continue  # another hub wrote it in between: judge again on what it wrote
                await self.wait_for_change(revision - 1, OWN_WRITE_WAIT_S)
                return stored
        except UNAVAILABLE as exc:
            raise RegistryUnavailableError(f"registry bucket unavailable: {type(exc).__name__}") from exc
        raise RegistryUnavailableError(f"{key} kept changing during {WRITE_ATTEMPTS} attempts")

    async def _claim_sources(self, record: GatewayRecord) -> dict[str, str]:
        """Take or renew the claim of every broker source; the ones another instance owns, with their owner."""
        owner = record.instance_id.encode()
        claims = [
            KeyClaim(self._kv, f"{SOURCES}.{source.id}", owner, self._claim_ttl_s)
            for source in record.sources
            if not source.external  # an external collector reads public data: several may poll it
        ]
        held = await asyncio.gather(*(claim.acquire() for claim in claims))
        return {
            claim.key.removeprefix(f"{SOURCES}."): value.decode(errors="replace")
            for claim, value in zip(claims, held, strict=True)
            if value is not None
        }

    async def deregister(self, instance_id: str, session_id: int) -> bool | Refused:
        """Remove the instance's record and release its claims; False when it is not registered.

        Refused when the record belongs to another session (only the session that registered may remove it).
        Raises RegistryUnavailableError when NATS or JetStream does not answer.
        """
        key = f"{GATEWAYS}.{instance_id}"
        try:
            current = await read_live(self._kv, key)
            stored = StoredGateway.decode(current.value) if current.value is not None else None
            if stored is None:
                return False
            if stored.record.session_id != session_id:
                return Refused(
                    f"instance {instance_id} is registered by session {stored.record.session_id}, not {session_id}",
                    {},
                )
            owner = instance_id.encode()
            for source in stored.record.sources:
                claim = KeyClaim(self._kv, f"{SOURCES}.{source.id}", owner, self._claim_ttl_s)
                if not source.external and await claim.acquire() is None:
                    await claim.release()
            await self._kv.delete(key, last=current.revision)
            await self.wait_for_change(self.index, OWN_WRITE_WAIT_S)
        except UNAVAILABLE as exc:
            raise RegistryUnavailableError(f"registry bucket unavailable: {type(exc).__name__}") from exc
        return True

    async def wait_for_change(self, index: int, timeout_s: float) -> None:
        """Return once :attr:`index` passes ``index``, or after ``timeout_s`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self.index <= index:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return

    def connection_lost(self) -> None:
        """The cache stops being current: the hub answers 503 until :meth:`resync` has replaced it."""
        self.synced = False

    def resync(self) -> None:
        """Replace the cache from a new watcher (call on NATS reconnect: the old watcher does not resume)."""
        self.synced = False
        self._resync.set()

    async def watch(self) -> None:
        """Keep the cache equal to the bucket's ``gateways.*`` keys, forever (a task of the hub)."""
        backoff = Backoff(0.1, 2.0)
        errors = ThrottledLog(logger)
        while True:
            self._resync.clear()
            try:
                await self._follow()
                backoff.reset()
            except UNAVAILABLE as exc:
                self.synced = False
                errors.warning("hub: watching the registry bucket failed (%s); watching again", repr(exc))
                with contextlib.suppress(TimeoutError):  # a reconnect cuts the wait short
                    await asyncio.wait_for(self._resync.wait(), backoff.next_delay())

    async def _follow(self) -> None:
        """One watcher: its initial snapshot replaces the cache, then its updates apply until a resync."""
        watcher = await self._kv.watch(f"{GATEWAYS}.>")
        try:
            snapshot: dict[str, StoredGateway] = {}
            highest = self.index
            synced = False
            while not self._resync.is_set():
                try:
                    entry = await watcher.updates(timeout=WATCH_POLL_S)
                except nats.errors.TimeoutError:
                    continue
                if entry is None:  # the end of the initial snapshot
                    self.gateways, synced = snapshot, True
                    self.synced = True
                    self._bump(highest)
                    continue
                instance_id = entry.key.removeprefix(f"{GATEWAYS}.")
                stored = None
                if entry.operation not in (KV_DEL, KV_PURGE) and entry.value:  # a marker reads as empty too
                    stored = StoredGateway.decode(entry.value)
                target = self.gateways if synced else snapshot
                if stored is None:
                    target.pop(instance_id, None)
                else:
                    target[instance_id] = stored
                highest = max(highest, entry.revision or 0)
                if synced:
                    self._bump(highest)
        finally:
            with contextlib.suppress(*UNAVAILABLE):  # its subscription may be gone with the old connection
                await watcher.stop()

    def _bump(self, index: int) -> None:
        """A change: raise the index and wake the blocking queries."""
        self.index = max(self.index + 1, index)
        self._changed.set()
        self._changed = asyncio.Event()
