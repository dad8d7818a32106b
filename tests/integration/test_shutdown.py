"""Stopping the gateway as a person does: Ctrl-C in a terminal (SIGINT to the whole process group), twice, SIGTERM.

Every shutdown after a signal is clean (exit 0, no traceback), also when NATS is already gone or the disk under
the spool is full; a second signal cuts the shutdown short at once and quietly (exit 130).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import pytest

from gateway.app import Gateway
from gateway.config import parse_config
from gateway.kafka import spool as spool_module
from gateway.nats_server import NatsServer
from tests.support import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


def start(*args: str) -> subprocess.Popen[str]:
    """``fxgw ARGS`` as the leader of a process group of its own, as a terminal starts a foreground job."""
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        start_new_session=True,
    )


def wait_for_line(process: subprocess.Popen[str], text: str, timeout_s: float = 30) -> list[str]:
    """Read stderr lines until one contains ``text``; returns the lines read."""
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never appeared: {''.join(lines)}")


def ctrl_c(process: subprocess.Popen[str]) -> None:
    """What a terminal does on Ctrl-C: SIGINT to every process of the foreground group."""
    os.killpg(process.pid, signal.SIGINT)


def finish(process: subprocess.Popen[str], timeout_s: float = 30) -> tuple[int, str]:
    _, rest = process.communicate(timeout=timeout_s)
    return process.returncode, rest


def test_ctrl_c_on_the_demo_drains_and_exits_0_without_a_traceback() -> None:
    demo = start("demo", "--rate", "50", "--replay-data", "/nonexistent")
    seen = wait_for_line(demo, "/health and /metrics on")
    seen += wait_for_line(demo, "sim-primary")  # the first status line: ticks are flowing
    ctrl_c(demo)
    code, rest = finish(demo)
    output = "".join(seen) + rest
    assert code == 0, output
    assert "Traceback" not in output and "Error" not in output
    assert "gateway fxgw-demo stopped" in output
    assert "NATS drain did not finish" not in output  # its nats-server outlived the drain


def test_a_second_ctrl_c_exits_at_once_and_quietly() -> None:
    demo = start("demo", "--rate", "50", "--replay-data", "/nonexistent")
    seen = wait_for_line(demo, "/health and /metrics on")
    ctrl_c(demo)
    ctrl_c(demo)
    began = time.monotonic()
    code, rest = finish(demo, timeout_s=15)
    output = "".join(seen) + rest
    assert code in (0, 130), output
    assert "Traceback" not in output
    assert time.monotonic() - began < 10


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_cleanly_when_nats_is_already_gone(tmp_path: Path, signum: signal.Signals) -> None:
    with NatsServer() as server:
        config = tmp_path / "gw.yaml"
        config.write_text(
            f"nats: {{url: '{server.url}', reconnect_wait_ms: 50}}\nhttp: {{port: 0}}\n"
            "brokers: [{id: a, kind: simulated, ticks_per_second: 200}]\n"
        )
        gateway = start("run", "--config", str(config))
        seen = wait_for_line(gateway, "/health and /metrics on")
        server.stop()
        wait_for_line(gateway, "NATS disconnected")
        os.killpg(gateway.pid, signum)
        code, rest = finish(gateway)
    output = "".join(seen) + rest
    assert code == 0, output
    assert "Traceback" not in output
    assert "gateway fxgw stopped" in output


async def test_a_full_disk_under_the_spool_is_counted_and_the_gateway_still_stops_cleanly(
    nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every write, rename and sync of the spool fails with ENOSPC mid-run, as on a full disk."""
    config = parse_config(
        {
            "http": {"port": 0},
            "nats": {"url": nats_url},
            "brokers": [{"id": "sim", "kind": "simulated", "ticks_per_second": 300}],
            "kafka": {"enabled": True, "bootstrap_servers": "127.0.0.1:9", "spool": {"dir": str(tmp_path / "spool")}},
        }
    )
    gateway = Gateway(config)
    await gateway.start()
    await wait_until(lambda: gateway.snapshot().nats.ticks > 0, "ticks on NATS")

    def disk_full(*_args: object, **_kwargs: object) -> NoReturn:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    for name in ("write", "replace", "fsync", "ftruncate"):
        monkeypatch.setattr(spool_module.os, name, disk_full)
    monkeypatch.setattr(spool_module, "_fdatasync", disk_full)
    await wait_until(lambda: gateway.snapshot().kafka.records_dropped > 0, "the Kafka copy to refuse records")  # type: ignore[union-attr]
    kafka = gateway.snapshot().kafka
    await gateway.stop()  # must not raise: what the spool holds stays for the next start
    assert kafka is not None and kafka.records_dropped > 0
    assert "No space left on device" in kafka.last_spool_error
    assert gateway.snapshot().nats.ticks > 0  # NATS kept publishing while the disk refused the Kafka copy
