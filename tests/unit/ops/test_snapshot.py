"""gateway.ops.snapshot: the read model's derived answers (delivering, token refused, names, totals)."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.events import connection_delivers
from gateway.ops.snapshot import SourceSnapshot
from gateway.schema.market.v1.market_pb2 import SourceStatus
from tests.unit.ops.samples import CONNECTED, NONE_YET, OANDA, SIM, UNAUTHORIZED, oanda, snapshot

PUBLISHED_STATES = [state for state in SourceStatus.State.values() if state != NONE_YET]


@pytest.mark.parametrize("state", PUBLISHED_STATES, ids=SourceStatus.State.Name)
def test_a_source_with_a_connection_delivers_exactly_in_the_delivering_states(state: SourceStatus.State) -> None:
    assert oanda(connection=state).delivering is connection_delivers(state)


@pytest.mark.parametrize(
    ("source", "delivering"),
    [
        pytest.param(SIM, True, id="without-connection-running"),
        pytest.param(oanda(connection=NONE_YET), False, id="with-connection-none-published-yet"),
        pytest.param(dataclasses.replace(SIM, state="failed"), False, id="collector-failed"),
        pytest.param(dataclasses.replace(SIM, state="finished"), False, id="collector-finished"),
        pytest.param(oanda(state="failed"), False, id="connected-but-collector-failed"),
        pytest.param(oanda(unauthorized=True), False, id="connected-but-token-refused"),
    ],
)
def test_delivering_needs_a_running_collector_and_an_accepted_token(source: SourceSnapshot, delivering: bool) -> None:
    assert source.delivering is delivering


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        pytest.param(OANDA, False, id="connected"),
        pytest.param(oanda(unauthorized=True), True, id="collector-flag"),
        pytest.param(oanda(connection=UNAUTHORIZED), True, id="published-status"),
    ],
)
def test_token_is_refused_by_the_collectors_flag_or_the_published_status(source: SourceSnapshot, refused: bool) -> None:
    assert source.token_refused is refused


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (NONE_YET, None),
        (CONNECTED, "connected"),
        (SourceStatus.STATE_RECONNECTED, "reconnected"),
        (UNAUTHORIZED, "unauthorized"),
        (SourceStatus.STATE_REJECTED, "rejected"),
        (SourceStatus.STATE_DISCONNECTED, "disconnected"),
    ],
)
def test_connection_name_is_the_published_state_in_lower_case(state: SourceStatus.State, name: str | None) -> None:
    assert oanda(connection=state).connection_name == name


def test_counts_by_source_and_rejected_total_over_all_sources_and_reasons() -> None:
    state = snapshot(sources={"sim": SIM, "oanda-a": oanda(rejected={"MALFORMED": 2, "STALE": 5})})
    assert state.accepted_counts() == {"sim": 500, "oanda-a": 900}
    assert state.rejected_total == 3 + 2 + 5
