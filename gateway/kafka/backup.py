"""Kafka as the durable record: every published item goes to the spool first, then to Kafka, in order.

Flow: the pipeline hands each publish cycle (gateway.cycle) to :meth:`KafkaBackup.commit` *before* it publishes
it on NATS; commit turns it into records (gateway.kafka.records) and appends them to the on-disk spool with one
write, so anything a NATS consumer has seen is already on disk (in the OS page cache; fsync per the spool's
policy, the interval flush in a thread). That append is all the event loop does for Kafka: a writer process
(gateway.kafka.writer, on the other core) reads the spool, sends the records to Kafka (aiokafka, ``acks=all``)
and reports each chunk Kafka confirmed over a pipe (gateway.kafka.channel); :meth:`KafkaBackup.run` starts and
supervises it and acknowledges what it reports in the spool.

- **Crash safety**: a ``kill -9`` of the gateway closes the writer's pipe and the writer exits; the next start
  sends what the spool still holds before anything newer. A ``kill -9`` of the writer: the gateway starts another
  (capped, jittered backoff), which reads from the first unacknowledged record. Either way Kafka may receive a
  record twice, never lose one; consumers drop repeats by their ``fxgw-id`` header.
- **Spool full** (or the disk failing): new records for Kafka are dropped (NATS still gets them), counted in
  ``stats``, logged at most every 10 s, and shown in the status line, on /health and in /metrics
  (gateway.ops.server).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import msgspec

from gateway.backoff import Backoff
from gateway.clock import NS_PER_S
from gateway.cycle import PublishCycle
from gateway.errors import SpoolError, SpoolWriteError
from gateway.kafka.channel import (
    MAX_LINE_BYTES,
    Appended,
    Connection,
    Delivered,
    FromWriter,
    SetAside,
    Waiting,
    WriterStart,
    decode_from_writer,
    encode,
)
from gateway.kafka.records import KafkaTopics, cycle_records
from gateway.kafka.spool import Spool, finish_sync
from gateway.logs import ThrottledLog
from gateway.placement import place_threads

if TYPE_CHECKING:
    from gateway.config import KafkaConfig

logger = logging.getLogger(__name__)

MAX_AGE_ENTRIES: Final = 4096
"""Most commit times kept to age the oldest waiting record (PendingAges); beyond, neighbours merge."""
RESTART_MIN_S: Final = 0.2
RESTART_MAX_S: Final = 10.0
HEALTHY_RUN_S: Final = 30.0
"""A writer process that ran this long before exiting is restarted after the shortest delay again."""
EXIT_TIMEOUT_S: Final = 3.0
"""How long a writer whose pipe was closed gets to exit before it is killed."""


@dataclass(slots=True)
class KafkaStats:
    """Counters since start, for logs, /health and metrics."""

    connected: bool = False
    records_spooled: int = 0
    ticks_spooled: int = 0
    records_sent: int = 0
    send_failures: int = 0
    records_dropped: int = 0
    ticks_dropped: int = 0
    last_error: str = ""
    last_spool_error: str = ""
    records_set_aside: int = 0
    """Records Kafka refused as too large: left out of the Kafka copy so the writer goes on (NATS had them)."""
    last_set_aside: str = ""
    writer_pid: int | None = None
    """The writer process, while one runs."""
    writer_restarts: int = 0
    """Writer processes started after the first (each one before exited: killed, crashed)."""


class PendingAges:
    """When the records still waiting for Kafka were spooled, to tell how long the oldest has waited (monotonic ns).

    One entry per commit ``(last seq, time of the commit)``, dropped when acknowledged; past ``MAX_AGE_ENTRIES``
    neighbours are merged (the earlier time kept), so the age is never understated and the memory is bounded.
    Records an earlier run left in the spool count from ``opened_ns``, when this run opened it.
    """

    __slots__ = ("_entries", "_first_own_seq", "_opened_ns")

    def __init__(self, first_own_seq: int, opened_ns: int) -> None:
        self._entries: deque[tuple[int, int]] = deque()
        self._first_own_seq = first_own_seq
        self._opened_ns = opened_ns

    def appended(self, last_seq: int, now_ns: int) -> None:
        self._entries.append((last_seq, now_ns))
        if len(self._entries) > MAX_AGE_ENTRIES:
            entries = list(self._entries)
            merged = [(entries[i + 1][0], entries[i][1]) for i in range(0, len(entries) - 1, 2)]
            if len(entries) % 2:
                merged.append(entries[-1])
            self._entries = deque(merged)

    def __len__(self) -> int:
        """Commit times kept (at most MAX_AGE_ENTRIES + 1)."""
        return len(self._entries)

    def acknowledged(self, upto_seq: int) -> None:
        entries = self._entries
        while entries and entries[0][0] <= upto_seq:
            entries.popleft()

    def oldest_age_ns(self, acked_seq: int, pending_records: int, now_ns: int) -> int:
        """How long the oldest unacknowledged record has waited; 0 when none waits."""
        if not pending_records:
            return 0
        if acked_seq + 1 < self._first_own_seq or not self._entries:
            return max(0, now_ns - self._opened_ns)
        return max(0, now_ns - self._entries[0][1])


class KafkaBackup:
    """Spools each publish cycle; runs and supervises the writer process that delivers the spool to Kafka."""

    def __init__(
        self,
        topics: KafkaTopics,
        spool: Spool,
        *,
        bootstrap_servers: str,
        instance_id: str,
        compression: str | None = "zstd",
        linger_ms: int = 0,
        request_timeout_ms: int = 30_000,
        writer_cpus: frozenset[int] | None = None,
    ) -> None:
        """``writer_cpus``: the CPUs each writer process is put on as it starts (gateway.placement); None: any."""
        self.topics = topics
        self.spool = spool
        self.stats = KafkaStats()
        self._bootstrap = bootstrap_servers
        self._instance_id = instance_id
        self._compression = compression
        self._linger_ms = linger_ms
        self._request_timeout_ms = request_timeout_ms
        self._writer_cpus = writer_cpus
        self._writer_stdin: asyncio.StreamWriter | None = None
        self._writer_waits_after: int | None = None
        self._writer_starting = False
        """A writer process runs and has not said yet whether it reached Kafka."""
        self._spool_errors = ThrottledLog(logger)
        self._writer_errors = ThrottledLog(logger)
        self.pending_ages = PendingAges(spool.next_seq, time.monotonic_ns())

    @classmethod
    def from_config(
        cls, kafka: KafkaConfig, instance_id: str, writer_cpus: frozenset[int] | None = None
    ) -> KafkaBackup:
        """The spool (opened and recovered) and the writer, as ``kafka`` in the config describes them; each writer
        process on ``writer_cpus`` (None: wherever the OS puts it)."""
        spool_config = kafka.spool
        spool = Spool(
            spool_config.dir,
            max_bytes=spool_config.max_bytes,
            segment_bytes=spool_config.segment_bytes,
            fsync=spool_config.fsync,
            fsync_interval_ms=spool_config.fsync_interval_ms,
        )
        return cls(
            kafka.topics,
            spool,
            bootstrap_servers=kafka.bootstrap_servers,
            instance_id=instance_id,
            compression=None if kafka.compression == "none" else kafka.compression,
            linger_ms=kafka.linger_ms,
            request_timeout_ms=kafka.request_timeout_ms,
            writer_cpus=writer_cpus,
        )

    def commit(self, cycle: PublishCycle) -> None:
        """Append the cycle's records to the spool (before it is published on NATS); wake a waiting writer."""
        records = cycle_records(cycle, self.topics)
        ticks = cycle.tick_count
        if not records:
            return
        try:
            self.spool.append(records)
        except SpoolError as exc:
            self.stats.records_dropped += len(records)
            self.stats.ticks_dropped += ticks
            self.stats.last_spool_error = str(exc)
            self._log_spool_error(exc)
            return
        self.stats.records_spooled += len(records)
        self.stats.ticks_spooled += ticks
        self.pending_ages.appended(self.spool.next_seq - 1, time.monotonic_ns())
        if self._writer_waits_after is not None:
            self.wake_writer()

    def oldest_pending_age_s(self) -> float:
        """Seconds the oldest record not yet acknowledged by Kafka has waited in the spool (0 when none waits)."""
        spool = self.spool
        age_ns = self.pending_ages.oldest_age_ns(spool.acked_seq, spool.pending_records, time.monotonic_ns())
        return age_ns / NS_PER_S

    async def run(self) -> None:
        """Run the writer process forever: start it, apply its reports, start another when it exits."""
        backoff = Backoff(RESTART_MIN_S, RESTART_MAX_S)
        while True:
            started = time.monotonic()
            exit_text = await self._run_writer()
            self.stats.connected = False
            self.stats.last_error = f"the Kafka writer process {exit_text}; another is started"
            if time.monotonic() - started >= HEALTHY_RUN_S:
                backoff.reset()
            delay = backoff.next_delay()
            self._writer_errors.error(
                "kafka %s: the writer process %s; starting another in %.1f s; %d records wait in the spool",
                self._bootstrap,
                exit_text,
                delay,
                self.spool.pending_records,
            )
            await asyncio.sleep(delay)
            self.stats.writer_restarts += 1

    async def _run_writer(self) -> str:
        """One writer process from start to exit; what ended it."""
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway.kafka.writer",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=MAX_LINE_BYTES,
            )
        except OSError as exc:  # out of processes or file descriptors: retried like an exit
            return f"could not be started ({exc})"
        assert process.stdin is not None and process.stdout is not None
        if self._writer_cpus is not None:  # off the event loop's CPUs before it has started a thread
            place_threads(process.pid, self._writer_cpus)
        self.stats.writer_pid = process.pid
        self._writer_stdin = process.stdin
        self._writer_starting = True
        try:
            start = WriterStart(
                bootstrap_servers=self._bootstrap,
                instance_id=self._instance_id,
                epoch=self.spool.epoch,
                layout=self.spool.layout(),
                compression=self._compression,
                linger_ms=self._linger_ms,
                request_timeout_ms=self._request_timeout_ms,
                log_level=logging.getLogger().getEffectiveLevel(),
            )
            process.stdin.write(encode(start))
            while line := await process.stdout.readline():
                self._apply(decode_from_writer(line))
            return _exit_text(await process.wait())
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return f"sent a line that is not a report ({type(exc).__name__}: {exc})"
        except ValueError as exc:  # a line longer than MAX_LINE_BYTES, or a seq never appended reported delivered
            return f"sent a report the gateway cannot take ({exc})"
        except (OSError, SpoolError) as exc:
            return f"failed: {type(exc).__name__}: {exc}"
        finally:
            self._writer_stdin = None
            self._writer_waits_after = None
            self._writer_starting = False
            self.stats.writer_pid = None
            await _end(process)

    def _apply(self, report: FromWriter) -> None:
        """A report from the writer: acknowledge what Kafka confirmed, note the connection, wake it when it waits."""
        stats = self.stats
        if isinstance(report, Delivered):
            try:
                self.spool.ack(report.upto_seq, report.end_offset)
            except SpoolWriteError as exc:  # the acknowledgement took effect; its checkpoint is retried
                self._log_spool_error(exc)
            self.pending_ages.acknowledged(report.upto_seq)
            stats.records_sent += report.records
            if not stats.connected:
                self._set_connected(Connection(connected=True))
        elif isinstance(report, Waiting):
            self._writer_waits_after = report.after_seq
            if self.spool.last_seq > report.after_seq:
                self.wake_writer()
        elif isinstance(report, Connection):
            self._set_connected(report)
        elif isinstance(report, SetAside):
            stats.records_set_aside += 1
            stats.records_dropped += 1  # counted with every other record left out of the Kafka copy
            stats.last_set_aside = report.description

    def wake_writer(self) -> None:
        """Tell a waiting writer the spool holds more: :meth:`commit` does; so does whoever appends to the spool
        directly (a benchmark filling it)."""
        self._writer_waits_after = None
        if self._writer_stdin is not None and not self._writer_stdin.is_closing():
            self._writer_stdin.write(encode(Appended(self.spool.last_seq)))

    def _set_connected(self, report: Connection) -> None:
        self._writer_starting = False
        stats = self.stats
        if report.failed_send:
            stats.send_failures += 1
        if report.connected and not stats.connected:
            logger.info("kafka %s: connected; %d records to deliver", self._bootstrap, self.spool.pending_records)
        # /health shows a current error, not one Kafka has recovered from
        stats.last_error = "" if report.connected else report.error
        stats.connected = report.connected

    async def sync_periodically(self, interval_s: float) -> None:
        """Flush the spool per its fsync policy and delete its acknowledged segments (in a thread), and persist its
        checkpoint, also when appends pause.

        Runs every half interval, so the spool's inline flush (when an append finds the last flush older than
        the interval) is kept for a stalled loop. Runs forever.
        """
        while True:
            await asyncio.sleep(interval_s / 2)
            try:
                work = self.spool.begin_sync()
                if work is not None:
                    await asyncio.to_thread(finish_sync, self.spool.directory, work)
            except SpoolError as exc:
                self._log_spool_error(exc)

    async def drain(self, timeout_s: float) -> None:
        """Give the writer up to ``timeout_s`` to deliver what is spooled, while it is connected or still starting
        (a gateway stopped right after its start); what remains is sent on the next start."""
        deadline = time.monotonic() + timeout_s
        while (
            self.spool.pending_records
            and (self.stats.connected or self._writer_starting)
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.01)

    def _log_spool_error(self, exc: SpoolError) -> None:
        self._spool_errors.error(
            "%s; dropped from the Kafka copy so far: %d records, %d ticks (NATS still receives them)",
            exc,
            self.stats.records_dropped,
            self.stats.ticks_dropped,
        )


def _exit_text(returncode: int) -> str:
    """How a process ended, from its return code (negative: the signal that killed it)."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = "an unknown signal"
    return f"was killed by signal {-returncode} ({name})"


async def _end(process: asyncio.subprocess.Process) -> None:
    """Close the writer's pipe (it exits at its end); kill it if it has not exited within EXIT_TIMEOUT_S."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), EXIT_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
