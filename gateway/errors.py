"""Every exception the gateway and its collectors raise, in one tree.

Third-party exceptions (nats-py, aiokafka, httpx, OSError) are translated at
the boundary and chained with ``from``::

    GatewayError
    ├── ConfigError              bad or missing configuration (names file, key, value)
    ├── InputError               one raw quote could not be turned into a Quote
    │   ├── MalformedInputError      not parseable at all (bad JSON, missing field)
    │   ├── BadValueError            a price or size that is not a valid number
    │   └── UnknownInstrumentError   instrument name or pip size unknown
    ├── SourceError              a collector failed to read its source (retriable)
    │   ├── ProviderHttpError        the provider answered an HTTP error (retriable unless the request was refused)
    │   ├── ProviderRefusalError     the provider answered, but with a refusal in the body (an HTML "request denied"
    │   │                            page, an error code in JSON) rather than data
    │   └── ResponseTooLargeError    a provider's body passed the collector's size cap (reading stopped there)
    ├── NatsUnavailableError     the first connection to NATS failed (retriable)
    ├── NatsServerError          nats-server could not be found or did not start
    ├── ChildStartError          a child process (nats-server, a test broker) did not print its ready line
    ├── HttpBindError            /health and /metrics cannot listen on the configured address
    ├── ReplayError              a replay lost Kafka or NATS (retriable)
    ├── RegistryUnavailableError the Central Hub's bucket cannot be read or written (NATS or JetStream down; retriable)
    ├── SpoolError               the Kafka spool's directory is in use, unreadable or of another format
    │   ├── SpoolFullError           the spool holds its max_bytes of undelivered records (retriable)
    │   └── SpoolWriteError          the disk refused a write (retriable)
    └── DamagedRecordError       a spool record read back is out of sequence or undecodable (internal to the spool)

``retriable`` says whether trying the same operation again later can succeed; the
gateway's supervisor reads it (gateway.app): a collector that fails with a
non-retriable error is not restarted, since the same config would fail again.
"""

from __future__ import annotations

from pathlib import Path


class GatewayError(Exception):
    """Root of all gateway errors."""

    retriable: bool = False


class ConfigError(GatewayError):
    """A configuration file or value is invalid; the message names what and where."""


class InputError(GatewayError):
    """A raw quote could not be converted; ``raw`` keeps the offending input."""

    def __init__(self, message: str, *, raw: bytes = b"", instrument: str = "") -> None:
        super().__init__(message)
        self.raw = raw
        self.instrument = instrument


class MalformedInputError(InputError):
    """Input is not parseable: invalid JSON, wrong shape or a missing field."""


class BadValueError(InputError):
    """A numeric field is not a finite decimal number that can be represented."""


class UnknownInstrumentError(InputError):
    """The instrument is not of the form ``AAA_BBB`` or has no known pip size."""


class SourceError(GatewayError):
    """A collector could not read from its source."""

    retriable = True


class ProviderHttpError(SourceError):
    """A provider answered with an HTTP error; the message names the source, the status and the provider's text.

    ``retry_after_s`` is the provider's ``Retry-After`` in seconds (None when absent or unreadable).
    """

    def __init__(self, message: str, *, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def refused_credentials(self) -> bool:
        """401 or 403: the token (or key) was refused."""
        return self.status in (401, 403)

    @property
    def refused_request(self) -> bool:
        """400 or 404: the request itself (instrument, account) was refused; the same request fails again."""
        return self.status in (400, 404)


class ProviderRefusalError(SourceError):
    """A provider's answer is a refusal in words, whatever its HTTP status (many answer 200 with an error page).

    ``kind`` names the refusal for status and metrics: ``unauthorized`` (key refused), ``rate_limited``,
    ``rejected`` (the request itself is refused), ``blocked`` (a CDN or bot wall). ``retry_after_s`` is the
    provider's hint when it gives one.
    """

    def __init__(self, message: str, *, kind: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_s = retry_after_s


class ResponseTooLargeError(SourceError):
    """A provider's body grew past ``limit_bytes`` (after decompression); the rest was not read."""

    def __init__(self, message: str, *, limit_bytes: int) -> None:
        super().__init__(message)
        self.limit_bytes = limit_bytes


class NatsUnavailableError(GatewayError):
    """The first connection to NATS failed within its timeout."""

    retriable = True


class NatsServerError(GatewayError):
    """nats-server could not be found or did not start."""


class ChildStartError(GatewayError):
    """A child process did not print its ready line: it timed out or exited; the message holds its output."""


class HttpBindError(GatewayError):
    """The HTTP endpoint cannot listen on the configured address (port in use, unknown host, no permission)."""


class ReplayError(GatewayError):
    """Kafka or NATS could not be reached, or stopped answering, during a replay."""

    retriable = True


class RegistryUnavailableError(GatewayError):
    """The Central Hub cannot reach its JetStream bucket (central_hub.store); the hub answers 503."""

    retriable = True


class SpoolError(GatewayError):
    """The spool directory cannot be used; ``directory`` names it."""

    def __init__(self, message: str, *, directory: Path) -> None:
        super().__init__(message)
        self.directory = directory


class SpoolFullError(SpoolError):
    """Appending would exceed ``max_bytes`` of unacknowledged records; nothing of the batch was stored."""

    retriable = True


class SpoolWriteError(SpoolError):
    """The disk refused a write, fsync or file creation; nothing of the batch was stored."""

    retriable = True


class DamagedRecordError(GatewayError):
    """A spool record read back is out of sequence or does not decode; raised and caught inside the spool's readers.

    (Damage found when a segment is scanned is not raised: the scan skips it and says what it cost.)
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
