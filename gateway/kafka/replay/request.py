"""What a replay reads and where it writes: :class:`ReplayRequest`, checked when built."""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gateway.clock import format_time_ns
from gateway.echo import shown
from gateway.errors import ConfigError
from gateway.kafka.records import DEFAULT_TICKS_TOPIC

DEFAULT_SUBJECT_PREFIX: Final = "replay"
"""Replayed ticks go to ``replay.<source>.ticks`` unless told otherwise, so live consumers are not confused."""
DEFAULT_TIMEOUT_S: Final = 10.0
"""Seconds Kafka or NATS may stay silent before a replay fails."""
MIN_TIMEOUT_S: Final = 0.1
"""Shortest timeout: below it a healthy broker's first answer (a connection, a metadata request) is not awaited."""
MAX_TIMEOUT_S: Final = 3600.0
"""Longest timeout: a broker silent for an hour is gone; aiokafka takes the timeout in int32 ms (24 days at most)."""
MIN_SPEED: Final = 0.001
"""Slowest pace, 1/1000 of the original (a second of ticks over 17 minutes); slower is a mistake, not a replay."""
MAX_SPEED: Final = 1_000_000.0
"""Fastest finite pace: a day of ticks in 86 ms; ticks less than 1,000 s apart already go without a wait. Or ``max``."""
MAX_SUBJECT_PREFIX_CHARS: Final = 1000
"""Longest subject prefix: a subject travels in each message's control line, which nats-server caps at 4 KiB."""
ECHO_CHARS: Final = 80
"""Most characters of an argument echoed in an error, so one bad argument gives one short line."""

_HOST: Final = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})")
"""A host name or IPv4 address, as resolvers take them (RFC 1123, with ``_`` as some clusters use)."""
_PORT: Final = re.compile(r"[0-9]{1,5}")


class OutputFormat(enum.Enum):
    """Where a replay goes: republished on NATS, or lines for people, JSON lines or CSV."""

    NATS = "nats"
    STDOUT = "stdout"
    JSONL = "jsonl"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What to replay and where; ConfigError on an empty window, or a speed, timeout or Kafka address out of range.

    ``bootstrap_servers`` is checked (:func:`check_bootstrap_servers`) unless ``spool_dir`` is given.
    """

    since_ns: int
    until_ns: int
    bootstrap_servers: str
    topic: str = DEFAULT_TICKS_TOPIC
    instruments: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    speed: float | None = None
    """Output event time advances ``speed`` x wall time, MIN_SPEED to MAX_SPEED; None: as fast as possible."""
    output: OutputFormat = OutputFormat.STDOUT
    nats_url: str = ""
    subject_prefix: str = DEFAULT_SUBJECT_PREFIX
    timeout_s: float = DEFAULT_TIMEOUT_S
    """MIN_TIMEOUT_S to MAX_TIMEOUT_S."""
    spool_dir: Path | None = None
    """Read this gateway spool directory instead of Kafka (``bootstrap_servers`` is then unused)."""

    def __post_init__(self) -> None:
        if self.since_ns >= self.until_ns:
            raise ConfigError(
                f"the window is empty: since {format_time_ns(self.since_ns)} is not before "
                f"until {format_time_ns(self.until_ns)}"
            )
        if self.speed is not None and not MIN_SPEED <= self.speed <= MAX_SPEED:
            raise ConfigError(
                f"speed {self.speed:g} is out of range: {MIN_SPEED:g} to {MAX_SPEED:,.0f} times the original pace, "
                "or max"
            )
        if not MIN_TIMEOUT_S <= self.timeout_s <= MAX_TIMEOUT_S:
            raise ConfigError(f"timeout {self.timeout_s:g} s is out of range: {MIN_TIMEOUT_S:g} to {MAX_TIMEOUT_S:g} s")
        if self.spool_dir is None:
            check_bootstrap_servers(self.bootstrap_servers)


def check_bootstrap_servers(text: str) -> str:
    """``text`` if it is ``HOST:PORT[,HOST:PORT...]``, else ConfigError naming the first bad address.

    HOST is a host name, an IPv4 address or an IPv6 address in brackets; PORT is
    1 to 65535 and required (aiokafka would quietly take 9092 for a missing one,
    and a traceback for a port it cannot read).
    """
    for address in text.split(","):
        host, colon, port = address.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            try:
                good_host = isinstance(ipaddress.ip_address(host[1:-1]), ipaddress.IPv6Address)
            except ValueError:
                good_host = False
        else:
            good_host = _HOST.fullmatch(host) is not None
        if not (colon and good_host and _PORT.fullmatch(port) and 1 <= int(port) <= 65535):
            where = "" if address == text else f" in {shown(text, ECHO_CHARS)}"
            raise ConfigError(
                f"Kafka bootstrap servers: {shown(address, ECHO_CHARS)}{where} is not HOST:PORT "
                "(a host name, an IPv4 address or an [IPv6] address, and a port from 1 to 65535)"
            )
    return text
