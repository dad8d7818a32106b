"""Hostile ``fxgw validate`` arguments: each ends in a report (exit 0) or one short line and exit 2, no traceback.

Every option that takes a value gets the replay corpus's hostile values (tests.unit.test_cli_hostile) and
feed values of its own, through the real argument parsing (``gateway.cli.main``, in process), on two small
recorded quote folders, so that a valid value produces a report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest

from gateway import cli
from tests.unit.test_cli_hostile import HOSTILE_VALUES

MAX_MESSAGE_CHARS: Final = 300
BASE: Final = {
    "--reference": "recorded:ref",
    "--source": "recorded:src",
    "--instrument": "EUR_USD",
    "--since": "2014-05-05T00:00:00Z",
    "--until": "2014-05-05T01:00:00Z",
}
OPTIONS: Final = (
    *BASE,
    "--grid-ms",
    "--max-lag-ms",
    "--hole-s",
    "--pip",
    "--point-size",
    "--topic",
    "--timeout",
    "--plot",
)
FEED_VALUES: Final = {
    "no_kind": "ref",
    "empty_place": "recorded:",
    "unknown_kind": "http://example.com",
    "missing_directory": "dukascopy:nowhere",
    "dukascopy_file": "dukascopy:ref/20140505_quote.csv",
    "dukascopy_empty_directory": "dukascopy:empty",
    "recorded_without_quote_files": "recorded:empty",
    "recorded_dev_null": "recorded:/dev/null",
    "spool_without_source": "spool:ref",
    "spool_bad_source": "spool:ref#no spaces",
    "spool_not_a_spool": "spool:empty#oanda-a",
    "kafka_bad_address": "kafka:host#a",
    "kafka_port_too_big": "kafka:host:99999#a",
    "nul_in_path": "recorded:r\x00ef",
    "surrogate_in_path": "recorded:\udcff",
    "long_path": "recorded:" + "x" * 5000,
}
CORPUS: Final = [
    pytest.param(option, value, id=f"{option}={name}")
    for option in OPTIONS
    for name, value in {**HOSTILE_VALUES, **(FEED_VALUES if option in ("--reference", "--source") else {})}.items()
]


@pytest.fixture
def feeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for folder, offset_px in (("ref", 0), ("src", 20_000)):
        (tmp_path / folder).mkdir()
        bids = (1_387_100_000 + offset_px + (ms // 7_000 % 5) * 10_000 for ms in range(1_000, 3_600_000, 7_000))
        lines = [
            f"{ms},{bid / 1e9:.5f},{(bid + 160_000) / 1e9:.5f}"
            for ms, bid in zip(range(1_000, 3_600_000, 7_000), bids, strict=True)
        ]
        (tmp_path / folder / "20140505_quote.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], options: dict[str, str]) -> tuple[int, str]:
    argv = ["validate", *(item for pair in options.items() for item in pair)]
    try:
        status = cli.main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = int(exc.code or 0)
    return status, capsys.readouterr().err


def test_the_base_command_reports(feeds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["validate", *(item for pair in BASE.items() for item in pair)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "lag: +0 ms" in out and "source - reference, aligned    +0.200" in out


@pytest.mark.parametrize(("option", "value"), CORPUS)
def test_a_hostile_value_is_a_report_or_one_short_line(
    option: str, value: str, feeds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = run(capsys, {**BASE, option: value})

    assert status in (0, 2), err
    assert "Traceback" not in err
    if status == 2:
        lines = err.splitlines()
        assert len(lines) >= 1 and len(lines[-1]) <= MAX_MESSAGE_CHARS, err[:2000]
        assert lines[-1].startswith(("fxgw: config error: ", "fxgw validate: error: ")), lines[-1][:300]
        notes = [line for line in lines[:-1] if "hours have no file" not in line]
        assert not notes, err[:2000]


def test_the_corpus_is_large() -> None:
    assert len(CORPUS) >= 13 * len(HOSTILE_VALUES)
