"""Hostile config files: every one is a valid config or one bounded ConfigError, never another exception.

The corpus is generated: the repository's own brokers.yaml with each value in turn replaced by hostile values
(huge, non-finite, nested, wrong types, aliases), with bytes flipped at random (seeded), in foreign encodings,
with duplicate keys, and oversize. ``fxgw check-config`` is run on a sample to show it exits 2 with one line.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from gateway.config import MAX_CONFIG_BYTES, GatewayConfig, load_config
from gateway.errors import ConfigError

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
BROKERS_YAML: Final = (REPO_ROOT / "brokers.yaml").read_text()
MAX_MESSAGE_CHARS: Final = 100_000
"""A config error lists at most 50 problems of at most about 1 KiB each, plus the file name."""

HOSTILE_VALUES: Final = {
    "huge_int": "9" * 5_000,
    "huge_negative_int": "-" + "7" * 4_400,
    "inf": ".inf",
    "negative_inf": "-.inf",
    "nan": ".nan",
    "float_overflow": "1e400",
    "long_string": "x" * 200_000,
    "deep_list": "[" * 3_000 + "]" * 3_000,
    "deep_map": "{a: " * 2_000 + "1" + "}" * 2_000,
    "unbalanced": "[{[{",
    "nul": '"\\0"',
    "python_object": "!!python/object/apply:os.system ['true']",
    "binary": "!!binary aGVsbG8=",
    "timestamp": "2001-12-14t21:59:43.10-05:00",
    "null": "null",
    "bool": "yes",
    "empty_map": "{}",
    "list": "[1, 2, 3]",
    "control_chars": '"\\x07\\x1b[31m"',
    "alias_to_nothing": "*nowhere",
}


def _value_lines() -> list[int]:
    """Lines of brokers.yaml of the form ``key: value`` (the values to replace)."""
    return [n for n, line in enumerate(BROKERS_YAML.splitlines()) if re.match(r"^\s*-?\s*[a-z_]+: \S", line)]


def _replaced(line_number: int, value: str) -> bytes:
    lines = BROKERS_YAML.splitlines()
    key, _, _ = lines[line_number].partition(": ")
    lines[line_number] = f"{key}: {value}"
    return ("\n".join(lines) + "\n").encode()


def _flipped(seed: int) -> bytes:
    generator = random.Random(seed)
    data = bytearray(BROKERS_YAML.encode())
    for _ in range(generator.randint(1, 8)):
        data[generator.randrange(len(data))] = generator.randrange(256)
    return bytes(data)


def hostile_configs() -> Iterator[tuple[str, bytes]]:
    lines = _value_lines()
    generator = random.Random(4217)
    for name, value in HOSTILE_VALUES.items():
        for line_number in generator.sample(lines, min(8, len(lines))):
            yield f"{name}@line{line_number + 1}", _replaced(line_number, value)
    for seed in range(150):
        yield f"flipped_bytes_{seed}", _flipped(seed)
    for cut in range(0, len(BROKERS_YAML), max(1, len(BROKERS_YAML) // 40)):
        yield f"truncated_at_{cut}", BROKERS_YAML.encode()[:cut]
    for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252"):
        text = BROKERS_YAML + "# Zürich €\n"
        try:
            yield f"encoded_{encoding}", text.encode(encoding)
        except UnicodeEncodeError:
            yield f"encoded_{encoding}", text.encode(encoding, errors="replace")
    yield "lone_continuation_byte", BROKERS_YAML.encode() + b"# \x80\n"
    yield "nul_bytes", BROKERS_YAML.encode().replace(b"\n", b"\x00\n", 3)
    yield "duplicate_top_level_key", BROKERS_YAML.encode() + b"\ninstance_id: second\n"
    yield (
        "duplicate_nested_key",
        b"nats:\n  url: nats://a:4222\n  url: nats://b:4222\nbrokers: [{id: a, kind: simulated}]\n",
    )
    yield "duplicate_broker_key", b"brokers:\n  - id: a\n    kind: simulated\n    id: b\n"
    laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}]\n"
        for n in range(1, 10)
    )
    yield "billion_laughs", (laughs + "brokers: *a9\n").encode()
    yield "oversize", b"# " + b"x" * MAX_CONFIG_BYTES + b"\n"
    yield "empty", b""
    yield "only_a_comment", b"# nothing\n"
    yield "many_brokers_all_wrong", ("brokers:\n" + "  - {id: '!', kind: simulated}\n" * 5_000).encode()
    yield "unhashable_key", b"? [a, b]\n: 1\nbrokers: []\n"


CORPUS: Final = list(hostile_configs())


@pytest.mark.parametrize(("name", "data"), CORPUS, ids=[name for name, _ in CORPUS])
def test_a_hostile_config_is_valid_or_one_bounded_config_error(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / "brokers.yaml"
    path.write_bytes(data)
    try:
        config = load_config(path)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ")
        assert len(message) < MAX_MESSAGE_CHARS, f"{len(message):,} characters"
    else:
        assert isinstance(config, GatewayConfig)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("huge_int@line", r"a number of about 5,000 digits|not usable|is not allowed"),
        ("encoded_utf-16", r"the file is UTF-16 \(little-endian\); save it as UTF-8"),
        ("encoded_utf-32", r"the file is UTF-32 \(little-endian\); save it as UTF-8"),
        ("encoded_latin-1", r"not UTF-8: byte 0x[0-9a-f]{2} at offset \d+ \(line \d+\)"),
        ("duplicate_top_level_key", r"key 'instance_id' is given twice"),
        ("duplicate_nested_key", r"key 'url' is given twice"),
        ("duplicate_broker_key", r"key 'id' is given twice"),
        ("billion_laughs", r"expands to more than 100,000 values"),
        ("oversize", r"larger than 1,048,576 bytes"),
        ("deep_list@line", r"nested too deeply|not valid YAML"),
        ("many_brokers_all_wrong", r"\.\.\. and [\d,]+ more problems"),
    ],
)
def test_hostile_configs_are_named_for_what_is_wrong(tmp_path: Path, name: str, expected: str) -> None:
    data = next(data for corpus_name, data in CORPUS if corpus_name.startswith(name))
    path = tmp_path / "brokers.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e400"])
def test_a_non_finite_limit_is_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "brokers.yaml"
    path.write_text(f"quality:\n  max_spread_pips: {value}\nbrokers: [{{id: a, kind: simulated}}]\n")
    with pytest.raises(ConfigError, match=r"quality\.max_spread_pips: .* is not allowed: Input should be a finite"):
        load_config(path)


@pytest.mark.parametrize(
    "name", ["huge_int@line", "encoded_utf-16", "lone_continuation_byte", "duplicate_top_level_key", "deep_map@line"]
)
def test_check_config_says_one_line_and_exits_2(tmp_path: Path, name: str) -> None:
    data = next(data for corpus_name, data in CORPUS if corpus_name.startswith(name))
    path = tmp_path / "brokers.yaml"
    path.write_bytes(data)
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("fxgw: config error: ")
