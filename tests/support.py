"""Fakes and helpers that several test files share, each written once: no network, no pytest.

- :class:`RecordingNatsClient` stands in for the NATS client the publisher is given (unit tests, the
  micro-benchmarks and ``scripts/bench_pipeline.py``'s stubbed baseline);
- :class:`RecordingSink` stands in for the pipeline a collector hands its events to;
- :func:`free_port` picks a loopback port for a server a test starts, stops and starts again;
- :func:`compact_json` writes a provider's JSON as OANDA sends it;
- :func:`fxgw` runs the command line as a user does, in a subprocess from the repository's root.

A fake that one test file alone needs stays in that file.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from nats.errors import Error as NatsError

from gateway.events import Event, StatusChange
from gateway.schema.market.v1.market_pb2 import MarketDataStream

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
