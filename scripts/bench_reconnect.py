"""How soon an OANDA broker streams again after its server comes back, and what it loses across a clean cut.

Usage (from the repository root)::

    python scripts/bench_reconnect.py [--quick] [--data DIR]

A local OANDA v20 server (tests/servers/oanda_v20.py) streams recorded EUR/USD quotes at 1,000 lines/s to
the real gateway, which publishes to a private nats-server; a subscriber in this process records ticks and
status messages. For each outage length the server is stopped (connections dropped, port closed), started
again on the same port after the outage (0.2, 1, 3 and 8 s; ``--quick``: 0.2 and 1 s), and the script prints:

- restored -> RECONNECTED: from the server listening again to the gateway's RECONNECTED status: what is
  left of the backoff step the collector was in when the server came back (``reconnect_min_s`` 0.5 s
  doubling to ``reconnect_max_s`` 10 s, each drawn from half to all of it) plus the time to connect;
- connect time: from the collector's attempt that succeeded to RECONNECTED (the part that is not backoff);
- reported gap: the status message's ``gap_ns``.

Then a clean disconnect (the server ends the stream between lines): every price line the server wrote
must arrive on NATS; the script prints how many were sent and how many arrived.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import nats
import uvloop
from benchkit import argument_parser, parse_args
from nats.aio.msg import Msg

from gateway.app import Gateway
from gateway.clock import parse_time_ns
from gateway.config import parse_config
from gateway.nats_server import NatsServer
from gateway.schema.market.v1.market_pb2 import MarketDataStream, SourceStatus
from tests.servers.oanda_v20 import OandaV20Server, PriceFeed

ACCOUNT: Final = "101-004-1234567-001"
TOKEN_ENV: Final = "FXGW_BENCH_RECONNECT_TOKEN"
SOURCE: Final = "oanda-bench"
OUTAGES_S: Final = (0.2, 1.0, 3.0, 8.0)
QUICK_OUTAGES_S: Final = (0.2, 1.0)
LINES_PER_S: Final = 1000
HEALTHY_AFTER_S: Final = 1.5
"""Shorter than the default 30 s, so that each outage starts from the first backoff step, as after a long
healthy stream; the script streams 2 s between outages."""


class Watcher:
    """Records when status changes and ticks arrive on NATS."""

    def __init__(self) -> None:
        self.statuses: list[tuple[float, SourceStatus]] = []
        self.ticks: list[tuple[int, int, int]] = []
        self.changed = asyncio.Event()

    async def on_status(self, message: Msg) -> None:
        self.statuses.append((time.monotonic(), SourceStatus.FromString(message.data)))
        self.changed.set()

    async def on_ticks(self, message: Msg) -> None:
        for tick in MarketDataStream.FromString(message.data).ticks:
            self.ticks.append((tick.ts_event_ns, tick.bid_px, tick.ask_px))
        self.changed.set()

    async def wait_for_state(self, state: int, after: int, timeout_s: float = 30.0) -> tuple[float, SourceStatus]:
        deadline = time.monotonic() + timeout_s
        while True:
            for moment, status in self.statuses[after:]:
                if status.state == state:
                    return moment, status
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.monotonic()))


async def measure(data: Path, outages_s: Sequence[float]) -> None:
    token = os.urandom(16).hex()
    os.environ[TOKEN_ENV] = token
    feed = PriceFeed.from_quote_files(data, limit=200_000, rate=LINES_PER_S)
    server = await OandaV20Server(accounts={ACCOUNT: token}, feed=feed, heartbeat_interval_s=1.0).start()
    with NatsServer() as nats_server:
        watcher = Watcher()
        client = await nats.connect(nats_server.url)
        await client.subscribe(f"market.{SOURCE}.status", cb=watcher.on_status)
        await client.subscribe(f"market.{SOURCE}.ticks", cb=watcher.on_ticks)
        broker = {
            "id": SOURCE,
            "kind": "oanda",
            "account_id": ACCOUNT,
            "token_env": TOKEN_ENV,
            "rest_url": server.rest_url,
            "stream_url": server.stream_url,
            "instruments": ["EUR_USD"],
            "healthy_after_s": HEALTHY_AFTER_S,
        }
        gateway = Gateway(parse_config({"nats": {"url": nats_server.url}, "http": {"port": 0}, "brokers": [broker]}))
        await gateway.start()
        try:
            await watcher.wait_for_state(SourceStatus.STATE_CONNECTED, 0)
            print(f"{'outage':>8} {'restored -> RECONNECTED':>24} {'connect time':>13} {'reported gap':>13} attempt")
            for outage_s in outages_s:
                await asyncio.sleep(HEALTHY_AFTER_S + 0.5)
                seen = len(watcher.statuses)
                await server.stop()
                await asyncio.sleep(outage_s)
                requests_before = len(server.stats.requests)
                await server.start()
                restored = time.monotonic()
                moment, status = await watcher.wait_for_state(SourceStatus.STATE_RECONNECTED, seen)
                attempts = list(server.stats.requests)[requests_before:]
                connect_s = moment - attempts[-1].at_s if attempts else float("nan")
                print(
                    f"{outage_s:7.1f}s {moment - restored:23.3f}s {connect_s:12.3f}s "
                    f"{status.gap_ns / 1e9:12.3f}s {status.attempt:>7}"
                )
            await asyncio.sleep(1.0)
            sent_before = len(server.stats.sent_prices)
            server.disconnect(after_lines=100)
            seen = len(watcher.statuses)
            await watcher.wait_for_state(SourceStatus.STATE_RECONNECTED, seen)
            await asyncio.sleep(0.5)
            cut_stream = server.stats.sent_prices[sent_before - 1]
            arrived = {tick[0] for tick in watcher.ticks}
            sent_times = [_event_ns(line) for line in cut_stream]
            missing = [ts for ts in sent_times if ts not in arrived]
            print(f"clean cut: {len(sent_times)} price lines sent on the cut stream, {len(missing)} missing on NATS")
        finally:
            await gateway.stop()
            await client.close()
            await server.stop()


def _event_ns(line: bytes) -> int:
    start = line.index(b'"time":"') + 8
    return parse_time_ns(line[start : line.index(b'"', start)].decode())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argument_parser(__doc__, "the two shorter outages only: about 15 s"), argv)
    logging.basicConfig(level=logging.CRITICAL)  # the outages are deliberate: their warnings would hide the table
    uvloop.run(measure(args.data, QUICK_OUTAGES_S if args.quick else OUTAGES_S))
    return 0


if __name__ == "__main__":
    sys.exit(main())
