"""What a gateway process loads: numpy (15 MB and OpenBLAS's threads) only where a feature needs it."""

from __future__ import annotations

import subprocess
import sys

import pytest


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return set(result.stdout.split())


def test_a_gateway_and_its_command_line_load_without_numpy() -> None:
    modules = modules_after("import gateway.cli, gateway.app, collectors.registry")
    assert "gateway.app" in modules and "collectors.registry" in modules
    assert "numpy" not in modules
    assert not {module for module in modules if module.startswith("gateway.validation")}


@pytest.mark.parametrize(
    ("code", "module"),
    [
        ("from collectors.registry import COLLECTORS; COLLECTORS['dukascopy']", "collectors.dukascopy.collector"),
        ("from collectors.recorded import read_window", "collectors.recorded"),
    ],
)
def test_collectors_are_imported_when_looked_up_and_numpy_with_the_one_that_needs_it(code: str, module: str) -> None:
    modules = modules_after(code)
    assert module in modules
    assert ("numpy" in modules) == (module == "collectors.dukascopy.collector")
