"""The hot path compiled to C: which modules setup.py builds with mypyc, and which of them this process runs compiled.

Every tick passes through these modules (times and prices read, gate, aggregate, encode, batch, the pipeline's
submit loop). Compiled with mypyc, the gate takes a quarter and the best-price update about half of their
pure-Python time (README, "Development") and an OANDA time is read in 230 instead of 400 ns; JSON decoding
(msgspec), asyncio and nats-py stay as they are. mypyc keeps the Python source as it is: the same files run as pure
Python when no C compiler was found at install time or ``FXGW_PURE=1`` was set, and the tests pass either way.

A module is listed here only if mypyc accepts it and the whole test suite passes compiled:

- mypyc checks declared types at run time, so a function that must refuse any value with its own error types
  that parameter ``object`` and narrows it (``gateway.prices.parse_price`` raises BadValueError for a non-string,
  not mypyc's TypeError).
- Classes other libraries introspect live in pure modules: msgspec reads a Struct's field types from its class,
  which a compiled module does not keep, so OANDA's message structs are in ``collectors.oanda.messages`` and
  the conversion that reads them (``collectors.oanda.parsing``) is compiled. ``collectors.oanda.framing``
  compiled gained nothing measurable (5.29 / 5.24 µs per line, pure / compiled, parsing then pure): msgspec does
  the line's decoding in C already.
- mypyc folds a ``Final`` literal tuple into its readers and leaves the module attribute unset, so one that
  module-level code iterates states its type (``gateway.broker_quality.AGE_BUCKETS_S``).
- Dataclasses built per tick: mypyc compiles a dataclass's methods but lets the ``dataclasses`` module generate
  its ``__init__`` at import, as interpreted Python that sets each field through the native class, so building
  one costs more than building a pure-Python dataclass (a ``Quote`` 330 ns against 220 ns). A class built for
  every tick (``Quote``, ``BestQuote``) is therefore declared ``@dataclass(init=False)`` with an ``__init__``
  written out, which mypyc compiles: 150 ns from interpreted code, 50 ns from compiled code.

This module imports nothing of the gateway, so setup.py can read the list before anything is installed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Final

HOT_PATH_MODULES: Final = (
    "gateway.clock",
    "gateway.prices",
    "gateway.events",
    "gateway.quality",
    "gateway.aggregator",
    "gateway.broker_quality",
    "gateway.wire",
    "gateway.cycle",
    "gateway.pipeline",
    "collectors.recorded_parsing",
    "collectors.oanda.parsing",
)
"""Dotted names, in no particular order; setup.py compiles ``<name with / for .>.py`` of each."""

PURE_ENV: Final = "FXGW_PURE"
"""Set to 1 at install time to skip compiling (setup.py): the hot path then runs as pure Python."""


def is_compiled(module: str) -> bool:
    """True when ``module`` was loaded from a C extension (mypyc) rather than its ``.py`` source."""
    origin = getattr(importlib.import_module(module), "__file__", None) or ""
    return not origin.endswith(".py")


def compiled_modules() -> list[str]:
    """The hot-path modules this process runs compiled (imports each of them)."""
    return [module for module in HOT_PATH_MODULES if is_compiled(module)]


def stale_modules() -> list[str]:
    """Compiled hot-path modules whose ``.py`` source changed after the build: they run the old code.

    An in-place build (``pip install -e .``) puts each extension beside its source, and Python imports the
    extension first, so an edit to the source takes effect only after the next install.
    """
    stale = []
    for module in compiled_modules():
        extension = Path(importlib.import_module(module).__file__ or "")
        source = extension.with_name(module.rpartition(".")[2] + ".py")
        if source.exists() and source.stat().st_mtime > extension.stat().st_mtime:
            stale.append(module)
    return stale


def main(argv: list[str] | None = None) -> int:
    """``python -m gateway.compiled [--expect compiled|pure]``: list the hot path's state; 1 when not as expected."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--expect", choices=("compiled", "pure"), help="fail unless every hot-path module is so")
    args = parser.parse_args(argv)
    compiled = set(compiled_modules())
    for module in HOT_PATH_MODULES:
        print(f"{module}: {'compiled (mypyc)' if module in compiled else 'pure Python'}")
    problems = [f"{module}: compiled from an older source; run pip install -e . again" for module in stale_modules()]
    if args.expect == "compiled":
        problems += [f"{module}: expected compiled" for module in HOT_PATH_MODULES if module not in compiled]
    elif args.expect == "pure":
        problems += [f"{module}: expected pure Python" for module in sorted(compiled)]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
