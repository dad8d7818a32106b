"""Kafka backup against a real Kafka-protocol broker (tansu): outages, a broker restart, a killed gateway.

The ground truth is what NATS carried: every tick a subscriber saw must be in
Kafka exactly once after deduplicating records on their ``fxgw-id`` header,
and the ticks of each (source, instrument) must be in ``seq`` order there.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.app import Gateway
from gateway.config import parse_config
from gateway.kafka.backup import KafkaBackup
from gateway.kafka.records import KafkaRecord, KafkaTopics
from gateway.kafka.replay.request import OutputFormat, ReplayRequest
from gateway.kafka.replay.run import run_replay
from gateway.kafka.spool import Spool
from gateway.nats_server import NatsServer
from gateway.ops.activity import RecentActivity
from gateway.ops.health import assess
from gateway.schema.market.v1.market_pb2 import SourceStatus
from gateway.wire import STATUS_CONTENT_TYPE
from tests.integration.kafka.kafkautil import KafkaTicks, TickKey, read_records, read_topic
from tests.servers.tansu import TansuBroker
from tests.support import Recorder, free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
TICKS_PER_SECOND = 1500


@pytest.fixture
def kafka() -> Iterator[TansuBroker]:
    """A broker of its own per test: tests freeze, stop and restart it."""
    with TansuBroker() as broker:
        yield broker


def settings(nats_url: str, bootstrap: str, spool: Path, rate: int = TICKS_PER_SECOND) -> dict[str, Any]:
    return {
        "instance_id": "gw-test",
        "http": {"port": 0},
        "nats": {"url": nats_url, "reconnect_wait_ms": 50},
        "brokers": [
            {"id": "sim", "kind": "simulated", "ticks_per_second": rate, "instruments": ["EUR_USD", "USD_JPY"]}
        ],
        "kafka": {
            "enabled": True,
            "bootstrap_servers": bootstrap,
            "request_timeout_ms": 1000,
            "spool": {"dir": str(spool)},
        },
    }


@pytest.fixture
async def recorder(nats_url: str) -> AsyncIterator[Recorder]:
    recorder = await Recorder().start(nats_url, "market.*.ticks")
    yield recorder
    await recorder.stop()


def nats_ticks(recorder: Recorder, source: str = "sim") -> dict[TickKey, tuple[str, int, int, int]]:
    return {
        (tick.source, batch.session_id, tick.seq): (tick.instrument, tick.bid_px, tick.ask_px, tick.ts_event_ns)
        for batch in recorder.streams[source]
        for tick in batch.ticks
    }


def assert_exactly_once_in_order(kafka_ticks: KafkaTicks, expected: dict[TickKey, tuple[str, int, int, int]]) -> None:
    missing = expected.keys() - kafka_ticks.ticks.keys()
    assert not missing, f"{len(missing)} ticks seen on NATS are not in Kafka, e.g. {sorted(missing)[:3]}"
    assert {key: kafka_ticks.ticks[key] for key in expected} == expected
    for (source, session, instrument), seqs in kafka_ticks.order.items():
        assert seqs == sorted(seqs), f"{source} session {session} {instrument}: ticks out of order in Kafka"


async def run_gateway(config: dict[str, Any], recorder: Recorder, seconds: float) -> tuple[Gateway, int]:
    """Run a gateway for ``seconds``, stop it, wait until NATS delivered all it accepted; (gateway, accepted)."""
    gateway = Gateway(parse_config(config))
    await gateway.start()
    await asyncio.sleep(seconds)
    await gateway.stop()
    assert gateway.pipeline is not None
    accepted = gateway.pipeline.sources["sim"].accepted
    await recorder.wait_for(lambda r: len(r.ticks("sim")) == accepted)
    return gateway, accepted


async def test_every_accepted_tick_is_in_kafka_once_with_a_stable_id(
    kafka: TansuBroker, nats_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    gateway, accepted = await run_gateway(settings(nats_url, kafka.bootstrap, tmp_path / "spool"), recorder, 1.0)
    assert gateway.backup is not None

    stored = await read_topic(kafka.bootstrap)

    assert accepted > 500
    assert stored.duplicate_records == 0
    assert len(stored.ticks) == accepted
    assert_exactly_once_in_order(stored, nats_ticks(recorder))
    assert gateway.backup.spool.pending_records == 0
    assert all(record_id.startswith(b"gw-test:") for record_id in stored.ids)


async def test_segments_roll_and_are_deleted_once_delivered_while_the_gateway_runs(
    kafka: TansuBroker, nats_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    """64 KiB segments (one about every half second here): the sync task flushes each rolled segment and deletes
    it once Kafka has it, off the event loop; the spool holds no more than the undelivered ones."""
    config = settings(nats_url, kafka.bootstrap, tmp_path / "spool")
    config["kafka"]["spool"].update(segment_bytes=64 * 1024, max_bytes=16 * 1024 * 1024)
    gateway = Gateway(parse_config(config))
    await gateway.start()
    assert gateway.backup is not None and gateway.pipeline is not None
    spool = gateway.backup.spool
    try:
        await wait_until(lambda: spool.stats.segments_deleted >= 3, what="three segments deleted")
        on_disk = len(list((tmp_path / "spool").glob("*.seg")))
        undelivered = len(spool.layout().parts)  # the one being written among them
        assert 1 <= on_disk <= undelivered + 2  # and those acknowledged since the last sync (every 100 ms)
    finally:
        await gateway.stop()
    accepted = gateway.pipeline.sources["sim"].accepted
    await recorder.wait_for(lambda r: len(r.ticks("sim")) == accepted)
    stored = await read_topic(kafka.bootstrap)
    assert len(stored.ticks) == accepted and stored.duplicate_records == 0
    assert_exactly_once_in_order(stored, nats_ticks(recorder))
    assert spool.pending_records == 0
    assert len(list((tmp_path / "spool").glob("*.seg"))) == 1  # closing deleted every delivered one but the last


async def test_broker_frozen_mid_stream_nats_keeps_flowing_and_kafka_gets_everything_once(
    kafka: TansuBroker, nats_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    gateway = Gateway(parse_config(settings(nats_url, kafka.bootstrap, tmp_path / "spool")))
    await gateway.start()
    assert gateway.backup is not None and gateway.pipeline is not None
    backup = gateway.backup
    try:
        await wait_until(lambda: backup.stats.records_sent > 0, what="the writer delivering")
        kafka.freeze()
        on_nats_before = len(recorder.ticks("sim"))
        await wait_until(lambda: backup.stats.send_failures > 0, what="a failed send to the frozen broker")
        await asyncio.sleep(1.0)
        spooled_during_outage = gateway.backup.spool.pending_records
        on_nats_during = len(recorder.ticks("sim")) - on_nats_before
        kafka.thaw()
        await wait_until(lambda: backup.spool.pending_records < spooled_during_outage, what="the drain")
        await asyncio.sleep(0.3)
    finally:
        kafka.thaw()
        await gateway.stop()
    accepted = gateway.pipeline.sources["sim"].accepted
    await recorder.wait_for(lambda r: len(r.ticks("sim")) == accepted)

    stored = await read_topic(kafka.bootstrap)

    assert on_nats_during > TICKS_PER_SECOND // 2, "NATS must keep flowing while Kafka is down"
    assert spooled_during_outage > 0
    assert len(stored.ticks) == accepted
    assert_exactly_once_in_order(stored, nats_ticks(recorder))


async def test_gateway_keeps_recording_to_kafka_while_nats_is_down(kafka: TansuBroker, tmp_path: Path) -> None:
    with NatsServer() as nats_server:
        gateway = Gateway(parse_config(settings(nats_server.url, kafka.bootstrap, tmp_path / "spool")))
        await gateway.start()
        assert gateway.pipeline is not None
        await asyncio.sleep(0.3)
        nats_server.stop()
        before = gateway.pipeline.sources["sim"].accepted
        await asyncio.sleep(1.0)
        accepted_while_down = gateway.pipeline.sources["sim"].accepted - before
        await gateway.stop()
    accepted = gateway.pipeline.sources["sim"].accepted

    stored = await read_topic(kafka.bootstrap)

    assert accepted_while_down > TICKS_PER_SECOND // 2
    session = next(iter(stored.ticks))[1]
    assert stored.ticks.keys() == {("sim", session, seq) for seq in range(1, accepted + 1)}


class GatewayProcess:
    """``fxgw run`` in a child process, so a test can freeze it or kill it with SIGKILL."""

    def __init__(self, config: dict[str, Any], directory: Path) -> None:
        self.config_path = directory / "gw.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = directory / "gw.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "--config", str(self.config_path)],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=log,
        )
        log.close()
        return self

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


async def test_broker_restarted_mid_stream_every_tick_is_in_kafka_before_or_after(
    kafka: TansuBroker, nats_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    """Tansu's memory storage forgets on restart, so what a consumer read before the stop counts too.

    The gateway is frozen while the consumer reads to the end, so nothing is acknowledged in between.
    """
    gateway = GatewayProcess(settings(nats_url, kafka.bootstrap, tmp_path / "spool"), tmp_path).start()
    try:
        await recorder.wait_for(lambda r: len(r.ticks("sim")) > TICKS_PER_SECOND // 2)
        gateway.signal(signal.SIGSTOP)
        stored = await read_topic(kafka.bootstrap)
        kafka.stop()
        gateway.signal(signal.SIGCONT)
        await asyncio.sleep(1.5)
        kafka.start()
        seen_on_nats = len(recorder.ticks("sim"))
        await recorder.wait_for(lambda r: len(r.ticks("sim")) > seen_on_nats + TICKS_PER_SECOND // 2)
    finally:
        exit_code = gateway.stop()
    assert exit_code == 0, gateway.log

    await read_topic(kafka.bootstrap, into=stored)

    assert "kafka" in gateway.log and "unavailable" in gateway.log
    assert_exactly_once_in_order(stored, nats_ticks(recorder))


async def test_gateway_killed_with_a_full_spool_delivers_it_after_restart(
    kafka: TansuBroker, nats_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    first = GatewayProcess(settings(nats_url, kafka.bootstrap, spool), tmp_path).start()
    try:
        await recorder.wait_for(lambda r: len(r.ticks("sim")) > 100)
        kafka.freeze()
        seen = len(recorder.ticks("sim"))
        await recorder.wait_for(lambda r: len(r.ticks("sim")) > seen + TICKS_PER_SECOND)
        first.kill()
    finally:
        kafka.thaw()
        if first.process is not None and first.process.poll() is None:
            first.kill()
    before_restart = nats_ticks(recorder)
    assert sorted(spool.glob("*.seg")), "the killed gateway left no spool"

    second = GatewayProcess(settings(nats_url, kafka.bootstrap, spool), tmp_path).start()
    try:
        await recorder.wait_for(
            lambda r: len(r.streams["sim"]) > 0 and len({b.session_id for b in r.streams["sim"]}) == 2
        )
        await asyncio.sleep(1.0)
    finally:
        exit_code = second.stop()
    assert exit_code == 0, second.log

    stored = await read_topic(kafka.bootstrap)

    assert "undelivered records from an earlier run" in second.log
    assert_exactly_once_in_order(stored, before_restart)
    assert_exactly_once_in_order(stored, nats_ticks(recorder))


def writer_processes(parent_pid: int) -> list[int]:
    """The pids of the Kafka writer processes whose parent is ``parent_pid`` (from /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent_pid and b"gateway.kafka.writer" in cmdline:
            pids.append(int(stat.parent.name))
    return pids


def process_exists(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def test_the_writer_process_killed_mid_stream_is_restarted_and_kafka_gets_every_tick_once(
    kafka: TansuBroker, nats_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    gateway = Gateway(parse_config(settings(nats_url, kafka.bootstrap, tmp_path / "spool")))
    await gateway.start()
    assert gateway.backup is not None and gateway.pipeline is not None
    stats = gateway.backup.stats
    killed: list[int] = []
    try:
        for restarts in (1, 2):
            await wait_until(lambda: stats.connected and stats.records_sent > 0, what="the writer delivering")
            sent = stats.records_sent
            await wait_until(lambda: stats.records_sent > sent + 2, what="more records delivered")  # noqa: B023
            assert stats.writer_pid is not None
            killed.append(stats.writer_pid)
            os.kill(stats.writer_pid, signal.SIGKILL)
            await wait_until(lambda: stats.writer_restarts == restarts, what="a new writer")  # noqa: B023
        await wait_until(lambda: stats.connected and stats.writer_pid not in killed, what="the new writer connected")
        live_writer = stats.writer_pid
        document = assess(gateway.snapshot(), RecentActivity()).document["kafka"]
        await asyncio.sleep(0.5)
    finally:
        await gateway.stop()
    accepted = gateway.pipeline.sources["sim"].accepted
    await recorder.wait_for(lambda r: len(r.ticks("sim")) == accepted)

    stored = await read_topic(kafka.bootstrap)

    assert (document["writer_restarts"], document["writer_pid"]) == (2, live_writer)
    assert live_writer not in killed
    assert len(stored.ticks) == accepted
    assert_exactly_once_in_order(stored, nats_ticks(recorder))
    assert gateway.backup.spool.pending_records == 0


@pytest.mark.parametrize("writer_too", [False, True], ids=["gateway", "gateway_and_writer"])
async def test_a_killed_gateway_leaves_no_writer_behind_and_the_next_start_delivers_everything(
    kafka: TansuBroker, nats_url: str, recorder: Recorder, tmp_path: Path, writer_too: bool
) -> None:
    """kill -9 of the gateway mid-stream, alone (its writer sees the pipe close and exits) or with its writer."""
    spool = tmp_path / "spool"
    first = GatewayProcess(settings(nats_url, kafka.bootstrap, spool), tmp_path).start()
    assert first.process is not None
    try:
        await recorder.wait_for(lambda r: len(r.ticks("sim")) > TICKS_PER_SECOND)
        writers = writer_processes(first.process.pid)
        assert len(writers) == 1, f"one writer process expected under the gateway, found {writers}"
        if writer_too:
            os.kill(writers[0], signal.SIGKILL)
        first.kill()
    finally:
        if first.process.poll() is None:
            first.kill()
    await wait_until(lambda: not process_exists(writers[0]), what="the writer to exit")
    before_restart = nats_ticks(recorder)

    second = GatewayProcess(settings(nats_url, kafka.bootstrap, spool), tmp_path).start()
    try:
        await recorder.wait_for(lambda r: len({b.session_id for b in r.streams["sim"]}) == 2)
        await asyncio.sleep(1.0)
    finally:
        exit_code = second.stop()
    assert exit_code == 0, second.log

    stored = await read_topic(kafka.bootstrap)

    assert "Traceback" not in first.log + second.log
    assert_exactly_once_in_order(stored, before_restart)
    assert_exactly_once_in_order(stored, nats_ticks(recorder))


def ticks_in_window(recorder: Recorder, since_ns: int, until_ns: int) -> list[tuple[int, int, int, int, int]]:
    return [
        (batch.session_id, tick.seq, tick.bid_px, tick.ask_px, tick.ts_event_ns)
        for batch in recorder.streams["sim"]
        for tick in batch.ticks
        if since_ns <= tick.ts_event_ns < until_ns
    ]


async def test_replay_of_a_window_matches_tick_for_tick_what_nats_carried_live(
    kafka: TansuBroker, nats_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    await run_gateway(settings(nats_url, kafka.bootstrap, tmp_path / "spool"), recorder, 1.0)
    times = sorted(tick.ts_event_ns for tick in recorder.ticks("sim"))
    since_ns, until_ns = times[len(times) // 4], times[3 * len(times) // 4]
    live = ticks_in_window(recorder, since_ns, until_ns)
    replayed = await Recorder().start(nats_url, "replay.*.ticks")
    try:
        request = ReplayRequest(
            since_ns, until_ns, kafka.bootstrap, output=OutputFormat.NATS, nats_url=nats_url, subject_prefix="replay"
        )
        stats = await run_replay(request)
        await replayed.wait_for(lambda r: len(r.ticks("sim")) >= len(live))
    finally:
        await replayed.stop()

    assert stats.ticks_output == len(live)
    assert sorted(ticks_in_window(replayed, since_ns, until_ns)) == sorted(live)
    for instrument in ("EUR_USD", "USD_JPY"):
        replayed_seqs = [tick.seq for tick in replayed.ticks("sim") if tick.instrument == instrument]
        assert replayed_seqs == sorted(replayed_seqs)


async def test_replay_reads_the_spool_when_kafka_was_never_reachable(
    nats_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    unreachable = f"127.0.0.1:{free_port()}"
    await run_gateway(settings(nats_url, unreachable, tmp_path / "spool"), recorder, 0.5)
    output = tmp_path / "ticks.jsonl"

    spool_options = ["--spool", str(tmp_path / "spool"), "--to", "jsonl", "--output", str(output)]
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "replay", "--since", "-1h", *spool_options],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted((row["seq"], row["ts_event_ns"]) for row in rows) == sorted(
        (tick.seq, tick.ts_event_ns) for tick in recorder.ticks("sim")
    )


async def test_a_frozen_broker_turns_health_degraded_with_the_age_of_the_oldest_record_and_clears_after(
    kafka: TansuBroker, nats_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    config = settings(nats_url, kafka.bootstrap, tmp_path / "spool")
    config["kafka"]["max_unacked_age_s"] = 1.0
    config["kafka"]["request_timeout_ms"] = 30_000  # the writer keeps waiting on the frozen broker: "connected"
    gateway = Gateway(parse_config(config))
    await gateway.start()
    assert gateway.backup is not None
    try:
        await wait_until(lambda: gateway.snapshot().kafka.records_sent > 0, what="records in Kafka")  # type: ignore[union-attr]
        assert not gateway.snapshot().kafka.stalled  # type: ignore[union-attr]
        kafka.freeze()
        await wait_until(lambda: gateway.snapshot().kafka.oldest_unacked_age_s > 1.5, what="a stall")  # type: ignore[union-attr]
        frozen = gateway.snapshot()
        assert frozen.kafka is not None and frozen.kafka.stalled and frozen.kafka.spool_pending_records > 0
        report = assess(frozen, RecentActivity())
        assert report.status.value == "degraded"
        assert any(
            re.search(r"records wait in the spool; the oldest has waited [\d.]+ s \(limit 1 s\)", problem)
            for problem in report.problems
        ), report.problems
        assert report.document["kafka"]["oldest_unacked_age_s"] > 1.0
        kafka.thaw()
        await wait_until(lambda: not gateway.snapshot().kafka.stalled, what="the stall to clear")  # type: ignore[union-attr]
        await wait_until(lambda: gateway.snapshot().kafka.last_error == "", what="the error to clear")  # type: ignore[union-attr]
    finally:
        kafka.thaw()
        await gateway.stop()


async def test_a_record_too_large_for_kafka_is_set_aside_and_the_records_after_it_are_delivered(
    kafka: TansuBroker, tmp_path: Path
) -> None:
    """A spool holding a record above the producer's request limit: the writer must not stop on it for good."""
    topics = KafkaTopics()
    small = [
        KafkaRecord(topics.status, b"s", SourceStatus(source="s", seq=n).SerializeToString(), STATUS_CONTENT_TYPE)
        for n in (1, 2)
    ]
    huge = KafkaRecord(topics.status, b"s", b"\0" * (8 * 1024 * 1024), STATUS_CONTENT_TYPE)
    spool = Spool(tmp_path / "spool", max_bytes=64 * 1024 * 1024, segment_bytes=32 * 1024 * 1024)
    spool.append([small[0], huge, small[1]])
    backup = KafkaBackup(
        topics, spool, bootstrap_servers=kafka.bootstrap, instance_id="gw-big", request_timeout_ms=2000
    )
    writer = asyncio.create_task(backup.run())
    try:
        await wait_until(lambda: spool.pending_records == 0, what="the spool to drain past the huge record")
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        spool.close()
    assert backup.stats.records_set_aside == 1 and backup.stats.records_dropped == 1
    assert "record 2 of 8,388,608 bytes refused as too large (MessageSizeTooLargeError)" in backup.stats.last_set_aside
    assert backup.stats.records_sent == 3  # the chunk is acknowledged whole once the huge record is set aside
    stored = await read_records(kafka.bootstrap, topics.status)
    assert [SourceStatus.FromString(value).seq for value in stored] == [1, 2]


def thread_cpus(pid: int) -> dict[int, set[int]]:
    """The CPUs each thread of process ``pid`` may run on, by thread id (threads that ended meanwhile left out)."""
    cpus = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpus[int(task.name)] = os.sched_getaffinity(int(task.name))
        except ProcessLookupError:
            continue
    return cpus


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="placing the event loop alone needs two CPUs")
async def test_cpus_event_loop_puts_the_event_loop_alone_and_its_helpers_and_writer_on_the_other_cpus(
    kafka: TansuBroker, nats_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    allowed = os.sched_getaffinity(0)
    loop_cpu = max(allowed)
    others = allowed - {loop_cpu}
    config = settings(nats_url, kafka.bootstrap, tmp_path / "spool") | {"cpus": {"event_loop": [loop_cpu]}}
    gateway = GatewayProcess(config, tmp_path).start()
    assert gateway.process is not None
    pid = gateway.process.pid
    try:
        await recorder.wait_for(lambda r: len(r.ticks("sim")) > TICKS_PER_SECOND)  # 1 s: the spool flushed in a thread
        await wait_until(lambda: len(writer_processes(pid)) == 1, what="the writer process")
        gateway_threads = thread_cpus(pid)
        writer_threads = thread_cpus(writer_processes(pid)[0])
        url = re.search(r"/health and /metrics on (http://\S+)", gateway.log)
        assert url is not None, gateway.log
        async with httpx.AsyncClient() as client:
            health = (await client.get(url.group(1) + "/health")).json()
    finally:
        exit_code = gateway.stop()
    assert exit_code == 0, gateway.log

    assert gateway_threads.pop(pid) == {loop_cpu}  # the main thread runs the event loop
    assert gateway_threads, "the spool's flush thread, at least, runs beside the event loop"
    assert all(cpus == others for cpus in gateway_threads.values()), gateway_threads
    assert all(cpus == others for cpus in writer_threads.values()), writer_threads
    assert health["cpus"] == {"event_loop": [loop_cpu], "others": sorted(others)}
    names = ", ".join(map(str, sorted(others)))
    assert f"event loop on CPUs {loop_cpu}, helpers and the Kafka writer on {names}" in gateway.log
    assert_exactly_once_in_order(await read_topic(kafka.bootstrap), nats_ticks(recorder))
