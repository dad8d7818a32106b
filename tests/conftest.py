"""Fixtures shared by all test tiers: recorded data from ../shared and a real nats-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.nats_server import NatsServer

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The recorded market data beside the repository (../shared/data).

    Skips only where ../shared itself is absent (a user's checkout); CI always has it.
    """
    if not SHARED_DATA.parent.is_dir():
        pytest.skip(f"recorded data not available: {SHARED_DATA.parent} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    """One real nats-server on a free loopback port for the whole session."""
    with NatsServer() as server:
        yield server


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url
