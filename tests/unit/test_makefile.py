"""The Makefile runs with the project's .venv when there is one, else with the active interpreter (README install)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def dry_run(target: str, *variables: str) -> str:
    result = subprocess.run(
        ["make", "-n", "-C", str(REPO_ROOT), target, *variables], capture_output=True, text=True, timeout=30, check=True
    )
    return result.stdout


@pytest.mark.parametrize("target", ["proto", "test", "check", "bench-e2e", "demo"])
def test_without_a_venv_the_active_interpreter_runs_the_target(target: str, tmp_path: Path) -> None:
    commands = dry_run(target, f"VENV={tmp_path / 'no-venv'}", "PYTHON=/opt/active/bin/python")
    assert "/opt/active/bin/python -m" in commands or "/opt/active/bin/python scripts/" in commands
    assert "no-venv" not in commands


def test_with_a_venv_its_python_runs_the_target(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    commands = dry_run("proto", f"VENV={venv}", "PYTHON=/opt/active/bin/python")
    assert f"{venv}/bin/python -m grpc_tools.protoc" in commands
