"""The gateway running external collectors from a brokers.yaml: real nats-server, a local FRED, tansu for Kafka.

What a consumer sees on ``market.external.>`` and in the external Kafka topic, /health's external block, and a
restart that keeps the change-detection state (nothing republished, a revision published as an update).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import nats
import pytest
import yaml
from nats.aio.msg import Msg

from collectors.polling import forget_shared_answers
from gateway.app import Gateway
from gateway.config import load_config
from gateway.schema.market.v1.market_pb2 import ExternalData, FieldChange, SourceStatus
from gateway.wire import EXTERNAL_CONTENT_TYPE, ID_HEADER
from tests.integration.kafka.kafkautil import read_messages
from tests.servers.http_provider import ProviderServer, Reply
from tests.servers.tansu import TansuBroker

KEY: Final = "fedcba9876543210fedcba9876543210"
OBSERVATIONS: Final = 315
PATH: Final = "/fred/series/observations"


@dataclass
class Subscriber:
    """Everything published on ``market.external.>`` and ``market.fred.status``, decoded, in order."""

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
def recorded(shared_data: Path) -> bytes:
    return (shared_data / "fred" / "series_observations_GDP.json").read_bytes()


@pytest.fixture
async def fred_server(recorded: bytes) -> AsyncIterator[ProviderServer]:
    async with ProviderServer() as server:
        server.serve(PATH, Reply(body=recorded))
        yield server


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FRED_API_KEY", KEY)
    yield


@pytest.fixture
async def subscriber(nats_url: str) -> AsyncIterator[Subscriber]:
    received = Subscriber()
    client = await nats.connect(nats_url)
    await client.subscribe("market.external.>", cb=received.on_message)
    await client.subscribe("market.fred.status", cb=received.on_message)
    await client.flush()
    yield received
    await client.drain()


def write_config(tmp_path: Path, nats_url: str, fred_url: str, **more: Any) -> Path:
    """A brokers.yaml of external collectors only, its state directory beside it (the default ``state``)."""
    config = {
        "instance_id": "gw-external",
        "nats": {"url": nats_url},
        "http": {"port": 0},
        "external": [{"id": "fred", "kind": "fred", "series": ["GDP"], "base_url": fred_url, "timeout_s": 5}],
        **more,
    }
    path = tmp_path / "brokers.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def revised(recorded: bytes) -> bytes:
    answer = json.loads(recorded)
    answer["observations"][-1]["value"] = "29374.914"
    return json.dumps(answer).encode()


@pytest.mark.usefixtures("key")
async def test_fred_reaches_nats_and_a_restart_republishes_only_the_revision(
    tmp_path: Path, nats_url: str, fred_server: ProviderServer, subscriber: Subscriber, recorded: bytes
) -> None:
    config = load_config(write_config(tmp_path, nats_url, f"{fred_server.base_url}/fred"))
    assert config.state_dir == tmp_path / "state" and config.brokers == ()
    gateway = Gateway(config)
    await gateway.start()
    try:
        await subscriber.wait_for(data=OBSERVATIONS, statuses=1)
        async with httpx.AsyncClient() as client:
            health = (await client.get(f"http://127.0.0.1:{gateway.http_port}/health")).json()
            metrics = (await client.get(f"http://127.0.0.1:{gateway.http_port}/metrics")).text
    finally:
        await gateway.stop()
    first_session = gateway.started_ns
    subject, headers, first = subscriber.data[0]
    assert subject == "market.external.fred"
    assert headers == {"Content-Type": EXTERNAL_CONTENT_TYPE, "Nats-Msg-Id": f"fred:external:{first_session}:1"}
    assert (first.item_id, first.change, first.session_id, first.seq) == (
        "GDP:1946-01-01",
        ExternalData.CHANGE_NEW,
        first_session,
        1,
    )
    assert [data.seq for _, _, data in subscriber.data] == list(range(1, OBSERVATIONS + 1))
    assert [status.state for status in subscriber.statuses] == [SourceStatus.STATE_CONNECTED]
    assert health["status"] == "ok"
    assert health["external"]["fred"]["items"]["new"] == OBSERVATIONS and health["external"]["fred"]["status"] == "ok"
    assert 'fxgw_external_published_total{source="fred"} 315.0' in metrics
    assert (tmp_path / "state" / "fred.json").is_file()

    forget_shared_answers()  # a new process would not share the first one's answers
    fred_server.serve(PATH, Reply(body=revised(recorded)))
    again = Gateway(load_config(tmp_path / "brokers.yaml"))
    await again.start()
    try:
        await subscriber.wait_for(data=OBSERVATIONS + 1, statuses=2)
        await asyncio.sleep(0.2)  # anything republished would have arrived with the update
    finally:
        await again.stop()
    [(_, _, update)] = subscriber.data[OBSERVATIONS:]
    assert (update.item_id, update.change, update.revision, update.session_id, update.seq) == (
        "GDP:2024-07-01",
        ExternalData.CHANGE_UPDATED,
        2,
        again.started_ns,
        1,
    )
    assert list(update.changes) == [FieldChange(field="value", previous="29349.924", current="29374.914")]
    assert KEY not in json.dumps(health)


@pytest.fixture
def kafka() -> Iterator[TansuBroker]:
    with TansuBroker() as broker:
        yield broker


@pytest.mark.usefixtures("key")
async def test_fred_reaches_the_external_kafka_topic_keyed_by_type(
    tmp_path: Path, nats_url: str, fred_server: ProviderServer, subscriber: Subscriber, kafka: TansuBroker
) -> None:
    forget_shared_answers()
    kafka_config = {
        "enabled": True,
        "bootstrap_servers": kafka.bootstrap,
        "external_topic": "ext",
        "spool": {"dir": "spool"},
    }
    gateway = Gateway(load_config(write_config(tmp_path, nats_url, f"{fred_server.base_url}/fred", kafka=kafka_config)))
    await gateway.start()
    try:
        await subscriber.wait_for(data=OBSERVATIONS, statuses=1)
    finally:
        await gateway.stop()
    records = await read_messages(kafka.bootstrap, "ext")
    assert len(records) == OBSERVATIONS
    assert {record.key for record in records} == {b"fred"}
    stored = [ExternalData.FromString(record.value) for record in records]
    assert stored == [data for _, _, data in subscriber.data]
    assert all(dict(record.headers)[ID_HEADER].startswith(b"gw-external:") for record in records)
    assert (tmp_path / "spool").is_dir() and (tmp_path / "state" / "fred.json").is_file()
