"""Fear & greed indices: alternative.me's crypto index and, optionally, CNN's stock-market index.

Provider facts relied on:

- **alternative.me** ``GET https://api.alternative.me/fng/?limit=N&format=json``, no key. The answer is
  ``{"name": "Fear and Greed Index", "data": [{"value": "25", "value_classification": "Extreme Fear",
  "timestamp": "1662940800", "time_until_update": "44102"}, ...], "metadata": {"error": null}}``: newest
  first, one row per UTC day; ``value`` (0 to 100) and ``timestamp`` (Unix seconds, 00:00 UTC of the day) are
  **strings**; ``time_until_update`` only on the newest row (not kept: it says when the next value comes, not
  what this one is). A non-null ``metadata.error`` refuses the request. Its API page asks for at most 60
  requests a minute; the index changes once a day, so the default poll is hourly and the floor a minute.
- **CNN** ``GET https://production.dataviz.cnn.io/index/fearandgreed/graphdata`` (undocumented, no key; off by
  default: ``cnn: true``). ``fear_and_greed`` holds the index now (``score`` 0 to 100 as a float, ``rating``
  in lower case such as ``"fear"``, ``timestamp`` ISO-8601 with an offset) and each component of the index
  (:data:`CNN_COMPONENTS`, e.g. ``put_call_options``) is ``{"timestamp": <ms as a float>, "score", "rating",
  "data": [history]}``; the histories are not read (hundreds of points a series, already past). CNN refuses
  clients it takes for bots: HTTP 418 or an HTML page instead of JSON. Both are a refusal of kind
  ``blocked`` (:func:`classify_refusal`, :func:`parse_cnn`), never data; so are 401 and 403 of either
  provider, since neither has keys to refuse. ``cnn_user_agent`` sets the
  ``User-Agent`` header of that request when CNN needs one it accepts.

Items: one :class:`SentimentIndex` per index (or component) and UTC day, ``item_id`` =
``<provider>:<name>:<YYYY-MM-DD>`` (e.g. ``alternative.me:crypto_fear_and_greed:2022-09-12``,
``cnn:fear_and_greed:2022-04-25``, ``cnn:put_call_options:2022-04-25``). The day is the UTC date of the
value's own timestamp: alternative.me publishes one value per day, so it is stable; CNN's value of the day
moves while the US market trades, and each move is an UPDATED of the day's item (the change says
previous and current value), the next day a new item. ``ts_ns`` is the value's own timestamp.

Every value is checked: a score is a finite number from 0 to 100, a timestamp a whole number of seconds (or
a float of milliseconds, CNN) from 2000 to :data:`FUTURE_SLACK_S` after the receive time, a classification
text at most :data:`CLASSIFICATION_CHARS` characters (clipped). A bad row is an :class:`ItemProblem` with a
short reason (``bad_shape``, ``bad_value``, ``bad_time``, ``duplicate``, ``missing_component``, ``empty``); an
answer that is not the provider's shape at all raises :class:`MalformedInputError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar, Final, Literal, TypeVar

import msgspec
from pydantic import Field

from collectors.external.base import BenchSample
from collectors.polling import HttpRequest, HttpResponse, PollingCollector, PollingConfig, decode_whole, item_problem
from gateway.clock import NS_PER_MS, NS_PER_S, parse_time_ns
from gateway.echo import RAW_BYTES, clip, shown
from gateway.errors import BadValueError, MalformedInputError, ProviderRefusalError
from gateway.events import ExternalItem, ItemProblem, Parsed
from gateway.schema.market.v1.market_pb2 import SentimentIndex

ALTERNATIVE_ME_URL: Final = "https://api.alternative.me"
CNN_URL: Final = "https://production.dataviz.cnn.io"
ALTERNATIVE_ME_PATH: Final = "/fng/"
CNN_PATH: Final = "/index/fearandgreed/graphdata"
ALTERNATIVE_ME: Final = "alternative.me"
"""``SentimentIndex.provider`` and request label of alternative.me."""
CNN: Final = "cnn"
"""``SentimentIndex.provider`` and request label of CNN."""
CRYPTO_INDEX_NAME: Final = "crypto_fear_and_greed"
"""``SentimentIndex.name`` of alternative.me's index (crypto markets; CNN's, of US stocks, is ``fear_and_greed``)."""
CNN_INDEX_NAME: Final = "fear_and_greed"
CNN_COMPONENTS: Final = (
    "market_momentum_sp500",
    "market_momentum_sp125",
    "stock_price_strength",
    "stock_price_breadth",
    "put_call_options",
    "market_volatility_vix",
    "market_volatility_vix_50",
    "junk_bond_demand",
    "safe_haven_demand",
)
"""The components of CNN's index in its graphdata (``fear_and_greed_historical`` repeats the index itself)."""

MIN_INTERVAL_S: Final = 60.0
"""alternative.me asks for at most 60 requests a minute; the index changes once a day."""
DEFAULT_INTERVAL_S: Final = 3600.0
MAX_LIMIT_DAYS: Final = 1000
"""Most days asked of alternative.me per poll (``limit``); its whole history (since 2018-02) is about 3,000."""
MAX_ROWS: Final = 5000
"""Most rows read from one answer; more is not alternative.me's answer to a limit of at most 1,000."""
SCORE_MIN: Final = 0.0
SCORE_MAX: Final = 100.0
CLASSIFICATION_CHARS: Final = 32
"""Longest classification kept ("Extreme Greed" has 13 characters); a longer one is clipped."""
EARLIEST_S: Final = 946_684_800
"""2000-01-01T00:00:00Z: no value of either index is older (alternative.me starts in 2018, CNN's history 2011)."""
FUTURE_SLACK_S: Final = 2 * 86_400
"""How far after the receive time a value's timestamp may be (clock skew, time zones): two days."""
UNIX_SECONDS: Final = re.compile(r"[0-9]{1,11}")
DECIMAL: Final = re.compile(r"-?[0-9]{1,16}(?:\.[0-9]{1,16})?")
"""A plain decimal as a string: what alternative.me sends as ``value``, bounded in length before any conversion."""
USER_AGENT_PATTERN: Final = r"^[\x20-\x7e]{1,256}$"

T = TypeVar("T")


class FngRow(msgspec.Struct):
    """One day of alternative.me's ``data`` (``time_until_update`` is not read)."""

    value: str | int
    value_classification: str
    timestamp: str | int


class FngMetadata(msgspec.Struct):
    """alternative.me's ``metadata``: ``error`` is null on success."""

    error: str | None = None


class FngAnswer(msgspec.Struct):
    """alternative.me's answer; rows are decoded one by one, so a bad row costs only itself."""

    data: list[msgspec.Raw]
    metadata: FngMetadata | None = None


class CnnIndexNow(msgspec.Struct):
    """CNN's ``fear_and_greed``: the index now (``previous_close`` and the older values are not read)."""

    score: float
    rating: str
    timestamp: str


class CnnComponent(msgspec.Struct):
    """One component series of CNN's graphdata: its score now (its ``data`` history is skipped)."""

    score: float
    rating: str
    timestamp: float


_decode_fng_answer = msgspec.json.Decoder(FngAnswer).decode
_decode_fng_row = msgspec.json.Decoder(FngRow).decode
_decode_cnn_answer = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_cnn_now = msgspec.json.Decoder(CnnIndexNow).decode
_decode_cnn_component = msgspec.json.Decoder(CnnComponent).decode


def parse_alternative_me(body: bytes, recv_ns: int) -> Parsed:
    """The daily values of alternative.me's ``/fng/`` answer.

    Raises ProviderRefusalError (kind ``rejected``) when ``metadata.error`` is set, MalformedInputError when
    the body is not the ``{"data": [...], "metadata": {...}}`` JSON object (an HTML page, a truncated body).
    """
    answer = decode_whole(_decode_fng_answer, body, "alternative.me fng")
    if answer.metadata is not None and answer.metadata.error is not None:
        raise ProviderRefusalError(
            f"alternative.me refused the request: {clip(answer.metadata.error, 200)}", kind="rejected"
        )
    parsed = Parsed(items=[], problems=[])
    seen: set[str] = set()
    if not answer.data:
        parsed.problems.append(ItemProblem("empty", "alternative.me answered no rows"))
    for raw in _bounded(answer.data, parsed):
        row_bytes = bytes(raw)
        try:
            row = _decode_fng_row(row_bytes)
            ts_ns = _unix_seconds_ns(row.timestamp, recv_ns)
            value = _score(row.value)
            classification = _classification(row.value_classification)
        except msgspec.ValidationError as exc:
            parsed.problems.append(item_problem("bad_shape", f"alternative.me row: {exc}", row_bytes))
            continue
        except msgspec.DecodeError as exc:
            parsed.problems.append(item_problem("bad_encoding", f"alternative.me row: {exc}", row_bytes))
            continue
        except _RowError as exc:
            parsed.problems.append(item_problem(exc.reason, f"alternative.me row: {exc}", row_bytes))
            continue
        _add(parsed, seen, (ALTERNATIVE_ME, CRYPTO_INDEX_NAME), value, classification, ts_ns, row_bytes)
    return parsed


def parse_cnn(body: bytes, recv_ns: int) -> Parsed:
    """CNN's index now and the score of each of its components (:data:`CNN_COMPONENTS`) from its graphdata.

    Raises ProviderRefusalError (kind ``blocked``) for an HTML page (CNN's answer to a client it takes for a
    bot), MalformedInputError for anything else that is not a JSON object with ``fear_and_greed``.
    """
    if _is_html(body):
        raise ProviderRefusalError(
            f"{CNN} refused the client as a bot (an HTML page, not its graphdata)", kind="blocked"
        )
    answer = decode_whole(_decode_cnn_answer, body, "CNN graphdata")
    headline = answer.get(CNN_INDEX_NAME)
    if headline is None:
        raise MalformedInputError(f"CNN graphdata without {CNN_INDEX_NAME!r}: {_keys(answer)}", raw=body[:RAW_BYTES])
    parsed = Parsed(items=[], problems=[])
    seen: set[str] = set()
    headline_bytes = bytes(headline)
    try:
        now = _decode_cnn_now(headline_bytes)
        ts_ns = _iso_time(now.timestamp, recv_ns)
        score = _score(now.score)
        rating = _classification(now.rating)
    except (msgspec.ValidationError, msgspec.DecodeError, _RowError) as exc:
        parsed.problems.append(item_problem(_reason(exc), f"CNN {CNN_INDEX_NAME}: {exc}", headline_bytes))
    else:
        _add(parsed, seen, (CNN, CNN_INDEX_NAME), score, rating, ts_ns, headline_bytes)
    for name in CNN_COMPONENTS:
        component = answer.get(name)
        if component is None:
            parsed.problems.append(ItemProblem("missing_component", f"CNN graphdata has no {name!r}"))
            continue
        component_bytes = bytes(component)
        try:
            value = _decode_cnn_component(component_bytes)
            ts_ns = _ms_time(value.timestamp, recv_ns)
            score = _score(value.score)
            rating = _classification(value.rating)
        except (msgspec.ValidationError, msgspec.DecodeError, _RowError) as exc:
            parsed.problems.append(item_problem(_reason(exc), f"CNN {name}: {exc}", component_bytes))
            continue
        _add(parsed, seen, (CNN, name), score, rating, ts_ns, component_bytes)
    return parsed


def classify_refusal(provider: str, status: int, body: bytes) -> ProviderRefusalError | None:
    """What a non-2xx answer of ``provider`` (:data:`ALTERNATIVE_ME` or :data:`CNN`) means beyond its status.

    Neither has keys, so 401 and 403 refuse the client, not a key (``blocked``); CNN's bot wall is also HTTP
    418 ("I'm a teapot") or an HTML page with any 4xx. Anything else is judged by its status (None).
    """
    if status in (401, 403) or (provider == CNN and (status == 418 or (_is_html(body) and 400 <= status < 500))):
        return ProviderRefusalError(f"{provider} refused the client as a bot (HTTP {status})", kind="blocked")
    return None


def _is_html(body: bytes) -> bool:
    return body.lstrip()[:1] == b"<"


class _RowError(Exception):
    """A value of one row is not valid; ``reason`` is the ItemProblem reason. Internal to this module."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _reason(exc: Exception) -> str:
    if isinstance(exc, _RowError):
        return exc.reason
    return "bad_encoding" if isinstance(exc, msgspec.DecodeError) else "bad_shape"


def _bounded(rows: list[msgspec.Raw], parsed: Parsed) -> list[msgspec.Raw]:
    if len(rows) <= MAX_ROWS:
        return rows
    parsed.problems.append(ItemProblem("too_many_rows", f"{len(rows):,} rows, the first {MAX_ROWS:,} read"))
    return rows[:MAX_ROWS]


def _score(value: str | int | float) -> float:
    """A score from 0 to 100: a JSON number, or a decimal string (alternative.me)."""
    if isinstance(value, str):
        if DECIMAL.fullmatch(value) is None:
            raise _RowError("bad_value", f"value {shown(value)} is not a decimal number")
        number = float(value)
    else:
        number = float(value)
    if not math.isfinite(number) or not SCORE_MIN <= number <= SCORE_MAX:
        raise _RowError("bad_value", f"value {shown(value)} is not from {SCORE_MIN:g} to {SCORE_MAX:g}")
    return number


def _classification(text: str) -> str:
    """The index's word for the value ("Extreme Fear", "fear"): printable, not blank, clipped."""
    kept = text.strip()[:CLASSIFICATION_CHARS].rstrip()
    if not kept or not kept.isprintable():
        raise _RowError("bad_value", f"classification {shown(text)} is blank or not printable")
    return kept


def _check_time(ts_ns: int, recv_ns: int, text: object) -> int:
    if not EARLIEST_S * NS_PER_S <= ts_ns <= recv_ns + FUTURE_SLACK_S * NS_PER_S:
        raise _RowError("bad_time", f"timestamp {shown(text)} is before 2000 or after the receive time")
    return ts_ns


def _unix_seconds_ns(value: str | int, recv_ns: int) -> int:
    """Unix seconds given as a string of digits (alternative.me) or a JSON integer, in ns."""
    if isinstance(value, str):
        if UNIX_SECONDS.fullmatch(value) is None:
            raise _RowError("bad_time", f"timestamp {shown(value)} is not Unix seconds")
        seconds = int(value)
    else:
        seconds = value
    return _check_time(seconds * NS_PER_S, recv_ns, value)


def _ms_time(value: float, recv_ns: int) -> int:
    """A time in milliseconds as a float (CNN's series), in ns."""
    if not math.isfinite(value) or not EARLIEST_S * 1000 <= value <= (recv_ns // NS_PER_MS) + FUTURE_SLACK_S * 1000:
        raise _RowError("bad_time", f"timestamp {shown(value)} ms is before 2000 or after the receive time")
    whole_ms = math.floor(value)
    return whole_ms * NS_PER_MS + round((value - whole_ms) * NS_PER_MS)


def _iso_time(value: str, recv_ns: int) -> int:
    """An ISO-8601 time with an offset (CNN's ``2022-04-25T16:21:09.254000+00:00``), in ns."""
    try:
        ts_ns = parse_time_ns(value)
    except BadValueError as exc:
        raise _RowError("bad_time", str(exc)) from exc
    return _check_time(ts_ns, recv_ns, value)


def _add(
    parsed: Parsed, seen: set[str], index: tuple[str, str], value: float, classification: str, ts_ns: int, raw: bytes
) -> None:
    """Append the item of ``index`` (provider, name) for the UTC day of ``ts_ns``, or a problem if it is a repeat."""
    provider, name = index
    item_id = f"{provider}:{name}:{datetime.fromtimestamp(ts_ns // NS_PER_S, UTC).date().isoformat()}"
    if item_id in seen:
        parsed.problems.append(item_problem("duplicate", f"a second value for {item_id}", raw))
        return
    seen.add(item_id)
    payload = SentimentIndex(name=name, value=value, classification=classification, provider=provider)
    parsed.items.append(ExternalItem(item_id=item_id, ts_ns=ts_ns, payload=payload))


def _keys(answer: dict[str, msgspec.Raw]) -> str:
    return clip(", ".join(shown(key, 40) for key in list(answer)[:10]), 300)


class FearGreedConfig(PollingConfig):
    """alternative.me's crypto fear & greed index, and CNN's stock-market index when ``cnn`` is true."""

    kind: Literal["fear_greed"] = "fear_greed"
    min_interval_s: ClassVar[float] = MIN_INTERVAL_S
    host_max_requests: ClassVar[int] = 60
    """alternative.me's stated limit: 60 requests a minute (CNN's host, polled once a poll, shares it)."""
    host_window_s: ClassVar[float] = 60.0
    interval_s: float = Field(default=DEFAULT_INTERVAL_S, gt=0, description="Seconds between polls (before jitter).")
    base_url: str = Field(default=ALTERNATIVE_ME_URL, pattern=r"^https?://[^\s]+$", description="alternative.me.")
    limit: int = Field(default=7, ge=1, le=MAX_LIMIT_DAYS, description="Days asked of alternative.me per poll.")
    cnn: bool = Field(default=False, description="Also poll CNN's fear & greed graphdata (undocumented endpoint).")
    cnn_url: str = Field(default=CNN_URL, pattern=r"^https?://[^\s]+$", description="CNN's dataviz host.")
    cnn_user_agent: str | None = Field(
        default=None, pattern=USER_AGENT_PATTERN, description="User-Agent of the CNN request (default: the gateway's)."
    )


class FearGreedCollector(PollingCollector[FearGreedConfig]):
    """Polls alternative.me (and CNN when configured); one SentimentIndex item per index and day."""

    kind: ClassVar[str] = "fear_greed"
    payload_field: ClassVar[str] = "sentiment"
    bench_samples: ClassVar[tuple[BenchSample, ...]] = (
        BenchSample("feargreed/alternative_me_fng_limit2_2022-09-12.json"),
        BenchSample("feargreed/cnn_graphdata_2022-04-25.json", {"cnn": True}, request=1),
    )

    def requests(self) -> Sequence[HttpRequest]:
        config = self.config
        requests = [
            HttpRequest(
                url=config.base_url.rstrip("/") + ALTERNATIVE_ME_PATH,
                params=(("limit", str(config.limit)), ("format", "json")),
                label=ALTERNATIVE_ME,
            )
        ]
        if config.cnn:
            headers = () if config.cnn_user_agent is None else (("User-Agent", config.cnn_user_agent),)
            requests.append(HttpRequest(url=config.cnn_url.rstrip("/") + CNN_PATH, headers=headers, label=CNN))
        return requests

    def parse(self, response: HttpResponse, recv_ns: int) -> Parsed:
        if response.request.label == CNN:
            return parse_cnn(response.body, recv_ns)
        return parse_alternative_me(response.body, recv_ns)

    def classify_error(self, response: HttpResponse) -> ProviderRefusalError | None:
        return classify_refusal(response.request.label, response.status, response.body)
