"""A recording subscriber with awaitable conditions, for tests against a real nats-server."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from gateway.schema.market.v1.market_pb2 import BestPrice, MarketDataStream, QualityRejection, SourceStatus, Tick


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
