"""collectors.oanda.collector and its config, without a network: the token, error texts, the line limit."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from pydantic import ValidationError

from collectors.oanda import collector as collector_module
from collectors.oanda.collector import OandaCollector
from collectors.oanda.config import MAX_LINE_BYTES_CEILING, MIN_LINE_BYTES, OandaConfig
from collectors.oanda.framing import MAX_LINE_BYTES
from gateway import secrets
from gateway.errors import ConfigError, SourceError
from gateway.events import BadInput, Quote
from tests.support import RecordingSink

TOKEN = "tok-3f9c2e71d8b54a06"
TOKEN_ENV = "FXGW_TEST_OANDA_TOKEN"
ACCOUNT = "101-004-1234567-001"
PRICE = (
    b'{"type":"PRICE","time":"2016-10-27T08:38:45.664613867Z","bids":[{"price":"1.09177","liquidity":10000000}],'
    b'"asks":[{"price":"1.09188","liquidity":10000000}],"instrument":"EUR_USD"}'
)


@pytest.fixture(autouse=True)
def forget_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_forms", set())


def config(**overrides: Any) -> OandaConfig:
    fields: dict[str, Any] = {
        "id": "oanda-unit",
        "account_id": ACCOUNT,
        "token_env": TOKEN_ENV,
        "rest_url": "http://127.0.0.1:9",
        "stream_url": "http://127.0.0.1:9",
    }
    return OandaConfig(**(fields | overrides))


@pytest.mark.parametrize("raw", [TOKEN + "\r\n", TOKEN + "\n", f"  {TOKEN}\t"], ids=["crlf", "lf", "blanks"])
def test_a_token_from_a_crlf_file_is_stripped_and_redacted_from_then_on(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv(TOKEN_ENV, raw)

    collector = OandaCollector(config(), RecordingSink())

    assert collector._token == TOKEN
    assert secrets.redact(f"Authorization: Bearer {TOKEN}") == "Authorization: Bearer ***"


@pytest.mark.parametrize("raw", ["", " \r\n"], ids=["empty", "only_a_line_end"])
def test_a_blank_token_is_a_config_error_naming_the_key(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(TOKEN_ENV, raw)
    with pytest.raises(ConfigError, match=rf"brokers\[oanda-unit\]\.token_env: environment variable {TOKEN_ENV}"):
        OandaCollector(config(), RecordingSink())


def test_an_account_id_from_a_crlf_file_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv("FXGW_TEST_OANDA_ACCOUNT", ACCOUNT + "\r\n")

    collector = OandaCollector(config(account_id=None, account_id_env="FXGW_TEST_OANDA_ACCOUNT"), RecordingSink())

    assert collector.account_id == ACCOUNT
    assert secrets.redact(ACCOUNT) == ACCOUNT  # an account id is named in errors: it is no secret


class _FailingAccount:
    def instruments(self, account_id: str) -> None:
        # What requests says of a header value it refuses (a token with its CRLF), and more of the request.
        raise requests.exceptions.InvalidHeader(
            "Invalid leading whitespace, reserved character(s), or return character(s) in header value: "
            f"'Bearer {TOKEN}\\r\\n' (request headers: {{'Authorization': 'Bearer {TOKEN}'}})" + " padding" * 500
        )


class _FailingContext:
    account = _FailingAccount()


async def test_a_v20_error_quoting_the_authorization_header_is_redacted_and_clipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setattr(collector_module, "_rest_context", lambda *args: _FailingContext())
    collector = OandaCollector(config(), RecordingSink())

    with pytest.raises(SourceError) as caught:
        await collector._check_instruments()

    text = str(caught.value)
    assert TOKEN not in text and "Bearer ***" in text
    assert text.startswith("oanda-unit: instruments request to http://127.0.0.1:9 failed: InvalidHeader(")
    assert len(text) < 1200 and "[cut:" in text


def test_max_line_bytes_defaults_to_64_kib_and_is_bounded() -> None:
    assert config().max_line_bytes == MAX_LINE_BYTES == 64 * 1024
    assert config(max_line_bytes=MIN_LINE_BYTES).max_line_bytes == MIN_LINE_BYTES
    for wrong in (MIN_LINE_BYTES - 1, MAX_LINE_BYTES_CEILING + 1, 0, -1):
        with pytest.raises(ValidationError, match="max_line_bytes"):
            config(max_line_bytes=wrong)


def test_the_streams_framing_uses_the_configured_line_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    framing = OandaCollector(config(max_line_bytes=MIN_LINE_BYTES), RecordingSink()).new_framing()

    events, prices, _, malformed = framing.feed(PRICE + b" " * MIN_LINE_BYTES + b"\n" + PRICE + b"\n", 1)

    assert (prices, malformed) == (1, 1)
    rejection, quote = events
    assert isinstance(rejection, BadInput) and f"max_line_bytes ({MIN_LINE_BYTES:,})" in rejection.detail
    assert isinstance(quote, Quote)
