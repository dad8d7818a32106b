"""Secrets: read from the environment only, and redacted from every text the gateway shows.

Tokens and passwords come from environment variables named in the config
(:func:`environment_secret`), never from the file itself. Each value read is
remembered, and :func:`redact` replaces it, in the forms it may take in a text
(as is, escaped by ``repr``, URL-encoded, base64-encoded, and a URL's user and password
as HTTP basic auth encodes them together), with ``***``.
The CLI installs :class:`RedactingFilter` on the root logger's handlers, so no
log line can carry one however it was formatted; errors shown on /health,
SourceStatus details and rejections go through :func:`redact` as well.
URLs are shown with their user and password removed (:func:`display_url`).
"""

from __future__ import annotations

import base64
import logging
import os
from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

from gateway.errors import ConfigError

ENV_NAME_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
"""What the name of an environment variable holding a secret must look like (every config key ``*_env``)."""
MASK: Final = "***"
MIN_SECRET_CHARS: Final = 4
"""Shorter values are not redacted as text (they would mask ordinary words); no real token is that short."""

_forms: set[str] = set()


def remember(secret: str) -> str:
    """Redact ``secret`` from now on; returns it."""
    if len(secret) >= MIN_SECRET_CHARS:
        _forms.update({secret, repr(secret)[1:-1], quote(secret, safe=""), base64.b64encode(secret.encode()).decode()})
    return secret


def environment_value(name: str, key: str) -> str:
    """Environment variable ``name``, surrounding whitespace removed (a CRLF file's ``\\r``).

    ``key`` is the config key that names the variable, for the error: ConfigError when it is unset or blank.
    """
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{key}: environment variable {name} is not set or empty")
    return value


def environment_secret(name: str, key: str) -> str:
    """:func:`environment_value`, remembered as a secret (redacted from every text from now on)."""
    return remember(environment_value(name, key))


def redact(text: str) -> str:
    """``text`` with every remembered secret, in every form it is remembered in, replaced by ``***``."""
    if not _forms or not text:
        return text
    for form in sorted(_forms, key=len, reverse=True):
        if form in text:
            text = text.replace(form, MASK)
    return text


def display_url(url: str) -> str:
    """``url`` without credentials (``nats://user:secret@host`` -> ``nats://***@host``), for logs and errors."""
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed (an unclosed "["): whatever precedes the last "@" is masked
        scheme, separator, rest = url.partition("://")
        return f"{scheme}{separator}{MASK}@{rest.rsplit('@', 1)[1]}" if "@" in rest else url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"{MASK}@{host}", parts.path, parts.query, parts.fragment))


def remember_url_credentials(url: str) -> str:
    """Remember the user and password of ``url`` (``scheme://user:password@host``) as secrets; returns ``url``."""
    parts = urlsplit(url)
    for credential in (parts.password, parts.username if parts.password is None else None):
        if credential:
            remember(credential)
    if parts.username and parts.password and len(parts.password) >= MIN_SECRET_CHARS:
        _forms.add(base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode())  # HTTP basic auth
    return url


class RedactingFilter(logging.Filter):
    """Replaces remembered secrets in a log record's message, arguments and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _forms:
            return True
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add :class:`RedactingFilter` to every handler of ``logger`` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(RedactingFilter())
