"""The compiled hot path (gateway.compiled, setup.py): built whole or not at all, never stale, and the pure fallback.

The rest of the suite runs against whatever the install built (CI: compiled, then the unit tests again after
``FXGW_PURE=1 pip install -e .``); these tests check the build itself.
"""

from __future__ import annotations

import runpy
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from gateway.compiled import HOT_PATH_MODULES, compiled_modules, is_compiled, main, stale_modules

ROOT = Path(__file__).resolve().parents[2]


def load_setup() -> dict[str, Any]:
    """setup.py's functions, without running setup()."""
    return runpy.run_path(str(ROOT / "setup.py"), run_name="fxgw_setup")


def test_the_hot_path_is_compiled_whole_or_not_at_all() -> None:
    # compiled modules share one mypyc runtime and call each other natively: a partial build is a broken one
    assert compiled_modules() in ([], list(HOT_PATH_MODULES))


def test_no_compiled_module_runs_an_older_source() -> None:
    assert stale_modules() == [], "a source changed after the build: run pip install -e . again (or FXGW_PURE=1)"


def test_a_pure_module_is_told_from_a_compiled_one() -> None:
    assert not is_compiled("gateway.compiled")  # never compiled: setup.py runs it before anything is built
    assert not is_compiled("collectors.oanda.messages")  # kept pure: msgspec reads its Structs' field types


def test_the_check_command_fails_when_the_build_is_not_as_expected(capsys: pytest.CaptureFixture[str]) -> None:
    state, other = ("compiled", "pure") if compiled_modules() else ("pure", "compiled")
    assert main(["--expect", state]) == 0
    assert main(["--expect", other]) == 1
    errors = capsys.readouterr().err
    assert all(f"{module}: expected {other}" in errors for module in HOT_PATH_MODULES)


def test_every_listed_module_is_a_source_file_setup_can_compile() -> None:
    for module in HOT_PATH_MODULES:
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module
    assert load_setup()["HOT_PATH_MODULES"] == HOT_PATH_MODULES


def test_no_compiler_or_pure_env_builds_nothing_and_removes_earlier_extensions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = load_setup()
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    left = [tmp_path / (HOT_PATH_MODULES[0].replace(".", "/") + suffix), tmp_path / f"fxgw_hotpath__mypyc{suffix}"]
    kept = tmp_path / "gateway" / "prices.py"
    for path in [*left, kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")

    monkeypatch.delenv("FXGW_PURE", raising=False)
    monkeypatch.setenv("CC", "/nonexistent/fxgw-test-cc")
    assert not setup["compiler_present"]()
    assert setup["hot_path_extensions"](tmp_path) == []
    assert not any(path.exists() for path in left)
    assert kept.exists()

    monkeypatch.delenv("CC")
    monkeypatch.setenv("FXGW_PURE", "1")
    left[0].write_bytes(b"")
    assert setup["hot_path_extensions"](tmp_path) == []
    assert not left[0].exists()
