"""CoinGecko crypto quotes (``kind: coingecko``): USD price, 24 h volume and change, market cap per coin.

Provider facts relied on
------------------------
- Two endpoints, chosen by ``endpoint`` in the config, both for the configured coin ids (CoinGecko's ids,
  ``bitcoin``, ``usd-coin``; ``/coins/list`` names them all), in USD:

  - ``GET /coins/markets?vs_currency=usd&ids=a,b&per_page=250&page=1&precision=full`` (the default): a JSON
    array of objects with ``id, symbol, name, current_price, market_cap, market_cap_rank, total_volume,
    high_24h, low_24h, price_change_percentage_24h, last_updated`` (ISO 8601 ``Z`` with milliseconds) and
    more that is not read. Numbers are JSON numbers, exponent form included (``8.36e-06``); any of them may
    be ``null`` (a coin without 24 h data has null high, low and change). At most 250 ids per page: one
    request covers the configured ids.
  - ``GET /simple/price?ids=a,b&vs_currencies=usd&include_market_cap=true&include_24hr_vol=true&``
    ``include_24hr_change=true&include_last_updated_at=true&precision=full``: an object ``{id: {usd,
    usd_market_cap, usd_24h_vol, usd_24h_change, last_updated_at}}`` (Unix seconds). Lighter, but without
    symbol, name, rank, high and low (those stay empty / 0 in the CryptoQuote).

  An id CoinGecko does not know is simply absent from the answer: each configured id missing is counted
  (``unknown_coin``); a coin in the answer that was not asked for is ignored and counted (``unrequested_coin``).
- Hosts and keys: ``https://api.coingecko.com/api/v3`` without a key (rate limited per address, shared by
  everyone behind it) or with a Demo key in the header ``x-cg-demo-api-key``; ``https://pro-api.coingecko.com/
  api/v3`` with a paid key in ``x-cg-pro-api-key``. The key comes from the environment variable
  ``api_key_env``, never from the file. ``api_key_plan`` picks the header; the config refuses a plan whose
  host is the other one (what CoinGecko would refuse with 10010/10011).
- Errors, mapped to named refusals (:func:`refusal`, whatever the HTTP status):
  ``429`` and ``{"status": {"error_code": 429, ...}}`` -> ``rate_limited`` (``Retry-After`` kept);
  ``{"status": {"error_code": 10002, ...}}`` (missing or invalid key) -> ``unauthorized`` naming the variable;
  ``10005`` (endpoint restricted to paid plans) -> ``rejected``; ``10010`` / ``10011`` (a Pro key on the
  public host / a Demo key on the Pro host) -> ``unauthorized`` saying which host the key needs; a CDN block
  page (HTML, 403, "error code: 1020" / "Access denied") -> ``blocked``; ``{"error": "..."}`` (a bad parameter)
  -> ``rejected``. The same shapes are also found nested as ``{"error": {"status": {...}}}``.
- Freshness: CoinGecko's cache refreshes ``simple/price`` every 60 s (every 20 s on paid plans) and
  ``coins/markets`` every 45 s; polling faster returns the same data, so ``min_interval_s`` is 20 s and the
  default ``interval_s`` 60 s. Demo plans have a monthly call allowance (10,000 calls: one call every 270 s for
  a month); set ``interval_s`` accordingly.

Item identity and changes
-------------------------
``item_id`` is the coin id. Each poll's quote of a coin is compared with the last one published: a new price
(or volume, change, market cap, CoinGecko time) is an UPDATED of the same id with the changed fields, so this
collector is a quote stream at the poll rate, one message per coin whose quote moved; an unchanged quote (the
same cached answer polled twice) publishes nothing. ``ts_ns`` is CoinGecko's ``last_updated``; a coin it
gives no time for gets the receive time, so that coin is republished at every poll (its time moved). The
payload keeps CoinGecko's own words: ``symbol`` in lower case (``btc``), ``name`` (cut to 100 characters), and
0 for a number it gives as null (no 24 h high, low or change).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, Literal
from urllib.parse import urlsplit

import msgspec
from pydantic import Field, field_validator, model_validator

from collectors.external.base import BenchSample
from collectors.polling import (
    HttpRequest,
    HttpResponse,
    PollingCollector,
    PollingConfig,
    SecretParam,
    decode_whole,
    raw_prefix,
)
from collectors.streaming import parse_retry_after
from gateway.clock import NS_PER_S, parse_time_ns
from gateway.echo import clip, shown
from gateway.errors import BadValueError, ProviderRefusalError
from gateway.events import ExternalItem, ItemProblem, Parsed
from gateway.schema.market.v1.market_pb2 import CryptoQuote
from gateway.secrets import ENV_NAME_PATTERN

PUBLIC_BASE_URL: Final = "https://api.coingecko.com/api/v3"
PRO_BASE_URL: Final = "https://pro-api.coingecko.com/api/v3"
PUBLIC_HOST: Final = "api.coingecko.com"
PRO_HOST: Final = "pro-api.coingecko.com"
KEY_HEADERS: Final = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}
"""The header that carries a key of each plan."""
VS_CURRENCY: Final = "usd"
"""CryptoQuote's prices are in USD."""
MAX_IDS_PER_REQUEST: Final = 250
"""coins/markets returns at most 250 coins per page; the config allows at most that many ids."""

MAX_BODY_BYTES: Final = 4 * 1024 * 1024
"""Largest answer read by default: 15 times a full page of 250 coins as recorded (266 KB, pretty-printed)."""
COIN_ID: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
"""What a CoinGecko coin id looks like (``bitcoin``, ``usd-coin``, ``0x``)."""
SYMBOL_CHARS: Final = 32
NAME_CHARS: Final = 100
"""Longest name kept (longer ones are cut); CoinGecko's longest recorded name has 33 characters."""
MAX_PRICE_USD: Final = 1e12
"""Highest price accepted; BTC's record is about 1.3e5 USD."""
MAX_AMOUNT_USD: Final = 1e15
"""Highest 24 h volume or market cap accepted; the whole crypto market is about 4e12 USD."""
MAX_CHANGE_PCT: Final = 1e6
"""Highest 24 h change accepted (a 10,000-fold pump); the lowest is -100 %."""
MAX_RANK: Final = 2**32 - 1
"""market_cap_rank is a uint32 in CryptoQuote."""
MIN_TIME_NS: Final = 1_230_940_800 * NS_PER_S
"""2009-01-03, the first Bitcoin block: no crypto price is older."""
MAX_FUTURE_NS: Final = 3600 * NS_PER_S
"""How far after the receive time a provider's timestamp may be (clock skew) before it is refused."""
MAX_COINS: Final = 10_000
"""Most coins read from one answer (a page holds at most 250)."""
HTML_SNIFF_BYTES: Final = 64 * 1024
"""How much of a body is searched for the words of a block page."""
BLOCK_WORDS: Final = (b"error code: 1020", b"access denied", b"cloudflare", b"captcha", b"attention required")
MESSAGE_CHARS: Final = 200
"""Most characters of CoinGecko's error message quoted in a refusal."""

ERROR_MISSING_KEY: Final = 10002
ERROR_PLAN_RESTRICTED: Final = 10005
ERROR_PRO_KEY_ON_PUBLIC_HOST: Final = 10010
ERROR_DEMO_KEY_ON_PRO_HOST: Final = 10011
HTTP_OK: Final = 200
HTTP_UNAUTHORIZED: Final = 401
HTTP_FORBIDDEN: Final = 403
HTTP_TOO_MANY_REQUESTS: Final = 429


class CoingeckoConfig(PollingConfig):
    """One CoinGecko collector: the coins, the endpoint, and the key (optional) with its plan."""

    min_interval_s: ClassVar[float] = 20.0
    """CoinGecko's fastest cache refresh (paid plans); polling faster returns the same answer."""
    host_max_requests: ClassVar[int] = 5
    host_window_s: ClassVar[float] = 60.0
    """Keyless calls are limited per address to as few as 5 to 15 a minute; the lowest is kept."""

    kind: Literal["coingecko"] = "coingecko"
    coin_ids: tuple[str, ...] = Field(
        min_length=1, max_length=MAX_IDS_PER_REQUEST, description="CoinGecko coin ids, e.g. bitcoin, ethereum."
    )
    endpoint: Literal["coins_markets", "simple_price"] = Field(
        default="coins_markets", description="coins/markets (name, symbol, rank, high, low) or simple/price."
    )
    api_key_env: str | None = Field(
        default=None, pattern=ENV_NAME_PATTERN, description="Variable holding a Demo or Pro key; none: keyless."
    )
    api_key_plan: Literal["demo", "pro"] = Field(
        default="demo", description="demo: x-cg-demo-api-key on api.coingecko.com; pro: x-cg-pro-api-key on pro-api."
    )
    interval_s: float = Field(default=60.0, gt=0, description="Seconds between polls (before jitter); at least 20.")
    base_url: str = Field(default=PUBLIC_BASE_URL, pattern=r"^https?://[^\s]+$")
    max_body_bytes: int = Field(
        default=MAX_BODY_BYTES, ge=1024, le=256 * 1024 * 1024, description="Largest answer read (bytes)."
    )

    @property
    def environment_variables(self) -> tuple[str, ...]:
        return (self.api_key_env,) if self.api_key_env else ()

    @field_validator("coin_ids")
    @classmethod
    def _coin_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for coin_id in value:
            if COIN_ID.fullmatch(coin_id) is None:
                raise ValueError(f"coin id {shown(coin_id)} is not a CoinGecko id (lower-case letters, digits, -._)")
        if len(set(value)) != len(value):
            raise ValueError("coin ids are listed more than once")
        return value

    @model_validator(mode="after")
    def _key_fits_the_host(self) -> CoingeckoConfig:
        host = (urlsplit(self.base_url).hostname or "").lower()
        if host == PRO_HOST and (self.api_key_env is None or self.api_key_plan != "pro"):
            raise ValueError(f"{PRO_HOST} needs a Pro key: set api_key_env and api_key_plan: pro")
        if host == PUBLIC_HOST and self.api_key_env is not None and self.api_key_plan == "pro":
            raise ValueError(f"a Pro key goes to {PRO_BASE_URL}: set base_url to it (CoinGecko error 10010)")
        return self


def every_coin_of(body: bytes) -> dict[str, object]:
    """A config's ``coin_ids`` asking for every coin of a coins/markets answer (the benchmark's sample)."""
    return {"coin_ids": [msgspec.json.decode(raw, type=_CoinId).id for raw in _decode_array(body)]}


class CoingeckoCollector(PollingCollector[CoingeckoConfig]):
    """Polls the configured endpoint for all configured coins in one request; a moved quote is an UPDATED."""

    kind: ClassVar[str] = "coingecko"
    payload_field: ClassVar[str] = "crypto"
    bench_samples: ClassVar[tuple[BenchSample, ...]] = (
        BenchSample("coingecko/coins_markets_usd_2023-07-28.json", config_from_body=every_coin_of),
    )

    def requests(self) -> list[HttpRequest]:
        settings = self.config
        ids = ",".join(settings.coin_ids)
        secrets = (
            (SecretParam("header", KEY_HEADERS[settings.api_key_plan], settings.api_key_env),)
            if settings.api_key_env
            else ()
        )
        if settings.endpoint == "coins_markets":
            path = "coins/markets"
            params: tuple[tuple[str, str], ...] = (
                ("vs_currency", VS_CURRENCY),
                ("ids", ids),
                ("order", "market_cap_desc"),
                ("per_page", str(MAX_IDS_PER_REQUEST)),
                ("page", "1"),
                ("sparkline", "false"),
                ("precision", "full"),
            )
        else:
            path = "simple/price"
            params = (
                ("ids", ids),
                ("vs_currencies", VS_CURRENCY),
                ("include_market_cap", "true"),
                ("include_24hr_vol", "true"),
                ("include_24hr_change", "true"),
                ("include_last_updated_at", "true"),
                ("precision", "full"),
            )
        url = f"{settings.base_url.rstrip('/')}/{path}"
        return [
            HttpRequest(url=url, params=params, headers=(("Accept", "application/json"),), secrets=secrets, label=path)
        ]

    def parse(self, response: HttpResponse, recv_ns: int) -> Parsed:
        coin_ids = frozenset(self.config.coin_ids)
        has_key = self.config.api_key_env is not None
        if self.config.endpoint == "coins_markets":
            return parse_markets(response.body, recv_ns, coin_ids, has_key=has_key)
        return parse_simple_price(response.body, recv_ns, coin_ids, has_key=has_key)

    def classify_error(self, response: HttpResponse) -> ProviderRefusalError | None:
        return refusal(response.status, response.headers, response.body, has_key=self.config.api_key_env is not None)


class _Market(msgspec.Struct):
    """One coin of ``coins/markets`` as decoded (types checked; values checked by :func:`_market_quote`)."""

    id: str
    symbol: str
    name: str
    current_price: float | None
    market_cap: float | None = None
    market_cap_rank: int | None = None
    total_volume: float | None = None
    high_24h: float | None = None
    low_24h: float | None = None
    price_change_percentage_24h: float | None = None
    last_updated: str | None = None


class _CoinId(msgspec.Struct):
    id: str


class _SimplePrice(msgspec.Struct):
    """One coin of ``simple/price`` (``vs_currencies=usd``) as decoded."""

    usd: float | None = None
    usd_market_cap: float | None = None
    usd_24h_vol: float | None = None
    usd_24h_change: float | None = None
    last_updated_at: int | None = None


class _Status(msgspec.Struct):
    error_code: int | None = None
    error_message: str | None = None


_decode_array = msgspec.json.Decoder(list[msgspec.Raw]).decode
_decode_object = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode


class _ErrorBody(msgspec.Struct):
    """CoinGecko's error shapes: ``{"status": {...}}``, ``{"error": {"status": {...}}}`` or ``{"error": "..."}``."""

    status: _Status | None = None
    error: str | _ErrorBody | None = None


@dataclass(slots=True)
class _Check:
    """The first reason a coin is refused, collected while its values are checked."""

    reason: str = ""
    detail: str = ""

    def number(self, value: float | int | None, name: str, low: float, high: float) -> float:
        """``value`` as a float in ``[low, high]`` (None is 0.0, "not given"); refused (``bad_<name>``) otherwise."""
        if value is None:
            return 0.0
        number = float(value)
        if not (math.isfinite(number) and low <= number <= high):
            self.fail(f"bad_{name}", f"{name} {shown(value)} is not between {low:g} and {high:g}")
            return 0.0
        return number

    def fail(self, reason: str, detail: str) -> None:
        if not self.reason:
            self.reason, self.detail = reason, detail


def parse_markets(body: bytes, recv_ns: int, coin_ids: frozenset[str], *, has_key: bool = False) -> Parsed:
    """The quotes of a ``coins/markets`` answer for ``coin_ids``; ``recv_ns`` is when it was read.

    Raises :class:`ProviderRefusalError` for an error body or a block page (see :func:`refusal`) and
    :class:`MalformedInputError` for an answer that is not a JSON array. A coin whose values are not valid is
    an :class:`ItemProblem` and costs no other.
    """
    _raise_if_refused(body, has_key)
    elements = decode_whole(_decode_array, body, "coins/markets")
    answer = _Answer(recv_ns, coin_ids, len(elements))
    for index, element in enumerate(elements[:MAX_COINS]):
        try:
            market = msgspec.json.decode(element, type=_Market)
        except msgspec.ValidationError as exc:
            answer.add(_id_of(element), None, _Check(_shape_reason(exc), f"coin {index}: {exc}"), bytes(element))
            continue
        except msgspec.DecodeError as exc:  # the array's decode checks the syntax, not the UTF-8 of strings
            answer.add(None, None, _Check("bad_encoding", f"coin {index}: {exc}"), bytes(element))
            continue
        check = _Check()
        quote = _market_quote(market, recv_ns, check)
        answer.add(market.id, quote, check, bytes(element))
    return answer.parsed()


def _market_quote(market: _Market, recv_ns: int, check: _Check) -> CryptoQuote:
    rank = market.market_cap_rank or 0
    if not 0 <= rank <= MAX_RANK:
        check.fail("bad_market_cap_rank", f"market_cap_rank {shown(market.market_cap_rank)} is out of range")
        rank = 0
    high = check.number(market.high_24h, "high_24h", 0.0, MAX_PRICE_USD)
    low = check.number(market.low_24h, "low_24h", 0.0, MAX_PRICE_USD)
    if high and low > high:
        check.fail("bad_low_24h", f"low_24h {low!r} is above high_24h {high!r}")
    quote = CryptoQuote(
        id=market.id,
        symbol=_text(market.symbol, "symbol", SYMBOL_CHARS, check, cut=False),
        name=_text(market.name, "name", NAME_CHARS, check, cut=True),
        price_usd=_price(market.current_price, check),
        volume_24h_usd=check.number(market.total_volume, "total_volume", 0.0, MAX_AMOUNT_USD),
        change_24h_pct=check.number(
            market.price_change_percentage_24h, "price_change_percentage_24h", -100.0, MAX_CHANGE_PCT
        ),
        market_cap_usd=check.number(market.market_cap, "market_cap", 0.0, MAX_AMOUNT_USD),
        high_24h_usd=high,
        low_24h_usd=low,
        market_cap_rank=rank,
    )
    if market.last_updated is not None:
        try:
            quote.last_updated_ns = _time_checked(parse_time_ns(market.last_updated), recv_ns)
        except BadValueError as exc:
            check.fail("bad_last_updated", str(exc))
    return quote


def parse_simple_price(body: bytes, recv_ns: int, coin_ids: frozenset[str], *, has_key: bool = False) -> Parsed:
    """The quotes of a ``simple/price`` answer (``vs_currencies=usd``) for ``coin_ids``; see :func:`parse_markets`."""
    _raise_if_refused(body, has_key)
    members = decode_whole(_decode_object, body, "simple/price")
    answer = _Answer(recv_ns, coin_ids, len(members))
    for index, (coin_id, element) in enumerate(members.items()):
        if index >= MAX_COINS:
            break
        try:
            price = msgspec.json.decode(element, type=_SimplePrice)
        except msgspec.ValidationError as exc:
            answer.add(coin_id, None, _Check(_shape_reason(exc), str(exc)), bytes(element))
            continue
        except msgspec.DecodeError as exc:  # the object's decode checks the syntax, not the UTF-8 of strings
            answer.add(coin_id, None, _Check("bad_encoding", str(exc)), bytes(element))
            continue
        check = _Check()
        quote = CryptoQuote(
            id=coin_id,
            price_usd=_price(price.usd, check),
            volume_24h_usd=check.number(price.usd_24h_vol, "usd_24h_vol", 0.0, MAX_AMOUNT_USD),
            change_24h_pct=check.number(price.usd_24h_change, "usd_24h_change", -100.0, MAX_CHANGE_PCT),
            market_cap_usd=check.number(price.usd_market_cap, "usd_market_cap", 0.0, MAX_AMOUNT_USD),
        )
        if price.last_updated_at is not None:
            try:
                quote.last_updated_ns = _time_checked(_unix_ns(price.last_updated_at), recv_ns)
            except BadValueError as exc:
                check.fail("bad_last_updated_at", str(exc))
        answer.add(coin_id, quote, check, bytes(element))
    return answer.parsed()


class _Answer:
    """The items and problems of one answer, with the bookkeeping of requested, unknown and duplicate coins."""

    def __init__(self, recv_ns: int, coin_ids: frozenset[str], count: int) -> None:
        self.recv_ns = recv_ns
        self.coin_ids = coin_ids
        self.items: list[ExternalItem] = []
        self.problems: list[ItemProblem] = []
        self.answered: set[str] = set()
        """Requested coins the answer holds, valid or not."""
        self.unrequested = 0
        if count > MAX_COINS:
            self.refuse("too_many_coins", f"{count:,} coins; the first {MAX_COINS:,} are read, the rest ignored", b"")

    def refuse(self, reason: str, detail: str, raw: bytes) -> None:
        self.problems.append(ItemProblem(reason, detail, raw_prefix(raw)))

    def add(self, coin_id: str | None, quote: CryptoQuote | None, check: _Check, raw: bytes) -> None:
        """Keep ``quote`` of ``coin_id`` if it was asked for, once, and ``check`` found nothing wrong.

        ``coin_id`` is None when a coin is too broken to tell its id, ``quote`` None when it could not be decoded
        (``check`` says why).
        """
        if coin_id is None:
            self.refuse(check.reason, check.detail, raw)
        elif coin_id not in self.coin_ids:
            self.unrequested += 1
        elif coin_id in self.answered:
            self.refuse("duplicate_coin", f"coin {coin_id} appears twice", raw)
        else:
            self.answered.add(coin_id)
            if check.reason or quote is None:
                self.refuse(check.reason, f"coin {coin_id}: {check.detail}", raw)
            else:
                self.items.append(ExternalItem(coin_id, quote.last_updated_ns or self.recv_ns, quote))

    def parsed(self) -> Parsed:
        """The answer's items, and its problems with one per requested coin it lacks."""
        if self.unrequested:
            self.refuse("unrequested_coin", f"{self.unrequested:,} coin(s) not asked for were ignored", b"")
        for coin_id in sorted(self.coin_ids - self.answered):
            self.refuse("unknown_coin", f"coin {coin_id} is not in the answer (not a CoinGecko id?)", b"")
        return Parsed(self.items, self.problems)


def _price(value: float | int | None, check: _Check) -> float:
    if value is None:
        check.fail("missing_price", "no USD price")
        return 0.0
    price = check.number(value, "price", 0.0, MAX_PRICE_USD)
    if price == 0.0 and not check.reason:
        check.fail("bad_price", "a price of 0")
    return price


def _text(value: str, name: str, limit: int, check: _Check, *, cut: bool) -> str:
    """``value`` with each run of white space made one space, checked as ``_Check`` does numbers."""
    text = " ".join(value.split())
    if len(text) > limit:
        if not cut:
            check.fail(f"bad_{name}", f"{name} is {len(text):,} characters long, more than {limit}")
            return ""
        text = text[:limit].rstrip()
    if not text.isprintable():
        check.fail(f"bad_{name}", f"{name} {shown(text)} holds control characters")
        return ""
    return text


def _unix_ns(seconds: int) -> int:
    if not 0 <= seconds <= (2**63 - 1) // NS_PER_S:
        raise BadValueError(f"last_updated_at {shown(seconds)} is not a Unix time in seconds")
    return seconds * NS_PER_S


def _time_checked(ts_ns: int, recv_ns: int) -> int:
    if not MIN_TIME_NS <= ts_ns <= recv_ns + MAX_FUTURE_NS:
        raise BadValueError(f"time {ts_ns} ns is before 2009 or more than an hour after it was received")
    return ts_ns


def _id_of(element: msgspec.Raw) -> str | None:
    """The ``id`` of a coin that did not decode, when it has one that is a string."""
    try:
        return msgspec.json.decode(element, type=_CoinId).id
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def _shape_reason(exc: msgspec.ValidationError) -> str:
    """``missing_field``, ``bad_number`` (beyond a float or an int64) or ``bad_type``, from msgspec's message."""
    text = str(exc)
    if "missing required field" in text:
        return "missing_field"
    return "bad_number" if "out of range" in text else "bad_type"


def refusal(status: int, headers: Mapping[str, str], body: bytes, *, has_key: bool) -> ProviderRefusalError | None:
    """The named refusal an answer of CoinGecko is, whatever its HTTP status; None when it is not one.

    ``headers`` (lower-case names) give a rate limit its ``Retry-After``; ``has_key`` says whether a key was sent
    (the collector's status names its variable). Pure; the mapping is in the module docstring.
    Another answer (data, a 5xx page, an HTML page that is no block page) is None: the caller handles it.
    """
    retry_after_s = parse_retry_after(headers.get("retry-after"))
    head = body[:HTML_SNIFF_BYTES].lstrip().lower()
    if head.startswith(b"<"):
        if status == HTTP_TOO_MANY_REQUESTS:
            return _rate_limited(f"HTTP {status}, an HTML page", retry_after_s)
        if status == HTTP_FORBIDDEN or any(words in head for words in BLOCK_WORDS):
            return ProviderRefusalError(
                f"CoinGecko's CDN blocked the request (HTTP {status}, an access-denied page)", kind="blocked"
            )
        return None
    code, message = _error_of(body) if head.startswith(b"{") else (None, "")
    said = f" ({clip(message, MESSAGE_CHARS)!r})" if message else ""
    key = "the key" if has_key else "the request without a key (set api_key_env and api_key_plan)"
    if code == HTTP_TOO_MANY_REQUESTS or status == HTTP_TOO_MANY_REQUESTS:
        return _rate_limited(f"HTTP {status}{said}", retry_after_s)
    if code == ERROR_MISSING_KEY:
        return ProviderRefusalError(
            f"CoinGecko refused {key}: error {code}, API key missing or invalid{said}", kind="unauthorized"
        )
    if code == ERROR_PLAN_RESTRICTED:
        return ProviderRefusalError(
            f"CoinGecko refused the endpoint: error {code}, it needs a paid plan{said}", kind="rejected"
        )
    if code == ERROR_PRO_KEY_ON_PUBLIC_HOST:
        return ProviderRefusalError(
            f"CoinGecko refused {key}: error {code}, a Pro key must go to {PRO_BASE_URL} "
            f"(base_url, api_key_plan: pro){said}",
            kind="unauthorized",
        )
    if code == ERROR_DEMO_KEY_ON_PRO_HOST:
        return ProviderRefusalError(
            f"CoinGecko refused {key}: error {code}, a Demo key must go to {PUBLIC_BASE_URL} "
            f"(base_url, api_key_plan: demo){said}",
            kind="unauthorized",
        )
    if status == HTTP_UNAUTHORIZED:
        return ProviderRefusalError(f"CoinGecko refused {key}: HTTP {status}{said}", kind="unauthorized")
    if status == HTTP_FORBIDDEN:
        return ProviderRefusalError(f"CoinGecko blocked the request: HTTP {status}{said}", kind="blocked")
    if code is not None or message:
        return ProviderRefusalError(
            f"CoinGecko refused the request: HTTP {status}, error {code}{said}", kind="rejected"
        )
    return None


def _rate_limited(what: str, retry_after_s: float | None) -> ProviderRefusalError:
    wait = f", retry after {retry_after_s:g} s" if retry_after_s is not None else ""
    return ProviderRefusalError(
        f"CoinGecko rate limit reached ({what}){wait}", kind="rate_limited", retry_after_s=retry_after_s
    )


def _error_of(body: bytes) -> tuple[int | None, str]:
    """CoinGecko's error code and message in ``body``, ``(None, "")`` when it holds none."""
    try:
        envelope = msgspec.json.decode(body, type=_ErrorBody)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None, ""
    if isinstance(envelope.error, str):
        return None, envelope.error or "error"
    status = envelope.status or (envelope.error.status if envelope.error is not None else None)
    if status is None or (status.error_code is None and not status.error_message):
        return None, ""
    return status.error_code, status.error_message or ""


def _raise_if_refused(body: bytes, has_key: bool) -> None:
    """Raise the refusal a 2xx answer is (an error body, a block page); an HTML page that is no refusal is then
    refused by decode_whole."""
    refused = refusal(HTTP_OK, {}, body, has_key=has_key)
    if refused is not None:
        raise refused
