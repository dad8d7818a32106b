"""gateway.secrets: secrets come from the environment trimmed, and no text shows them, however formatted."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote

import pytest

from gateway import secrets
from gateway.errors import ConfigError
from gateway.secrets import (
    MASK,
    RedactingFilter,
    display_url,
    environment_secret,
    redact,
    remember,
    remember_url_credentials,
)


@pytest.fixture(autouse=True)
def forget_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_forms", set())


@pytest.mark.parametrize("raw", ["tok-123456\r\n", "  tok-123456\t", "tok-123456\r", "\ntok-123456"])
def test_a_token_read_from_the_environment_is_trimmed(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("FXGW_TEST_TOKEN", raw)
    assert environment_secret("FXGW_TEST_TOKEN", "brokers[x].token_env") == "tok-123456"


@pytest.mark.parametrize("raw", [None, "", "   ", "\r\n"])
def test_an_unset_or_blank_secret_is_a_config_error_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, raw: str | None
) -> None:
    if raw is None:
        monkeypatch.delenv("FXGW_TEST_TOKEN", raising=False)
    else:
        monkeypatch.setenv("FXGW_TEST_TOKEN", raw)
    with pytest.raises(
        ConfigError, match=r"^nats\.token_env: environment variable FXGW_TEST_TOKEN is not set or empty$"
    ):
        environment_secret("FXGW_TEST_TOKEN", "nats.token_env")


SECRET = "s3cr3t/t0ken+with=odd chars"


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {SECRET}",
        f"headers={{'Authorization': {('Bearer ' + SECRET)!r}}}",
        f"https://host/path?token={quote(SECRET, safe='')}",
        f"Authorization: Basic {base64.b64encode(SECRET.encode()).decode()}",
        f"{SECRET}{SECRET}",
        f"error: {SECRET!r}",
    ],
)
def test_a_remembered_secret_is_redacted_in_every_form(text: str) -> None:
    remember(SECRET)
    shown = redact(text)
    assert SECRET not in shown and quote(SECRET, safe="") not in shown
    assert base64.b64encode(SECRET.encode()).decode() not in shown
    assert MASK in shown


def test_short_values_are_not_treated_as_secrets() -> None:
    remember("ab")
    assert redact("tab about") == "tab about"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://user:pw@127.0.0.1:4222", "nats://***@127.0.0.1:4222"),
        ("nats://tok-abcdef@nats.example:4222", "nats://***@nats.example:4222"),
        ("tls://a:b@host", "tls://***@host"),
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
    ],
)
def test_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_url_credentials_are_remembered() -> None:
    remember_url_credentials("nats://alice:pa55word@host:4222")
    remember_url_credentials("nats://tokentoken@host:4222")
    assert redact("pa55word tokentoken alice-x") == f"{MASK} {MASK} alice-x"


def test_the_log_filter_redacts_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    remember(SECRET)
    logger = logging.getLogger("fxgw.test.secrets")
    record_filter = RedactingFilter()
    caplog.handler.addFilter(record_filter)
    try:
        logger.warning("token %s and %r", SECRET, {"Authorization": f"Bearer {SECRET}"})
        try:
            raise ValueError(f"refused {SECRET}")
        except ValueError:
            logger.exception("failed")
    finally:
        caplog.handler.removeFilter(record_filter)
    assert SECRET not in caplog.text
    assert caplog.text.count(MASK) >= 3
