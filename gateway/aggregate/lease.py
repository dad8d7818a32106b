"""Whether this aggregator may publish now: the publish lease of the hot standby (pure; the clock is passed in).

Two aggregators consume and compute the same best prices (warm state); only the holder of the lease publishes.
The lease is a :class:`gateway.kv.KeyClaim` in a bucket of its own whose ``max_age`` is the lease time: taken
with ``create``, renewed by revision every third of the lease, lost by expiry when the holder stops renewing.
Before each publish the holder asks :meth:`KeyClaim.holds` (the monotonic clock alone, no round trip), so a
holder frozen past its lease (SIGSTOP, a long GC or VM pause) that wakes up withholds its output before it
has even talked to the server, by which time the standby may hold the lease.

:class:`PublishGate` turns "held now" into what to do with a batch of best-price changes, and remembers
whether the previous decision was made holding, so a new holder publishes every current best price at once
(the standby computed them all along, but published none).
"""

from __future__ import annotations

import enum
from typing import Final

STANDBY_POLL_S: Final = 0.25
"""How often a standby tries to take the lease: the delay it adds to a failover after the lease expired."""


class Publish(enum.Enum):
    WITHHOLD = "withhold"
    """Not the holder: compute, publish nothing."""
    CHANGES = "changes"
    """The holder, as before: publish the changes."""
    TAKEOVER = "takeover"
    """Just became the holder: publish every current best price."""


class PublishGate:
    """Remembers whether the last decision was made holding the lease."""

    __slots__ = ("holding",)

    def __init__(self) -> None:
        self.holding = False

    def decide(self, holds: bool) -> Publish:
        """What to do with the output computed now, given whether the lease is held now."""
        was_holding, self.holding = self.holding, holds
        if not holds:
            return Publish.WITHHOLD
        return Publish.CHANGES if was_holding else Publish.TAKEOVER


def renew_interval_s(ttl_s: float, holding: bool) -> float:
    """Seconds until the next attempt: a holder renews at a third of the lease (two renewals may fail before it
    lapses); a standby tries every :data:`STANDBY_POLL_S` (or sooner on a short lease) to take over soon after
    the holder's lease expired."""
    return ttl_s / 3 if holding else min(STANDBY_POLL_S, ttl_s / 3)
