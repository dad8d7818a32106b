"""Faults: NATS going away beyond its buffer, a collector failing mid-stream."""

from __future__ import annotations

import asyncio

import nats

from collectors.base import Collector
from collectors.registry import COLLECTORS
from collectors.simulated import RandomWalk, SimulatedCollector
from gateway.aggregator import BestPriceAggregator
from gateway.app import CollectorState, Gateway
from gateway.clock import now_ns
from gateway.config import parse_config
from gateway.errors import SourceError
from gateway.events import Quote
from gateway.nats_server import NatsServer
from gateway.ops.activity import RecentActivity
from gateway.ops.health import assess
from gateway.pipeline import Pipeline
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate, QualityPolicy
from tests.support import Recorder, free_port, wait_until

TICKS_PER_SUBMIT = 10


def _batch(start: int) -> list[Quote]:
    ts = now_ns()
    return [
        Quote("EUR_USD", "burst", 1_085_000_000 + (i % 3) * 10_000, 1_085_100_000, 0, 0, ts + i, ts + i)
        for i in range(start, start + TICKS_PER_SUBMIT)
    ]


async def test_publishes_beyond_the_nats_buffer_are_dropped_counted_and_leave_a_batch_seq_gap() -> None:
    port = free_port()
    server = NatsServer(port=port).start()
    recorder = await Recorder().start(server.url)
    gateway_reconnected = asyncio.Event()

    async def on_reconnected() -> None:
        gateway_reconnected.set()

    client = await nats.connect(
        servers=[server.url],
        reconnect_time_wait=0.5,
        max_reconnect_attempts=-1,
        pending_size=4096,
        reconnected_cb=on_reconnected,
    )
    pipeline = Pipeline(QualityGate(QualityPolicy()), BestPriceAggregator({"burst": 1}), NatsPublisher(client))
    try:
        await pipeline.submit(_batch(0))
        await recorder.wait_for(lambda r: len(r.ticks("burst")) == TICKS_PER_SUBMIT)
        server.stop()
        submitted = TICKS_PER_SUBMIT
        for _ in range(10_000):  # bounded: the 4 KiB buffer fills within a few dozen batches
            await pipeline.submit(_batch(submitted))
            submitted += TICKS_PER_SUBMIT
            if pipeline.publisher.stats.ticks_dropped:
                break
        dropped = pipeline.publisher.stats.ticks_dropped
        assert dropped > 0 and dropped % TICKS_PER_SUBMIT == 0

        server = NatsServer(port=port).start()
        await asyncio.wait_for(recorder.reconnected.wait(), 10)
        await recorder.client.flush(timeout=10)  # its subscription is registered again
        await asyncio.wait_for(gateway_reconnected.wait(), 10)
        await pipeline.submit(_batch(submitted))
        last_seq = pipeline.sources["burst"].accepted
        await recorder.wait_for(lambda r: any(t.seq == last_seq for t in r.ticks("burst")))
        received = {batch.batch_seq for batch in recorder.streams["burst"]}
        missing = set(range(1, max(received) + 1)) - received
        assert len(missing) * TICKS_PER_SUBMIT >= dropped  # every dropped message is a visible gap
    finally:
        await client.close()
        await recorder.stop()
        server.stop()


class FailsOnceCollector(SimulatedCollector):
    """A real simulated broker whose feed breaks once, after its first batch."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.runs = 0

    async def run(self) -> None:
        self.runs += 1
        if self.runs == 1:
            walk = RandomWalk(self.config, now_ns())
            await self.sink.submit([walk.next_tick(now_ns()) for _ in range(5)])
            raise SourceError("feed dropped")
        await super().run()


async def test_a_failing_collector_leaves_the_best_price_and_is_restarted(nats_url: str) -> None:
    recorder = await Recorder().start(nats_url)
    config = parse_config(
        {
            "http": {"port": 0},
            "brokers": [{"id": "flaky", "kind": "simulated", "ticks_per_second": 200, "instruments": ["USD_JPY"]}],
        }
    )
    collectors: dict[str, type[Collector]] = {**COLLECTORS, "simulated": FailsOnceCollector}
    gateway = Gateway(config, nats_url, collector_classes=collectors)
    await gateway.start()
    try:
        await recorder.wait_for(lambda r: any(b.live_sources == 0 for b in r.best_prices()))
        status = gateway.collectors["flaky"]
        assert (status.state, status.restarts, status.last_error) == (
            CollectorState.FAILED,
            1,
            "SourceError: feed dropped",
        )
        await recorder.wait_for(lambda r: len(r.ticks("flaky")) >= 20)  # restarted after its backoff
        assert status.state is CollectorState.RUNNING
        seqs = [t.seq for t in recorder.ticks("flaky")]
        assert seqs == list(range(1, len(seqs) + 1))  # one gap-free sequence across the restart
        assert recorder.best_prices()[-1].live_sources == 1
    finally:
        await gateway.stop()
        await recorder.stop()


async def test_a_nats_outage_is_counted_as_possible_loss_and_shown_on_health() -> None:
    """nats-server killed mid-stream: what it had not confirmed is counted, /health says so, NATS resumes."""
    port = free_port()
    server = NatsServer(port=port).start()
    config = parse_config(
        {
            "http": {"port": 0},
            "nats": {"url": server.url, "reconnect_wait_ms": 50},
            "brokers": [{"id": "sim", "kind": "simulated", "ticks_per_second": 500}],
        }
    )
    gateway = Gateway(config)
    await gateway.start()
    try:
        assert gateway.pipeline is not None
        publisher = gateway.pipeline.publisher
        await wait_until(lambda: publisher.stats.confirmed > 0, "nats-server's first confirmation")
        assert gateway.snapshot().nats.outages == 0
        server.stop()
        await wait_until(lambda: gateway.snapshot().nats.outages == 1, "the outage to be counted")
        server = NatsServer(port=port).start()
        await wait_until(lambda: gateway.nats_connected, "the reconnection")
        nats = gateway.snapshot().nats
        assert nats.unconfirmed_at_outages > 0  # at 500 ticks/s some messages were always in flight
        report = assess(gateway.snapshot(), RecentActivity(nats_unconfirmed=nats.unconfirmed_at_outages))
        assert report.document["nats"]["outages"] == 1
        assert any("were not confirmed and may be lost" in problem for problem in report.problems), report.problems
    finally:
        await gateway.stop()
        server.stop()
