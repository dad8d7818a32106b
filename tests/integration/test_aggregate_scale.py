"""Scale out: two gateways sharded by broker and two standalone aggregators (hot standby), all real processes.

One nats-server with JetStream; gateway A runs sim-a1 and sim-a2, gateway B sim-b1 and sim-b2 (simulated
brokers, ``best_price.publish: false``); aggregators agg-1 and agg-2 run ``fxgw aggregate``. The tests run in
file order on the same processes, each leaving them as the next expects: one best price equal to a single
gateway's; the holder frozen past its lease stays silent; the holder killed, the standby takes over; a
gateway killed, its brokers leave the best price.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
import yaml
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from gateway.aggregator import BestPriceAggregator
from gateway.events import Quote
from gateway.kv import read_live
from gateway.nats_server import NatsServer
from gateway.schema.market.v1.market_pb2 import BestPrice, MarketDataStream
from tests.support import REPO_ROOT, wait_until

LEASE_S = 2.0
STALE_AFTER_MS = 2000
INSTRUMENTS = ["EUR_USD", "GBP_USD", "USD_JPY"]
GATEWAYS = {"gw-a": {"sim-a1": 3, "sim-a2": 1}, "gw-b": {"sim-b1": 2, "sim-b2": 0}}
"""Gateway -> its brokers and their priorities."""
PRIORITIES = {source: priority for brokers in GATEWAYS.values() for source, priority in brokers.items()}
NS = 1_000_000_000


@dataclass
class Cluster:
    url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def signal(self, name: str, signum: int) -> None:
        self.processes[name].send_signal(signum)


def _gateway_config(name: str, url: str, brokers: dict[str, int]) -> dict[str, object]:
    return {
        "instance_id": name,
        "nats": {"url": url},
        "http": {"enabled": False},
        "state_dir": None,
        "best_price": {"publish": False, "stale_after_ms": STALE_AFTER_MS},
        "brokers": [
            {
                "id": source,
                "kind": "simulated",
                "priority": priority,
                "instruments": INSTRUMENTS,
                "ticks_per_second": 150,
                "seed": index + 1,
            }
            for index, (source, priority) in enumerate(brokers.items())
        ],
    }


def _aggregate_config(name: str, url: str) -> dict[str, object]:
    return {
        "instance_id": name,
        "nats": {"url": url},
        "best_price": {"stale_after_ms": STALE_AFTER_MS, "priorities": PRIORITIES},
        "lease": {"ttl_s": LEASE_S},
        "http": {"port": 0},
    }


def _wait_for_log_line(path: Path, words: bytes, timeout_s: float) -> None:
    """Block until the process logging to ``path`` has written ``words`` (the fixture is synchronous)."""
    deadline = time.monotonic() + timeout_s
    while words not in path.read_bytes():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} never said {words.decode()!r}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("scale")
    with NatsServer(extra_args=("-js", "-sd", str(folder / "js"))) as server:
        cluster = Cluster(server.url)
        commands = {name: ("run", _gateway_config(name, server.url, brokers)) for name, brokers in GATEWAYS.items()}
        commands |= {name: ("aggregate", _aggregate_config(name, server.url)) for name in ("agg-1", "agg-2")}
        try:
            for name, (command, config) in commands.items():
                path = folder / f"{name}.yaml"
                path.write_text(yaml.safe_dump(config))
                with (folder / f"{name}.log").open("wb") as log:
                    cluster.processes[name] = subprocess.Popen(
                        [sys.executable, "-m", "gateway.cli", command, "--config", str(path)],
                        cwd=REPO_ROOT,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                if name == "agg-1":  # agg-1 takes the lease first, so the tests know the holder
                    _wait_for_log_line(folder / "agg-1.log", b"holds the lease", timeout_s=30.0)
            yield cluster
        finally:
            for process in cluster.processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGCONT)
                    process.kill()
                process.wait(10)


class BestWatch:
    """Every ``market.*.ticks`` message (ticks and best prices) with its time of receipt (monotonic s)."""

    def __init__(self) -> None:
        self.best: list[tuple[float, MarketDataStream]] = []
        self.ticks: list[MarketDataStream] = []

    async def on_message(self, message: Msg) -> None:
        stream = MarketDataStream.FromString(message.data)
        if stream.source == "best":
            self.best.append((time.monotonic(), stream))
        else:
            self.ticks.append(stream)

    def sessions(self, since: float = 0.0) -> set[int]:
        return {stream.session_id for received, stream in self.best if received >= since}

    def first_from(self, session: int, since: float) -> float | None:
        return next((t for t, s in self.best if s.session_id == session and t >= since), None)

    def latest(self) -> dict[str, BestPrice]:
        latest: dict[str, BestPrice] = {}
        for _, stream in self.best:
            for best in stream.best_prices:
                latest[best.instrument] = best
        return latest


async def _watch(url: str) -> tuple[BestWatch, NatsClient]:
    watch = BestWatch()
    client = await nats.connect(url)
    await client.subscribe("market.*.ticks", cb=watch.on_message)
    await client.flush()
    return watch, client


async def _lease_owner(url: str) -> tuple[str, int] | None:
    """The aggregator holding the lease and its session (the lease's value is ``<instance_id>:<session_id>``)."""
    client = await nats.connect(url)
    try:
        value = (await read_live(await client.jetstream().key_value("fxgw_aggregate"), "best")).value
    finally:
        await client.close()
    if value is None:
        return None
    name, _, session = value.decode().partition(":")
    return name, int(session)


async def _holder(url: str) -> tuple[str, int]:
    owner = await _lease_owner(url)
    assert owner is not None, "nobody holds the lease"
    return owner


def _gateway_of(source: str) -> str:
    return next(gateway for gateway, brokers in GATEWAYS.items() if source in brokers)


def _one_gateway_with_all_brokers(streams: list[MarketDataStream]) -> dict[str, tuple[int, str, int, str, int]]:
    """What one gateway running all four brokers computes from the same accepted ticks, fed in arrival order."""
    aggregator = BestPriceAggregator(PRIORITIES, STALE_AFTER_MS)
    for stream in streams:
        for tick in stream.ticks:
            aggregator.update(Quote(tick.instrument, tick.source, tick.bid_px, tick.ask_px, ts_recv_ns=tick.ts_recv_ns))
    aggregator.changes()
    return {
        instrument: (best.bid_px, best.bid_source, best.ask_px, best.ask_source, best.live_sources)
        for instrument, best in aggregator.current().items()
    }


Snapshot = dict[str, tuple[int, str, int, str, int]]
"""Instrument -> bid, bid source, ask, ask source, live sources."""
FREEZE_ATTEMPTS = 5


async def _frozen_snapshot(cluster: Cluster, watch: BestWatch) -> tuple[Snapshot, Snapshot] | None:
    """Freeze both gateways, let what was in flight arrive, and return the published best prices and the
    reference computed from the same ticks; None when that input is not the one wanted (some broker's quotes
    were already stale: a gateway starved of CPU sends late, and the aggregator's expiry runs on the wall clock).
    Leaves the gateways running again."""
    try:
        for gateway in GATEWAYS:
            cluster.signal(gateway, signal.SIGSTOP)  # both quiet: the same input has been read by everyone
        received = -1
        while received != len(watch.ticks):  # what was in flight when they stopped has arrived
            received = len(watch.ticks)
            await asyncio.sleep(0.5)
        reference = _one_gateway_with_all_brokers(watch.ticks)
        if {count for *_, count in reference.values()} != {len(PRIORITIES)}:
            return None

        def published() -> Snapshot:
            return {
                instrument: (best.bid_px, best.bid_source, best.ask_px, best.ask_source, best.live_sources)
                for instrument, best in watch.latest().items()
            }

        def settled() -> bool:  # equal, or the aggregator's expiry overtook the comparison (fewer live sources)
            latest = published()
            return latest == reference or any(count < len(PRIORITIES) for *_, count in latest.values())

        # the aggregator has read what the subscriber read once its output stops changing: allow it a loaded host
        await wait_until(settled, "the aggregator's output from the same ticks", 30)
        latest = published()
        if any(count < len(PRIORITIES) for *_, count in latest.values()):
            return None
        return latest, reference
    finally:
        for gateway in GATEWAYS:
            cluster.signal(gateway, signal.SIGCONT)


async def test_one_best_price_across_both_gateways_equals_one_gateway_with_all_brokers(cluster: Cluster) -> None:
    watch, client = await _watch(cluster.url)
    try:
        await wait_until(lambda: len(watch.latest()) == len(INSTRUMENTS), "best prices of every instrument", 30)
        await wait_until(
            lambda: any(
                _gateway_of(best.bid_source) != _gateway_of(best.ask_source)
                for _, stream in watch.best
                for best in stream.best_prices
                if best.live_sources == len(PRIORITIES)
            ),
            "a best bid of one gateway's broker with a best ask of the other's",
            30,
        )
        assert len(watch.sessions()) == 1, "only the lease holder publishes"
        snapshot = None
        for _ in range(FREEZE_ATTEMPTS):
            await wait_until(  # steady: a gateway starved of CPU at its start sends its first ticks late, and stale
                lambda: all(best.live_sources == len(PRIORITIES) for best in watch.latest().values()),
                "all brokers live",
                30,
            )
            snapshot = await _frozen_snapshot(cluster, watch)
            if snapshot is not None:
                break
        assert snapshot is not None, f"every broker live in none of {FREEZE_ATTEMPTS} frozen snapshots"
        published, reference = snapshot
        assert published == reference
        assert {count for *_, count in published.values()} == {len(PRIORITIES)}
    finally:
        await client.close()


async def test_a_holder_frozen_past_its_lease_never_publishes_again(cluster: Cluster) -> None:
    holder, holder_session = await _holder(cluster.url)
    standby = "agg-2" if holder == "agg-1" else "agg-1"
    watch, client = await _watch(cluster.url)
    try:
        frozen_at = time.monotonic()
        cluster.signal(holder, signal.SIGSTOP)
        await wait_until(lambda: bool(watch.sessions(frozen_at) - {holder_session}), "the standby's first publish", 10)
        standby_session = (watch.sessions(frozen_at) - {holder_session}).pop()
        first = watch.first_from(standby_session, frozen_at)
        assert first is not None and first - frozen_at <= LEASE_S + 1.0
        await asyncio.sleep(max(0.0, frozen_at + LEASE_S + 1.0 - time.monotonic()))
        woken_at_ns = time.time_ns()
        cluster.signal(holder, signal.SIGCONT)
        owners: list[tuple[float, tuple[str, int] | None]] = []  # the lease's holder, sampled
        while time.time_ns() < woken_at_ns + 2 * LEASE_S * NS:
            owners.append((time.monotonic(), await _lease_owner(cluster.url)))
            await asyncio.sleep(0.05)
        late = [t for t, s in watch.best if s.session_id == holder_session and s.batch_time_ns >= woken_at_ns]
        if owners[-1][1] == (standby, standby_session):
            assert late == [], "the woken former holder published"
            assert any(s.session_id == standby_session and s.batch_time_ns >= woken_at_ns for _, s in watch.best)
        else:  # a host so loaded that the new holder missed its renewals: the lease may pass back, never be shared
            for received in late:
                assert any(owner == (holder, holder_session) and sampled <= received + 0.2 for sampled, owner in owners)
    finally:
        cluster.signal(holder, signal.SIGCONT)
        await client.close()


async def test_the_standby_takes_over_within_the_lease_when_the_holder_is_killed(cluster: Cluster) -> None:
    holder, holder_session = await _holder(cluster.url)
    watch, client = await _watch(cluster.url)
    try:
        await wait_until(lambda: holder_session in watch.sessions(), "the holder publishing", 10)
        killed_at = time.monotonic()
        cluster.signal(holder, signal.SIGKILL)
        await wait_until(lambda: bool(watch.sessions(killed_at) - {holder_session}), "the standby's first publish", 10)
        successor = (watch.sessions(killed_at) - {holder_session}).pop()
        first = watch.first_from(successor, killed_at)
        assert first is not None and first - killed_at <= LEASE_S + 1.0
        takeover = next(s for t, s in watch.best if s.session_id == successor and t >= killed_at)
        assert {best.instrument for best in takeover.best_prices} == set(INSTRUMENTS)  # every current best at once
        await wait_until(lambda: watch.best[-1][0] - first >= 1.0, "a second of the successor's publishing")
        times = [t for t, _ in watch.best]
        assert max(b - a for a, b in itertools.pairwise(times)) <= LEASE_S + 1.0
    finally:
        await client.close()


async def test_a_killed_gateways_brokers_leave_the_best_price_within_stale_after(cluster: Cluster) -> None:
    watch, client = await _watch(cluster.url)
    try:
        await wait_until(lambda: len(watch.best) > 10, "best prices", 10)
        killed_at = time.monotonic()
        cluster.signal("gw-b", signal.SIGKILL)

        def only_gateway_a(latest: dict[str, BestPrice]) -> bool:
            return len(latest) == len(INSTRUMENTS) and all(
                best.live_sources == len(GATEWAYS["gw-a"])
                and {_gateway_of(best.bid_source), _gateway_of(best.ask_source)} == {"gw-a"}
                for best in latest.values()
            )

        await wait_until(lambda: only_gateway_a(watch.latest()), "gw-b's brokers out of the best price", 10)
        latest: dict[str, BestPrice] = {}
        for received, stream in watch.best:
            latest.update((best.instrument, best) for best in stream.best_prices)
            if received >= killed_at and only_gateway_a(latest):
                break
        # The brokers' last quotes were received just before the kill; the expiry runs every tenth of the window.
        assert received - killed_at <= STALE_AFTER_MS / 1000 + 0.3
    finally:
        await client.close()
