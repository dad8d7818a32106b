"""gateway.kafka.replay.request: a request is checked when built."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.kafka.replay.request import ReplayRequest, check_bootstrap_servers
from tests.unit.test_wire import T0


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"the window is empty: since 2026-11-21T10:00:00\.000000000Z is not before"):
        ReplayRequest(since_ns=T0, until_ns=T0, bootstrap_servers="127.0.0.1:9092")


@pytest.mark.parametrize("speed", [1e-300, 0.0009, 0.0, -1.0, 1_000_001.0, 1e300, float("inf"), float("nan")])
def test_a_speed_outside_the_sane_range_is_refused(speed: float) -> None:
    with pytest.raises(ConfigError, match=r"^speed .* is out of range: 0\.001 to 1,000,000 times the original pace"):
        ReplayRequest(since_ns=T0, until_ns=T0 + 1, bootstrap_servers="127.0.0.1:9092", speed=speed)


@pytest.mark.parametrize("speed", [0.001, 1.0, 1_000_000.0, None])
def test_speeds_from_a_thousandth_to_a_million_and_max_are_taken(speed: float | None) -> None:
    assert ReplayRequest(since_ns=T0, until_ns=T0 + 1, bootstrap_servers="k:1", speed=speed).speed == speed


@pytest.mark.parametrize("timeout_s", [0.0, 0.09, -1.0, 3601.0, float("inf"), float("nan")])
def test_a_timeout_outside_the_sane_range_is_refused(timeout_s: float) -> None:
    with pytest.raises(ConfigError, match=r"^timeout .* s is out of range: 0\.1 to 3600 s$"):
        ReplayRequest(since_ns=T0, until_ns=T0 + 1, bootstrap_servers="127.0.0.1:9092", timeout_s=timeout_s)


@pytest.mark.parametrize(
    "servers",
    ["kafka:9092", "127.0.0.1:1", "a.b-c_d:65535", "[::1]:9092", "[fe80::1]:19092,kafka-2:9093", "k:1,k:2,k:3"],
)
def test_bootstrap_servers_are_host_port_lists(servers: str) -> None:
    assert check_bootstrap_servers(servers) == servers


@pytest.mark.parametrize(
    ("servers", "named"),
    [
        ("kafka", "'kafka'"),
        (":9092", "':9092'"),
        ("a:b:c", "'a:b:c'"),
        ("host:99999", "'host:99999'"),
        ("host:0", "'host:0'"),
        ("host:+1", "'host:+1'"),
        ("", "''"),
        ("kafka:9092,", "'' in 'kafka:9092,'"),
        ("::1:9092", "'::1:9092'"),
        ("[::g]:9092", "'[::g]:9092'"),
        ("[1.2.3.4]:9092", "'[1.2.3.4]:9092'"),
        ("kafka :9092", "'kafka :9092'"),
        ("kaf\nka:9092", r"'kaf\nka:9092'"),
        ("k:٩٠٩٢", "'k:٩٠٩٢'"),
    ],
)
def test_a_malformed_bootstrap_address_is_a_config_error_naming_it(servers: str, named: str) -> None:
    with pytest.raises(ConfigError, match=r"^Kafka bootstrap servers: (.*) is not HOST:PORT") as caught:
        ReplayRequest(since_ns=T0, until_ns=T0 + 1, bootstrap_servers=servers)
    assert caught.value.args[0].split(": ", 1)[1].startswith(f"{named} is not HOST:PORT")


def test_a_huge_bootstrap_value_is_echoed_cut() -> None:
    with pytest.raises(ConfigError) as caught:
        check_bootstrap_servers("k" * 10_000)
    assert len(str(caught.value)) < 300 and "[10,000 characters in all]" in str(caught.value)


def test_a_spool_replay_does_not_need_bootstrap_servers(tmp_path: Path) -> None:
    assert ReplayRequest(since_ns=T0, until_ns=T0 + 1, bootstrap_servers="", spool_dir=tmp_path).spool_dir == tmp_path
