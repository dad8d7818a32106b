"""The aggregator service in this process against real servers: Kafka through its own spool, gaps, handover, JetStream.

What needs processes killed or frozen is in test_aggregate_scale.py; here a test feeds gateway-encoded
messages itself, so it knows exactly which ``batch_seq`` went missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import yaml
from nats.aio.client import Client as NatsClient
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from gateway.aggregate.config import parse_aggregate_config
from gateway.aggregate.service import AggregatorService
from gateway.errors import HttpBindError, NatsUnavailableError
from gateway.events import Quote
from gateway.kv import read_live
from gateway.nats_server import NatsServer
from gateway.schema.market.v1.market_pb2 import MarketDataStream, SourceStatus
from gateway.wire import ID_HEADER, TickRecordEncoder, stream_header
from tests.integration.kafka.kafkautil import read_messages
from tests.integration.test_broker_quality import promtool_accepts
from tests.servers.tansu import TansuBroker
from tests.support import Recorder, free_port, fxgw, wait_until

SESSION = 5


@pytest.fixture(scope="module")
def jetstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(extra_args=("-js", "-sd", str(tmp_path_factory.mktemp("js")))) as server:
        yield server


def _config(url: str, name: str, bucket: str, ttl_s: float = 1.0, **sections: Any) -> dict[str, Any]:
    return {
        "instance_id": name,
        "nats": {"url": url},
        "lease": {"bucket": bucket, "ttl_s": ttl_s},
        "best_price": {"priorities": {"gw-1": 1}},
        "http": {"port": 0},
        **sections,
    }


Start = Callable[..., Awaitable[AggregatorService]]


@pytest.fixture
async def started() -> AsyncIterator[Start]:
    """Starts aggregators; every one is stopped at teardown, whether or not the test passed (stop runs once)."""
    services: list[AggregatorService] = []

    async def start(config: dict[str, Any], base_dir: Path | None = None) -> AggregatorService:
        service = AggregatorService(parse_aggregate_config(config, base_dir=base_dir))
        await service.start()
        services.append(service)
        return service

    yield start
    for service in services:
        await service.stop()


def _message(source: str, batch_seq: int, bid: int, instruments: tuple[str, ...] = ("EUR_USD",)) -> bytes:
    now = time.time_ns()
    encoder = TickRecordEncoder()
    records = b"".join(
        encoder.encode(Quote(instrument, source, bid, bid + 100, 1, 1, now, now), batch_seq)
        for instrument in instruments
    )
    return stream_header(source, now, batch_seq, SESSION) + records


def _published(count: int) -> Callable[[Recorder], bool]:
    return lambda recorder: len(recorder.best_prices()) == count


@pytest.fixture
async def publisher(jetstream: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(jetstream.url)
    yield client
    await client.close()


@pytest.fixture
async def recorder(jetstream: NatsServer) -> AsyncIterator[Recorder]:
    recorder = await Recorder().start(jetstream.url, "market.best.ticks")
    yield recorder
    await recorder.stop()


async def test_best_prices_go_to_the_kafka_topic_through_the_aggregators_own_spool(
    jetstream: NatsServer, publisher: NatsClient, recorder: Recorder, tmp_path: Path, started: Start
) -> None:
    with TansuBroker() as kafka:
        kafka_section = {"enabled": True, "bootstrap_servers": kafka.bootstrap, "spool": {"dir": "spool-agg"}}
        service = await started(_config(jetstream.url, "agg-k", "lease_kafka", kafka=kafka_section), tmp_path)
        try:
            await wait_until(lambda: service.holds_lease, "the lease")
            for batch_seq, bid in enumerate((1000, 1010, 1020), 1):
                await publisher.publish("market.gw-1.ticks", _message("gw-1", batch_seq, bid))
                await recorder.wait_for(_published(batch_seq))
            assert service.backup is not None
            await wait_until(lambda: service.backup is not None and not service.backup.spool.pending_records)
            messages = await read_messages(kafka.bootstrap, "market-best-prices")
        finally:
            await service.stop()  # before its Kafka broker goes
        assert (tmp_path / "spool-agg").is_dir()
    on_kafka = [best.bid_px for m in messages for best in MarketDataStream.FromString(m.value).best_prices]
    assert on_kafka == [best.bid_px for best in recorder.best_prices()] == [1000, 1010, 1020]
    assert all(dict(m.headers)[ID_HEADER].startswith(b"agg-k:") for m in messages)


async def test_a_gap_is_counted_logged_and_the_source_suspect_until_its_next_tick(
    jetstream: NatsServer, publisher: NatsClient, recorder: Recorder, caplog: pytest.LogCaptureFixture, started: Start
) -> None:
    service = await started(_config(jetstream.url, "agg-g", "lease_gap"))
    await wait_until(lambda: service.holds_lease, "the lease")
    await publisher.publish("market.gw-1.ticks", _message("gw-1", 1, 1000, ("EUR_USD", "GBP_USD")))
    await publisher.publish("market.gw-2.ticks", _message("gw-2", 1, 990, ("EUR_USD", "GBP_USD")))
    await recorder.wait_for(lambda r: {(b.instrument, b.live_sources) for b in r.best_prices()} >= {("GBP_USD", 2)})
    with caplog.at_level(logging.WARNING, "gateway.aggregate.service"):
        await publisher.publish("market.gw-1.ticks", _message("gw-1", 5, 1001))  # 2 to 4 lost
        await recorder.wait_for(lambda r: any(best.bid_px == 1001 for best in r.best_prices()))
    latest = {best.instrument: best for best in recorder.best_prices()}
    assert (latest["EUR_USD"].bid_source, latest["EUR_USD"].bid_px, latest["EUR_USD"].live_sources) == (
        "gw-1",
        1001,
        2,
    )
    assert (latest["GBP_USD"].bid_source, latest["GBP_USD"].live_sources) == ("gw-2", 1)  # gw-1's is suspect
    assert service.feed.stats.gaps == 1 and service.feed.stats.messages_missed == 3
    assert "gw-1 lost 3 messages (batch_seq gap" in caplog.text
    status = SourceStatus(source="gw-2", state=SourceStatus.STATE_DISCONNECTED)
    await publisher.publish("market.gw-2.status", status.SerializeToString())
    await recorder.wait_for(  # GBP_USD: nobody left
        lambda r: any(b.instrument == "GBP_USD" and b.live_sources == 0 for b in r.best_prices())
    )


async def test_a_stopped_holder_hands_over_at_once_and_the_standby_publishes_every_best_price(
    jetstream: NatsServer, publisher: NatsClient, recorder: Recorder, started: Start
) -> None:
    first = await started(_config(jetstream.url, "agg-1", "lease_handover", ttl_s=30.0))
    await wait_until(lambda: first.holds_lease, "the lease")
    second = await started(_config(jetstream.url, "agg-2", "lease_handover", ttl_s=30.0))
    await wait_until(lambda: second.lease.owner.startswith("agg-1:"), "the standby's first look at the lease")
    await publisher.publish("market.gw-1.ticks", _message("gw-1", 1, 1000, ("EUR_USD", "GBP_USD", "USD_JPY")))
    await recorder.wait_for(lambda r: len(r.best_prices()) == 3)
    await wait_until(lambda: second.lease.withheld == 3, "the standby's computation")  # computed, not published
    assert not second.holds_lease and first.lease.withheld == 0
    await first.stop()
    # released: the standby's next try (every 0.25 s) takes it; expired, it could not be before 20 s (renewed
    # every 10 s, a 30 s lease), so 15 s is a generous wait on a loaded host that still tells the two apart
    await recorder.wait_for(lambda r: len(r.best_prices()) == 6, timeout_s=15)
    takeover = recorder.streams["best"][-1]
    assert takeover.session_id == second.session_id
    assert sorted(b.instrument for b in takeover.best_prices) == ["EUR_USD", "GBP_USD", "USD_JPY"]


async def test_without_jetstream_the_start_fails_naming_it(nats_url: str) -> None:
    service = AggregatorService(parse_aggregate_config(_config(nats_url, "agg-x", "lease_none")))
    with pytest.raises(NatsUnavailableError, match=r"cannot open the lease bucket lease_none .*JetStream enabled"):
        await service.start()


def test_fxgw_aggregate_refuses_a_bad_config_and_an_unreachable_nats(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("lease: {ttl_s: 0}\n")
    result = fxgw("aggregate", "--config", str(bad))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("fxgw: config error: ") and "lease.ttl_s" in result.stderr
    unreachable = tmp_path / "unreachable.yaml"
    unreachable.write_text(
        f"nats: {{url: 'nats://127.0.0.1:{free_port()}', connect_timeout_s: 1}}\nhttp: {{port: 0}}\n"
    )
    result = fxgw("aggregate", "--config", str(unreachable))
    assert result.returncode == 1 and "cannot connect to NATS" in result.stderr
    assert "Traceback" not in result.stderr


async def test_fxgw_aggregate_stops_on_sigterm_and_releases_its_lease(jetstream: NatsServer, tmp_path: Path) -> None:
    path = tmp_path / "aggregate.yaml"
    path.write_text(yaml.safe_dump(_config(jetstream.url, "agg-cli", "lease_cli")))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "aggregate", "--config", str(path), stderr=asyncio.subprocess.PIPE
    )
    client = await nats.connect(jetstream.url)
    try:

        async def held() -> KeyValue:
            while True:
                with contextlib.suppress(BucketNotFoundError):
                    bucket = await client.jetstream().key_value("lease_cli")
                    if (await read_live(bucket, "best")).value is not None:
                        return bucket
                await asyncio.sleep(0.05)

        bucket = await asyncio.wait_for(held(), 15)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
        assert (await read_live(bucket, "best")).value is None  # released: a standby takes over at its next try
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await client.close()


def _metric(families: dict[str, Metric], name: str, **labels: str) -> float:
    """One sample's value from parsed /metrics (prometheus-client's parser; counters parse without ``_total``)."""
    family = families[name.removesuffix("_total")]
    return next(s.value for s in family.samples if s.name == name and s.labels == labels)


async def _scrape(service: AggregatorService) -> tuple[httpx.Response, str, dict[str, Metric]]:
    assert service.http is not None
    async with httpx.AsyncClient(base_url=service.http.url, timeout=10) as client:
        health = await client.get("/health")
        metrics = (await client.get("/metrics")).text
    return health, metrics, {family.name: family for family in text_string_to_metric_families(metrics)}


async def test_health_and_metrics_show_the_lease_the_sources_sequences_and_suspects(
    jetstream: NatsServer, publisher: NatsClient, recorder: Recorder, started: Start
) -> None:
    holder = await started(_config(jetstream.url, "agg-h1", "lease_http", ttl_s=30.0))
    await wait_until(lambda: holder.holds_lease, "the lease")
    standby = await started(_config(jetstream.url, "agg-h2", "lease_http", ttl_s=30.0))
    await wait_until(lambda: standby.lease.owner == holder.owner, "the standby's first look at the lease")
    health, _, _ = await _scrape(holder)
    assert (health.status_code, health.json()["status"]) == (200, "degraded")
    assert health.json()["problems"] == ["no gateway message read yet"]

    await publisher.publish("market.gw-1.ticks", _message("gw-1", 1, 1000, ("EUR_USD", "GBP_USD")))
    await publisher.publish("market.gw-1.ticks", _message("gw-1", 4, 1001, ("EUR_USD",)))  # 2 and 3 lost
    await wait_until(lambda: standby.feed.stats.gaps == holder.feed.stats.gaps == 1, "the gap, read by both")
    health, metrics, families = await _scrape(holder)
    document = health.json()
    assert (health.status_code, document["status"]) == (200, "degraded")
    assert document["problems"] == ["suspect after a batch_seq gap, out of the best price until they quote again: gw-1"]
    assert document["sources"] == {"gw-1": {"session_id": SESSION, "batch_seq": 4, "suspect_instruments": 1}}
    assert document["input"] | {"last_refusal": ""} == {
        "messages": 2, "ticks": 3, "statuses": 0, "gaps": 1, "messages_missed": 2, "repeats": 0, "refused": 0,
        "last_refusal": "",
    }  # fmt: skip
    assert document["lease"] | {"withheld": 0} == {
        "role": "holder", "owner": holder.owner, "holder": holder.owner, "takeovers": 1, "withheld": 0, "errors": 0
    }  # fmt: skip
    assert document["nats"] == {"connected": True, "url": jetstream.url} and document["kafka"] == {"enabled": False}
    assert _metric(families, "fxgw_aggregate_lease_held") == 1
    assert _metric(families, "fxgw_aggregate_gaps_total") == 1
    assert _metric(families, "fxgw_aggregate_messages_missed_total") == 2
    assert _metric(families, "fxgw_aggregate_source_batch_seq", source="gw-1") == 4
    assert _metric(families, "fxgw_aggregate_source_suspect_instruments", source="gw-1") == 1
    promtool_accepts(metrics)

    health, metrics, families = await _scrape(standby)
    lease = health.json()["lease"]
    assert (lease["role"], lease["holder"], lease["takeovers"]) == ("standby", holder.owner, 0)
    assert lease["withheld"] == standby.lease.withheld > 0
    assert _metric(families, "fxgw_aggregate_lease_held") == 0
    assert _metric(families, "fxgw_aggregate_best_prices_withheld_total") == standby.lease.withheld
    promtool_accepts(metrics)

    await publisher.publish("market.gw-1.ticks", _message("gw-1", 5, 1002, ("GBP_USD",)))  # quoted again: trusted
    await wait_until(lambda: not holder.feed.suspect, "the source quoting again")
    health, _, families = await _scrape(holder)
    assert (health.status_code, health.json()["status"], health.json()["problems"]) == (200, "ok", [])
    assert _metric(families, "fxgw_aggregate_source_suspect_instruments", source="gw-1") == 0


async def test_health_is_down_without_nats_and_a_busy_port_fails_the_start(tmp_path: Path, started: Start) -> None:
    with NatsServer(extra_args=("-js", "-sd", str(tmp_path / "js"))) as server:
        service = await started(_config(server.url, "agg-d", "lease_down"))
        await wait_until(lambda: service.lease.answered, "the lease")
        assert service.http is not None
        busy = _config(server.url, "agg-b", "lease_down") | {"http": {"port": service.http.port}}
        with pytest.raises(HttpBindError, match=rf"cannot listen on 127\.0\.0\.1:{service.http.port} .*http\.port"):
            await started(busy)
    await wait_until(lambda: service.snapshot().nats_connected is False, "the disconnection")
    health, metrics, families = await _scrape(service)
    assert (health.status_code, health.json()["status"]) == (503, "down")
    assert health.json()["problems"][0] == f"nats disconnected ({server.url})"
    assert _metric(families, "fxgw_aggregate_nats_connected") == 0
    promtool_accepts(metrics)
    await service.stop(timeout_s=0.5)  # NATS is gone: the lease expires on its own, nothing to wait for
