"""``fxgw validate`` end to end, as a user runs it (``python -m gateway.cli`` in a subprocess)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Final

from gateway.validation.plot import PLOT_DPI, PLOT_SIZE_IN
from tests.support import REPO_ROOT, fxgw

DATA: Final = REPO_ROOT.parent / "shared" / "data"
FEB_4: Final = ("--since", "2019-02-04T00:00:00Z", "--until", "2019-02-05T00:00:00Z")


def test_dukascopy_against_itself_prints_the_table_and_writes_the_chart(tmp_path: Path) -> None:
    chart = tmp_path / "chart.png"
    feed = f"dukascopy:{DATA / 'dukascopy'}"

    done = fxgw(
        "validate", "--reference", feed, "--source", feed, "--instrument", "EUR_USD", *FEB_4, "--plot", str(chart)
    )

    assert done.returncode == 0, done.stderr
    assert "lag: +0 ms (aligned; correlation of mid changes 1.000)" in done.stdout
    assert "136,741" in done.stdout and "100.0%" in done.stdout
    assert f"chart written to {str(chart)!r}" in done.stderr
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (PLOT_SIZE_IN[0] * PLOT_DPI, PLOT_SIZE_IN[1] * PLOT_DPI)


def test_recorded_oanda_against_one_of_its_files_as_json() -> None:
    folder = DATA / "oanda-eurusd-ticks"

    done = fxgw(
        "validate",
        "--reference",
        f"recorded:{folder}",
        "--source",
        f"recorded:{folder / '20140505_quote.zip'}",
        "--instrument",
        "EUR_USD",
        "--since",
        "2014-05-05T06:00:00Z",
        "--until",
        "2014-05-05T18:00:00Z",
        "--json",
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["lag_ms"] == 0 and report["difference"]["max"] == 0
    assert report["reference"]["ticks"] == report["source"]["ticks"] > 10_000


def test_a_window_without_ticks_is_one_line_and_exit_2() -> None:
    feed = f"dukascopy:{DATA / 'dukascopy'}"

    done = fxgw(
        "validate", "--reference", feed, "--source", feed, "--instrument", "EUR_USD",
        "--since", "2019-03-04T00:00:00Z", "--until", "2019-03-04T01:00:00Z",
    )  # fmt: skip

    assert done.returncode == 2
    assert done.stderr.count("\n") == 3  # a note per feed of its missing hour, then the error
    assert done.stderr.splitlines()[-1].startswith("fxgw: config error: ")
    assert "no EUR_USD ticks between 2019-03-04T00:00:00" in done.stderr and "Traceback" not in done.stderr
