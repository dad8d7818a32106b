"""Hostile ``fxgw replay`` arguments: each ends in a replay (exit 0) or one short line and exit 2, never a traceback.

The corpus is generated: every option that takes a value gets the same list of hostile values (empty,
whitespace, control characters, NUL, unicode, a lone surrogate as a non-UTF-8 byte arrives, 10 kB and
100 kB strings, non-finite and huge numbers, ``-`` prefixes, format strings, paths), values of its own,
and seeded random strings. Each goes through the real argument parsing (``gateway.cli.main``, in
process) with a small spool to replay, so a valid value replays it and exits 0; ``--bootstrap`` cannot
be combined with ``--spool``, so there Kafka is replaced by a stand-in replay (never reached by an error).
A sample runs as ``python -m gateway.cli`` to show the exit status and stderr a user sees.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from gateway import cli
from gateway.config import SUBJECT_TOKEN
from gateway.instruments import INSTRUMENT_PATTERN
from gateway.kafka.records import DEFAULT_TICKS_TOPIC, KafkaRecord
from gateway.kafka.replay.request import MAX_SUBJECT_PREFIX_CHARS, ReplayRequest
from gateway.kafka.replay.selection import ReplayStats
from gateway.kafka.spool import Spool
from gateway.wire import SOURCE_ID_PATTERN, STREAM_CONTENT_TYPE
from tests.unit.test_wire import T0, record

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
MAX_MESSAGE_CHARS: Final = 300
SINCE: Final = "2026-11-21T10:00:00Z"
UNTIL: Final = "2026-11-21T11:00:00Z"
SPOOL: Final = "spool"
"""The spool the corpus replays, relative to the test's working directory (a fresh temporary one)."""

HOSTILE_VALUES: Final = {
    "empty": "",
    "space": " ",
    "tab_newline": "\t\n",
    "trailing_crlf": "EUR_USD\r\n",
    "nul": "\x00",
    "embedded_nul": "EUR_USD\x00x",
    "terminal_escape": "\x07\x1b[31mred\x1b[0m",
    "delete": "\x7f",
    "c1_controls": "\x85\x9b",
    "line_separator": "a\u2028b",
    "accented": "Zürich€",
    "cjk": "日本円",
    "emoji": "💥",
    "rtl_override": "\u202eEUR_USD",
    "zero_width": "EUR\u200b_USD",
    "fullwidth_digits": "１２３",
    "arabic_digits": "٣٠",
    "lone_surrogate": "\udcff",
    "digits_5000": "9" * 5_000,
    "text_10k": "x" * 10_000,
    "commas_10k": "," * 10_000,
    "dashes_10k": "-" * 10_000,
    "accents_10k": "é" * 10_000,
    "controls_10k": "\x01" * 10_000,
    "text_100k": "y" * 100_000,
    "nan": "nan",
    "negative_nan": "-nan",
    "inf": "inf",
    "negative_inf": "-inf",
    "infinity": "Infinity",
    "float_overflow": "1e309",
    "huge_float": "1e300",
    "tiny_float": "1e-300",
    "denormal": "5e-324",
    "negative": "-1",
    "zero": "0",
    "negative_zero": "-0",
    "hex": "0x10",
    "underscores": "1_000",
    "padded_number": "  5  ",
    "trailing_garbage": "10abc",
    "dash": "-",
    "double_dash": "--",
    "option_like": "--since",
    "short_option_like": "-x",
    "relative_time": "-15m",
    "huge_relative_time": "-999999999d",
    "format_string": "%s%n{0}",
    "shell": "$(reboot)",
    "quotes": "'\"`",
    "backslashes": "\\x00\\",
    "json": '{"a": 1}',
    "path_traversal": "../../etc/passwd",
    "root": "/",
    "dev_null": "/dev/null",
    "empty_list_items": "EUR_USD,,",
    "bad_month": "2026-13-01T00:00:00Z",
    "year_9999": "9999-12-31T23:59:59Z",
    "year_0": "0000-01-01T00:00:00Z",
    "unix_11_digits": "99999999999",
    "unix_long_fraction": "1795255200.1234567890",
    "host_only": "kafka",
    "port_only": ":9092",
    "three_parts": "a:b:c",
    "port_too_big": "host:99999",
    "ipv6_unbracketed": "::1:9092",
}

_RANDOM_ALPHABET: Final = "aZ09_-.:,/ +\\'\"%{}$\x00\x01\t\n\r\x1b\x7f\x85é€日💥\u202e\u200b\udcff"
_RANDOM_LENGTHS: Final = (1, 2, 3, 8, 40, 300, 5_000)
RANDOM_VALUES_PER_OPTION: Final = 15

VALID: Final = {
    "--since": {"rfc3339": SINCE, "unix": str(T0 // 1_000_000_000), "long_ago": "-999999999d", "a_day": "-1d"},
    "--until": {"rfc3339": UNTIL, "now": "now", "unix_fraction": f"{T0 // 1_000_000_000 + 3600}.5"},
    "--speed": {"max": "max", "one": "1", "fastest": "1000000", "slowest": "0.001"},
    "--instruments": {"one": "EUR_USD", "two_spaced": "EUR_USD, USD_JPY", "empty": ""},
    "--sources": {"one": "a", "two": "a,oanda-practice", "empty": ""},
    "--topic": {"ticks": DEFAULT_TICKS_TOPIC},
    "--subject-prefix": {"replay": "replay", "dotted": "replay.test-1"},
    "--timeout": {"shortest": "0.1", "longest": "3600", "padded": "  5  "},
    "--output": {"file": "ticks.jsonl", "unicode_name": "Zürich€.jsonl", "dev_null": "/dev/null", "dash": "-"},
    "--to": {"jsonl": "jsonl", "csv": "csv", "stdout": "stdout"},
    "--spool": {"spool": SPOOL},
    "--bootstrap": {"one": "kafka:9092", "ipv6": "[::1]:9092", "two": "kafka-1:9092,10.0.0.2:19092"},
}
"""Values each option takes, beside the hostile ones (some of which are valid too, see EXPECTED)."""
EXPECTED: Final = {
    ("--since", "zero"): 0,
    ("--since", "huge_relative_time"): 0,
    ("--since", "relative_time"): 0,
    ("--until", "relative_time"): 0,
    ("--speed", "padded_number"): 0,
    ("--speed", "underscores"): 0,
    ("--speed", "fullwidth_digits"): 0,
    ("--speed", "arabic_digits"): 0,
    ("--timeout", "padded_number"): 0,
    ("--timeout", "underscores"): 0,
    ("--timeout", "fullwidth_digits"): 0,
    ("--timeout", "arabic_digits"): 0,
}
"""Hostile values a time or number option takes (Python's float() reads any Unicode digits); the others are refused."""
NAME_LISTS: Final = {"--instruments": INSTRUMENT_PATTERN, "--sources": re.compile(SOURCE_ID_PATTERN)}
"""Options taking comma-separated names: valid when every item, trimmed, matches (or the value is empty)."""
OPTIONS: Final = tuple(VALID)
RANDOM: Final = "random"


def expected_status(option: str, name: str, value: str) -> int | None:
    """The exit status of ``value`` for ``option`` by the rules of the README; None: 0 or 2.

    None for ``--output`` (the file system decides which names it takes) and for
    random values of options whose rule is not a pattern.
    """
    if option in NAME_LISTS:
        valid = not value or all(NAME_LISTS[option].fullmatch(item.strip()) for item in value.split(","))
    elif option == "--subject-prefix":
        valid = len(value) <= MAX_SUBJECT_PREFIX_CHARS and re.fullmatch(SUBJECT_TOKEN, value) is not None
    elif option in ("--topic", "--spool", "--to"):
        valid = value in VALID[option].values()
    elif option == "--output" or name.startswith(RANDOM):
        return None
    else:
        return EXPECTED.get((option, name), 2)
    return 0 if valid else 2


def _random_values(option: str) -> Iterator[str]:
    generator = random.Random(option)
    for _ in range(RANDOM_VALUES_PER_OPTION):
        length = generator.choice(_RANDOM_LENGTHS)
        yield "".join(generator.choice(_RANDOM_ALPHABET) for _ in range(length))


def hostile_arguments() -> Iterator[tuple[str, str, str, int | None]]:
    """(option, case name, value, expected exit status; None: 0 or 2, for random values that may be valid)."""
    for option in OPTIONS:
        for name, value in VALID[option].items():
            yield option, f"valid_{name}", value, 0
        for name, value in HOSTILE_VALUES.items():
            if option == "--output" and value.startswith("/") and value not in ("/", "/dev/null"):
                continue  # never write to an absolute path of this machine
            yield option, name, value, expected_status(option, name, value)
        for number, value in enumerate(_random_values(option)):
            if option == "--output":
                value = "./" + value  # relative to the test's temporary directory, whatever the value
            yield option, f"{RANDOM}_{number}", value, expected_status(option, f"{RANDOM}_{number}", value)


CORPUS: Final = list(hostile_arguments())


@pytest.fixture(scope="module")
def spool_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spool of one record: three ticks of EUR_USD, 1 µs apart (read-only to a replay, so shared)."""
    directory = tmp_path_factory.mktemp("hostile") / SPOOL
    with Spool(directory, max_bytes=1 << 20, fsync="never") as spool:
        value = record("a", "EUR_USD", [(T0, 1), (T0 + 1_000, 2), (T0 + 2_000, 3)])
        spool.append([KafkaRecord(DEFAULT_TICKS_TOPIC, b"EUR_USD", value, STREAM_CONTENT_TYPE)])
    return directory


@pytest.fixture
def workdir(tmp_path: Path, spool_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory with the spool as SPOOL, for the files the corpus names."""
    (tmp_path / SPOOL).symlink_to(spool_dir)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_fxgw(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``fxgw`` in process: its exit status (argparse's SystemExit included) and standard error."""
    try:
        status = cli.main(argv)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    return status, capsys.readouterr().err


def replay_argv(option: str, value: str) -> list[str]:
    """``replay`` of the spool's hour with ``option`` given ``value`` (``--option=value``, so ``-x`` is a value).

    A ``--since`` is tried with the window ending now, so that times before now are valid.
    """
    argv = ["replay", "--since", SINCE, "--until", "now" if option == "--since" else UNTIL, "--quiet"]
    if option != "--bootstrap":
        argv += ["--spool", SPOOL]
    if option == "--output":
        argv += ["--to", "jsonl"]
    return [*argv, f"{option}={value}"]


async def stand_in_replay(request: ReplayRequest, *_args: object) -> ReplayStats:
    """What the replay of a valid ``--bootstrap`` returns here: Kafka is not reached in a unit test."""
    return ReplayStats()


@pytest.mark.parametrize(
    ("option", "name", "value", "expected"), CORPUS, ids=[f"{option}:{name}" for option, name, _, _ in CORPUS]
)
def test_a_hostile_replay_argument_replays_or_is_one_short_line_with_exit_2(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: str,
    name: str,
    value: str,
    expected: int | None,
) -> None:
    if option == "--bootstrap":
        monkeypatch.setattr(cli, "run_replay", stand_in_replay)

    status, err = run_fxgw(replay_argv(option, value), capsys)

    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, f"one line, not {err.count(chr(10))}: {err[:500]!r}"
    assert len(err) < MAX_MESSAGE_CHARS, f"{len(err):,} characters: {err[:500]!r}"
    assert status in ((0, 2) if expected is None else (expected,)), err
    if status == 0:
        assert err.startswith("replay: "), err
        if option == "--output" and value != "/dev/null":
            assert len((workdir / value).read_text(encoding="utf-8").splitlines()) == 3, "the window's ticks"
    else:
        assert err.startswith("fxgw: config error: "), err
        named = option.lstrip("-").replace("-", " ").split()[0]
        assert named in err.replace("-", " ") or "the window is empty" in err, f"names neither option nor value: {err}"


def test_the_corpus_is_hundreds_of_inputs_for_every_option() -> None:
    assert len(CORPUS) >= 800
    for option in OPTIONS:
        assert sum(1 for corpus_option, *_ in CORPUS if corpus_option == option) >= len(HOSTILE_VALUES) - 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "-1"], "argument --speed: expected one argument"),
        (["--since", "--until"], "argument --since: expected one argument"),
        (["--topic"], "argument --topic: expected one argument"),
    ],
)
def test_an_option_taken_for_a_value_is_one_line_without_the_usage(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    status, err = run_fxgw(["replay", "--since", SINCE, "--spool", SPOOL, *args], capsys)

    assert status == 2
    assert err == f"fxgw replay: error: {message} (see fxgw replay --help)\n"


def read_only_directory(workdir: Path) -> Path:
    """A directory no file may be created in: mode 0555, or sysfs for root, who is not bound by modes."""
    if os.geteuid() == 0:
        return Path("/sys")
    directory = workdir / "read-only"
    directory.mkdir(mode=0o555)
    return directory


@pytest.mark.parametrize(
    ("where", "reason"),
    [("directory", "Is a directory"), ("missing", "No such file or directory"), ("read_only", "Permission denied")],
)
def test_an_output_that_cannot_be_created_is_refused_naming_it_and_why(
    workdir: Path, capsys: pytest.CaptureFixture[str], where: str, reason: str
) -> None:
    (workdir / "directory").mkdir()
    path = {
        "directory": "directory",
        "missing": "missing/ticks.jsonl",
        "read_only": str(read_only_directory(workdir) / "ticks.jsonl"),
    }[where]

    status, err = run_fxgw(replay_argv("--output", path), capsys)

    assert status == 2
    assert err == f"fxgw: config error: --output {path!r}: cannot write ({reason})\n"


def test_output_to_a_full_disk_fails_with_exit_1_naming_it(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run_fxgw(replay_argv("--output", "/dev/full"), capsys)

    assert status == 1
    assert err == "fxgw: cannot write the replay to '/dev/full': No space left on device\n"


# -- as a user runs it -----------------------------------------------------------------------------------------


SAMPLE: Final = [
    (["--bootstrap", "a:b:c"], 2, "fxgw: config error: Kafka bootstrap servers: 'a:b:c' is not HOST:PORT"),
    (["--bootstrap", ""], 2, "fxgw: config error: Kafka bootstrap servers: '' is not HOST:PORT"),
    (["--bootstrap", "host:99999", "--to", "nats"], 2, "'host:99999' is not HOST:PORT"),
    (["--spool", SPOOL, "--speed", "1e-300"], 2, "speed 1e-300 is out of range"),
    (["--spool", SPOOL, "--timeout", "nan"], 2, "timeout nan s is out of range"),
    (["--spool", SPOOL, "--speed", "-1"], 2, "fxgw replay: error: argument --speed: expected one argument"),
    (["--spool", SPOOL, "--topic", "no-such-topic"], 2, "topic 'no-such-topic' is not in the spool"),
    (["--spool", SPOOL, "--to", "csv", "--output", "."], 2, "--output '.': cannot write (Is a directory)"),
    (["--spool", SPOOL, "--to", "csv", "--output", "/dev/full"], 1, "cannot write the replay to '/dev/full'"),
    (["--spool", SPOOL, "--instruments", "E" * 10_000], 2, "--instruments: 'EEEE"),
    (["--spool", SPOOL, "--sources", "\x1b[31m\x07"], 2, r"--sources: '\x1b[31m\x07' is not a valid name"),
    (["--spool", SPOOL, "--until", "now"], 0, "replay: 1 records read, 3 ticks in window, 3 ticks output"),
]


@pytest.mark.parametrize(("args", "status", "message"), SAMPLE, ids=[str(n) for n in range(len(SAMPLE))])
def test_fxgw_replay_exits_with_one_line_and_no_traceback(
    workdir: Path, args: list[str], status: int, message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "replay", "--since", SINCE, "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=workdir,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
    )

    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and len(result.stderr) < MAX_MESSAGE_CHARS, result.stderr
    assert message in result.stderr


def test_an_argument_that_is_not_utf_8_is_one_line_with_exit_2(workdir: Path) -> None:
    result = subprocess.run(
        [sys.executable.encode(), b"-m", b"gateway.cli", b"replay", b"--spool", b"spool", b"--since", b"\xff\xfe-1h"],
        capture_output=True,
        timeout=60,
        check=False,
        cwd=workdir,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
    )

    assert result.returncode == 2
    assert result.stderr == b"fxgw: config error: --since: '\\udcff\\udcfe-1h' is not a time; use RFC 3339 " + (
        b"(2026-11-21T10:00:00Z), Unix seconds, now, or a time before now (-30s, -15m, -2h, -1d)\n"
    )
