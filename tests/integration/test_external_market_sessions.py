"""market_sessions in the running gateway: a brokers.yaml entry, a real nats-server, what a consumer receives.

The collector needs no provider: at start it restates the state of the FX week and the four sessions on
``market.external.market_sessions`` as CHANGE_CURRENT and says CONNECTED on ``market.sessions.status``. The
exact instants are tested with a driven clock in tests/unit/collectors/external/test_market_sessions.py; here the
wall clock runs, so the payloads are checked against the pure state at the time the gateway stamped them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
import nats
import pytest
import yaml
from nats.aio.msg import Msg

from collectors.external.market_sessions import ALL_NAMES, MarketSessionsConfig, state_at
from gateway.app import Gateway
from gateway.clock import now_ns
from gateway.config import load_config
from gateway.schema.market.v1.market_pb2 import ExternalData, SourceStatus
from gateway.wire import EXTERNAL_CONTENT_TYPE

SUBJECT: Final = "market.external.market_sessions"
ZONES: Final = {
    "fx_week": "America/New_York",
    "sydney": "Australia/Sydney",
    "tokyo": "Asia/Tokyo",
    "london": "Europe/London",
    "new_york": "America/New_York",
}


@dataclass
class Subscriber:
    """Everything published on the sessions' subject and their status subject, decoded, in order."""

    data: list[tuple[str, dict[str, str], ExternalData]] = field(default_factory=list)
    statuses: list[SourceStatus] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_message(self, message: Msg) -> None:
        if message.subject.endswith(".status"):
            self.statuses.append(SourceStatus.FromString(message.data))
        else:
            self.data.append((message.subject, dict(message.headers or {}), ExternalData.FromString(message.data)))
        self.arrived.set()

    async def wait_for(self, data: int, statuses: int, timeout_s: float = 15.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.data) < data or len(self.statuses) < statuses:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def subscriber(nats_url: str) -> AsyncIterator[Subscriber]:
    received = Subscriber()
    client = await nats.connect(nats_url)
    await client.subscribe(SUBJECT, cb=received.on_message)
    await client.subscribe("market.sessions.status", cb=received.on_message)
    await client.flush()
    yield received
    await client.drain()


async def test_the_current_state_reaches_nats_at_start(tmp_path: Path, nats_url: str, subscriber: Subscriber) -> None:
    config = {
        "instance_id": "gw-sessions",
        "nats": {"url": nats_url},
        "http": {"port": 0},
        "external": [
            {
                "id": "sessions",
                "kind": "market_sessions",
                "holidays": [{"date": "2026-12-25", "name": "Christmas"}, {"date": "2027-01-01"}],
            }
        ],
    }
    path = tmp_path / "brokers.yaml"
    path.write_text(yaml.safe_dump(config))
    start_ns = now_ns()
    gateway = Gateway(load_config(path))
    await gateway.start()
    try:
        await subscriber.wait_for(data=len(ALL_NAMES), statuses=1)
        async with httpx.AsyncClient() as client:
            health = (await client.get(f"http://127.0.0.1:{gateway.http_port}/health")).json()
    finally:
        await gateway.stop()
    assert [status.state for status in subscriber.statuses] == [SourceStatus.STATE_CONNECTED]
    assert len(subscriber.data) == len(ALL_NAMES)
    stamped_ns = {data.ts_recv_ns for _, _, data in subscriber.data}
    assert len(stamped_ns) == 1  # one restatement, one instant
    (at_ns,) = stamped_ns
    assert start_ns <= at_ns <= now_ns()
    (entry,) = load_config(path).enabled_external
    assert isinstance(entry, MarketSessionsConfig)
    assert entry.holiday_dates()["london"] == {dt.date(2026, 12, 25), dt.date(2027, 1, 1)}
    expected = state_at(at_ns, entry.holiday_dates())
    for (subject, headers, data), state in zip(subscriber.data, expected, strict=True):
        assert subject == SUBJECT
        assert headers["Content-Type"] == EXTERNAL_CONTENT_TYPE
        assert (data.type, data.source, data.change, data.revision) == (
            "market_sessions",
            "sessions",
            ExternalData.CHANGE_CURRENT,
            1,
        )
        assert (data.item_id, data.ts_ns, data.session) == (state.item_id, state.at_ns, state.session)
        assert data.session.zone == ZONES[data.session.name]
        assert data.ts_ns <= at_ns < data.session.closes_at_ns
        assert data.session.opens_at_ns < data.session.closes_at_ns
        assert data.session.open == (data.session.opens_at_ns <= at_ns)
    assert [data.session.name for _, _, data in subscriber.data] == list(ALL_NAMES)
    assert [data.seq for _, _, data in subscriber.data] == [1, 2, 3, 4, 5]
    assert health["external"]["sessions"]["status"] == "ok"
    assert health["external"]["sessions"]["items"]["current"] == len(ALL_NAMES)
