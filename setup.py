"""Build hook: compile the hot path (listed in gateway/compiled.py) to C with mypyc when a C compiler is present.

Everything else about the package is in pyproject.toml. Without a C compiler, or with ``FXGW_PURE=1``, no
extension is built and the same modules run as pure Python; extension files an earlier in-place build
(``pip install -e .``) left beside the sources are then removed, so the sources are what runs. A compiler that is
present but fails stops the install with its error (set ``FXGW_PURE=1`` to install without compiling).
"""

from __future__ import annotations

import os
import runpy
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.extension import Extension

ROOT = Path(__file__).resolve().parent
_compiled = runpy.run_path(str(ROOT / "gateway" / "compiled.py"))
HOT_PATH_MODULES: tuple[str, ...] = _compiled["HOT_PATH_MODULES"]
PURE_ENV: str = _compiled["PURE_ENV"]
GROUP_NAME = "fxgw_hotpath"
"""Name of the shared mypyc runtime library (``fxgw_hotpath__mypyc.*.so``) the compiled modules link to."""


def compiler_present() -> bool:
    """The C compiler Python was built with (``CC``, else ``cc``) can be found on PATH."""
    command = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    return bool(command) and shutil.which(command[0]) is not None


def remove_stale_extensions(root: Path) -> list[Path]:
    """Delete the hot-path extensions an earlier in-place build left under ``root``, so the sources are imported."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    candidates = [root / (module.replace(".", "/") + suffix) for module in HOT_PATH_MODULES]
    candidates.append(root / (GROUP_NAME + "__mypyc" + suffix))
    removed = [path for path in candidates if path.exists()]
    for path in removed:
        path.unlink()
        print(f"fxgw: removed {path.relative_to(root)} (pure build)", file=sys.stderr)
    return removed


def hot_path_extensions(root: Path) -> list[Extension]:
    """mypyc extensions of the hot path, or none (pure Python) without a compiler or with FXGW_PURE=1."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        print(f"fxgw: {PURE_ENV} is set; the hot path stays pure Python", file=sys.stderr)
        remove_stale_extensions(root)
        return []
    if not compiler_present():
        print("fxgw: no C compiler found; the hot path stays pure Python", file=sys.stderr)
        remove_stale_extensions(root)
        return []
    from mypyc.build import mypycify  # in [build-system] requires; imported late so a pure build needs no mypy

    paths = [module.replace(".", "/") + ".py" for module in HOT_PATH_MODULES]  # relative: the build runs in ROOT
    extensions: list[Extension] = mypycify(paths, opt_level="3", group_name=GROUP_NAME)
    return extensions


if __name__ == "__main__":  # setuptools runs this file as __main__; tests load its functions only
    setup(ext_modules=hot_path_extensions(ROOT))
