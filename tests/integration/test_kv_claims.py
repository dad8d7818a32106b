"""gateway.kv against a real nats-server with JetStream: claims, renewals, expiry, release, markers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.js.kv import KeyValue

from gateway.kv import BucketSpec, KeyClaim, open_bucket, read_live
from gateway.nats_server import NatsServer

EXPIRY_S = 1.0
_names = itertools.count()


@pytest.fixture(scope="module")
def jetstream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    store = tmp_path_factory.mktemp("js")
    with NatsServer(extra_args=("-js", "-sd", str(store))) as server:
        yield server


@pytest.fixture(params=[False, True], ids=["plain", "limit_markers"])
async def bucket(jetstream_server: NatsServer, request: pytest.FixtureRequest) -> AsyncIterator[KeyValue]:
    client = await nats.connect(jetstream_server.url)
    spec = BucketSpec(name=f"claims_{next(_names)}", max_age_s=EXPIRY_S, limit_markers=request.param)
    yield await open_bucket(client.jetstream(), spec)
    await client.close()


async def test_second_owner_is_refused_and_named_until_the_first_releases(bucket: KeyValue) -> None:
    first = KeyClaim(bucket, "source.oanda", b"gw-a", ttl_s=EXPIRY_S)
    second = KeyClaim(bucket, "source.oanda", b"gw-b", ttl_s=EXPIRY_S)
    assert await first.acquire() is None
    assert await second.acquire() == b"gw-a"
    assert await first.acquire() is None  # renewal by revision
    assert await second.acquire() == b"gw-a"
    await first.release()
    assert await second.acquire() is None
    assert (await read_live(bucket, "source.oanda")).value == b"gw-b"


async def test_a_holder_that_stops_renewing_loses_the_key_at_expiry(bucket: KeyValue) -> None:
    first = KeyClaim(bucket, "lease", b"agg-1", ttl_s=EXPIRY_S)
    second = KeyClaim(bucket, "lease", b"agg-2", ttl_s=EXPIRY_S)
    assert await first.acquire() is None
    assert await second.acquire() == b"agg-1"
    for _ in range(40):  # the server removes it at max age; allow its expiry sweep some slack
        await asyncio.sleep(0.1)
        if await second.acquire() is None:
            break
    assert (await read_live(bucket, "lease")).value == b"agg-2"
    assert await first.acquire() == b"agg-2"  # the former holder's renewal fails and names the new one
    assert not first.holds(float("inf"))


async def test_a_late_release_never_deletes_the_successors_claim(bucket: KeyValue) -> None:
    first = KeyClaim(bucket, "k", b"one", ttl_s=EXPIRY_S)
    assert await first.acquire() is None
    await bucket.delete("k")  # as if it expired
    second = KeyClaim(bucket, "k", b"two", ttl_s=EXPIRY_S)
    assert await second.acquire() is None
    await first.release()
    assert (await read_live(bucket, "k")).value == b"two"


async def test_the_same_owner_adopts_its_own_claim_after_a_restart(bucket: KeyValue) -> None:
    assert await KeyClaim(bucket, "k", b"same", ttl_s=EXPIRY_S).acquire() is None
    assert await KeyClaim(bucket, "k", b"same", ttl_s=EXPIRY_S).acquire() is None


async def test_holds_is_judged_from_the_local_clock_only(bucket: KeyValue) -> None:
    now = [100.0]
    claim = KeyClaim(bucket, "k", b"me", ttl_s=3.0, clock=lambda: now[0])
    assert not claim.holds(100.0)
    assert await claim.acquire() is None
    assert claim.holds(102.9)
    assert not claim.holds(103.0)  # frozen past the ttl: not ours, whatever the server says
    await claim.release()
    assert not claim.holds(100.0)


async def test_open_bucket_binds_to_an_existing_bucket(jetstream_server: NatsServer) -> None:
    client = await nats.connect(jetstream_server.url)
    spec = BucketSpec(name=f"claims_{next(_names)}", max_age_s=EXPIRY_S)
    first = await open_bucket(client.jetstream(), spec)
    await first.put("k", b"v")
    again = await open_bucket(client.jetstream(), spec)
    assert (await read_live(again, "k")).value == b"v"
    assert (await read_live(again, "absent")).value is None
    await client.close()
