"""The lifecycle of a collector that polls an HTTP provider on a schedule.

INTERFACE FIXED; BODIES TO BE WRITTEN (see the brief). Provider modules use exactly these names.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar

from pydantic import Field

from collectors.external.base import ExternalCollector, ExternalConfig
from gateway.events import Parsed


class PollingConfig(ExternalConfig):
    """Schedule and HTTP settings of a polled provider; each provider sets its own defaults and minimum."""

    min_interval_s: ClassVar[float] = 1.0
    """The provider's rate limit as a floor on ``interval_s``: a config below it is refused (subclasses set it)."""

    interval_s: float = Field(default=300.0, gt=0, description="Seconds between polls (before jitter).")
    timeout_s: float = Field(default=10.0, gt=0, le=300, description="Whole-request timeout.")
    base_url: str = Field(
        default="", pattern=r"^https?://[^\s]+$", description="Provider's address (subclasses give the real one)."
    )


PollingConfigT = TypeVar("PollingConfigT", bound=PollingConfig)


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


class PollingCollector(ExternalCollector[PollingConfigT]):
    """Polls ``requests()`` every ``interval_s``, parses each answer with ``parse`` and publishes what changed."""

    @abc.abstractmethod
    def requests(self) -> Sequence[HttpRequest]:
        """The requests of one poll (pure)."""

    @abc.abstractmethod
    def parse(self, response: HttpResponse, recv_ns: int) -> Parsed:
        """The items of one 2xx answer (pure); raises ProviderRefusalError or MalformedInputError for a whole answer."""

    async def run(self) -> None:
        raise NotImplementedError
