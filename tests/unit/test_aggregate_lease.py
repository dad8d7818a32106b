"""gateway.aggregate.lease: the publish decision of a hot-standby aggregator, and its renewal pace."""

from __future__ import annotations

import pytest

from gateway.aggregate.lease import STANDBY_POLL_S, Publish, PublishGate, renew_interval_s


def test_only_the_holder_publishes_and_a_new_holder_publishes_everything_first() -> None:
    gate = PublishGate()
    assert gate.decide(holds=False) is Publish.WITHHOLD  # a standby: computes, publishes nothing
    assert gate.decide(holds=False) is Publish.WITHHOLD
    assert gate.decide(holds=True) is Publish.TAKEOVER  # just took the lease: every current best price
    assert gate.decide(holds=True) is Publish.CHANGES
    assert gate.decide(holds=True) is Publish.CHANGES


def test_a_holder_that_lost_its_lease_withholds_and_takes_over_afresh() -> None:
    """Frozen past its lease (holds() judged false on waking), then perhaps holding it again later."""
    gate = PublishGate()
    gate.decide(holds=True)
    assert gate.decide(holds=False) is Publish.WITHHOLD
    assert not gate.holding
    assert gate.decide(holds=True) is Publish.TAKEOVER  # the standby's state may be missing: publish all again


@pytest.mark.parametrize("ttl_s", [0.5, 3.0, 60.0])
def test_a_holder_renews_at_a_third_of_the_lease_and_a_standby_polls_faster(ttl_s: float) -> None:
    assert renew_interval_s(ttl_s, holding=True) == pytest.approx(ttl_s / 3)
    standby = renew_interval_s(ttl_s, holding=False)
    assert standby <= STANDBY_POLL_S and standby <= ttl_s / 3
