"""The pipeline and the running gateway against a real nats-server."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import nats
from nats.aio.client import Client as NatsClient

from collectors.recorded import quote_files, read_lines
from gateway.aggregator import BestPriceAggregator
from gateway.app import CollectorState, Gateway
from gateway.config import parse_config
from gateway.events import BadInput, Quote
from gateway.nats_server import NatsServer
from gateway.pipeline import Pipeline
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate, QualityPolicy
from gateway.schema.market.v1.market_pb2 import RejectionReason
from tests.support import Recorder, free_port

EUR_USD_BID = 1_085_000_000
NOW_NS = 1_700_000_000_000_000_000


def _tick(source: str, i: int, bid_px: int = EUR_USD_BID, spread_px: int = 100_000) -> Quote:
    ts = NOW_NS + i * 1_000_000
    return Quote(
        instrument="EUR_USD",
        source=source,
        bid_px=bid_px,
        ask_px=bid_px + spread_px,
        ts_event_ns=ts,
        ts_recv_ns=ts,
        tradeable=True,
    )


async def _pipeline(url: str, priorities: dict[str, int]) -> tuple[Pipeline, NatsClient]:
    client = await nats.connect(servers=[url])
    gate, aggregator = QualityGate(QualityPolicy()), BestPriceAggregator(priorities)
    return Pipeline(gate, aggregator, NatsPublisher(client), session_id=42, max_batch_ticks=100), client


async def test_subscriber_receives_exactly_the_accepted_ticks_decoded(nats_url: str) -> None:
    recorder = await Recorder().start(nats_url)
    pipeline, client = await _pipeline(nats_url, {"broker-a": 1})
    sent = [_tick("broker-a", i, EUR_USD_BID + (i % 7) * 10_000) for i in range(250)]
    await pipeline.submit(sent)

    await recorder.wait_for(lambda r: len(r.ticks("broker-a")) == 250)
    received = recorder.ticks("broker-a")
    assert [t.seq for t in received] == list(range(1, 251))
    assert [(t.bid_px, t.ask_px, t.ts_event_ns) for t in received] == [
        (t.bid_px, t.ask_px, t.ts_event_ns) for t in sent
    ]
    batches = recorder.streams["broker-a"]
    assert [b.batch_seq for b in batches] == [1, 2, 3]  # 250 ticks in batches of at most 100
    assert all(b.session_id == 42 for b in batches)
    stream_headers = [h for h in recorder.headers if "MarketDataStream" in h.get("Content-Type", "")]
    message_ids = [h["Nats-Msg-Id"] for h in stream_headers]
    assert len(set(message_ids)) == len(message_ids) and "broker-a:42:1" in message_ids
    await client.drain()
    await recorder.stop()


async def test_rejections_and_bad_input_are_published_with_reason_and_raw(nats_url: str) -> None:
    recorder = await Recorder().start(nats_url)
    pipeline, client = await _pipeline(nats_url, {"broker-b": 1})
    crossed = _tick("broker-b", 1, spread_px=-10_000)
    bad = BadInput("broker-b", RejectionReason.REJECTION_REASON_MALFORMED, "not valid JSON", b"{oops", NOW_NS)
    await pipeline.submit([_tick("broker-b", 0), crossed, bad])

    await recorder.wait_for(lambda r: len(r.rejections) == 2)
    reasons = [r.reason for r in recorder.rejections]
    assert reasons == [RejectionReason.REJECTION_REASON_CROSSED, RejectionReason.REJECTION_REASON_MALFORMED]
    assert "above ask" in recorder.rejections[0].detail
    assert recorder.rejections[1].raw == b"{oops"
    assert pipeline.sources["broker-b"].rejected == Counter(
        {"REJECTION_REASON_CROSSED": 1, "REJECTION_REASON_MALFORMED": 1}
    )
    await client.drain()
    await recorder.stop()


async def test_best_price_follows_priority_and_drops_a_source_that_goes_down(nats_url: str) -> None:
    recorder = await Recorder().start(nats_url)
    pipeline, client = await _pipeline(nats_url, {"high": 10, "low": 1})
    await pipeline.submit([_tick("low", 0), _tick("high", 1)])
    await pipeline.submit([_tick("low", 2, EUR_USD_BID + 20_000)])
    await pipeline.source_down("low", NOW_NS + 3_000_000)

    await recorder.wait_for(lambda r: len(r.best_prices()) == 3)
    sources = [(b.bid_source, b.ask_source, b.live_sources) for b in recorder.best_prices()]
    # One best price per batch: the first batch's two quotes yield only its final state.
    assert sources == [("high", "high", 2), ("low", "high", 2), ("high", "high", 1)]
    await client.drain()
    await recorder.stop()


def _config(shared_data: Path | None = None, **overrides: object) -> dict:
    brokers: list[dict] = [
        {
            "id": "sim-a",
            "kind": "simulated",
            "priority": 2,
            "seed": 1,
            "ticks_per_second": 400,
            "instruments": ["EUR_USD", "USD_JPY"],
            "bad_tick_ratio": 0.05,
        },
        {
            "id": "sim-b",
            "kind": "simulated",
            "priority": 1,
            "seed": 2,
            "ticks_per_second": 400,
            "instruments": ["EUR_USD", "USD_JPY"],
        },
    ]
    if shared_data is not None:
        brokers.append(
            {
                "id": "replay",
                "kind": "replay",
                "path": str(shared_data / "oanda-eurusd-ticks/20140505_quote.zip"),
                "instruments": ["EUR_USD"],
                "speed": "max",
            }
        )
    return {"brokers": brokers, "http": {"port": 0}, **overrides}


async def test_gateway_end_to_end_delivers_ticks_best_prices_and_rejections(nats_url: str, shared_data: Path) -> None:
    recorder = await Recorder().start(nats_url)
    gateway = Gateway(parse_config(_config(shared_data)), nats_url)
    await gateway.start()
    pipeline = gateway.pipeline
    assert pipeline is not None
    expected_replay = sum(
        1 for _ in read_lines(quote_files(shared_data / "oanda-eurusd-ticks/20140505_quote.zip")[0][0])
    )

    def everything_arrived(r: Recorder) -> bool:
        stats = pipeline.sources.get("replay")
        if stats is None or stats.accepted + stats.rejected_total != expected_replay:
            return False  # the replay has not finished
        return (
            len(r.ticks("sim-a")) >= 200
            and len(r.ticks("sim-b")) >= 200
            and len(r.ticks("replay")) == stats.accepted
            and len(r.best_prices()) > 0
            and len(r.rejections) > 0
        )

    await recorder.wait_for(everything_arrived, timeout_s=30)
    await gateway.stop()
    await recorder.stop()

    for source in ("sim-a", "sim-b", "replay"):
        seqs = [t.seq for t in recorder.ticks(source)]
        assert seqs == list(range(1, len(seqs) + 1)), f"{source} sequence has gaps"
    assert {b.instrument for b in recorder.best_prices()} >= {"EUR_USD", "USD_JPY"}
    assert {r.tick.source for r in recorder.rejections} == {"sim-a"}, "only the broker with bad ticks is rejected"
    assert gateway.collectors["replay"].state is CollectorState.FINISHED
    assert pipeline.publisher.stats.ticks_dropped == 0


IN_FLIGHT_TICKS = 20
"""Ticks that may be on the wire when NATS dies: written to the socket, never read by the server."""


async def test_ticks_accepted_while_nats_restarts_are_buffered_and_delivered() -> None:
    port = free_port()
    server = NatsServer(port=port).start()
    recorder = await Recorder().start(server.url)
    # The gateway reconnects slowly so the subscriber is back (and subscribed) before the buffer is flushed.
    config = parse_config({"nats": {"reconnect_wait_ms": 2000}, **_config()})
    gateway = Gateway(config, server.url)
    await gateway.start()
    assert gateway.pipeline is not None
    stats = gateway.pipeline.sources
    try:
        await recorder.wait_for(lambda r: len(r.ticks("sim-b")) >= 50)
        server.stop()
        accepted_at_stop = stats["sim-b"].accepted
        await asyncio.sleep(0.5)  # an outage of half a second: there is no event to await for time passing
        assert stats["sim-b"].accepted > accepted_at_stop + 100  # the gateway kept accepting
        server = NatsServer(port=port).start()
        await asyncio.wait_for(recorder.reconnected.wait(), 10)
        await recorder.client.flush(timeout=10)  # its subscription is registered again
        target = stats["sim-b"].accepted + 50
        await recorder.wait_for(lambda r: len(r.ticks("sim-b")) >= target - IN_FLIGHT_TICKS, timeout_s=20)
        await recorder.wait_for(lambda r: r.ticks("sim-b")[-1].seq >= target, timeout_s=20)

        seqs = [t.seq for t in recorder.ticks("sim-b")]
        lost = sorted(set(range(1, seqs[-1] + 1)) - set(seqs))
        assert gateway.pipeline.publisher.stats.ticks_dropped == 0  # the buffer never overflowed
        assert len(lost) <= IN_FLIGHT_TICKS and all(seq <= accepted_at_stop + IN_FLIGHT_TICKS for seq in lost), lost
        received_batches = {batch.batch_seq for batch in recorder.streams["sim-b"]}
        assert not lost or len(set(range(1, max(received_batches) + 1)) - received_batches) > 0  # loss is visible
    finally:
        await gateway.stop()
        await recorder.stop()
        server.stop()


async def test_linger_publishes_a_quiet_tick_at_once_and_coalesces_a_burst(nats_url: str) -> None:
    recorder = await Recorder().start(nats_url)
    client = await nats.connect(servers=[nats_url])
    gate, aggregator = QualityGate(QualityPolicy()), BestPriceAggregator({"lg": 1})
    pipeline = Pipeline(gate, aggregator, NatsPublisher(client), linger_ms=1000, session_id=7)
    lingering = asyncio.create_task(pipeline.publish_lingering(), name="publish-lingering")
    try:
        await pipeline.submit([_tick("lg", 0)])  # first after a quiet spell: published at once
        assert pipeline.publisher.stats.ticks == 1
        for i in range(1, 4):  # within the linger: left pending
            await pipeline.submit([_tick("lg", i, EUR_USD_BID + i * 10_000)])
        assert pipeline.publisher.stats.ticks == 1 and pipeline.has_pending

        # The lingering task publishes them, then the best price (a message of its own, which may come later).
        await recorder.wait_for(lambda r: len(r.ticks("lg")) == 4 and len(r.best_prices()) == 2)
        assert [len(batch.ticks) for batch in recorder.streams["lg"]] == [1, 3]
        assert [best.bid_px for best in recorder.best_prices()] == [EUR_USD_BID, EUR_USD_BID + 30_000]
    finally:
        lingering.cancel()
        await asyncio.gather(lingering, return_exceptions=True)
        await client.drain()
        await recorder.stop()
