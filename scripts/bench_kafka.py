"""Kafka benchmark: real OANDA quotes -> gateway Pipeline -> NATS and, through the spool, Kafka (tansu).

Usage (from the repository root)::

    python scripts/bench_kafka.py [--quick] [--data DIR] [--profile] [--pairs N] [--event-loop-cpus LIST]

What runs, all on this machine:

- a private ``nats-server`` on a free port (:class:`gateway.nats_server.NatsServer`) and a tansu broker
  (:class:`tests.servers.tansu.TansuBroker`: Kafka protocol, memory storage) on another;
- a subscriber in a separate process on ``market.*.ticks`` (``benchkit.SubscriberProcess``);
- the gateway side in this process, on uvloop: the real :class:`~gateway.pipeline.Pipeline` with, in the
  Kafka run, a :class:`~gateway.kafka.backup.KafkaBackup` wired as ``gateway.app`` wires it from the
  default ``kafka`` config (spool in a temporary directory, fsync ``"interval"``) and its writer process
  (``KafkaBackup.run`` starts gateway.kafka.writer) running.

Both runs feed the same quotes as fast as the pipeline takes them (``benchkit.feed_all``, as in
``bench_pipeline``'s throughput phase: batches of ``collectors.base.MAX_EVENTS_PER_SUBMIT``, each tick stamped
when it is built):

1. NATS only (no backup): delivered ticks/s = ticks received / (last receipt - start of feeding).
2. NATS + Kafka: the same NATS figure, and the Kafka figure: accepted ticks / (time from the start of
   feeding until the spool holds no unacknowledged record). The spool backlog is sampled every
   ``SAMPLE_INTERVAL_S`` for its maximum. Then both topics are read back: after dropping records whose
   ``fxgw-id`` header was seen (as consumers do), the ticks topic must hold every accepted tick exactly
   once (this run's session, seqs 1..accepted, in order per instrument), and the prices of every
   ``PRICE_CHECK_STRIDE``-th tick must match its quote line. Runs 1 and 2 are repeated in turn ``--pairs``
   times (the later Kafka runs to topics of their own, not read back): machines are noisy, so the ratio of
   the two throughputs is the median over the pairs. Before them, WARM_UP_QUOTES go through NATS only, not
   measured, so the first run does not pay for warming up.
3. raw aiokafka: the records read back (same keys, values and headers) sent again, to topics of their own,
   by a plain ``AIOKafkaProducer`` with the writer's settings (acks=all, zstd, no linger), every send
   issued at once and then awaited: the ceiling of producing these bytes from Python.
4. spool drain: the real writer process (``KafkaBackup.run``) started on a fresh spool and connected, then
   the same records appended at once, with nothing else running: the Kafka path's own capacity, chunk by
   chunk with acknowledgements, ticks/s = ticks / (append to spool empty).

CPU is ``time.process_time`` for this process and the subscriber, ``/proc/<pid>/stat`` for the Kafka writer
process, nats-server and tansu, each over its run (the Kafka run's figures end when the spool is drained). Each
pair's two rates are printed with the CPU time the hypervisor took from the machine during each run (steal in
/proc/stat): a pair whose runs lost different amounts says more about the host than about the gateway.
Before the runs, the garbage collector is set as ``fxgw run`` sets it once started
(``gateway.gc_tuning.tune_after_start``); the writer process sets its own, as in a gateway.
With ``--event-loop-cpus LIST`` the gateway side is placed as config ``cpus.event_loop`` places a gateway
(gateway.placement): this process's event-loop thread alone on those CPUs, its helper threads and the Kafka writer
process on the others, and nats-server, tansu and the subscriber are put on the others too, as an operator placing
co-located services would (``taskset -a``); both runs of every pair are placed alike.
With ``--profile`` run 2 runs under cProfile (this process's thread, so the gateway side only) and the top
functions by own and by cumulative time, then the Kafka path's own functions, are printed to stderr; cProfile
slows per-tick Python code far more than C work and I/O, so that run's figures are slower than usual.
nats-server, tansu and the subscriber are stopped however the run ends.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import aiokafka
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from benchkit import (
    PROFILE_TOP,
    SOURCE,
    BenchmarkError,
    CpuMeter,
    FeedRun,
    Quotes,
    SubscriberProcess,
    Table,
    add_placement_argument,
    argument_parser,
    connect_gateway_client,
    environment,
    feed_all,
    find_child_pid,
    host_steal_s,
    load_quotes,
    make_pipeline,
    met,
    nats_server_version,
    parse_args,
    peak_rss_mb,
    place_benchmark,
    placement_of,
    placement_text,
    profile_listing,
    progress,
)
from nats.aio.client import Client as NatsClient

from collectors.recorded_parsing import parse_quote_line
from gateway.clock import NS_PER_S, now_ns
from gateway.config import DEFAULT_LINGER_MS, KafkaConfig, SpoolConfig
from gateway.gc_tuning import tune_after_start
from gateway.kafka.backup import KafkaBackup
from gateway.kafka.records import KafkaRecord
from gateway.kafka.spool import Spool
from gateway.kafka.writer import PRODUCER_BATCH_BYTES
from gateway.nats_server import NatsServer
from gateway.pipeline import Pipeline
from gateway.placement import Placement
from gateway.schema.market.v1.market_pb2 import MarketDataStream
from gateway.wire import ID_HEADER, STREAM_CONTENT_TYPE
from tests.servers.tansu import TansuBroker

INSTANCE_ID: Final = "bench-kafka"
QUICK_QUOTES: Final = 150_000
TOPIC_PARTITIONS: Final = 4  # what tansu gives a topic it creates on first use
RAW_TOPIC_PREFIX: Final = "raw-"
DRAIN_TOPIC_PREFIX: Final = "drain-"
SAMPLE_INTERVAL_S: Final = 0.005
CONNECT_TIMEOUT_S: Final = 15.0
DRAIN_TIMEOUT_S: Final = 60.0
PRICE_CHECK_STRIDE: Final = 1_000
KAFKA_PATH_FUNCTIONS: Final = r"kafka|spool|lz4|zstd|snappy"
"""pstats restriction (a regular expression on file, line and function) for the Kafka path's own listing."""

KAFKA_DEFAULTS: Final = KafkaConfig()
KAFKA_TARGET_TICKS_PER_S: Final = 150_000
KAFKA_RATIO_TARGET: Final = 0.9
"""NATS throughput with the Kafka backup on, as a share of NATS only (issue #15)."""
DEFAULT_PAIRS: Final = 3
WARM_UP_QUOTES: Final = 50_000


ReadRecord = tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]
"""A record as read back: topic, key, value, headers."""


# -- figures --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Cpu:
    """CPU seconds of each process over one run."""

    gateway_s: float = 0.0
    writer_s: float = 0.0
    """The Kafka writer process (gateway.kafka.writer), in the Kafka run."""
    nats_server_s: float = 0.0
    tansu_s: float = 0.0
    subscriber_s: float = 0.0
    steal_s: float = 0.0
    """CPU seconds the hypervisor took from the machine over the run (benchkit.host_steal_s), both CPUs."""

    def per_tick_us(self, ticks: int) -> tuple[float, float, float, float, float]:
        scale = 1e6 / max(ticks, 1)
        return (
            self.gateway_s * scale,
            self.writer_s * scale,
            self.nats_server_s * scale,
            self.tansu_s * scale,
            self.subscriber_s * scale,
        )


@dataclass(slots=True)
class KafkaFigures:
    """What the Kafka run adds to the NATS figures."""

    drained_s: float = 0.0
    ticks_per_s: float = 0.0
    records_spooled: int = 0
    ticks_spooled: int = 0
    spooled_bytes: int = 0
    records_sent: int = 0
    records_dropped: int = 0
    send_failures: int = 0
    max_backlog_records: int = 0
    max_backlog_bytes: int = 0
    fsyncs: int = 0


@dataclass(slots=True)
class Delivery:
    """The records read back, delivered again to topics of their own without the pipeline.

    By a plain AIOKafkaProducer (the raw baseline) or by the writer from an already full spool (the Kafka path's
    capacity on its own).
    """

    records: int = 0
    ticks: int = 0
    value_bytes: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    """This process's CPU seconds over ``seconds``."""
    writer_cpu_s: float = 0.0
    """The Kafka writer process's CPU seconds over ``seconds`` (the drain)."""
    tansu_cpu_s: float = 0.0

    @property
    def ticks_per_s(self) -> float:
        return self.ticks / self.seconds if self.seconds else 0.0

    def cpu_per_tick(self) -> str:
        """This process's, the writer process's (the drain) and tansu's CPU per tick, for the report."""
        scale = 1e6 / max(self.ticks, 1)
        return f"{self.cpu_s * scale:.2f} / {self.writer_cpu_s * scale:.2f} / {self.tansu_cpu_s * scale:.2f} us"


@dataclass(slots=True)
class Run:
    """One pass of the quotes through the pipeline."""

    name: str
    nats: FeedRun = field(default_factory=FeedRun)
    cpu: Cpu = field(default_factory=Cpu)
    kafka: KafkaFigures | None = None

    def cpu_per_tick_us(self) -> tuple[float, float, float, float, float]:
        """CPU per tick fed of the gateway, its Kafka writer process, nats-server, tansu and the subscriber."""
        return self.cpu.per_tick_us(self.nats.fed)


@dataclass(slots=True)
class Readback:
    """The topics as a consumer reads them after the Kafka run."""

    tick_records: int = 0
    best_records: int = 0
    ticks: int = 0
    duplicate_ids: int = 0
    foreign_ticks: int = 0
    repeated_ticks: int = 0
    missing_ticks: int = 0
    out_of_order: int = 0
    prices_checked: int = 0
    prices_wrong: int = 0
    read_s: float = 0.0

    @property
    def exact(self) -> bool:
        """After dropping records whose id was seen (as consumers do), every check passed."""
        faults = (self.foreign_ticks, self.repeated_ticks, self.missing_ticks, self.out_of_order, self.prices_wrong)
        return not any(faults)


@dataclass(slots=True)
class Result:
    """Every figure the run prints."""

    quotes: int = 0
    files: int = 0
    load_s: float = 0.0
    nats_only: Run | None = None
    with_kafka: Run | None = None
    pairs: list[tuple[Run, Run]] = field(default_factory=list)
    """Every (NATS only, NATS + Kafka) pair of runs, the first included: the ratio is their median."""
    readback: Readback | None = None
    raw: Delivery | None = None
    drain: Delivery | None = None
    gateway_rss_mb: float = 0.0
    placement: Placement | None = None
    errors: list[str] = field(default_factory=list)


# -- the Kafka path as gateway.app wires it -------------------------------------------------------------------


class BacklogSampler:
    """The largest spool backlog (unacknowledged records and bytes) seen, sampled on a timer."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self.max_records = 0
        self.max_bytes = 0

    def sample(self) -> int:
        """Take one sample; return the unacknowledged records."""
        records = self._spool.pending_records
        self.max_records = max(self.max_records, records)
        self.max_bytes = max(self.max_bytes, self._spool.pending_bytes)
        return records

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_INTERVAL_S)

    async def wait_drained(self, backup: KafkaBackup, timeout_s: float) -> None:
        """Return once every spooled record is acknowledged; raise BenchmarkError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self.sample():
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"the spool still holds {self._spool.pending_records:,} records after {timeout_s:g} s "
                    f"(writer: {backup.stats})"
                )
            await asyncio.sleep(SAMPLE_INTERVAL_S)


# -- the runs -------------------------------------------------------------------------------------------------


class Benchmark:
    """The runs, in order, on one gateway-side NATS connection."""

    def __init__(
        self,
        nats_url: str,
        broker: TansuBroker,
        subscriber: SubscriberProcess,
        quotes: Quotes,
        say: Callable[[str], None],
        profiler: cProfile.Profile | None,
        placement: Placement | None = None,
    ) -> None:
        """``placement``: the gateway side placed as config ``cpus.event_loop`` places it (gateway.placement), and
        nats-server, tansu and the subscriber on its ``others`` too, as an operator would place co-located services
        (``taskset -a``); None: the OS places everything."""
        self._nats_url = nats_url
        self._broker = broker
        self._subscriber = subscriber
        self._quotes = quotes
        self._say = say
        self._profiler = profiler
        self._nats_server_cpu = CpuMeter(find_child_pid("nats-server"))
        self._tansu_cpu = CpuMeter(find_child_pid("tansu"))
        self._steal_start_s = 0.0
        self._placement = placement
        self._writer_cpus = placement.others if placement is not None else None
        self.result = Result(quotes=len(quotes), files=quotes.files, load_s=quotes.load_s, placement=placement)

    async def run(self, count: int, pairs: int) -> Result:
        result = self.result
        if self._placement is not None:
            place_benchmark(
                self._placement, (find_child_pid("nats-server"), find_child_pid("tansu"), self._subscriber.pid)
            )
        tune_after_start()  # as fxgw run does once started

        nc = await connect_gateway_client(self._nats_url, result.errors)
        try:
            self._say(f"warm-up: {WARM_UP_QUOTES:,} quotes through NATS only, not measured ...")
            await feed_all(make_pipeline(nc, DEFAULT_LINGER_MS), self._quotes, WARM_UP_QUOTES)
            await nc.flush()
            result.nats_only = await self._nats_only(nc, count)
            result.with_kafka, kafka, session_id = await self._kafka_run(nc, count, topic_prefix="", profile=True)
            result.pairs.append((result.nats_only, result.with_kafka))
            self._say("reading both topics back ...")
            result.readback, records = await read_back(
                self._broker.bootstrap, kafka, session_id, result.with_kafka.nats, self._quotes
            )
            self._say(f"raw aiokafka: the {len(records):,} records again, to topics of their own ...")
            result.raw = await self._raw(records)
            self._say(f"spool drain: the {len(records):,} records spooled first, then the writer started ...")
            result.drain = await self._drain(records)
            for pair in range(2, pairs + 1):
                alone = await self._nats_only(nc, count)
                with_kafka, _, _ = await self._kafka_run(nc, count, topic_prefix=f"pair{pair}-", profile=False)
                result.pairs.append((alone, with_kafka))
        finally:
            await nc.drain()
        result.gateway_rss_mb = peak_rss_mb()
        return result

    async def _kafka_run(
        self, nc: NatsClient, count: int, *, topic_prefix: str, profile: bool
    ) -> tuple[Run, KafkaConfig, int]:
        """The NATS + Kafka run on a fresh spool, to the default topics with ``topic_prefix``; its session id."""
        with tempfile.TemporaryDirectory(prefix="bench-kafka-spool-") as spool_dir:
            kafka = self._kafka_config(spool_dir, topic_prefix)
            for topic in (kafka.ticks_topic, kafka.best_prices_topic):
                self._broker.create_topic(topic, TOPIC_PARTITIONS)
            session_id = now_ns()
            return await self._with_kafka(nc, count, kafka, session_id, profile=profile), kafka, session_id

    async def _nats_only(self, nc: NatsClient, count: int) -> Run:
        self._say(f"NATS only: {count:,} quotes through the pipeline as fast as it takes them ...")
        run = Run("NATS only")
        pipeline = make_pipeline(nc, DEFAULT_LINGER_MS)
        start_ns = await self._begin(run)
        await feed_all(pipeline, self._quotes, count)
        await nc.flush()
        run.nats.feed_s = (time.time_ns() - start_ns) / NS_PER_S
        await self._end(run, pipeline, start_ns, count)
        return run

    async def _with_kafka(
        self, nc: NatsClient, count: int, kafka: KafkaConfig, session_id: int, *, profile: bool
    ) -> Run:
        run = Run("NATS + Kafka", kafka=KafkaFigures())
        backup = KafkaBackup.from_config(kafka, INSTANCE_ID, self._writer_cpus)
        writer = asyncio.create_task(backup.run(), name="kafka-writer")
        syncing = asyncio.create_task(backup.sync_periodically(kafka.spool.fsync_interval_ms / 1000), name="spool-sync")
        sampler = BacklogSampler(backup.spool)
        sampling = asyncio.create_task(sampler.run(), name="spool-backlog")
        try:
            await _wait_connected(backup)
            writer_cpu = CpuMeter(backup.stats.writer_pid)
            self._say(f"NATS + Kafka: the same {count:,} quotes, spooled and sent to tansu ...")
            pipeline = make_pipeline(nc, DEFAULT_LINGER_MS, backup, session_id)
            start_ns = await self._begin(run)
            writer_cpu.start()
            if self._profiler is not None and profile:
                self._profiler.enable()
            await feed_all(pipeline, self._quotes, count)
            await nc.flush()
            run.nats.feed_s = (time.time_ns() - start_ns) / NS_PER_S
            await sampler.wait_drained(backup, DRAIN_TIMEOUT_S)
            drained_ns = time.time_ns()
            run.cpu.writer_s = writer_cpu.read()[1]
            await self._end(run, pipeline, start_ns, count)
        finally:
            if self._profiler is not None and profile:
                self._profiler.disable()
            for task in (sampling, syncing, writer):
                task.cancel()
            await asyncio.gather(sampling, syncing, writer, return_exceptions=True)
            backup.spool.close()
        figures = run.kafka
        assert figures is not None
        figures.drained_s = (drained_ns - start_ns) / NS_PER_S
        figures.ticks_per_s = run.nats.accepted / figures.drained_s
        stats = backup.stats
        figures.records_spooled, figures.ticks_spooled = stats.records_spooled, stats.ticks_spooled
        figures.records_sent, figures.records_dropped = stats.records_sent, stats.records_dropped
        figures.send_failures = stats.send_failures
        figures.spooled_bytes, figures.fsyncs = backup.spool.stats.appended_bytes, backup.spool.stats.fsyncs
        figures.max_backlog_records, figures.max_backlog_bytes = sampler.max_records, sampler.max_bytes
        return run

    async def _begin(self, run: Run) -> int:
        await self._subscriber.begin(record_latency=False)
        self._nats_server_cpu.start()
        self._tansu_cpu.start()
        self._steal_start_s = host_steal_s()
        return time.time_ns()

    async def _end(self, run: Run, pipeline: Pipeline, start_ns: int, fed: int) -> None:
        """Read the gateway-side clocks (all published; in the Kafka run, all delivered), then the subscriber."""
        cpu = run.cpu
        cpu.gateway_s, cpu.tansu_s = self._tansu_cpu.read()
        cpu.steal_s = host_steal_s() - self._steal_start_s
        report = await self._subscriber.end(pipeline.sources[SOURCE].accepted)
        _, cpu.nats_server_s = self._nats_server_cpu.read()  # nats-server works until the subscriber has everything
        cpu.subscriber_s = report.cpu_s
        self.result.errors += report.errors
        run.nats.count(pipeline, fed, report, start_ns)

    def _kafka_config(self, spool_dir: str, topic_prefix: str = "") -> KafkaConfig:
        """The default ``kafka`` config, enabled, with the broker, a spool in ``spool_dir`` and ticks and best
        prices to the default topics with ``topic_prefix`` before them."""
        return KafkaConfig(
            enabled=True,
            bootstrap_servers=self._broker.bootstrap,
            ticks_topic=topic_prefix + KAFKA_DEFAULTS.ticks_topic,
            best_prices_topic=topic_prefix + KAFKA_DEFAULTS.best_prices_topic,
            spool=SpoolConfig(dir=Path(spool_dir)),
        )

    def _redelivery(self, records: Sequence[ReadRecord], topic_prefix: str) -> tuple[Delivery, list[str]]:
        """Figures for ``records`` sent again, and their topics, each created with ``topic_prefix`` before it."""
        topics = sorted({topic for topic, _, _, _ in records})
        for topic in topics:
            self._broker.create_topic(topic_prefix + topic, TOPIC_PARTITIONS)
        ticks_topic = KAFKA_DEFAULTS.ticks_topic
        figures = Delivery(
            records=len(records),
            ticks=sum(len(MarketDataStream.FromString(v).ticks) for t, _, v, _ in records if t == ticks_topic),
            value_bytes=sum(len(value) for _, _, value, _ in records),
        )
        return figures, topics

    async def _raw(self, records: Sequence[ReadRecord]) -> Delivery:
        figures, topics = self._redelivery(records, RAW_TOPIC_PREFIX)
        # The writer's producer settings (gateway.kafka.writer.KafkaWriter.run and the default kafka config).
        producer = AIOKafkaProducer(
            bootstrap_servers=self._broker.bootstrap,
            client_id=f"{INSTANCE_ID}-raw",
            acks="all",
            enable_idempotence=False,
            max_batch_size=PRODUCER_BATCH_BYTES,
            max_request_size=2 * PRODUCER_BATCH_BYTES,
            compression_type=KAFKA_DEFAULTS.compression,
            linger_ms=KAFKA_DEFAULTS.linger_ms,
        )
        await producer.start()
        try:
            for topic in topics:  # metadata before the clock starts, as the writer has it after its first send
                await producer.partitions_for(RAW_TOPIC_PREFIX + topic)
            self._tansu_cpu.start()
            started = time.perf_counter()
            send = producer.send
            futures = [
                await send(RAW_TOPIC_PREFIX + topic, value, key=key, headers=headers)
                for topic, key, value, headers in records
            ]
            await asyncio.gather(*futures)
            figures.seconds = time.perf_counter() - started
            figures.cpu_s, figures.tansu_cpu_s = self._tansu_cpu.read()
        finally:
            await producer.stop()
        return figures

    async def _drain(self, records: Sequence[ReadRecord]) -> Delivery:
        """The Kafka path's own capacity: a full spool delivered by the writer, with no pipeline competing."""
        figures, _ = self._redelivery(records, DRAIN_TOPIC_PREFIX)
        with tempfile.TemporaryDirectory(prefix="bench-kafka-drain-") as spool_dir:
            backup = KafkaBackup.from_config(self._kafka_config(spool_dir), INSTANCE_ID, self._writer_cpus)
            writer = asyncio.create_task(backup.run(), name="kafka-writer")
            try:
                await _wait_connected(backup)  # the writer process started and connected: not measured
                writer_cpu = CpuMeter(backup.stats.writer_pid)
                self._tansu_cpu.start()
                writer_cpu.start()
                started = time.perf_counter()
                backup.spool.append(
                    [
                        KafkaRecord(DRAIN_TOPIC_PREFIX + topic, key or b"", value, STREAM_CONTENT_TYPE)
                        for topic, key, value, _ in records
                    ]
                )
                backup.wake_writer()
                while backup.spool.pending_records:
                    await asyncio.sleep(0.001)
                figures.seconds = time.perf_counter() - started
                figures.cpu_s, figures.tansu_cpu_s = self._tansu_cpu.read()
                figures.writer_cpu_s = writer_cpu.read()[1]
            finally:
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
                backup.spool.close()
        return figures


async def _wait_connected(backup: KafkaBackup) -> None:
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while not backup.stats.connected:
        if time.monotonic() > deadline:
            raise BenchmarkError(f"the Kafka writer did not connect within {CONNECT_TIMEOUT_S:g} s: {backup.stats}")
        await asyncio.sleep(0.01)


async def read_back(
    bootstrap: str, kafka: KafkaConfig, session_id: int, run: FeedRun, quotes: Quotes
) -> tuple[Readback, list[ReadRecord]]:
    """Read the ticks and best-prices topics whole; check the ticks against what the run accepted.

    Returns the checks and every record read, for the raw baseline. See the module docstring.
    """
    ticks_topic, best_topic = kafka.ticks_topic, kafka.best_prices_topic
    readback = Readback()
    records: list[ReadRecord] = []
    started = time.perf_counter()
    seen = bytearray(run.accepted + 1)
    last_seq: dict[tuple[int, str], int] = {}
    ids: set[bytes] = set()
    prices: dict[int, tuple[int, int]] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        # Both lists now: once a topic is assigned, the consumer's metadata covers that topic only.
        topic_partitions = {
            topic: [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            for topic in (ticks_topic, best_topic)
        }
        for topic, partitions in topic_partitions.items():
            if not partitions:
                continue
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            remaining = {tp for tp in partitions if end[tp] > 0}
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=1000)
                for tp, messages in batches.items():
                    for message in messages:
                        headers = list(message.headers)
                        records.append((topic, message.key, message.value, headers))
                        record_id = dict(headers)[ID_HEADER]
                        if record_id in ids:
                            readback.duplicate_ids += 1
                            continue
                        ids.add(record_id)
                        if topic == best_topic:
                            readback.best_records += 1
                            continue
                        readback.tick_records += 1
                        stream = MarketDataStream.FromString(message.value)
                        if stream.session_id != session_id or stream.source != SOURCE:
                            readback.foreign_ticks += len(stream.ticks)
                            continue
                        for tick in stream.ticks:
                            seq = tick.seq
                            readback.ticks += 1
                            if not 0 < seq <= run.accepted:
                                readback.foreign_ticks += 1
                                continue
                            if seen[seq]:
                                readback.repeated_ticks += 1
                            seen[seq] = 1
                            key = (tp.partition, tick.instrument)
                            if seq <= last_seq.get(key, 0):
                                readback.out_of_order += 1
                            last_seq[key] = seq
                            if seq % PRICE_CHECK_STRIDE == 1:
                                prices[seq] = (tick.bid_px, tick.ask_px)
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    readback.missing_ticks = run.accepted - sum(seen)
    if not run.rejected:  # every quote accepted: tick seq n came from quote line n - 1
        for seq, (bid_px, ask_px) in prices.items():
            recorded = parse_quote_line(quotes.lines[seq - 1], quotes.day_starts[seq - 1])
            readback.prices_checked += 1
            readback.prices_wrong += (recorded.bid_px, recorded.ask_px) != (bid_px, ask_px)
    readback.read_s = time.perf_counter() - started
    return readback, records


# -- report ---------------------------------------------------------------------------------------------------


def print_report(result: Result, quick: bool) -> None:
    table = Table()
    row = table.row

    def cpu_per_tick(run: Run) -> str:
        gateway, writer, server, tansu, subscriber = run.cpu_per_tick_us()
        return f"{gateway:.2f} / {writer:.2f} / {server:.2f} / {tansu:.2f} / {subscriber:.2f} us"

    row("quotes loaded (files)", f"{result.quotes:,} ({result.files} files, {result.load_s:.1f} s, not measured)")
    placement = result.placement
    row("CPU placement (--event-loop-cpus)", placement_text(placement))
    nats_only, with_kafka = result.nats_only, result.with_kafka
    for run in (nats_only, with_kafka):
        if run is None:
            continue
        run.nats.add_rows(table, run.name.upper())
        kafka = run.kafka
        if kafka is not None:
            row(
                "  KAFKA: ticks/s (accepted / feed start to spool drained)",
                f"{kafka.ticks_per_s:,.0f} ticks/s ({kafka.drained_s:.2f} s)",
                f">= {KAFKA_TARGET_TICKS_PER_S:,}: {met(kafka.ticks_per_s >= KAFKA_TARGET_TICKS_PER_S)}",
            )
            tick_records = result.readback.tick_records if result.readback else 0
            row(
                "  Kafka: records spooled (ticks) / sent / dropped",
                f"{kafka.records_spooled:,} ({kafka.ticks_spooled:,}) / {kafka.records_sent:,} / "
                f"{kafka.records_dropped:,}",
            )
            row(
                "  Kafka: records sent per s, ticks per tick record",
                f"{kafka.records_sent / kafka.drained_s:,.0f}/s, {kafka.ticks_spooled / max(tick_records, 1):,.1f}",
            )
            row(
                "  Kafka: spooled bytes, fsyncs, send failures",
                f"{kafka.spooled_bytes / 1e6:.1f} MB, {kafka.fsyncs}, {kafka.send_failures}",
            )
            row(
                "  Kafka: max spool backlog (5 ms samples)",
                f"{kafka.max_backlog_records:,} records, {kafka.max_backlog_bytes / 1e6:.2f} MB",
            )
        row("  CPU per tick: gateway / Kafka writer / nats-server / tansu / subscriber", cpu_per_tick(run))
    pairs = [(alone, kafka) for alone, kafka in result.pairs if alone.nats.ticks_per_s and kafka.kafka]
    if pairs:
        nats_ratios = sorted(kafka.nats.ticks_per_s / alone.nats.ticks_per_s for alone, kafka in pairs)
        kafka_ratios = sorted(kafka.kafka.ticks_per_s / alone.nats.ticks_per_s for alone, kafka in pairs if kafka.kafka)
        extra_us = sorted(kafka.cpu_per_tick_us()[0] - alone.cpu_per_tick_us()[0] for alone, kafka in pairs)
        nats_ratio = statistics.median(nats_ratios)
        row(
            f"NATS throughput with Kafka / NATS only, median of {len(pairs)} pairs (min-max)",
            f"{nats_ratio:.2f} ({nats_ratios[0]:.2f}-{nats_ratios[-1]:.2f})",
            f">= {KAFKA_RATIO_TARGET}: {met(nats_ratio >= KAFKA_RATIO_TARGET)}",
        )
        row(
            "Kafka throughput / NATS-only throughput, the same pairs",
            f"{statistics.median(kafka_ratios):.2f} ({kafka_ratios[0]:.2f}-{kafka_ratios[-1]:.2f})",
        )
        row(
            "gateway CPU the Kafka path adds per tick, the same pairs",
            f"{statistics.median(extra_us):.2f} us ({extra_us[0]:.2f}-{extra_us[-1]:.2f})",
        )
        for number, (nats_run, kafka_run) in enumerate(pairs, 1):
            row(
                f"  pair {number}: NATS only / with Kafka ticks/s (CPU time the host took, s)",
                f"{nats_run.nats.ticks_per_s:,.0f} / {kafka_run.nats.ticks_per_s:,.0f} "
                f"({nats_run.cpu.steal_s:.2f} / {kafka_run.cpu.steal_s:.2f})",
            )
        lost = sum(run.nats.lost for pair in pairs for run in pair)
        unsent = sum(kafka.kafka.records_spooled - kafka.kafka.records_sent for _, kafka in pairs if kafka.kafka)
        row(
            "  every pair: ticks lost on NATS / records not delivered to Kafka",
            f"{lost:,} / {unsent:,}",
            f"zero loss: {met(not lost and not unsent)}",
        )
    readback = result.readback
    if readback is not None and with_kafka is not None:
        row(
            "READ BACK: tick records / ticks / best-price records",
            f"{readback.tick_records:,} / {readback.ticks:,} / {readback.best_records:,} ({readback.read_s:.1f} s)",
            f"exactly the accepted ticks: {met(readback.exact and readback.ticks == with_kafka.nats.accepted)}",
        )
        row(
            "  duplicate ids (dropped) / foreign / repeated / missing / out of order",
            f"{readback.duplicate_ids} / {readback.foreign_ticks} / {readback.repeated_ticks} / "
            f"{readback.missing_ticks} / {readback.out_of_order}",
        )
        row(
            "  prices checked against the quote lines (wrong)", f"{readback.prices_checked:,} ({readback.prices_wrong})"
        )
    drain = result.drain
    if drain is not None:
        row(
            "KAFKA PATH ALONE: a full spool delivered by the writer",
            f"{drain.ticks_per_s:,.0f} ticks/s ({drain.records:,} records, {drain.seconds:.2f} s)",
            f">= {KAFKA_TARGET_TICKS_PER_S:,}: {met(drain.ticks_per_s >= KAFKA_TARGET_TICKS_PER_S)}",
        )
        row("  CPU per tick: gateway / Kafka writer / tansu", drain.cpu_per_tick())
    raw = result.raw
    if raw is not None:
        row("RAW aiokafka: the same records, all sent at once", f"{raw.ticks_per_s:,.0f} ticks/s ({raw.seconds:.2f} s)")
        row(
            "  records / ticks / value bytes",
            f"{raw.records:,} / {raw.ticks:,} / {raw.value_bytes / 1e6:.1f} MB, "
            f"{raw.records / raw.seconds:,.0f} records/s",
        )
        row("  CPU per tick: producer / - / tansu", raw.cpu_per_tick())
    row("peak RSS gateway (holds the quotes and the records read back)", f"{result.gateway_rss_mb:.1f} MB")

    table.show(
        f"fxgw Kafka benchmark{' (--quick)' if quick else ''}",
        environment(f"aiokafka {aiokafka.__version__}", nats_server_version(), "tansu (memory storage)"),
    )
    for error in result.errors:
        print(f"error: {error}")


def print_profile(profiler: cProfile.Profile) -> None:
    """Top functions by own and by cumulative time, then those of the Kafka path alone by own time."""
    listings = (
        (pstats.SortKey.TIME, (PROFILE_TOP,), ""),
        (pstats.SortKey.CUMULATIVE, (PROFILE_TOP,), ""),
        (pstats.SortKey.TIME, (KAFKA_PATH_FUNCTIONS, PROFILE_TOP), ", Kafka path only"),
    )
    for key, restrictions, title in listings:
        listing = profile_listing(profiler, key, *restrictions)
        print(f"\ncProfile of the NATS + Kafka run, by {key.value}{title}:\n{listing}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__, f"the first {QUICK_QUOTES:,} quotes: ~20 s in all")
    parser.add_argument("--profile", action="store_true", help="cProfile the NATS + Kafka run; print to stderr")
    parser.add_argument(
        "--pairs",
        type=int,
        default=DEFAULT_PAIRS,
        choices=range(1, 21),
        metavar="N",
        help=f"(NATS only, NATS + Kafka) runs alternated N times, the ratio their median (default {DEFAULT_PAIRS})",
    )
    add_placement_argument(parser)
    args = parse_args(parser, argv)
    placement = placement_of(parser, args)
    say = progress()
    profiler = cProfile.Profile() if args.profile else None
    with NatsServer() as server, TansuBroker() as broker, SubscriberProcess(server.url) as subscriber:
        say(f"nats-server on {server.url}, tansu on {broker.bootstrap}")
        quotes = load_quotes(args.data)
        say(f"loaded {len(quotes):,} quotes from {quotes.files} files in {quotes.load_s:.1f} s")
        subscriber.wait_ready()
        count = min(len(quotes), QUICK_QUOTES) if args.quick else len(quotes)
        benchmark = Benchmark(server.url, broker, subscriber, quotes, say, profiler, placement)
        result = uvloop.run(benchmark.run(count, args.pairs))
    say("done; nats-server and tansu stopped")
    print_report(result, args.quick)
    if profiler is not None:
        print_profile(profiler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
