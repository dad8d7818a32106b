"""Exceptions raised by the gateway.

Every error the gateway raises derives from :class:`GatewayError`; third-party
exceptions are translated at the boundary and chained with ``from``::

    GatewayError
    ├── ConfigError              bad or missing configuration (names file, key, value)
    ├── InputError               one raw quote could not be turned into a Quote
    │   ├── MalformedInputError      not parseable at all (bad JSON, missing field)
    │   ├── BadValueError            a price or size that is not a valid number
    │   └── UnknownInstrumentError   instrument name or pip size unknown
    ├── SourceError              a collector failed to produce data (retriable)
    ├── PublishError             a message could not be handed to NATS (retriable)
    ├── ReplayError              a replay lost Kafka or NATS (gateway.kafka_replay)
    └── SpoolError               the Kafka spool's directory is in use, unreadable or of another format
        ├── SpoolFullError           the spool holds its max_bytes of undelivered records (retriable)
        └── SpoolWriteError          the disk refused a write (retriable)

``retriable`` says whether trying the same operation again later can succeed.
"""

from __future__ import annotations


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


class PublishError(GatewayError):
    """A message could not be handed to NATS (disconnected, buffer full)."""

    retriable = True
