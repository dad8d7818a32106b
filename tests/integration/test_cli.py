"""The fxgw command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from gateway.nats_server import NatsServer
from gateway.schema.market.v1.market_pb2 import ExternalData
from tests.support import fxgw

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_check_config_accepts_the_example_brokers_yaml() -> None:
    result = fxgw("check-config", "brokers.yaml")
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and "oanda-practice: oanda, priority 20, disabled" in result.stdout


def test_check_config_shows_the_central_hub_without_credentials(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        "brokers: [{id: a, kind: simulated}]\n"
        "central_hub: {enabled: true, url: 'http://ops:hub-secret@hub-1:7000', heartbeat_interval_s: 5}\n"
    )
    result = fxgw("check-config", str(config))
    assert result.returncode == 0, result.stderr
    assert "  central hub http://***@hub-1:7000, heartbeat every 5 s" in result.stdout
    assert "hub-secret" not in result.stdout


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("brokers:\n  - {id: a, kind: simulated, ticks_per_second: fast}\n", "brokers[0].ticks_per_second: 'fast'"),
        (
            "nats: {urll: x}\nbrokers: [{id: a, kind: simulated}]\n",
            "nats.urll: unknown key; allowed keys: connect_timeout_s",
        ),
        ("brokers:\n  - {id: a, kind: fix}\n", "'fix' is not a known kind; allowed: oanda, simulated, recorded"),
        ("brokers: [\n", "not valid YAML"),
    ],
    ids=["bad-value", "unknown-key", "unknown-kind", "yaml-syntax"],
)
def test_check_config_names_file_key_value_and_exits_2(tmp_path: Path, yaml_text: str, expected: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    result = fxgw("check-config", str(config))
    assert result.returncode == 2
    assert str(config) in result.stderr and expected in result.stderr


def test_run_with_unreachable_nats_fails_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        "nats: {url: 'nats://127.0.0.1:1', connect_timeout_s: 1}\n"
        "http: {port: 0}\nbrokers: [{id: a, kind: simulated}]\n"
    )
    result = fxgw("run", "--config", str(config))
    assert result.returncode == 1
    assert "cannot connect to NATS at nats://127.0.0.1:1" in result.stderr


def test_tail_with_unreachable_nats_fails_with_a_clear_message() -> None:
    result = fxgw("tail", "market.>", "--url", "nats://127.0.0.1:1")
    assert result.returncode == 1
    assert "cannot connect to NATS at nats://127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_names_a_missing_token_variable(tmp_path: Path, nats_url: str) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        f"nats: {{url: '{nats_url}'}}\nhttp: {{port: 0}}\n"
        "brokers: [{id: o, kind: oanda, account_id: 101-004-1-001, token_env: FXGW_TEST_UNSET_TOKEN}]\n"
    )
    result = fxgw("run", "--config", str(config))
    assert result.returncode == 2
    assert "brokers[o].token_env: environment variable FXGW_TEST_UNSET_TOKEN is not set" in result.stderr


def test_demo_runs_prints_how_to_subscribe_and_stops_cleanly(shared_data: Path) -> None:
    result = fxgw("demo", "--duration", "3", "--rate", "100", "--replay-data", str(shared_data / "oanda-eurusd-ticks"))
    assert result.returncode == 0, result.stderr
    url = re.search(r"NATS is at (nats://127\.0\.0\.1:\d+)", result.stderr)
    assert url and f"fxgw tail 'market.>' --url {url[1]}" in result.stderr
    status = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert status and "sim-primary" in status[-1] and "recorded-eurusd" in status[-1] and "EUR_USD" in status[-1]
    assert re.search(r"sessions [1-9]\d* items", status[-1]), status[-1]
    assert "gateway fxgw-demo stopped" in result.stderr
    assert re.search(r"Central Hub: http://127\.0\.0\.1:\d+", result.stderr)
    assert "gateway fxgw-demo: registered with the central hub" in result.stderr
    assert "gateway fxgw-demo: deregistered from the central hub" in result.stderr


def test_check_config_lists_external_collectors_and_their_keys(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        "external:\n"
        "  - {id: fred, kind: fred, series: [GDP], api_key_env: FXGW_TEST_UNSET_FRED_KEY}\n"
        "  - {id: sessions, kind: market_sessions, enabled: false}\n"
    )
    result = fxgw("check-config", str(config))
    assert result.returncode == 0, result.stderr
    assert f"external collectors (state in {tmp_path / 'state'}):" in result.stdout
    assert "  fred: fred, enabled, keys from FXGW_TEST_UNSET_FRED_KEY" in result.stdout
    assert "    note: environment variable FXGW_TEST_UNSET_FRED_KEY is not set here" in result.stdout
    assert "  sessions: market_sessions, disabled, no key" in result.stdout


def test_run_refuses_to_start_when_an_external_key_is_not_set(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("external: [{id: fred, kind: fred, series: [GDP], api_key_env: FXGW_TEST_UNSET_FRED_KEY}]\n")
    result = fxgw("run", "--config", str(config))
    assert result.returncode == 2
    assert "external fred: environment variable FXGW_TEST_UNSET_FRED_KEY is not set" in result.stderr


def test_a_config_with_everything_disabled_checks_but_does_not_run(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("http: {port: 0}\nbrokers: [{id: a, kind: simulated, enabled: false}]\n")
    assert fxgw("check-config", str(config)).returncode == 0
    result = fxgw("run", "--config", str(config))
    assert result.returncode == 2
    assert "every broker and external collector is disabled: nothing to collect" in result.stderr
    assert "Traceback" not in result.stderr


async def test_tail_prints_external_data_readably(tmp_path: Path, nats_server: NatsServer) -> None:
    """market_sessions publishes its state once, at start: the gateway starts once tail has shown a probe."""
    config = tmp_path / "gw.yaml"
    config.write_text(
        f"nats: {{url: '{nats_server.url}'}}\nhttp: {{port: 0}}\nexternal: [{{id: sessions, kind: market_sessions}}]\n"
    )
    tail = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "gateway.cli", "tail", "market.external.>", "--url", nats_server.url),
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert tail.stdout is not None
    probe = ExternalData(type="probe", source="probe", item_id="probe").SerializeToString()
    client = await nats.connect(nats_server.url)
    try:
        async with asyncio.timeout(30):
            first = asyncio.ensure_future(tail.stdout.readline())
            while not first.done():
                await client.publish("market.external.probe", probe)
                await asyncio.wait([first], timeout=0.2)
            gateway = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "gateway.cli", "run", "--config", str(config)),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                cwd=REPO_ROOT,
            )
            lines: list[str] = []
            while len(lines) < 5:
                line = (await tail.stdout.readline()).decode()
                if not line.startswith("market.external.probe "):  # probes still in flight
                    lines.append(line)
            gateway.terminate()
            tail.terminate()
            assert await gateway.wait() == 0 and await tail.wait() == 0
    finally:
        await client.drain()
    assert first.result().startswith(b"market.external.probe probe probe probe ")
    assert all(line.startswith("market.external.market_sessions market_sessions sessions ") for line in lines)
    assert all(" CURRENT r1 seq=" in line and "| name: " in line for line in lines)
    assert (tmp_path / "state" / "sessions.json").is_file()


def test_tail_prints_decoded_ticks(tmp_path: Path, nats_server: NatsServer) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        f"nats: {{url: '{nats_server.url}'}}\nhttp: {{port: 0}}\n"
        "brokers: [{id: sim, kind: simulated, ticks_per_second: 200, instruments: [USD_JPY]}]\n"
    )
    gateway = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO_ROOT,
    )
    try:
        result = fxgw("tail", "market.sim.ticks", "--url", nats_server.url, "--count", "3", timeout_s=30)
    finally:
        gateway.terminate()
        assert gateway.wait(timeout=10) == 0
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(
        re.match(r"market\.sim\.ticks batch \d+ USD_JPY \d+\.\d{3}\d*/\d+\.\d+ seq=\d+ event=", line) for line in lines
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            ["--spool", "{tmp}/nothing"], "--spool '{tmp}/nothing': not a readable gateway spool", id="not_a_spool"
        ),
        pytest.param(
            ["--spool", "{tmp}", "--bootstrap", "127.0.0.1:9"],
            "give --spool or --bootstrap, not both",
            id="both_sources",
        ),
    ],
)
def test_replay_from_a_spool_explains_a_wrong_source(tmp_path: Path, options: list[str], message: str) -> None:
    result = fxgw("replay", "--since", "-1h", *[option.format(tmp=tmp_path) for option in options])
    assert result.returncode == 2
    assert message.format(tmp=tmp_path) in result.stderr


def test_a_started_gateway_freezes_its_start_and_collects_generation_0_less_often(
    tmp_path: Path, nats_url: str
) -> None:
    """``fxgw run``'s own coroutine, started and stopped in a fresh interpreter, then the collector's settings."""
    config = tmp_path / "gw.yaml"
    config.write_text("http: {enabled: false}\nbrokers: [{id: a, kind: simulated, ticks_per_second: 200}]\n")
    code = (
        "import asyncio, gc, sys\n"
        "from pathlib import Path\n"
        "from gateway.cli import _run_gateway\n"
        "from gateway.config import load_config\n"
        "before = gc.get_threshold()\n"
        f"asyncio.run(_run_gateway(load_config(Path(sys.argv[1])), {nats_url!r}, show_status=False, duration_s=0.01))\n"
        "print(before[0], gc.get_threshold()[0], gc.get_freeze_count())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(config)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    default, tuned, frozen = map(int, result.stdout.split())
    assert (default, tuned) == (700, 20_000)
    assert frozen > 10_000  # modules, classes, config, collectors: what the start built
