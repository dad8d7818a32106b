"""CoinGecko's parsers, error mapping and config on the recorded ``coins/markets`` answer, and a hostile corpus.

The recorded answer (../shared/data/coingecko, 250 coins, 2023-07-28) is parsed in place; expected values are
read off the file by eye and with stdlib ``json``. No ``simple/price`` answer was ever recorded, so its tests
build one from the recorded coins' real values (:func:`simple_price_body`, the documented shape). The error
bodies are CoinGecko's documented shapes. The hostile corpus replaces one coin of the real answer at a time
(type swaps, huge, negative and out-of-range numbers, impossible times, control characters, over-long text,
invalid UTF-8) so that exactly that coin is refused with a named reason and the other 249 still come out,
and damages whole bodies (truncations at many offsets, random bytes, deep nesting) so that the answer is
refused with a named error and nothing crashes.
"""

from __future__ import annotations

import calendar
import json
import random
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Final

import msgspec
import pytest
from pydantic import ValidationError

from collectors.external.coingecko import (
    MAX_IDS_PER_REQUEST,
    NAME_CHARS,
    CoingeckoCollector,
    CoingeckoConfig,
    parse_markets,
    parse_simple_price,
    refusal,
)
from gateway.echo import RAW_BYTES
from gateway.errors import MalformedInputError, ProviderRefusalError
from gateway.events import ExternalItem, Parsed
from gateway.schema.market.v1.market_pb2 import CryptoQuote
from tests.support import RecordingExternalSink
from tests.unit.collectors.external.hostile import damaged, truncations

NS_PER_S: Final = 1_000_000_000
NS_PER_MS: Final = 1_000_000
MARKETS: Final = "coingecko/coins_markets_usd_2023-07-28.json"
RECV_NS: Final = calendar.timegm((2023, 7, 28, 20, 5, 0)) * NS_PER_S
"""Two minutes after the newest last_updated of the recording."""
BITCOIN_AT: Final = calendar.timegm((2023, 7, 28, 20, 3, 29)) * NS_PER_S + 93 * NS_PER_MS


@pytest.fixture(scope="module")
def markets_body(shared_data: Path) -> bytes:
    return (shared_data / MARKETS).read_bytes()


@pytest.fixture(scope="module")
def all_ids(markets_body: bytes) -> frozenset[str]:
    return frozenset(coin["id"] for coin in json.loads(markets_body))


def by_id(parsed: Parsed) -> dict[str, ExternalItem]:
    return {item.item_id: item for item in parsed.items}


def quote_of(item: ExternalItem) -> CryptoQuote:
    assert isinstance(item.payload, CryptoQuote)
    return item.payload


def elements(body: bytes) -> list[bytes]:
    return [bytes(raw) for raw in msgspec.json.decode(body, type=list[msgspec.Raw])]


def with_element(body: bytes, index: int, replacement: bytes) -> bytes:
    parts = elements(body)
    parts[index] = replacement
    return b"[" + b",".join(parts) + b"]"


def simple_price_body(markets: bytes, ids: list[str]) -> bytes:
    """A simple/price answer (``vs_currencies=usd`` with every include) holding the recorded coins' values."""
    coins = {coin["id"]: coin for coin in json.loads(markets)}
    answer = {
        coin_id: {
            "usd": coins[coin_id]["current_price"],
            "usd_market_cap": coins[coin_id]["market_cap"],
            "usd_24h_vol": coins[coin_id]["total_volume"],
            "usd_24h_change": coins[coin_id]["price_change_percentage_24h"],
            "last_updated_at": int(datetime.fromisoformat(coins[coin_id]["last_updated"]).timestamp()),
        }
        for coin_id in ids
    }
    return json.dumps(answer).encode()


# -- coins/markets -----------------------------------------------------------------------------------------


def test_recorded_markets_answer_gives_every_coin_exactly(markets_body: bytes, all_ids: frozenset[str]) -> None:
    parsed = parse_markets(markets_body, RECV_NS, all_ids)

    assert (len(parsed.items), parsed.problems) == (250, [])
    bitcoin = parsed.items[0]
    assert (bitcoin.item_id, bitcoin.ts_ns) == ("bitcoin", BITCOIN_AT)
    assert quote_of(bitcoin) == CryptoQuote(
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
    )
    items = by_id(parsed)
    ether = quote_of(items["ethereum"])  # its roi object is not read
    assert (ether.price_usd, ether.low_24h_usd, ether.market_cap_rank) == (1874.18, 1855.78, 2)
    baby = quote_of(items["baby-doge-coin"])  # exponent form
    assert (baby.price_usd, baby.high_24h_usd, baby.low_24h_usd) == (1.206e-09, 1.212e-09, 1.192e-09)
    tether = quote_of(items["tether"])
    assert (tether.price_usd, tether.change_24h_pct, tether.volume_24h_usd) == (0.999718, -0.03696, 14775676261.0)
    gains = items["gains-farm"]  # null high, low and changes: 0, "not given"
    assert quote_of(gains).high_24h_usd == quote_of(gains).low_24h_usd == quote_of(gains).change_24h_pct == 0.0
    assert gains.ts_ns == calendar.timegm((2023, 7, 26, 15, 10, 39)) * NS_PER_S + 35 * NS_PER_MS
    assert sorted(quote_of(item).market_cap_rank for item in parsed.items)[-2:] == [249, 251]


def test_only_the_configured_coins_are_kept_and_missing_ones_are_named(markets_body: bytes) -> None:
    parsed = parse_markets(markets_body, RECV_NS, frozenset({"bitcoin", "tether", "not-a-coin"}))

    assert [item.item_id for item in parsed.items] == ["bitcoin", "tether"]
    assert [(problem.reason, problem.detail) for problem in parsed.problems] == [
        ("unrequested_coin", "248 coin(s) not asked for were ignored"),
        ("unknown_coin", "coin not-a-coin is not in the answer (not a CoinGecko id?)"),
    ]


def test_an_empty_answer_names_every_configured_coin() -> None:
    parsed = parse_markets(b"[]", RECV_NS, frozenset({"bitcoin", "ethereum"}))

    assert parsed.items == []
    assert [problem.reason for problem in parsed.problems] == ["unknown_coin", "unknown_coin"]


# -- simple/price ------------------------------------------------------------------------------------------


def test_simple_price_gives_price_volume_change_cap_and_time(markets_body: bytes) -> None:
    body = simple_price_body(markets_body, ["bitcoin", "baby-doge-coin", "gains-farm"])

    parsed = parse_simple_price(body, RECV_NS, frozenset({"bitcoin", "baby-doge-coin", "gains-farm"}))

    assert parsed.problems == []
    items = by_id(parsed)
    assert items["bitcoin"].ts_ns == calendar.timegm((2023, 7, 28, 20, 3, 29)) * NS_PER_S
    assert quote_of(items["bitcoin"]) == CryptoQuote(
        id="bitcoin",
        price_usd=29309.0,
        volume_24h_usd=7555609615.0,
        change_24h_pct=0.49325,
        market_cap_usd=569778313238.0,
        last_updated_ns=calendar.timegm((2023, 7, 28, 20, 3, 29)) * NS_PER_S,
    )
    assert quote_of(items["baby-doge-coin"]).price_usd == 1.206e-09
    assert quote_of(items["gains-farm"]).change_24h_pct == 0.0  # null


@pytest.mark.parametrize(
    ("coin", "reason"),
    [
        (b'{"usd":"29309"}', "bad_type"),
        (b'{"usd":null}', "missing_price"),
        (b"{}", "missing_price"),
        (b'{"usd":0}', "bad_price"),
        (b'{"usd":1e400}', "bad_number"),
        (b'{"usd":1,"usd_24h_vol":-1}', "bad_usd_24h_vol"),
        (b'{"usd":1,"usd_24h_change":-100.5}', "bad_usd_24h_change"),
        (b'{"usd":1,"last_updated_at":-5}', "bad_last_updated_at"),
        (b'{"usd":1,"last_updated_at":99999999999999999999}', "bad_last_updated_at"),
        (b'{"usd":1,"last_updated_at":1.5}', "bad_type"),
        (b"[1,2]", "bad_type"),
        (b'"1.0"', "bad_type"),
    ],
)
def test_a_hostile_simple_price_coin_is_refused_alone(markets_body: bytes, coin: bytes, reason: str) -> None:
    good = simple_price_body(markets_body, ["bitcoin", "ethereum"])
    body = good[:-1] + b', "tether": ' + coin + b"}"

    parsed = parse_simple_price(body, RECV_NS, frozenset({"bitcoin", "ethereum", "tether"}))

    assert [item.item_id for item in parsed.items] == ["bitcoin", "ethereum"]
    assert [problem.reason for problem in parsed.problems] == [reason]
    assert parsed.problems[0].detail.startswith("coin tether: ")


@pytest.mark.parametrize("body", [b"[]", b"null", b'"bitcoin"', b"{", b"", b'{"a":' * 3000 + b"1" + b"}" * 3000])
def test_a_simple_price_answer_that_is_not_an_object_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedInputError, match="simple/price"):
        parse_simple_price(body, RECV_NS, frozenset({"bitcoin"}))


# -- error bodies and refusals ----------------------------------------------------------------------------

RATE_LIMIT_BODY: Final = (
    b'{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit. Please visit '
    b'https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate limits."}}'
)
CDN_BLOCK_PAGE: Final = (
    b"<!DOCTYPE html>\n<html><head><title>Access denied | api.coingecko.com used Cloudflare to restrict access"
    b"</title></head><body><h1>Error 1020</h1><p>error code: 1020</p></body></html>"
)


@pytest.mark.parametrize(
    ("status", "body", "has_key", "kind", "words"),
    [
        (429, RATE_LIMIT_BODY, False, "rate_limited", "exceeded the Rate Limit"),
        (429, b"", True, "rate_limited", "HTTP 429"),
        (429, b"<html><body>Too Many Requests</body></html>", False, "rate_limited", "an HTML page"),
        (
            401,
            b'{"status":{"error_code":10002,"error_message":"API Key Missing"}}',
            False,
            "unauthorized",
            "without a key",
        ),
        (
            400,
            b'{"status":{"error_code":10002,"error_message":"Invalid API Key"}}',
            True,
            "unauthorized",
            "refused the key: error 10002",
        ),
        (
            401,
            b'{"error":{"status":{"error_code":10002,"error_message":"API Key Missing"}}}',
            True,
            "unauthorized",
            "error 10002",
        ),
        (
            401,
            b'{"status":{"error_code":10005,"error_message":"This request is limited Pro API subscribers"}}',
            True,
            "rejected",
            "needs a paid plan",
        ),
        (
            401,
            b'{"status":{"error_code":10010,"error_message":"Invalid API Key"}}',
            True,
            "unauthorized",
            "a Pro key must go to https://pro-api.coingecko.com/api/v3",
        ),
        (
            401,
            b'{"status":{"error_code":10011,"error_message":"Invalid API Key"}}',
            True,
            "unauthorized",
            "a Demo key must go to https://api.coingecko.com/api/v3",
        ),
        (403, CDN_BLOCK_PAGE, False, "blocked", "CDN blocked"),
        (200, CDN_BLOCK_PAGE, False, "blocked", "CDN blocked"),
        (403, b"<html><body>Forbidden</body></html>", False, "blocked", "CDN blocked"),
        (403, b'{"status":{"error_code":403,"error_message":"Forbidden"}}', False, "blocked", "Forbidden"),
        (401, b"Unauthorized", True, "unauthorized", "HTTP 401"),
        (404, b'{"error":"coin not found"}', False, "rejected", "coin not found"),
        (400, b'{"error":"invalid vs_currency"}', False, "rejected", "invalid vs_currency"),
        (200, b'{"status":{"error_code":10005,"error_message":"Pro only"}}', True, "rejected", "paid plan"),
    ],
)
def test_coingecko_error_bodies_become_named_refusals(
    status: int, body: bytes, has_key: bool, kind: str, words: str
) -> None:
    refused = refusal(status, {"retry-after": "42"} if status == 429 else {}, body, has_key=has_key)

    assert refused is not None
    assert refused.kind == kind
    assert words in str(refused)
    assert len(str(refused)) < 600
    assert refused.retry_after_s == (42.0 if status == 429 else None)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b"Internal Server Error"),
        (503, b"<html><body>Service Unavailable</body></html>"),
        (200, b"[]"),
        (200, b'{"bitcoin":{"usd":1}}'),
        (200, b'{"status":{"usd":1}}'),  # a coin called "status": not an error
        (502, b'{"a":' * 3000 + b"1" + b"}" * 3000),
    ],
)
def test_answers_that_are_no_refusal_are_left_to_their_status(status: int, body: bytes) -> None:
    assert refusal(status, {}, body, has_key=False) is None


def test_a_refusal_served_with_200_is_raised_by_the_parsers() -> None:
    with pytest.raises(ProviderRefusalError) as refused:
        parse_markets(RATE_LIMIT_BODY, RECV_NS, frozenset({"bitcoin"}))
    assert refused.value.kind == "rate_limited"
    with pytest.raises(ProviderRefusalError) as blocked:
        parse_simple_price(CDN_BLOCK_PAGE, RECV_NS, frozenset({"bitcoin"}))
    assert blocked.value.kind == "blocked"


@pytest.mark.parametrize(
    "body",
    [
        b"<html><head><title>Maintenance</title></head></html>",
        b"{}",
        b'{"bitcoin":1}',
        b"null",
        b"",
        b"[" * 5000 + b"]" * 5000,
        "[]".encode("utf-16"),
        b"[NaN]",
    ],
    ids=["html", "object", "object of numbers", "null", "empty", "deep nesting", "utf-16", "NaN"],
)
def test_a_markets_answer_that_is_not_an_array_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedInputError) as malformed:
        parse_markets(body, RECV_NS, frozenset({"bitcoin"}))

    assert len(malformed.value.raw) <= RAW_BYTES


# -- one hostile coin among the real ones ------------------------------------------------------------------


def bitcoin_with(markets_body: bytes, field: str, value: bytes) -> bytes:
    """The recorded bitcoin object with ``field``'s value replaced by the JSON text ``value`` (b"" removes it)."""
    coin = json.loads(elements(markets_body)[0])
    marker = "@@HOSTILE@@"
    coin[field] = marker
    text = json.dumps(coin).encode()
    if value:
        return text.replace(json.dumps(marker).encode(), value)
    return json.dumps({name: item for name, item in coin.items() if name != field}).encode()


HOSTILE_FIELDS: Final[list[tuple[str, bytes, list[str]]]] = [
    ("current_price", b'"29309"', ["bad_type"]),
    ("current_price", b"null", ["missing_price"]),
    ("current_price", b"0", ["bad_price"]),
    ("current_price", b"-1", ["bad_price"]),
    ("current_price", b"1e13", ["bad_price"]),
    ("current_price", b"1e400", ["bad_number"]),
    ("current_price", b"9" * 500, ["bad_number"]),
    ("current_price", b"true", ["bad_type"]),
    ("current_price", b"[29309]", ["bad_type"]),
    ("current_price", b'{"usd":1}', ["bad_type"]),
    ("current_price", b"", ["missing_field"]),
    ("total_volume", b"-5", ["bad_total_volume"]),
    ("total_volume", b"1e16", ["bad_total_volume"]),
    ("market_cap", b"-1e300", ["bad_market_cap"]),
    ("price_change_percentage_24h", b"-150", ["bad_price_change_percentage_24h"]),
    ("price_change_percentage_24h", b"1e7", ["bad_price_change_percentage_24h"]),
    ("market_cap_rank", b"1.5", ["bad_type"]),
    ("market_cap_rank", b"-1", ["bad_market_cap_rank"]),
    ("market_cap_rank", b"1099511627776", ["bad_market_cap_rank"]),
    ("market_cap_rank", b"1" + b"0" * 40, ["bad_market_cap_rank"]),
    ("low_24h", b"30000", ["bad_low_24h"]),
    ("high_24h", b"-3", ["bad_high_24h"]),
    ("last_updated", b'"yesterday"', ["bad_last_updated"]),
    ("last_updated", b'"2999-01-01T00:00:00.000Z"', ["bad_last_updated"]),
    ("last_updated", b'"1990-01-01T00:00:00.000Z"', ["bad_last_updated"]),
    ("last_updated", b'"2023-02-30T00:00:00.000Z"', ["bad_last_updated"]),
    ("last_updated", b"1690574609", ["bad_type"]),
    ("symbol", b'"' + b"b" * 40 + b'"', ["bad_symbol"]),
    ("symbol", b'"btc\\u0000"', ["bad_symbol"]),
    ("name", b'"Bit\\u0007coin"', ["bad_name"]),
    ("name", b'"Bit\\u202ecoin"', ["bad_name"]),
    ("name", b"12", ["bad_type"]),
    ("id", b"12", ["bad_type", "unknown_coin"]),
    ("id", b"", ["missing_field", "unknown_coin"]),
    ("name", b'"Bit\xffcoin"', ["bad_encoding", "unknown_coin"]),
]


@pytest.mark.parametrize(
    ("field", "value", "reasons"),
    HOSTILE_FIELDS,
    ids=[f"{field}={value[:20]!r}" for field, value, _ in HOSTILE_FIELDS],
)
def test_a_hostile_coin_is_refused_alone_and_named(
    markets_body: bytes, all_ids: frozenset[str], field: str, value: bytes, reasons: list[str]
) -> None:
    coin = bitcoin_with(markets_body, field, value)

    parsed = parse_markets(with_element(markets_body, 0, coin), RECV_NS, all_ids)

    assert [problem.reason for problem in parsed.problems] == reasons
    assert parsed.problems[0].raw == coin[:RAW_BYTES]
    assert len(parsed.problems[0].detail) < 1200
    assert parsed.items == parse_markets(markets_body, RECV_NS, all_ids).items[1:]


@pytest.mark.parametrize("element", [b"null", b'"bitcoin"', b"[]", b"123456789012345678901234567890", b"{}"])
def test_a_coin_that_is_not_an_object_is_refused_alone(
    markets_body: bytes, all_ids: frozenset[str], element: bytes
) -> None:
    parsed = parse_markets(with_element(markets_body, 0, element), RECV_NS, all_ids)

    assert [problem.reason for problem in parsed.problems] in (
        ["bad_type", "unknown_coin"],
        ["missing_field", "unknown_coin"],
    )
    assert len(parsed.items) == 249


def test_a_coin_twice_is_kept_once(markets_body: bytes, all_ids: frozenset[str]) -> None:
    parsed = parse_markets(with_element(markets_body, 1, elements(markets_body)[0]), RECV_NS, all_ids)

    assert [problem.reason for problem in parsed.problems] == ["duplicate_coin", "unknown_coin"]  # ethereum is gone
    assert len(parsed.items) == 249


def test_a_long_name_is_cut_not_refused(markets_body: bytes, all_ids: frozenset[str]) -> None:
    coin = bitcoin_with(markets_body, "name", json.dumps("Bitcoin " * 500).encode())

    bitcoin = parse_markets(with_element(markets_body, 0, coin), RECV_NS, all_ids).items[0]

    assert len(quote_of(bitcoin).name) <= NAME_CHARS
    assert quote_of(bitcoin).name.startswith("Bitcoin Bitcoin")


# -- whole bodies damaged ----------------------------------------------------------------------------------


def test_a_body_cut_anywhere_is_refused_whole(markets_body: bytes, all_ids: frozenset[str]) -> None:
    for _, cut in truncations(markets_body):
        with pytest.raises(MalformedInputError):
            parse_markets(cut, RECV_NS, all_ids)


def test_random_damage_never_crashes_and_never_invents_a_coin(markets_body: bytes, all_ids: frozenset[str]) -> None:
    generator = random.Random("coingecko")
    reasons: Counter[str] = Counter()
    refused = 0
    for _ in range(200):
        try:
            parsed = parse_markets(damaged(markets_body, generator), RECV_NS, all_ids)
        except (MalformedInputError, ProviderRefusalError):
            refused += 1
            continue
        reasons.update(problem.reason for problem in parsed.problems)
        assert {item.item_id for item in parsed.items} <= all_ids
        assert len(parsed.items) + sum(reason != "unrequested_coin" for reason in reasons) >= 1
    assert refused > 0
    assert all(reason.replace("_", "").isalnum() for reason in reasons)


# -- config and requests -----------------------------------------------------------------------------------


def test_default_config_reads_coins_markets_keyless_every_minute() -> None:
    config = CoingeckoConfig(id="crypto", coin_ids=("bitcoin", "ethereum"))
    collector = CoingeckoCollector(config, RecordingExternalSink())

    [request] = collector.requests()

    assert (config.interval_s, config.base_url, config.environment_variables) == (
        60.0,
        "https://api.coingecko.com/api/v3",
        (),
    )
    assert request.url == "https://api.coingecko.com/api/v3/coins/markets"
    assert dict(request.params) == {
        "vs_currency": "usd",
        "ids": "bitcoin,ethereum",
        "order": "market_cap_desc",
        "per_page": "250",
        "page": "1",
        "sparkline": "false",
        "precision": "full",
    }
    assert request.secrets == ()


def test_a_demo_key_goes_in_its_header_and_a_pro_key_to_the_pro_host() -> None:
    demo = CoingeckoConfig(id="crypto", coin_ids=("bitcoin",), endpoint="simple_price", api_key_env="CG_DEMO")
    pro = CoingeckoConfig(
        id="crypto",
        coin_ids=("bitcoin",),
        api_key_env="CG_PRO",
        api_key_plan="pro",
        base_url="https://pro-api.coingecko.com/api/v3",
    )

    [demo_request] = CoingeckoCollector(demo, RecordingExternalSink()).requests()
    [pro_request] = CoingeckoCollector(pro, RecordingExternalSink()).requests()

    assert demo_request.url == "https://api.coingecko.com/api/v3/simple/price"
    assert dict(demo_request.params)["include_last_updated_at"] == "true"
    assert [(secret.where, secret.name, secret.env) for secret in demo_request.secrets] == [
        ("header", "x-cg-demo-api-key", "CG_DEMO")
    ]
    assert [(secret.name, secret.env) for secret in pro_request.secrets] == [("x-cg-pro-api-key", "CG_PRO")]
    assert (demo.environment_variables, pro.environment_variables) == (("CG_DEMO",), ("CG_PRO",))


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"coin_ids": ()}, "at least 1"),
        ({"coin_ids": ("Bitcoin",)}, "not a CoinGecko id"),
        ({"coin_ids": ("bitcoin", "bitcoin")}, "more than once"),
        ({"coin_ids": ("x" * 101,)}, "not a CoinGecko id"),
        ({"coin_ids": tuple(f"c{n}" for n in range(MAX_IDS_PER_REQUEST + 1))}, "at most 250"),
        ({"interval_s": 10.0}, "minimum of 20"),
        ({"endpoint": "coins/list"}, "coins_markets"),
        ({"api_key_env": "MY KEY"}, "pattern"),
        ({"base_url": "https://pro-api.coingecko.com/api/v3"}, "needs a Pro key"),
        ({"base_url": "https://pro-api.coingecko.com/api/v3", "api_key_env": "K"}, "needs a Pro key"),
        ({"api_key_env": "K", "api_key_plan": "pro"}, "a Pro key goes to"),
        ({"api_key": "secret-in-the-file"}, "Extra inputs are not permitted"),
    ],
)
def test_a_wrong_config_is_refused_with_what_is_wrong(fields: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        CoingeckoConfig.model_validate({"id": "crypto", "coin_ids": ("bitcoin",), **fields})
