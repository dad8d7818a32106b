"""gateway.pipeline: the adaptive linger and the publish cycle it hands to the spool and to NATS.

The monotonic clock is a stand-in the tests move by hand, the NATS client records what it is given, and the spool
records each cycle, so every decision of the linger is checked exactly; delivery through a real nats-server is
covered by tests/integration/test_gateway_nats.py.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.aggregator import BestPriceAggregator
from gateway.clock import NS_PER_MS
from gateway.cycle import PublishCycle
from gateway.events import BadInput, Quote, StatusChange
from gateway.pipeline import Pipeline
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate, QualityPolicy
from gateway.schema.market.v1.market_pb2 import MarketDataStream, RejectionReason, SourceStatus
from tests.support import RecordingNatsClient

LINGER_MS = 0.5
START_NS = 1_000 * NS_PER_MS
SESSION_ID = 77


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self, now_ns: int = START_NS) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance_ms(self, ms: float) -> None:
        self.now_ns += round(ms * NS_PER_MS)


class RecordingSpool:
    """Keeps every cycle committed, and what NATS had received at that moment (to check the order)."""

    def __init__(self, client: RecordingNatsClient) -> None:
        self.cycles: list[PublishCycle] = []
        self.published_before: list[int] = []
        self._client = client

    def commit(self, cycle: PublishCycle) -> None:
        self.cycles.append(cycle)
        self.published_before.append(len(self._client.published))


def quote(n: int, source: str = "a") -> Quote:
    bid = 1_091_770_000 + n * 10_000
    return Quote("EUR_USD", source, bid, bid + 100_000, 0, 0, 0, 0)


def pipeline(
    linger_ms: float = LINGER_MS, max_batch_ticks: int = 512, with_spool: bool = False, publish_best: bool = True
) -> tuple[Pipeline, RecordingNatsClient, Clock, RecordingSpool | None]:
    client = RecordingNatsClient()
    clock = Clock()
    spool = RecordingSpool(client) if with_spool else None
    gate = QualityGate(QualityPolicy(max_age_ms=10**12, max_future_ms=10**12))
    built = Pipeline(
        gate,
        BestPriceAggregator({"a": 1, "b": 0}),
        NatsPublisher(client),
        linger_ms,
        spool,
        session_id=SESSION_ID,
        max_batch_ticks=max_batch_ticks,
        clock_ns=clock,
        publish_best=publish_best,
    )
    return built, client, clock, spool


def tick_messages(client: RecordingNatsClient, source: str = "a") -> list[MarketDataStream]:
    return client.streams(f"market.{source}.ticks")


async def test_a_quiet_stream_is_published_at_once() -> None:
    built, client, clock, _ = pipeline()
    await built.submit([quote(1)])
    clock.advance_ms(10)
    await built.submit([quote(2)])
    assert [[t.seq for t in m.ticks] for m in tick_messages(client)] == [[1], [2]]
    assert not built.has_pending


@pytest.mark.parametrize("elapsed_ms", [0.0, 0.1, 0.49])
async def test_a_submit_within_the_linger_is_left_pending(elapsed_ms: float) -> None:
    built, client, clock, _ = pipeline()
    await built.submit([quote(1)])
    clock.advance_ms(elapsed_ms)
    await built.submit([quote(2)])
    assert [[t.seq for t in m.ticks] for m in tick_messages(client)] == [[1]]
    assert built.has_pending


@pytest.mark.parametrize("elapsed_ms", [0.5, 0.51, 3.0])
async def test_a_submit_once_the_linger_has_passed_publishes_everything_pending(elapsed_ms: float) -> None:
    built, client, clock, _ = pipeline()
    await built.submit([quote(1)])
    await built.submit([quote(2)])  # pending
    clock.advance_ms(elapsed_ms)
    await built.submit([quote(3)])
    assert [[t.seq for t in m.ticks] for m in tick_messages(client)] == [[1], [2, 3]]
    assert not built.has_pending


async def test_a_full_batch_is_published_at_once_even_within_the_linger() -> None:
    built, client, _, _ = pipeline(max_batch_ticks=3)
    await built.submit([quote(1)])
    await built.submit([quote(n) for n in range(2, 5)])  # fills a batch of 3
    assert [[t.seq for t in m.ticks] for m in tick_messages(client)] == [[1], [2, 3, 4]]
    assert [m.batch_seq for m in tick_messages(client)] == [1, 2]


async def test_linger_zero_publishes_every_submit() -> None:
    built, client, _, _ = pipeline(linger_ms=0)
    for n in range(1, 4):
        await built.submit([quote(n)])
    assert [[t.seq for t in m.ticks] for m in tick_messages(client)] == [[1], [2], [3]]


async def test_the_lingering_task_publishes_what_a_paused_stream_left_pending() -> None:
    built, client, clock, _ = pipeline()
    await built.submit([quote(1)])
    await built.submit([quote(2)])  # pending; the stream then pauses
    lingering = asyncio.create_task(built.publish_lingering())
    try:
        clock.advance_ms(LINGER_MS)  # the linger is over by the stand-in clock: no sleep needed
        for _ in range(10):
            await asyncio.sleep(0)
            if not built.has_pending:
                break
        assert [[t.seq for t in m.ticks] for m in tick_messages(client)] == [[1], [2]]
        assert not built.has_pending
    finally:
        lingering.cancel()
        await asyncio.gather(lingering, return_exceptions=True)


async def test_the_lingering_task_waits_when_nothing_is_pending() -> None:
    built, client, _, _ = pipeline()
    lingering = asyncio.create_task(built.publish_lingering())
    try:
        for _ in range(5):
            await asyncio.sleep(0)
        assert client.published == []
    finally:
        lingering.cancel()
        await asyncio.gather(lingering, return_exceptions=True)


async def test_each_cycle_goes_to_the_spool_before_nats_with_the_same_numbers() -> None:
    built, client, clock, spool = pipeline(with_spool=True)
    assert spool is not None
    await built.submit([quote(1)])
    clock.advance_ms(1)
    await built.submit([quote(2), quote(3)])
    assert spool.published_before == [0, 2]  # the first cycle's tick and best price went to NATS after its commit
    ((first,), (second,)) = (cycle.ticks for cycle in spool.cycles)
    assert [(first.batch_seq, len(first.records)), (second.batch_seq, len(second.records))] == [(1, 1), (2, 2)]
    assert all(cycle.session_id == SESSION_ID == built.session_id for cycle in spool.cycles)
    assert [m.batch_seq for m in tick_messages(client)] == [1, 2]
    assert all(m.session_id == SESSION_ID for m in tick_messages(client))


async def test_a_status_change_is_published_at_once_with_the_pipelines_session_and_seq() -> None:
    built, client, _, spool = pipeline(with_spool=True)
    assert spool is not None
    await built.report_status("a", StatusChange(SourceStatus.STATE_CONNECTED))
    await built.report_status("a", StatusChange(SourceStatus.STATE_DISCONNECTED, "cut"))
    statuses = [
        SourceStatus.FromString(payload) for subject, payload, _ in client.published if subject.endswith(".status")
    ]
    assert [(s.state, s.seq, s.session_id) for s in statuses] == [
        (SourceStatus.STATE_CONNECTED, 1, SESSION_ID),
        (SourceStatus.STATE_DISCONNECTED, 2, SESSION_ID),
    ]
    assert [list(cycle.statuses) for cycle in spool.cycles] == [[statuses[0]], [statuses[1]]]
    assert built.sources["a"].status == SourceStatus.STATE_DISCONNECTED


async def test_best_price_publish_false_keeps_the_best_price_off_nats_and_kafka_but_local() -> None:
    """A gateway running a subset of the brokers while a standalone aggregator publishes (best_price.publish)."""
    built, client, clock, spool = pipeline(with_spool=True, publish_best=False)
    assert spool is not None
    await built.submit([quote(1, "a"), quote(2, "b")])
    clock.advance_ms(1)
    await built.submit([quote(3, "a")])
    assert {subject for subject, _, _ in client.published} == {"market.a.ticks", "market.b.ticks"}
    assert all(not cycle.best for cycle in spool.cycles)
    assert built.aggregator.current()["EUR_USD"].bid_source == "a"  # still shown by the status line and /health
    assert not built.has_pending


async def test_an_empty_publish_sends_nothing_and_commits_nothing() -> None:
    built, client, _, spool = pipeline(with_spool=True)
    assert spool is not None
    await built.publish_pending()
    assert client.published == [] and spool.cycles == []


async def test_a_rejection_of_megabytes_of_input_is_bounded_and_says_it_was_cut() -> None:
    built, client, _, spool = pipeline(with_spool=True)
    assert spool is not None
    huge = b"x" * (4 * 1024 * 1024)
    await built.submit(
        [
            BadInput(
                "a", RejectionReason.REJECTION_REASON_MALFORMED, "unknown type " + "t" * 3_000_000, huge, 1, "I" * 10**6
            )
        ]
    )
    ((rejection,),) = (cycle.rejections for cycle in spool.cycles)
    assert len(rejection.SerializeToString()) < 4096
    assert len(rejection.raw) == 512
    assert rejection.detail.endswith(f"[raw input cut to 512 of {len(huge):,} bytes]")
    assert "more characters]" in rejection.detail
    assert len(rejection.tick.instrument) <= 64
    ((subject, payload, _),) = client.published
    assert subject == "market.rejected" and len(payload) < 4096
    assert built.sources["a"].rejected == {"REJECTION_REASON_MALFORMED": 1}


async def test_a_status_detail_of_megabytes_is_bounded() -> None:
    built, client, _, _ = pipeline()
    await built.report_status("a", StatusChange(SourceStatus.STATE_DISCONNECTED, "e" * 5_000_000))
    ((_, payload, _),) = client.published
    assert len(payload) < 2048


class YieldingClient(RecordingNatsClient):
    """A client whose publish waits a turn of the loop, as nats-py's does when its buffer is full."""

    async def publish(
        self, subject: str, payload: bytes = b"", reply: str = "", headers: dict[str, str] | None = None
    ) -> None:
        await asyncio.sleep(0)
        await super().publish(subject, payload, reply, headers)


async def test_concurrent_publishes_reach_nats_in_cycle_order() -> None:
    """A cycle taken while another one is still being published must not overtake it."""
    client = YieldingClient()
    gate = QualityGate(QualityPolicy(max_age_ms=10**12, max_future_ms=10**12))
    built = Pipeline(gate, BestPriceAggregator({"a": 1}), NatsPublisher(client), session_id=SESSION_ID)
    await asyncio.gather(*(built.submit([quote(n)]) for n in range(1, 6)))
    cycle_times = [stream.batch_time_ns for _, stream, _ in client.decoded()]
    assert cycle_times == sorted(cycle_times)  # every message of a cycle before any of the next cycle
    assert [t.seq for m in tick_messages(client) for t in m.ticks] == [1, 2, 3, 4, 5]
