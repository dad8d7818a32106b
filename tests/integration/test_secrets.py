"""Credentials against a real nats-server that requires them: given without the config file, never shown."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from gateway import secrets
from gateway.app import Gateway
from gateway.config import parse_config
from gateway.errors import NatsUnavailableError
from gateway.nats_server import NatsServer
from gateway.ops.activity import RecentActivity
from gateway.ops.health import assess

USER, PASSWORD = "fxgw-user", "pw-Ab3$xyz"


@pytest.fixture
def auth_server() -> Iterator[NatsServer]:
    with NatsServer(extra_args=("--user", USER, "--pass", PASSWORD)) as server:
        yield server


@pytest.fixture(autouse=True)
def forget_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_forms", set())


def config(url: str, **nats: Any) -> dict[str, Any]:
    return {
        "http": {"enabled": False},
        "nats": {"url": url, **nats},
        "brokers": [{"id": "sim", "kind": "simulated", "ticks_per_second": 50}],
    }


async def test_credentials_from_the_environment_connect_and_are_never_logged(
    auth_server: NatsServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FXGW_NATS_USER", USER)
    monkeypatch.setenv("FXGW_NATS_PASSWORD", PASSWORD + "\r\n")  # a CRLF file's line end
    caplog.handler.addFilter(secrets.RedactingFilter())
    caplog.set_level(logging.DEBUG)
    gateway = Gateway(
        parse_config(config(auth_server.url, user_env="FXGW_NATS_USER", password_env="FXGW_NATS_PASSWORD"))
    )
    await gateway.start()
    try:
        assert gateway.nats_connected
    finally:
        await gateway.stop()
    assert PASSWORD not in caplog.text


async def test_a_url_with_credentials_is_shown_without_them_in_logs_and_health(
    auth_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = auth_server.url.replace("nats://", f"nats://{USER}:{PASSWORD}@")
    caplog.handler.addFilter(secrets.RedactingFilter())
    caplog.set_level(logging.DEBUG)
    gateway = Gateway(parse_config(config(url)))
    await gateway.start()
    try:
        document = assess(gateway.snapshot(), RecentActivity()).document
    finally:
        await gateway.stop()
    assert document["nats"]["url"] == auth_server.url.replace("nats://", "nats://***@")
    assert PASSWORD not in caplog.text and PASSWORD not in str(document)


async def test_a_refused_password_is_an_error_that_does_not_show_it(auth_server: NatsServer) -> None:
    url = auth_server.url.replace("nats://", f"nats://{USER}:wrong-{PASSWORD}@")
    gateway = Gateway(parse_config(config(url, connect_timeout_s=2)))
    with pytest.raises(NatsUnavailableError) as caught:
        await gateway.start()
    assert PASSWORD not in str(caught.value)
    assert "nats://***@127.0.0.1" in str(caught.value)
