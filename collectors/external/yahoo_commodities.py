"""Commodity futures quotes from Yahoo Finance's v8 chart API (gold, silver, crude oil, natural gas, copper).

Provider facts relied on:

- ``GET https://query1.finance.yahoo.com/v8/finance/chart/<symbol>?range=1d&interval=1d`` (unofficial, no
  key), one request per symbol; Yahoo's continuous front-month symbols are ``GC=F``, ``SI=F``, ``CL=F``,
  ``NG=F``, ``HG=F`` (the defaults). Answer ``{"chart": {"result": [{"meta": {...}, "timestamp": [...],
  "indicators": {"quote": [{"close": [...], ...}]}}], "error": null}}``. ``meta`` carries what a quote needs:
  ``symbol``, ``regularMarketPrice``, ``regularMarketTime`` (Unix seconds), ``currency``, ``exchangeName``
  (``CMX``), ``previousClose`` or ``chartPreviousClose`` and ``shortName``, which for a continuous future
  names the **front-month contract** the price belongs to (``"Gold Apr 25"``; the recorded GC=F chart of
  2020 bars still says Apr 25, the contract at recording time). A contract symbol (``underlyingSymbol``, such
  as ``GCJ25.CMX``, in the v7 quote) is kept too when the chart's meta carries it.
- The price arrays hold ``null`` for bars without trades: when ``regularMarketPrice`` is absent the price is
  the last non-null ``close`` and its time that bar's ``timestamp``.
- Errors come in an envelope ``{"chart": {"result": null, "error": {"code": "Not Found", "description":
  ...}}}``, with HTTP 404 for an unknown symbol (:func:`classify_chart_error`): that symbol's request is
  refused by name (state ``refused``, a REJECTED status naming the symbol and Yahoo's description, as a broker
  names an instrument its account lacks), and the other symbols of the poll go on. The same envelope in a 200
  answer is a problem of that symbol (``unknown_symbol`` or ``provider_error``).
- No key: a 401 or 403 refuses the client (a refusal of kind ``blocked``), not a key. No documented limit;
  Yahoo throttles busy clients with 429. Five symbols a minute is far below what it tolerates, so the floor
  is :data:`MIN_INTERVAL_S`.

Items: one :class:`CommodityQuote` per symbol, ``item_id`` = the symbol (``GC=F``): the item is the symbol's
current quote, so each poll that finds a new price or time publishes an UPDATED of it that names what moved,
a quote stream at the poll rate; a roll to the next contract shows as a change of ``contract``. ``ts_ns``
is the price's market time.

Checks: the answer's ``meta.symbol`` must be the symbol asked (``symbol_mismatch`` otherwise); prices are
finite and at most :data:`MAX_ABS_PRICE` in size, and **may be negative** (WTI's May 2020 contract settled at
-37.63 USD); times from 2000 to :data:`FUTURE_SLACK_S` after the receive time; texts clipped to
:data:`TEXT_CHARS`, a currency three letters. ``change_pct`` is ``(price - previous_close) / |previous_close|``
in percent (0 without a previous close).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Annotated, ClassVar, Final, Literal, TypeVar
from urllib.parse import quote

import msgspec
from pydantic import Field, field_validator

from collectors.external.base import BenchSample
from collectors.polling import HttpRequest, HttpResponse, PollingCollector, PollingConfig, decode_whole, item_problem
from gateway.clock import NS_PER_S
from gateway.echo import RAW_BYTES, clip, shown
from gateway.errors import ProviderRefusalError
from gateway.events import ExternalItem, ItemProblem, Parsed
from gateway.schema.market.v1.market_pb2 import CommodityQuote

YAHOO_URL: Final = "https://query1.finance.yahoo.com"
CHART_PATH: Final = "/v8/finance/chart/"
DEFAULT_SYMBOLS: Final = ("GC=F", "SI=F", "CL=F", "NG=F", "HG=F")
SYMBOL_PATTERN: Final = r"^[A-Za-z0-9.=^_-]{1,32}$"
MIN_INTERVAL_S: Final = 30.0
"""Floor on the poll interval: Yahoo publishes no limit and answers 429 to busy clients."""
DEFAULT_INTERVAL_S: Final = 60.0
MAX_SYMBOLS: Final = 50
MAX_RESULTS: Final = 4
"""Most chart results read from one answer (Yahoo sends one per symbol asked)."""
MAX_ABS_PRICE: Final = 1e9
"""Largest price magnitude accepted (gold is about 3e3); beyond it a value is nonsense, not a price."""
TEXT_CHARS: Final = 64
"""Longest contract name or exchange kept ("Gold Apr 25" has 11 characters); longer ones are clipped."""
CURRENCY: Final = re.compile(r"[A-Za-z]{3}")
"""Yahoo's currencies are ISO codes, with ``USX``/``GBp`` style codes for cents and pence."""
NOT_FOUND_CODE: Final = "Not Found"
EARLIEST_S: Final = 946_684_800
"""2000-01-01T00:00:00Z: no quote the collector asks for is older."""
FUTURE_SLACK_S: Final = 2 * 86_400
"""How far after the receive time a market time may be (clock skew): two days."""


T = TypeVar("T")


class ChartError(msgspec.Struct):
    """Yahoo's error envelope: ``code`` such as ``"Not Found"``, and a description."""

    code: str
    description: str = ""


class Chart(msgspec.Struct):
    """``chart``: results (decoded one by one) or an error."""

    result: list[msgspec.Raw] | None = None
    error: ChartError | None = None


class ChartAnswer(msgspec.Struct):
    """A v8 chart answer."""

    chart: Chart


class Meta(msgspec.Struct):
    """The fields of a chart's ``meta`` the quote needs (Yahoo's camelCase names)."""

    symbol: str
    currency: str | None = None
    exchangeName: str | None = None
    shortName: str | None = None
    underlyingSymbol: str | None = None
    regularMarketPrice: float | None = None
    regularMarketTime: int | None = None
    previousClose: float | None = None
    chartPreviousClose: float | None = None


class QuoteArrays(msgspec.Struct):
    """The bars' prices; ``null`` for a bar without trades."""

    close: list[float | None] | None = None


class Indicators(msgspec.Struct):
    """``indicators``: the price arrays (``adjclose`` is not read)."""

    quote: list[QuoteArrays] = []


class ChartResult(msgspec.Struct):
    """One symbol's chart: its meta and bars."""

    meta: Meta
    timestamp: list[int | None] | None = None
    indicators: Indicators | None = None


_decode_answer = msgspec.json.Decoder(ChartAnswer).decode
_decode_result = msgspec.json.Decoder(ChartResult).decode


class _ResultError(Exception):
    """A value of one chart result is not valid; ``reason`` is the ItemProblem reason. Internal to this module."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_chart(body: bytes, symbol: str, recv_ns: int) -> Parsed:
    """The quote of ``symbol`` in Yahoo's v8 chart answer (HTTP 200 or the 404 of an unknown symbol).

    The error envelope becomes a problem naming the symbol (``unknown_symbol`` for Yahoo's "Not Found",
    ``provider_error`` for any other code), so the other symbols of a poll go on. Raises MalformedInputError
    when the body is not the chart envelope at all (HTML, truncated JSON, another shape).
    """
    answer = decode_whole(_decode_answer, body, f"Yahoo chart {symbol}")
    chart = answer.chart
    parsed = Parsed(items=[], problems=[])
    if chart.error is not None:
        reason = "unknown_symbol" if chart.error.code == NOT_FOUND_CODE else "provider_error"
        detail = f"{symbol}: Yahoo says {shown(chart.error.code, 40)}: {clip(chart.error.description, 200)}"
        parsed.problems.append(ItemProblem(reason, detail, body[:RAW_BYTES]))
        return parsed
    if not chart.result:
        parsed.problems.append(ItemProblem("empty", f"{symbol}: Yahoo's chart has no result", body[:RAW_BYTES]))
        return parsed
    if len(chart.result) > MAX_RESULTS:
        parsed.problems.append(
            ItemProblem("too_many_rows", f"{symbol}: {len(chart.result):,} results, the first {MAX_RESULTS} read")
        )
    for raw in chart.result[:MAX_RESULTS]:
        result_bytes = bytes(raw)
        try:
            item = _quote(_decode_result(result_bytes), symbol, recv_ns)
        except msgspec.ValidationError as exc:
            parsed.problems.append(item_problem("bad_shape", f"{symbol}: {exc}", result_bytes))
            continue
        except msgspec.DecodeError as exc:
            parsed.problems.append(item_problem("bad_encoding", f"{symbol}: {exc}", result_bytes))
            continue
        except _ResultError as exc:
            parsed.problems.append(item_problem(exc.reason, f"{symbol}: {exc}", result_bytes))
            continue
        if parsed.items:
            parsed.problems.append(item_problem("duplicate", f"{symbol}: a second result", result_bytes))
            continue
        parsed.items.append(item)
    return parsed


def classify_chart_error(status: int, body: bytes, symbol: str) -> ProviderRefusalError | None:
    """What a non-2xx chart answer means: the error envelope of an unknown symbol (404) refuses that symbol.

    Yahoo needs no key, so a 401 or 403 is a refusal of the client (``blocked``), not of a key. Anything
    else (429, 5xx) is judged by its status (None).
    """
    if status in (401, 403):
        return ProviderRefusalError(f"{symbol}: Yahoo refused the client (HTTP {status})", kind="blocked")
    if status != 404:
        return None
    try:
        error = _decode_answer(body).chart.error
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        error = None
    if error is None:
        return ProviderRefusalError(f"{symbol}: Yahoo answered 404 without its error envelope", kind="rejected")
    code = shown(error.code, 40)
    detail = f"{symbol}: Yahoo has no chart for this symbol ({code}: {clip(error.description, 200)})"
    return ProviderRefusalError(detail, kind="rejected")


def _quote(result: ChartResult, symbol: str, recv_ns: int) -> ExternalItem:
    meta = result.meta
    if meta.symbol != symbol:
        raise _ResultError("symbol_mismatch", f"the answer is for {shown(meta.symbol)}, not the symbol asked")
    price, time_s = _price_and_time(result, recv_ns)
    previous = meta.previousClose if meta.previousClose is not None else meta.chartPreviousClose
    previous_close = _price(previous, "previous close") if previous is not None else 0.0
    change_pct = (price - previous_close) / abs(previous_close) * 100 if previous_close else 0.0
    currency = meta.currency or ""
    if currency and CURRENCY.fullmatch(currency) is None:
        raise _ResultError("bad_value", f"currency {shown(currency)} is not a three-letter code")
    payload = CommodityQuote(
        symbol=symbol,
        price=price,
        currency=currency,
        change_pct=change_pct,
        contract=_contract(meta),
        exchange=_text(meta.exchangeName, "exchange"),
        previous_close=previous_close,
        market_time_ns=time_s * NS_PER_S,
    )
    return ExternalItem(item_id=symbol, ts_ns=time_s * NS_PER_S, payload=payload)


def _price_and_time(result: ChartResult, recv_ns: int) -> tuple[float, int]:
    """``regularMarketPrice`` at ``regularMarketTime``, else the last non-null close at its bar's time."""
    meta = result.meta
    if meta.regularMarketPrice is not None and meta.regularMarketTime is not None:
        return _price(meta.regularMarketPrice, "regularMarketPrice"), _time_s(meta.regularMarketTime, recv_ns)
    closes = result.indicators.quote[0].close if result.indicators and result.indicators.quote else None
    times = result.timestamp
    if closes and times and len(closes) == len(times):
        for close, bar_time in zip(reversed(closes), reversed(times), strict=True):
            if close is not None and bar_time is not None:
                return _price(close, "close"), _time_s(bar_time, recv_ns)
    raise _ResultError("no_price", "no regularMarketPrice with its time, and no close with a timestamp")


def _price(value: float, name: str) -> float:
    if not math.isfinite(value) or abs(value) > MAX_ABS_PRICE:
        raise _ResultError("bad_value", f"{name} {shown(value)} is not a finite price of at most {MAX_ABS_PRICE:g}")
    return value


def _time_s(value: int, recv_ns: int) -> int:
    if not EARLIEST_S <= value <= recv_ns // NS_PER_S + FUTURE_SLACK_S:
        raise _ResultError("bad_time", f"market time {shown(value)} is before 2000 or after the receive time")
    return value


def _contract(meta: Meta) -> str:
    """The front-month contract: ``shortName``, with Yahoo's contract symbol in brackets when it gives one."""
    name = _text(meta.shortName, "shortName")
    if meta.underlyingSymbol:
        code = _text(meta.underlyingSymbol, "underlyingSymbol")
        return f"{name} ({code})" if name else code
    return name


def _text(value: str | None, name: str) -> str:
    if value is None:
        return ""
    kept = value.strip()[:TEXT_CHARS].rstrip()
    if not kept.isprintable():
        raise _ResultError("bad_value", f"{name} {shown(value)} is not printable")
    return kept


class YahooCommoditiesConfig(PollingConfig):
    """Yahoo's v8 chart of each of ``symbols`` (continuous front-month futures by default)."""

    kind: Literal["yahoo_commodities"] = "yahoo_commodities"
    min_interval_s: ClassVar[float] = MIN_INTERVAL_S
    host_max_requests: ClassVar[int] = 60
    """Yahoo states no limit; a request a second at most keeps well clear of its 429s."""
    host_window_s: ClassVar[float] = 60.0
    interval_s: float = Field(default=DEFAULT_INTERVAL_S, gt=0, description="Seconds between polls (before jitter).")
    base_url: str = Field(default=YAHOO_URL, pattern=r"^https?://[^\s]+$", description="Yahoo Finance's API host.")
    symbols: tuple[Annotated[str, Field(pattern=SYMBOL_PATTERN)], ...] = Field(
        default=DEFAULT_SYMBOLS, min_length=1, max_length=MAX_SYMBOLS, description="Yahoo symbols, e.g. GC=F."
    )

    @field_validator("symbols")
    @classmethod
    def _unique(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({symbol for symbol in symbols if symbols.count(symbol) > 1})
        if repeated:
            raise ValueError(f"symbols repeated: {', '.join(repeated)}")
        return symbols


class YahooCommoditiesCollector(PollingCollector[YahooCommoditiesConfig]):
    """Polls one v8 chart per symbol; one CommodityQuote item per symbol, updated as its price moves."""

    kind: ClassVar[str] = "yahoo_commodities"
    payload_field: ClassVar[str] = "commodity"
    bench_samples: ClassVar[tuple[BenchSample, ...]] = (
        BenchSample("yahoo/chart-GC_F-2020-01-01-to-2020-01-03.body.json", {"symbols": ["GC=F"]}),
    )

    def requests(self) -> Sequence[HttpRequest]:
        base = self.config.base_url.rstrip("/") + CHART_PATH
        return [
            HttpRequest(url=base + quote(symbol, safe="="), params=(("range", "1d"), ("interval", "1d")), label=symbol)
            for symbol in self.config.symbols
        ]

    def parse(self, response: HttpResponse, recv_ns: int) -> Parsed:
        return parse_chart(response.body, response.request.label, recv_ns)

    def classify_error(self, response: HttpResponse) -> ProviderRefusalError | None:
        return classify_chart_error(response.status, response.body, response.request.label)
