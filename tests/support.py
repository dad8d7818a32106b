"""Fakes and helpers that several test files share, each written once (no pytest).

- :class:`RecordingNatsClient` stands in for the NATS client the publisher is given (unit tests, the
  micro-benchmarks and ``scripts/bench_pipeline.py``'s stubbed baseline);
- :class:`RecordingSink` stands in for the pipeline a collector hands its events to;
- :class:`RecordingExternalSink` stands in for the pipeline an external collector publishes to;
- :class:`Recorder` subscribes to a real nats-server and lets a test await a condition on what arrived;
- :func:`wait_until` polls a condition that no message announces (a counter, a snapshot);
- :func:`free_port` picks a loopback port for a server a test starts, stops and starts again;
- :func:`compact_json` writes a provider's JSON as OANDA sends it;
- :func:`fxgw` runs the command line as a user does, in a subprocess from the repository's root;
- :func:`hub_record` builds a gateway's Central Hub record (tests of the hub and its benchmark).

A fake that one test file alone needs stays in that file.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from gateway.events import Event, StatusChange
from gateway.schema.market.v1.market_pb2 import (
    BestPrice,
    ExternalData,
    MarketDataStream,
    QualityRejection,
    SourceStatus,
    Tick,
)

Published = tuple[str, bytes, dict[str, str]]
"""One publish as the client was handed it: subject, payload, headers."""


class RecordingNatsClient:
    """Stands in for ``nats.aio.client.Client.publish``: keeps every publish in order, as the real client queues it.

    ``failures[i]``, where given and not None, is raised by the i-th call instead (that publish is not kept).
    """

    def __init__(self, failures: Iterable[NatsError | None] = ()) -> None:
        self.published: list[Published] = []
        self._failures = list(failures)

    async def publish(
        self, subject: str, payload: bytes = b"", reply: str = "", headers: dict[str, str] | None = None
    ) -> None:
        failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            raise failure
        self.published.append((subject, payload, dict(headers or {})))

    def decoded(self) -> list[tuple[str, MarketDataStream, dict[str, str]]]:
        """Every publish, its payload decoded as a MarketDataStream, in order."""
        return [
            (subject, MarketDataStream.FromString(payload), headers) for subject, payload, headers in self.published
        ]

    def streams(self, subject: str) -> list[MarketDataStream]:
        """The MarketDataStreams published on ``subject``, in order."""
        return [stream for sent, stream, _ in self.decoded() if sent == subject]

    def ticks_by_subject(self) -> dict[str, int]:
        """Ticks and best prices published per subject."""
        counts: dict[str, int] = {}
        for subject, stream, _ in self.decoded():
            counts[subject] = counts.get(subject, 0) + len(stream.ticks) + len(stream.best_prices)
        return counts


class RecordingSink:
    """A collector's TickSink that keeps every event, status change and pip size it is handed, in order.

    ``enough`` is set once ``wanted`` events have arrived (never, with the default 0).
    """

    def __init__(self, wanted: int = 0) -> None:
        self.events: list[Event] = []
        self.batches = 0
        self.statuses: list[StatusChange] = []
        self.pip_sizes: dict[str, int] = {}
        self.heartbeats: list[tuple[int, int]] = []
        """(broker time, receive time) of each heartbeat handed over."""
        self.wanted = wanted
        self.enough = asyncio.Event()
        self.changed = asyncio.Event()
        """Set on every hand-over; a test clears it before waiting for the next."""

    async def submit(self, events: Sequence[Event]) -> None:
        self.events.extend(events)
        self.batches += 1
        if self.wanted and len(self.events) >= self.wanted:
            self.enough.set()
        self.changed.set()

    async def report_status(self, source: str, change: StatusChange) -> None:
        self.statuses.append(change)
        self.changed.set()

    def use_pip_sizes(self, source: str, pip_px: Mapping[str, int]) -> None:
        self.pip_sizes.update(pip_px)

    def observe_heartbeat(self, source: str, event_ns: int, recv_ns: int) -> None:
        self.heartbeats.append((event_ns, recv_ns))


class RecordingExternalSink:
    """An external collector's ExternalSink that keeps every message and status change, in order.

    Messages are copied and numbered as the pipeline numbers them (``session_id``, and ``seq`` per source from
    1), so a test compares exactly what would be published. ``changed`` is set on every hand-over; a test
    clears it before waiting for the next.
    """

    def __init__(self, session_id: int = 1) -> None:
        self.session_id = session_id
        self.messages: list[ExternalData] = []
        self.statuses: list[tuple[str, StatusChange]] = []
        self.changed = asyncio.Event()
        self._seq: dict[str, int] = defaultdict(int)

    async def publish_external(self, messages: Sequence[ExternalData]) -> None:
        for message in messages:
            numbered = ExternalData()
            numbered.CopyFrom(message)
            self._seq[numbered.source] += 1
            numbered.session_id = self.session_id
            numbered.seq = self._seq[numbered.source]
            self.messages.append(numbered)
        self.changed.set()

    async def report_status(self, source: str, change: StatusChange) -> None:
        self.statuses.append((source, change))
        self.changed.set()

    def states(self) -> list[SourceStatus.State]:
        """The state of every status change, in order."""
        return [change.state for _, change in self.statuses]


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that nothing listens on now.

    For a server that must know its port before it starts (tansu advertises it) or that a test stops and starts
    again on the same port; another process may take the port meanwhile, which these tests accept.
    """
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def compact_json(value: object) -> bytes:
    """Compact JSON, as OANDA sends it, by an encoder independent of the parsers under test."""
    return json.dumps(value, separators=(",", ":")).encode()


REPO_ROOT = Path(__file__).resolve().parents[1]


def fxgw(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """``fxgw ARGS`` run to completion (``python -m gateway.cli``), its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO_ROOT,
        check=False,
    )


class Recorder:
    """Decodes every message on ``market.>`` and lets tests await a condition on what arrived.

    ``market.rejected`` carries QualityRejections, ``market.<source>.status`` SourceStatus messages (kept per
    source in ``statuses``), every other subject MarketDataStreams (kept per source in ``streams``).
    """

    def __init__(self) -> None:
        self.streams: dict[str, list[MarketDataStream]] = defaultdict(list)
        self.rejections: list[QualityRejection] = []
        self.statuses: dict[str, list[SourceStatus]] = defaultdict(list)
        self.headers: list[dict[str, str]] = []
        self._waiters: list[tuple[Callable[[Recorder], bool], asyncio.Future[None]]] = []
        self._client: Client | None = None
        self.reconnected = asyncio.Event()

    async def start(self, url: str, subject: str = "market.>") -> Recorder:
        async def on_reconnected() -> None:
            self.reconnected.set()

        self._client = await nats.connect(
            servers=[url], max_reconnect_attempts=-1, reconnect_time_wait=0.05, reconnected_cb=on_reconnected
        )
        await self._client.subscribe(subject, cb=self._on_message)
        await self._client.flush()
        return self

    @property
    def client(self) -> Client:
        """The subscriber's connection; raises RuntimeError before :meth:`start`."""
        if self._client is None:
            raise RuntimeError("Recorder.start() has not run")
        return self._client

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.drain()

    def ticks(self, source: str) -> list[Tick]:
        return [tick for batch in self.streams[source] for tick in batch.ticks]

    def best_prices(self) -> list[BestPrice]:
        return [best for batch in self.streams["best"] for best in batch.best_prices]

    async def wait_for(self, condition: Callable[[Recorder], bool], timeout_s: float = 15.0) -> None:
        """Return once ``condition(self)`` holds; evaluated on every message, no polling."""
        if condition(self):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((condition, future))
        await asyncio.wait_for(future, timeout_s)

    async def _on_message(self, message: Msg) -> None:
        self.headers.append(dict(message.headers or {}))
        if message.subject.endswith(".rejected"):
            self.rejections.append(QualityRejection.FromString(message.data))
        elif message.subject.endswith(".status"):
            status = SourceStatus.FromString(message.data)
            self.statuses[status.source].append(status)
        else:
            batch = MarketDataStream.FromString(message.data)
            self.streams[batch.source].append(batch)
        for condition, future in list(self._waiters):
            if not future.done() and condition(self):
                future.set_result(None)
                self._waiters.remove((condition, future))


async def wait_until(condition: Callable[[], bool], what: str = "", timeout_s: float = 20.0) -> None:
    """Return once ``condition()`` holds, checking every 20 ms; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.02)


def hub_record(
    instance_id: str,
    session_id: int = 1,
    sources: Sequence[str] = ("oanda-a",),
    *,
    instruments: Sequence[str] = ("EUR_USD", "USD_JPY"),
    heartbeat_s: float = 0.5,
    external: Sequence[str] = (),
) -> dict[str, object]:
    """A valid Central Hub record (central_hub.models.GatewayRecord) as a gateway sends it."""
    return {
        "instance_id": instance_id,
        "session_id": session_id,
        "version": "0.1.0",
        "host": "gw-host-1",
        "http_port": 8080,
        "health_url": "http://gw-host-1:8080/health",
        "metrics_url": "http://gw-host-1:8080/metrics",
        "protocol": "nats+kafka",
        "nats_url": "nats://***@nats-1:4222",
        "subject_prefix": "market",
        "subjects": [f"market.{source}.ticks" for source in sources] + ["market.best.ticks", "market.rejected"],
        "kafka": {
            "bootstrap": "kafka-1:9092",
            "ticks_topic": "market.ticks",
            "best_prices_topic": "market.best",
            "rejections_topic": "market.rejected",
            "status_topic": "market.status",
            "external_topic": "market.external",
        },
        "sources": [{"id": source, "kind": "oanda", "instruments": list(instruments)} for source in sources]
        + [{"id": source, "kind": "fred", "external": True} for source in external],
        "heartbeat_interval_s": heartbeat_s,
        "status": "ok",
        "problems": [],
    }
