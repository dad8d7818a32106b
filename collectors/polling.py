"""The lifecycle of a collector that polls an HTTP provider on a schedule.

:class:`PollingCollector` owns everything that is the same for every polled provider; a provider module fills
two pure hooks, :meth:`~PollingCollector.requests` (what to ask) and :meth:`~PollingCollector.parse` (what an
answer holds), and may fill :meth:`~PollingCollector.classify_error` (what an HTTP error body means).

- **Schedule**: the first poll at start, then every ``interval_s`` with ±``JITTER_FRACTION`` jitter (collectors
  started together drift apart). ``interval_s`` below the provider's ``min_interval_s`` is refused by the config.
- **HTTP**: httpx with ``timeout_s`` for the whole request (a stalled body included); the body is streamed and
  refused past ``max_body_bytes`` (:class:`~gateway.errors.ResponseTooLargeError`; measured after
  decompression, so a gzip bomb stops at the cap).
- **Rate limit per provider host**, shared by every collector on that host in the process: at most
  ``host_max_requests`` requests per ``host_window_s`` (the provider's documented limit, a class constant of
  its config), kept by a process-wide :class:`RequestWindow` per host (``host:port`` of each request, so a
  collector asking several hosts, news feeds say, is limited on each). A request waits for its slot; that
  wait is not part of its timeout.
- **429 and Retry-After** (seconds or an HTTP date, collectors.streaming.parse_retry_after): the next poll
  waits at least that long (state ``rate_limited``).
- **Conditional requests**: the ``ETag`` and ``Last-Modified`` of each request's last answer are sent back as
  ``If-None-Match`` / ``If-Modified-Since``; ``304 Not Modified`` is counted and costs no parsing. They are
  kept only once the answer's items were published, so a failed publish is fetched in full again.
- **A short shared cache** (:data:`CACHE_TTL_S`, a cachetools TTLCache bounded by bytes): collectors or
  requests asking for the same URL with the same parameters within seconds (two collectors configured on the
  same feed, a restart of a collector after a failure) share one fetch instead of spending the provider's rate
  limit twice; a lock per request makes concurrent askers wait for the first fetch. It is not a store:
  change detection (collectors.external.changes) is what avoids republishing.
- **Backoff** (gateway.backoff) on 5xx, timeouts, lost connections and malformed answers, from
  ``retry_min_s`` to ``interval_s``, reset by a good poll.
- **Secrets** (:class:`SecretParam`) are read from the environment when a request is sent, remembered for
  redaction (gateway.secrets; httpx's own log of each request's URL is redacted at its logger), and never
  part of a text: an unset variable is a ConfigError naming it (reported as UNAUTHORIZED, then final for the
  supervisor).
- **Status like brokers** (``market.<id>.status``): CONNECTED at the first good poll, DISCONNECTED with the
  reason when polls start failing, RECONNECTED with the time since the last good answer, UNAUTHORIZED for a
  refused key (401/403, or a refusal of kind ``unauthorized``: the detail names the environment variable,
  never its value), REJECTED for a refused request (400/404, or a refusal of kind ``rejected``/``blocked``);
  refusals are retried only every ``refused_retry_s``. A poll where some requests succeed keeps its schedule.
- **Stats** (:class:`gateway.events.ExternalStats`): requests ok / failed / not modified, items new /
  updated / unchanged, problems per reason, last error and success, and the state: ``ok``, ``unauthorized``,
  ``rate_limited``, ``refused``, ``failing`` or ``malformed``. Failures are logged at most every 10 s.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
import msgspec
from cachetools import TTLCache
from pydantic import Field, model_validator

from collectors.external.base import PROBLEM_LOG_INTERVAL_S, ExternalCollector, ExternalConfig
from collectors.streaming import parse_retry_after
from gateway.backoff import Backoff
from gateway.clock import NS_PER_S, now_ns
from gateway.echo import LOG_CHARS, RAW_BYTES, clip, clip_bytes
from gateway.errors import (
    ConfigError,
    InputError,
    MalformedInputError,
    ProviderHttpError,
    ProviderRefusalError,
    ResponseTooLargeError,
    SourceError,
)
from gateway.events import ExternalSink, ItemProblem, Parsed
from gateway.logs import ThrottledLog
from gateway.schema.market.v1.market_pb2 import SourceStatus
from gateway.secrets import RedactingFilter, environment_secret, redact

logger = logging.getLogger(__name__)
_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(existing, RedactingFilter) for existing in _httpx_logger.filters):
    # httpx logs every request's full URL at INFO, query included: where a provider takes its key as a parameter
    # (FRED's api_key), the key is masked in the record itself, whatever handlers the application installs.
    _httpx_logger.addFilter(RedactingFilter())

JITTER_FRACTION: Final = 0.1
"""Each wait between polls is ``interval_s`` times a factor drawn from [0.9, 1.1]."""
DEFAULT_MAX_BODY_BYTES: Final = 16 * 1024 * 1024
"""Largest body read by default: 60 times the largest recorded answer (GDELT's 250 articles, about 250 KB)."""
CACHE_TTL_S: Final = 5.0
"""How long an answer is shared with other askers of the same request: "at once", not "recently"."""
CACHE_MAX_BYTES: Final = 32 * 1024 * 1024
"""Most body bytes the shared cache holds; an answer above a quarter of it is not cached."""
CACHE_ENTRY_OVERHEAD_BYTES: Final = 512
USER_AGENT: Final = "fxgw/0.1 (+market data gateway)"
ERROR_BODY_CHARS: Final = 300
"""Most characters of a provider's error body quoted in an error (after redaction)."""
PROBLEM_DETAIL_CHARS: Final = 300
"""Most characters of the detail of an ItemProblem or of a decoding error's explanation."""

STATE_OK: Final = "ok"
STATE_UNAUTHORIZED: Final = "unauthorized"
STATE_RATE_LIMITED: Final = "rate_limited"
STATE_REFUSED: Final = "refused"
STATE_FAILING: Final = "failing"
STATE_MALFORMED: Final = "malformed"
_SEVERITY: Final = {
    STATE_UNAUTHORIZED: 5,
    STATE_REFUSED: 4,
    STATE_RATE_LIMITED: 3,
    STATE_MALFORMED: 2,
    STATE_FAILING: 1,
}


class PollingConfig(ExternalConfig):
    """Schedule and HTTP settings of a polled provider; each provider sets its own defaults and minimum."""

    min_interval_s: ClassVar[float] = 1.0
    """The provider's rate limit as a floor on ``interval_s``: a config below it is refused (subclasses set it)."""
    host_max_requests: ClassVar[int] = 60
    """At most this many requests per ``host_window_s`` to the provider's host, from all collectors together."""
    host_window_s: ClassVar[float] = 60.0

    interval_s: float = Field(default=300.0, gt=0, description="Seconds between polls (before jitter).")
    timeout_s: float = Field(default=10.0, gt=0, le=300, description="Whole-request timeout.")
    base_url: str = Field(
        default="", pattern=r"^https?://[^\s]+$", description="Provider's address (subclasses give the real one)."
    )
    retry_min_s: float = Field(
        default=5.0, gt=0, le=3600, description="First wait after a failed poll; doubles up to interval_s."
    )
    refused_retry_s: float = Field(
        default=300.0, gt=0, le=86_400, description="Wait after the provider refused the key or the request."
    )
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, ge=1024, le=256 * 1024 * 1024, description="Largest answer read."
    )

    @model_validator(mode="after")
    def _not_faster_than_the_provider_allows(self) -> PollingConfig:
        minimum = type(self).min_interval_s
        if self.interval_s < minimum:
            raise ValueError(f"interval_s {self.interval_s:g} is below this provider's minimum of {minimum:g} s")
        return self


PollingConfigT = TypeVar("PollingConfigT", bound=PollingConfig)
T = TypeVar("T")


def decode_whole(decode: Callable[[bytes], T], body: bytes, what: str) -> T:
    """A whole JSON answer decoded by ``decode`` (a ``msgspec.json.Decoder(<type>).decode``), for every provider.

    Raises MalformedInputError naming ``what`` (e.g. "Yahoo chart GC=F") and keeping the first ``RAW_BYTES``
    of the body for an HTML page where JSON was expected, text that is not JSON (a truncated body), JSON of
    another shape, or JSON nested too deeply to decode (msgspec recurses; Python's recursion limit stops it).
    """
    if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        raise MalformedInputError(f"{what}: an HTML page where JSON was expected", raw=raw_prefix(body))
    try:
        return decode(body)
    except msgspec.ValidationError as exc:
        detail = clip(str(exc), PROBLEM_DETAIL_CHARS)
        raise MalformedInputError(f"{what}: unexpected shape: {detail}", raw=raw_prefix(body)) from None
    except msgspec.DecodeError as exc:
        detail = clip(str(exc), PROBLEM_DETAIL_CHARS)
        raise MalformedInputError(f"{what}: not valid JSON ({detail})", raw=raw_prefix(body)) from None
    except RecursionError:
        raise MalformedInputError(f"{what}: JSON nested too deeply to decode", raw=raw_prefix(body)) from None


def raw_prefix(body: bytes) -> bytes:
    """What of a refused answer or item is kept with its error: the first ``RAW_BYTES`` (gateway.echo)."""
    return clip_bytes(body, RAW_BYTES)[0]


def item_problem(reason: str, detail: str, raw: bytes = b"") -> ItemProblem:
    """An item refused for ``reason``, its detail clipped and at most ``RAW_BYTES`` of its raw text kept."""
    return ItemProblem(reason, clip(detail, PROBLEM_DETAIL_CHARS), raw_prefix(bytes(raw)))


@dataclass(frozen=True, slots=True)
class SecretParam:
    """A request parameter or header whose value is read from an environment variable when sent, never shown."""

    where: Literal["param", "header"]
    name: str
    env: str


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request of a poll, built by the provider module (pure); the base sends it."""

    url: str
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    secrets: tuple[SecretParam, ...] = ()
    label: str = ""
    """What this request is for (a series id, a feed name), shown in errors and /health."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A provider's answer as the parser sees it: status, headers (lower-case names), the whole body."""

    request: HttpRequest
    status: int
    headers: Mapping[str, str]
    body: bytes


class RequestWindow:
    """At most ``max_requests`` requests in any ``window_s`` seconds: a provider's limit on one host.

    Shared by every collector of the process that asks that host (see :func:`host_window`).
    """

    def __init__(self, max_requests: int, window_s: float) -> None:
        self.max_requests = max_requests
        self.window_s = window_s
        self._sent: deque[float] = deque(maxlen=max_requests)
        self._lock = asyncio.Lock()

    @property
    def rate_per_s(self) -> float:
        return self.max_requests / self.window_s

    async def wait(self) -> None:
        """Return when one more request keeps within the limit (and count it as sent)."""
        async with self._lock:
            if len(self._sent) == self.max_requests:
                delay = self._sent[0] + self.window_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            self._sent.append(time.monotonic())


_host_windows: dict[str, RequestWindow] = {}


def host_window(url: str, max_requests: int, window_s: float) -> RequestWindow:
    """The process-wide request window of ``url``'s host (``host:port``).

    Collectors asking one host share it; when their providers' limits differ, the strictest (the lowest rate)
    holds for all of them.
    """
    host = urlsplit(url).netloc.lower()
    window = _host_windows.get(host)
    if window is None or max_requests / window_s < window.rate_per_s:
        window = _host_windows[host] = RequestWindow(max_requests, window_s)
    return window


RequestKey = tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], tuple[SecretParam, ...]]
_answers: TTLCache[RequestKey, tuple[int, dict[str, str], bytes]] = TTLCache(
    maxsize=CACHE_MAX_BYTES,
    ttl=CACHE_TTL_S,
    getsizeof=lambda answer: len(answer[2]) + CACHE_ENTRY_OVERHEAD_BYTES,
)
_request_locks: weakref.WeakValueDictionary[RequestKey, asyncio.Lock] = weakref.WeakValueDictionary()


def forget_shared_answers() -> None:
    """Empty the shared cache of answers: the next request of each URL is sent (tests polling a changed body)."""
    _answers.clear()


def _key(request: HttpRequest) -> RequestKey:
    return (request.url, request.params, request.headers, request.secrets)


@dataclass(frozen=True, slots=True)
class _Fetched:
    response: HttpResponse | None
    """None: 304 Not Modified."""
    cached: bool


class PollingCollector(ExternalCollector[PollingConfigT]):
    """Polls ``requests()`` every ``interval_s``, parses each answer with ``parse`` and publishes what changed."""

    def __init__(self, config: PollingConfigT, sink: ExternalSink, state_dir: Path | None = None) -> None:
        super().__init__(config, sink, state_dir)
        self._validators: dict[RequestKey, tuple[tuple[str, str], ...]] = {}
        self._delivering = False
        self._failure_log = ThrottledLog(logger, PROBLEM_LOG_INTERVAL_S)
        self._rng = random.Random()

    # -- hooks ---------------------------------------------------------------------------------------------

    @abc.abstractmethod
    def requests(self) -> Sequence[HttpRequest]:
        """The requests of one poll (pure)."""

    @abc.abstractmethod
    def parse(self, response: HttpResponse, recv_ns: int) -> Parsed:
        """The items of one 2xx answer (pure); raises ProviderRefusalError or MalformedInputError for a whole answer."""

    def classify_error(self, response: HttpResponse) -> ProviderRefusalError | None:
        """What a non-2xx answer means when its body says more than its status (pure); None: judge by status.

        FRED, for instance, answers a refused key with 400 and a JSON ``error_message``: a provider module
        returns ``ProviderRefusalError(..., kind="unauthorized")`` for it. The default returns None: 401/403 are
        a refused key, 400/404/410/422 a refused request, 429 a rate limit, anything else a failure to retry.
        """
        return None

    # -- the lifecycle -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll until cancelled. Raises ConfigError (final) when a key's environment variable is not set."""
        settings = self.config
        backoff = Backoff(settings.retry_min_s, max(settings.retry_min_s, settings.interval_s))
        timeout = httpx.Timeout(settings.timeout_s)
        headers = {"User-Agent": USER_AGENT}
        client = httpx.AsyncClient(timeout=timeout, headers=headers, trust_env=False, follow_redirects=True)
        async with client:
            while True:
                delay_s = await self.poll(client, backoff)
                await asyncio.sleep(delay_s)

    async def poll(self, client: httpx.AsyncClient, backoff: Backoff) -> float:
        """Send every request of one poll, publish what the answers hold, report; returns seconds until the next."""
        worst: tuple[str, Exception] | None = None
        succeeded = 0
        for request in self.requests():
            try:
                await self._poll_one(client, request)
                succeeded += 1
            except ConfigError as exc:
                self.stats.state = STATE_UNAUTHORIZED
                self.stats.last_error = clip(redact(str(exc)))
                await self.report_once(SourceStatus.STATE_UNAUTHORIZED, self.stats.last_error)
                raise
            except (SourceError, InputError) as exc:
                self.stats.polls_failed += 1
                state = _state_of(exc)
                if worst is None or _SEVERITY[state] > _SEVERITY[worst[0]]:
                    worst = (state, exc)
                if isinstance(exc, InputError | ResponseTooLargeError):
                    reason = "malformed_response" if isinstance(exc, InputError) else "response_too_large"
                    self.count_problems([ItemProblem(reason, _request_error(request, exc))])
        if succeeded:
            await self._on_success()
        if worst is None:
            self.stats.state = STATE_OK
            backoff.reset()
            return self._jittered(self.config.interval_s)
        state, error = worst
        await self._on_failure(state, error)
        retry_after = getattr(error, "retry_after_s", None) or 0.0
        if succeeded:
            return max(self._jittered(self.config.interval_s), retry_after)
        if state in (STATE_UNAUTHORIZED, STATE_REFUSED):
            return max(self.config.refused_retry_s, retry_after)
        return max(backoff.next_delay(), retry_after)

    def _jittered(self, seconds: float) -> float:
        return seconds * self._rng.uniform(1 - JITTER_FRACTION, 1 + JITTER_FRACTION)

    async def _poll_one(self, client: httpx.AsyncClient, request: HttpRequest) -> None:
        """One request: fetch, parse, publish, remember its validators. Raises SourceError or InputError."""
        fetched = await self._fetch(client, request)
        response = fetched.response
        if response is None:
            self.stats.polls_not_modified += 1
            return
        recv_ns = now_ns()
        parsed = self._parse(response, recv_ns)
        self.stats.polls_ok += 1
        self.count_problems(parsed.problems)
        await self.publish(parsed.items, recv_ns)
        validators = tuple(
            (header, response.headers[name])
            for name, header in (("etag", "If-None-Match"), ("last-modified", "If-Modified-Since"))
            if name in response.headers
        )
        self._validators[_key(request)] = validators

    def _parse(self, response: HttpResponse, recv_ns: int) -> Parsed:
        """``parse``, with a failure of the parser itself (a bug meeting input it did not expect) made a malformed
        answer: one answer's problem, never the collector's end."""
        try:
            return self.parse(response, recv_ns)
        except (SourceError, InputError):
            raise
        except Exception as exc:
            logger.exception("%s: the parser failed on an answer to %s", self.source_id, response.request.label)
            raise MalformedInputError(f"the parser failed: {type(exc).__name__}: {clip(str(exc), 200)}") from exc

    async def _fetch(self, client: httpx.AsyncClient, request: HttpRequest) -> _Fetched:
        """The answer to ``request``: shared from the cache, or sent (waiting for the host's window)."""
        key = _key(request)
        lock = _request_locks.get(key)
        if lock is None:
            lock = _request_locks[key] = asyncio.Lock()
        async with lock:
            cached = _answers.get(key)
            if cached is not None:
                status, headers, body = cached
                return _Fetched(HttpResponse(request, status, headers, body), cached=True)
            response = await self._send(client, request, self._validators.get(key, ()))
            if response is None:
                return _Fetched(None, cached=False)
            if len(response.body) + CACHE_ENTRY_OVERHEAD_BYTES <= CACHE_MAX_BYTES // 4:
                _answers[key] = (response.status, dict(response.headers), response.body)
            return _Fetched(response, cached=False)

    async def _send(
        self, client: httpx.AsyncClient, request: HttpRequest, validators: tuple[tuple[str, str], ...]
    ) -> HttpResponse | None:
        """Send ``request``; its 2xx answer, None for 304. Raises ProviderHttpError, ProviderRefusalError,
        ResponseTooLargeError, SourceError (timeouts, lost connections) or ConfigError (a key not set)."""
        params: list[tuple[str, str | int | float | bool | None]] = list(request.params)
        headers = dict(request.headers)
        for secret in request.secrets:
            value = environment_secret(secret.env, f"{self.source_id}: {secret.where} {secret.name}")
            if secret.where == "param":
                params.append((secret.name, value))
            else:
                headers[secret.name] = value
        headers.update(validators)
        settings = self.config
        await host_window(request.url, settings.host_max_requests, settings.host_window_s).wait()
        limit = self.config.max_body_bytes
        try:
            async with (
                asyncio.timeout(self.config.timeout_s),
                client.stream("GET", request.url, params=params, headers=headers) as answer,
            ):
                body = await _read_capped(answer, limit)
        except ResponseTooLargeError as exc:
            raise ResponseTooLargeError(_request_error(request, exc), limit_bytes=limit) from None
        except TimeoutError:
            raise SourceError(f"{_what(request)}: no complete answer within {self.config.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise SourceError(_request_error(request, exc)) from None
        if answer.status_code == 304:
            return None
        response = HttpResponse(request, answer.status_code, _lower_headers(answer.headers), body)
        if 200 <= answer.status_code < 300:
            return response
        raise self._http_error(response)

    def _http_error(self, response: HttpResponse) -> Exception:
        """The error a non-2xx answer is: the provider module's reading of it first, then its status."""
        refusal = self.classify_error(response)
        if refusal is not None:
            return refusal
        status = response.status
        text = clip(redact(response.body.decode("utf-8", "replace").strip()), ERROR_BODY_CHARS)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        message = f"{_what(response.request)}: HTTP {status}" + (f": {text}" if text else "")
        return ProviderHttpError(message, status=status, retry_after_s=retry_after)

    # -- status --------------------------------------------------------------------------------------------

    async def _on_success(self) -> None:
        stats = self.stats
        now = now_ns()
        if not self._delivering:
            if stats.last_success_ns:
                gap_ns = now - stats.last_success_ns
                detail = f"answering again after {gap_ns / NS_PER_S:.3f} s without data"
                logger.info("%s: %s", self.source_id, detail)
                await self.report_status(SourceStatus.STATE_RECONNECTED, detail, gap_ns=gap_ns)
            else:
                detail = f"polling {self.config.base_url} every {self.config.interval_s:g} s"
                logger.info("%s: %s", self.source_id, detail)
                await self.report_status(SourceStatus.STATE_CONNECTED, detail)
            self._delivering = True
        stats.last_success_ns = now

    async def _on_failure(self, state: str, exc: Exception) -> None:
        stats = self.stats
        stats.state = state
        detail = clip(redact(str(exc)))
        stats.last_error = detail
        self._failure_log.warning("%s: %s: %s", self.source_id, state, clip(detail, LOG_CHARS))
        if state == STATE_UNAUTHORIZED:
            self._delivering = False
            await self.report_once(SourceStatus.STATE_UNAUTHORIZED, self._unauthorized_detail(detail))
        elif state == STATE_REFUSED:
            self._delivering = False
            await self.report_once(SourceStatus.STATE_REJECTED, detail)
        elif self._delivering or self._last_report is None or self._last_report[0] != SourceStatus.STATE_DISCONNECTED:
            self._delivering = False
            await self.report_status(SourceStatus.STATE_DISCONNECTED, f"{state}: {detail}")

    def _unauthorized_detail(self, detail: str) -> str:
        variables = sorted({secret.env for request in self.requests() for secret in request.secrets})
        if not variables:
            return detail
        return f"the provider refused the key in {', '.join(variables)}: {detail}"


def _state_of(exc: Exception) -> str:
    """The collector state an error of one request puts it in."""
    if isinstance(exc, ProviderRefusalError):
        return {"unauthorized": STATE_UNAUTHORIZED, "rate_limited": STATE_RATE_LIMITED}.get(exc.kind, STATE_REFUSED)
    if isinstance(exc, ProviderHttpError):
        if exc.status == 429:
            return STATE_RATE_LIMITED
        if exc.refused_credentials:
            return STATE_UNAUTHORIZED
        if exc.refused_request or exc.status in (410, 422):
            return STATE_REFUSED
        return STATE_FAILING
    if isinstance(exc, ResponseTooLargeError | InputError):
        return STATE_MALFORMED
    return STATE_FAILING


async def _read_capped(answer: httpx.Response, limit: int) -> bytes:
    """The whole body of ``answer``, decompressed; ResponseTooLargeError as soon as it passes ``limit`` bytes."""
    declared = answer.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > limit and not answer.headers.get("content-encoding"):
        raise ResponseTooLargeError(f"the answer declares {int(declared):,} bytes, above {limit:,}", limit_bytes=limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in answer.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ResponseTooLargeError(f"the answer passed {limit:,} bytes; the rest was not read", limit_bytes=limit)
        parts.append(chunk)
    return b"".join(parts)


def _lower_headers(headers: httpx.Headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _what(request: HttpRequest) -> str:
    """A request as errors name it: its label and URL (never its parameters, which may hold a key)."""
    return f"{request.label} ({request.url})" if request.label else request.url


def _request_error(request: HttpRequest, exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return clip(redact(f"{_what(request)}: {text}"))
