"""FRED economic indicators (``kind: fred``): the observations of configured series, revisions as updates.

The reference provider of the external collectors: a :class:`~collectors.polling.PollingCollector` with a
pure parser.

Provider facts relied on
------------------------
- ``GET https://api.stlouisfed.org/fred/series/observations?series_id=GDP&file_type=json&api_key=...``
  (one request per configured series) answers a JSON object with ``units`` (the transformation, ``lin`` =
  levels), ``count`` and ``observations``: a list of ``{realtime_start, realtime_end, date, value}``, all
  strings. Dates are ISO ``YYYY-MM-DD``; ``value`` is a decimal string, or ``"."`` for a missing value (GDP
  before 1947). ``sort_order=desc`` with ``limit`` asks for the newest ``max_observations`` only.
- The real-time period (``realtime_start``/``realtime_end``) is, by default, the day of the request: it is
  kept in the message but is not part of the item's identity or its changes (else every observation would
  be "updated" every day).
- A key is required (``api_key``, 32 lower-case hex characters), read from the environment variable
  ``api_key_env`` (default ``FRED_API_KEY``) when each request is sent. A refused key is answered with HTTP
  400 and ``{"error_code": 400, "error_message": "Bad Request.  The value for variable api_key is not
  registered..."}``: that is ``unauthorized`` (the status names the variable), any other 400 (an unknown
  series) ``rejected``.
- Limit: 120 requests per minute per key (``host_max_requests``); the data changes at most daily, so
  ``min_interval_s`` is 60 s and the default ``interval_s`` one hour.

Items
-----
``item_id`` is ``<series>:<date>`` (``GDP:2024-07-01``), ``ts_ns`` midnight UTC of the observation date
(dates from 1678 to 2261, the range of int64 ns). A revised value (a new vintage of an observation) is an
UPDATED of the same id saying ``value`` changed.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import ClassVar, Final, Literal

import msgspec
from pydantic import Field, field_validator

from collectors.external.base import BenchSample
from collectors.polling import (
    HttpRequest,
    HttpResponse,
    PollingCollector,
    PollingConfig,
    SecretParam,
    decode_whole,
    item_problem,
)
from gateway.clock import NS_PER_S
from gateway.echo import clip, shown
from gateway.errors import MalformedInputError, ProviderRefusalError
from gateway.events import ExternalItem, ItemProblem, Parsed
from gateway.schema.market.v1.market_pb2 import IndicatorObservation
from gateway.secrets import ENV_NAME_PATTERN

BASE_URL: Final = "https://api.stlouisfed.org/fred"
SERIES_ID: Final = r"^[A-Za-z0-9_.]{1,64}$"
"""What a FRED series id looks like (``GDP``, ``DEXUSEU``, ``T10Y2Y``)."""
MISSING: Final = "."
"""FRED's marker of a missing value."""
MAX_VALUE_CHARS: Final = 40
"""Longest value string read as a number (FRED's longest are about 15 characters)."""
DECIMAL: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]{1,3})?")
ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MIN_DATE: Final = date(1678, 1, 1)
MAX_DATE: Final = date(2261, 12, 31)
"""Observation dates whose midnight is an int64 of ns since the epoch."""
UNITS_CHARS: Final = 32
ERROR_MESSAGE_CHARS: Final = 300


class FredConfig(PollingConfig):
    """One FRED collector: the series to follow and where its key is."""

    min_interval_s: ClassVar[float] = 60.0
    host_max_requests: ClassVar[int] = 120
    host_window_s: ClassVar[float] = 60.0

    kind: Literal["fred"] = "fred"
    series: tuple[str, ...] = Field(min_length=1, max_length=100, description="FRED series ids, e.g. GDP, DEXUSEU.")
    api_key_env: str = Field(default="FRED_API_KEY", pattern=ENV_NAME_PATTERN, description="Variable holding the key.")
    max_observations: int = Field(default=1000, ge=1, le=100_000, description="Newest observations per series.")
    interval_s: float = Field(default=3600.0, gt=0, description="Seconds between polls (before jitter).")
    base_url: str = Field(default=BASE_URL, pattern=r"^https?://[^\s]+$")

    @property
    def environment_variables(self) -> tuple[str, ...]:
        return (self.api_key_env,)

    @field_validator("series")
    @classmethod
    def _series_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for series in value:
            if re.fullmatch(SERIES_ID, series) is None:
                raise ValueError(f"series {shown(series)} is not a FRED series id (letters, digits, _ and .)")
        if len(set(value)) != len(value):
            raise ValueError("series are listed more than once")
        return value


class FredCollector(PollingCollector[FredConfig]):
    """Polls ``series/observations`` for each configured series; publishes new and revised observations."""

    kind: ClassVar[str] = "fred"
    payload_field: ClassVar[str] = "indicator"
    bench_samples: ClassVar[tuple[BenchSample, ...]] = (
        BenchSample("fred/series_observations_GDP.json", {"series": ["GDP"]}),
    )

    def requests(self) -> list[HttpRequest]:
        settings = self.config
        key = SecretParam("param", "api_key", settings.api_key_env)
        return [
            HttpRequest(
                url=f"{settings.base_url.rstrip('/')}/series/observations",
                params=(
                    ("series_id", series),
                    ("file_type", "json"),
                    ("sort_order", "desc"),
                    ("limit", str(settings.max_observations)),
                ),
                secrets=(key,),
                label=series,
            )
            for series in settings.series
        ]

    def parse(self, response: HttpResponse, recv_ns: int) -> Parsed:
        return parse_observations(response.request.label, response.body)

    def classify_error(self, response: HttpResponse) -> ProviderRefusalError | None:
        return refusal(response.request.label, response.status, response.body)


class _Observation(msgspec.Struct):
    date: str
    value: str
    realtime_start: str = ""
    realtime_end: str = ""


class _Answer(msgspec.Struct):
    observations: list[msgspec.Raw]
    units: str = ""


_decode_answer = msgspec.json.Decoder(_Answer).decode


class _Error(msgspec.Struct):
    error_message: str
    error_code: int = 0


def parse_observations(series: str, body: bytes) -> Parsed:
    """The observations of one ``series/observations`` answer, oldest first; each bad one a problem.

    Raises MalformedInputError when the answer is not such an object at all (HTML, a cut body, another shape),
    ProviderRefusalError when it is FRED's error object.
    """
    try:
        answer = decode_whole(_decode_answer, body, f"{series}: series/observations")
    except MalformedInputError:
        error = refusal(series, 200, body)
        if error is not None:
            raise error from None
        raise
    units = clip(answer.units, UNITS_CHARS)
    items: list[ExternalItem] = []
    problems: list[ItemProblem] = []
    for raw in answer.observations:
        try:
            items.append(_observation(series, units, msgspec.json.decode(raw, type=_Observation)))
        except msgspec.DecodeError as exc:
            problems.append(item_problem("bad_observation", f"{series}: {clip(str(exc), 200)}", raw))
        except ValueError as exc:
            reason = "bad_number" if "value" in str(exc) else "bad_date"
            problems.append(item_problem(reason, f"{series}: {exc}", raw))
    items.sort(key=lambda item: item.ts_ns)
    return Parsed(items, problems)


def _observation(series: str, units: str, observation: _Observation) -> ExternalItem:
    """One observation as an item; ValueError naming the field that is wrong."""
    day = _date(observation.date, "date")
    for name in ("realtime_start", "realtime_end"):
        text = getattr(observation, name)
        if text:
            _date(text, name)
    missing = observation.value == MISSING
    value = 0.0 if missing else _number(observation.value)
    payload = IndicatorObservation(
        series_id=series,
        date=observation.date,
        value=value,
        missing=missing,
        units=units,
        realtime_start=observation.realtime_start,
        realtime_end=observation.realtime_end,
    )
    ts_ns = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * NS_PER_S
    return ExternalItem(f"{series}:{observation.date}", ts_ns, payload, ("realtime_start", "realtime_end"))


def _date(text: str, name: str) -> date:
    if ISO_DATE.fullmatch(text) is None:
        raise ValueError(f"{name} {shown(text)} is not a date YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {shown(text)} is not a calendar date") from None
    if not MIN_DATE <= day <= MAX_DATE:
        raise ValueError(f"{name} {text} is outside {MIN_DATE} to {MAX_DATE}")
    return day


def _number(text: str) -> float:
    if len(text) > MAX_VALUE_CHARS or DECIMAL.fullmatch(text) is None:
        raise ValueError(f"value {shown(text)} is not a decimal number or {MISSING!r}")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"value {shown(text)} is out of range")
    return value


def refusal(series: str, status: int, body: bytes) -> ProviderRefusalError | None:
    """FRED's error object as a refusal: a key it does not accept is ``unauthorized``, anything else (an unknown
    series, a bad parameter) ``rejected``; None when the body is not FRED's error object."""
    try:
        error = msgspec.json.decode(body, type=_Error)
    except (msgspec.DecodeError, RecursionError):
        return None
    message = clip(" ".join(error.error_message.split()), ERROR_MESSAGE_CHARS)
    kind = "unauthorized" if "api_key" in message else "rejected"
    return ProviderRefusalError(f"{series}: FRED refused the request (HTTP {status}): {message}", kind=kind)
