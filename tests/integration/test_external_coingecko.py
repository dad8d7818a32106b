"""The CoinGecko collector against a local HTTP server serving the recorded ``coins/markets`` answer in place.

The server answers ``/api/v3/coins/markets`` as CoinGecko does: the coins of the ``ids`` parameter, each one's
bytes exactly as recorded (../shared/data/coingecko, 250 coins of 2023-07-28). Single polls of a real
:class:`CoingeckoCollector` over real HTTP show the exact ExternalData of the first poll, nothing on an
unchanged second poll, a moved price as an UPDATED with its FieldChanges, the key sent in its header from the
environment and never shown, and every failure mode as a named state and status: 429 with Retry-After, each
CoinGecko error code (10002, 10005, 10010, 10011), the CDN's block page, 5xx, a stalled answer, HTML where
JSON was expected, a cut body, and an empty answer.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

import httpx
import msgspec
import pytest

from collectors.external.coingecko import CoingeckoCollector, CoingeckoConfig
from collectors.polling import forget_shared_answers
from gateway.backoff import Backoff
from gateway.errors import ConfigError
from gateway.schema.market.v1.market_pb2 import CryptoQuote, ExternalData, FieldChange, SourceStatus
from tests.servers.http_provider import Fault, ProviderServer, Reply, SeenRequest
from tests.support import RecordingExternalSink

NS_PER_S: Final = 1_000_000_000
NS_PER_MS: Final = 1_000_000
SOURCE: Final = "crypto"
MARKETS_PATH: Final = "/api/v3/coins/markets"
SIMPLE_PATH: Final = "/api/v3/simple/price"
COINS: Final = ("bitcoin", "ethereum", "tether", "baby-doge-coin")
KEY_ENV: Final = "FXGW_TEST_COINGECKO_KEY"
KEY: Final = "CG-testkey-4f1b2c9d8e7a"
BITCOIN_AT: Final = calendar.timegm((2023, 7, 28, 20, 3, 29)) * NS_PER_S + 93 * NS_PER_MS
CDN_BLOCK_PAGE: Final = (
    b"<!DOCTYPE html><html><head><title>Access denied | api.coingecko.com used Cloudflare to restrict access"
    b"</title></head><body><p>error code: 1020</p></body></html>"
)


class OpenWindowCoingeckoConfig(CoingeckoConfig):
    """CoinGecko's config with the host window opened for tests that poll many times a second."""

    host_max_requests: ClassVar[int] = 1000
    host_window_s: ClassVar[float] = 1.0


def recorded_coins(shared_data: Path) -> dict[str, bytes]:
    """Each coin of the recorded answer, by id, as its exact bytes."""
    body = (shared_data / "coingecko" / "coins_markets_usd_2023-07-28.json").read_bytes()
    elements = [bytes(raw) for raw in msgspec.json.decode(body, type=list[msgspec.Raw])]
    return {json.loads(element)["id"]: element for element in elements}


def markets(coins: dict[str, bytes]) -> Callable[[SeenRequest], Reply]:
    """CoinGecko's coins/markets: the recorded coins named by ``ids``, in market-cap order as recorded."""

    def answer(request: SeenRequest) -> Reply:
        wanted = set(request.query.get("ids", [""])[0].split(","))
        return Reply(body=b"[" + b",".join(raw for coin_id, raw in coins.items() if coin_id in wanted) + b"]")

    return answer


@dataclass
class Rig:
    server: ProviderServer
    sink: RecordingExternalSink
    collector: CoingeckoCollector
    client: httpx.AsyncClient
    backoff: Backoff

    async def poll(self) -> float:
        forget_shared_answers()  # the 5-second shared cache would answer a second poll without asking the server
        return await self.collector.poll(self.client, self.backoff)

    def published(self) -> list[ExternalData]:
        messages = list(self.sink.messages)
        self.sink.messages.clear()
        return messages


def make_rig(server: ProviderServer, **fields: object) -> Rig:
    settings: dict[str, object] = {"coin_ids": COINS, "timeout_s": 2.0, "retry_min_s": 1.0, **fields}
    base_url = f"{server.base_url}/api/v3"
    config = OpenWindowCoingeckoConfig.model_validate({"id": SOURCE, "base_url": base_url, **settings})
    sink = RecordingExternalSink()
    client = httpx.AsyncClient(timeout=config.timeout_s, trust_env=False)
    return Rig(server, sink, CoingeckoCollector(config, sink), client, Backoff(config.retry_min_s, config.interval_s))


@pytest.fixture
async def rig(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    monkeypatch.setenv(KEY_ENV, KEY)
    async with ProviderServer() as server:
        server.serve(MARKETS_PATH, markets(recorded_coins(shared_data)))
        made = make_rig(server, api_key_env=KEY_ENV)
        async with made.client:
            yield made


def by_id(messages: list[ExternalData]) -> dict[str, ExternalData]:
    return {message.item_id: message for message in messages}


def everything_said(rig: Rig) -> str:
    """Every text the collector published or keeps for operations: statuses, last error, problems."""
    stats = rig.collector.stats
    return "\n".join([*(change.detail for _, change in rig.sink.statuses), stats.last_error, *stats.problems])


async def test_first_poll_publishes_each_coin_exactly_then_nothing_when_unchanged(rig: Rig) -> None:
    delay_s = await rig.poll()
    messages = rig.published()

    assert [message.item_id for message in messages] == list(COINS)
    bitcoin = messages[0]
    assert bitcoin == ExternalData(
        type="coingecko",
        source=SOURCE,
        ts_ns=BITCOIN_AT,
        ts_recv_ns=bitcoin.ts_recv_ns,
        item_id="bitcoin",
        change=ExternalData.CHANGE_NEW,
        revision=1,
        session_id=1,
        seq=1,
        crypto=CryptoQuote(
            symbol="btc",
            price_usd=29309.0,
            volume_24h_usd=7555609615.0,
            change_24h_pct=0.49325,
            market_cap_usd=569778313238.0,
            id="bitcoin",
            name="Bitcoin",
            last_updated_ns=BITCOIN_AT,
            high_24h_usd=29507.0,
            low_24h_usd=29119.0,
            market_cap_rank=1,
        ),
    )
    assert bitcoin.ts_recv_ns > BITCOIN_AT
    assert by_id(messages)["baby-doge-coin"].crypto.price_usd == 1.206e-09
    assert rig.sink.states() == [SourceStatus.STATE_CONNECTED]
    assert 0.9 * 60 <= delay_s <= 1.1 * 60
    [request] = rig.server.requests
    assert request.path == MARKETS_PATH
    assert request.query["ids"] == [",".join(COINS)]
    assert (request.query["vs_currency"], request.query["precision"]) == (["usd"], ["full"])
    assert request.headers["x-cg-demo-api-key"] == KEY

    await rig.poll()

    assert rig.published() == []
    assert rig.collector.stats.items_unchanged == 4
    assert KEY not in everything_said(rig)


async def test_a_moved_price_is_an_update_with_what_changed(rig: Rig, shared_data: Path) -> None:
    await rig.poll()
    rig.published()
    coins = recorded_coins(shared_data)
    coins["bitcoin"] = (
        coins["bitcoin"]
        .replace(b'"current_price": 29309,', b'"current_price": 29411.5,')
        .replace(b'"last_updated": "2023-07-28T20:03:29.093Z"', b'"last_updated": "2023-07-28T20:04:31.500Z"')
    )
    rig.server.serve(MARKETS_PATH, markets(coins))

    await rig.poll()
    [update] = rig.published()

    moved_at = calendar.timegm((2023, 7, 28, 20, 4, 31)) * NS_PER_S + 500 * NS_PER_MS
    assert (update.item_id, update.change, update.revision, update.seq) == (
        "bitcoin",
        ExternalData.CHANGE_UPDATED,
        2,
        5,
    )
    assert (update.ts_ns, update.crypto.price_usd) == (moved_at, 29411.5)
    assert list(update.changes) == [
        FieldChange(field="price_usd", previous="29309.0", current="29411.5"),
        FieldChange(field="last_updated_ns", previous=str(BITCOIN_AT), current=str(moved_at)),
        FieldChange(field="ts_ns", previous=str(BITCOIN_AT), current=str(moved_at)),
    ]


async def test_simple_price_endpoint_publishes_prices_without_names(shared_data: Path) -> None:
    coins = {coin_id: json.loads(raw) for coin_id, raw in recorded_coins(shared_data).items()}

    def simple_price(request: SeenRequest) -> Reply:
        ids = request.query["ids"][0].split(",")
        answer = {
            coin_id: {
                "usd": coins[coin_id]["current_price"],
                "usd_market_cap": coins[coin_id]["market_cap"],
                "usd_24h_vol": coins[coin_id]["total_volume"],
                "usd_24h_change": coins[coin_id]["price_change_percentage_24h"],
                "last_updated_at": 1690574609,
            }
            for coin_id in ids
            if coin_id in coins
        }
        return Reply(body=json.dumps(answer).encode())

    async with ProviderServer() as server:
        server.serve(SIMPLE_PATH, simple_price)
        made = make_rig(server, endpoint="simple_price")
        async with made.client:
            await made.poll()

    messages = made.published()
    assert [message.item_id for message in messages] == list(COINS)
    assert messages[0].crypto == CryptoQuote(
        id="bitcoin",
        price_usd=29309.0,
        volume_24h_usd=7555609615.0,
        change_24h_pct=0.49325,
        market_cap_usd=569778313238.0,
        last_updated_ns=1690574609 * NS_PER_S,
    )
    assert server.requests[0].query["include_24hr_change"] == ["true"]
    assert "x-cg-demo-api-key" not in server.requests[0].headers  # keyless


async def test_429_with_retry_after_waits_that_long(rig: Rig) -> None:
    body = b'{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit."}}'
    rig.server.inject(MARKETS_PATH, Fault.answer(Reply(status=429, body=body, headers=(("Retry-After", "90"),))))

    delay_s = await rig.poll()

    assert delay_s >= 90
    assert rig.collector.stats.state == "rate_limited"
    assert "exceeded the Rate Limit" in rig.collector.stats.last_error
    assert rig.sink.states() == [SourceStatus.STATE_DISCONNECTED]
    assert rig.published() == []

    await rig.poll()

    assert len(rig.published()) == 4


async def test_a_bare_429_is_rate_limited_too(rig: Rig) -> None:
    rig.server.inject(MARKETS_PATH, Fault.too_many("45"))

    assert await rig.poll() >= 45
    assert rig.collector.stats.state == "rate_limited"


@pytest.mark.parametrize(
    ("status", "code", "state", "published_state", "words"),
    [
        (401, 10002, "unauthorized", SourceStatus.STATE_UNAUTHORIZED, "API key missing or invalid"),
        (401, 10005, "refused", SourceStatus.STATE_REJECTED, "needs a paid plan"),
        (401, 10010, "unauthorized", SourceStatus.STATE_UNAUTHORIZED, "a Pro key must go to"),
        (401, 10011, "unauthorized", SourceStatus.STATE_UNAUTHORIZED, "a Demo key must go to"),
        (200, 10002, "unauthorized", SourceStatus.STATE_UNAUTHORIZED, "API key missing or invalid"),
    ],
)
async def test_coingecko_error_codes_are_named_states(
    rig: Rig,
    caplog: pytest.LogCaptureFixture,
    status: int,
    code: int,
    state: str,
    published_state: SourceStatus.State,
    words: str,
) -> None:
    body = json.dumps({"status": {"error_code": code, "error_message": f"message of {code}"}}).encode()
    rig.server.inject(MARKETS_PATH, Fault.answer(Reply(status=status, body=body)))

    delay_s = await rig.poll()

    assert rig.collector.stats.state == state
    assert delay_s >= rig.collector.config.refused_retry_s
    [(_, change)] = rig.sink.statuses
    assert change.state == published_state
    assert words in change.detail and f"message of {code}" in change.detail
    if published_state == SourceStatus.STATE_UNAUTHORIZED:
        assert KEY_ENV in change.detail  # the variable is named, never its value
    assert KEY not in everything_said(rig)
    assert f"{SOURCE}: {state}: " in caplog.text  # logged, with the variable at most
    assert KEY not in caplog.text
    assert rig.published() == []


async def test_the_cdn_block_page_is_blocked(rig: Rig) -> None:
    rig.server.inject(MARKETS_PATH, Fault.answer(Reply(status=403, body=CDN_BLOCK_PAGE, content_type="text/html")))

    await rig.poll()

    assert rig.collector.stats.state == "refused"
    assert "CDN blocked the request" in rig.collector.stats.last_error
    assert rig.sink.states() == [SourceStatus.STATE_REJECTED]


async def test_a_missing_key_variable_is_a_config_error_naming_it(shared_data: Path) -> None:
    async with ProviderServer() as server:
        made = make_rig(server, api_key_env="FXGW_TEST_UNSET_COINGECKO_KEY")
        async with made.client:
            with pytest.raises(ConfigError, match="FXGW_TEST_UNSET_COINGECKO_KEY"):
                await made.poll()

    assert made.sink.states() == [SourceStatus.STATE_UNAUTHORIZED]
    assert server.requests == []


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_is_failing_and_backs_off(rig: Rig, status: int) -> None:
    rig.server.inject(MARKETS_PATH, Fault.unavailable(status))

    delay_s = await rig.poll()

    assert rig.collector.stats.state == "failing"
    assert 0 < delay_s < 60
    assert rig.sink.states() == [SourceStatus.STATE_DISCONNECTED]


async def test_a_stalled_answer_times_out_as_failing(shared_data: Path) -> None:
    async with ProviderServer() as server:
        server.serve(MARKETS_PATH, markets(recorded_coins(shared_data)))
        server.inject(MARKETS_PATH, Fault.slow(3.0))
        made = make_rig(server, timeout_s=0.3)
        async with made.client:
            await made.poll()

    assert made.collector.stats.state == "failing"
    assert "no complete answer within 0.3 s" in made.collector.stats.last_error


@pytest.mark.parametrize(
    "fault",
    [
        Fault.answer(Reply(body=b"<html><body>Down for maintenance</body></html>", content_type="text/html")),
        Fault.truncated(700, declare_length=False),
        Fault.answer(Reply(body=b'{"bitcoin":{"usd":1}}')),
    ],
    ids=["html page", "cut body", "object instead of array"],
)
async def test_an_answer_that_is_not_data_is_malformed(rig: Rig, fault: Fault) -> None:
    rig.server.inject(MARKETS_PATH, fault)

    await rig.poll()

    assert rig.collector.stats.state == "malformed"
    assert rig.collector.stats.problems == {"malformed_response": 1}
    assert rig.published() == []


async def test_an_answer_above_max_body_bytes_is_refused(shared_data: Path) -> None:
    async with ProviderServer() as server:
        server.serve(MARKETS_PATH, markets(recorded_coins(shared_data)))
        made = make_rig(server, max_body_bytes=2048)
        async with made.client:
            await made.poll()

    assert made.collector.stats.state == "malformed"
    assert made.collector.stats.problems == {"response_too_large": 1}
    assert made.published() == []


async def test_an_empty_answer_names_each_missing_coin(rig: Rig) -> None:
    rig.server.inject(MARKETS_PATH, Fault.answer(Reply(body=b"[]")))

    await rig.poll()

    assert rig.published() == []
    assert rig.collector.stats.state == "ok"
    assert rig.collector.stats.problems == {"unknown_coin": 4}


async def test_a_hostile_coin_is_counted_and_the_others_published(rig: Rig, shared_data: Path) -> None:
    coins = recorded_coins(shared_data)
    coins["tether"] = coins["tether"].replace(b'"current_price": 0.999718,', b'"current_price": -1,')
    coins["ethereum"] = coins["ethereum"].replace(b'"market_cap_rank": 2,', b'"market_cap_rank": "2",')
    rig.server.serve(MARKETS_PATH, markets(coins))

    await rig.poll()

    assert [message.item_id for message in rig.published()] == ["bitcoin", "baby-doge-coin"]
    assert rig.collector.stats.problems == {"bad_type": 1, "bad_price": 1}
