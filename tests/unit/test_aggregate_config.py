"""gateway.aggregate.config: the example aggregate.yaml, its rules, and hostile files (one bounded ConfigError)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from gateway.aggregate.config import DEFAULT_LEASE_BUCKET, AggregateConfig, load_aggregate_config
from gateway.errors import ConfigError
from tests.unit.test_config_hostile import HOSTILE_VALUES, MAX_MESSAGE_CHARS

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
EXAMPLE: Final = (REPO_ROOT / "aggregate.yaml").read_text()


def _load(tmp_path: Path, text: str | bytes) -> AggregateConfig:
    path = tmp_path / "aggregate.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return load_aggregate_config(path)


def test_the_example_file_is_valid_and_anchors_the_spool_at_its_folder(tmp_path: Path) -> None:
    config = _load(tmp_path, EXAMPLE)
    assert config.lease.bucket == DEFAULT_LEASE_BUCKET and config.lease.ttl_s == 3.0
    assert config.best_price.priorities["oanda-practice"] == 10
    assert config.kafka.spool.dir == tmp_path / "spool-aggregate-a"
    assert (config.http.enabled, config.http.host, config.http.port) == (True, "127.0.0.1", 8090)


def test_an_empty_file_means_the_defaults(tmp_path: Path) -> None:
    config = _load(tmp_path, "{}")
    assert config.lease.ttl_s == 3.0 and config.nats.subject_prefix == "market" and not config.kafka.enabled


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lease: {ttl_s: 0.1}", r"lease\.ttl_s: Input should be greater than or equal to 0\.5"),
        ("lease: {ttl_s: .nan}", r"lease\.ttl_s: Input should be a finite number"),
        ("lease: {bucket: 'a.b'}", r"lease\.bucket: String should match"),
        ("best_price: {priorities: {best: 1}}", r"'best' is not a broker id"),
        ("best_price: {priorities: {'a.b': 1}}", r"'a\.b' is not a broker id"),
        ("best_price: {priorities: {a: 99999999999}}", r"priority of a must be within"),
        ("hub: {}", r"hub: Extra inputs are not permitted"),
        ("http: {port: 65536}", r"http\.port: Input should be less than or equal to 65535"),
        ("http: {host: 'a b'}", r"http\.host: String should match"),
        ("http: {live_page: true}", r"http\.live_page: Extra inputs are not permitted"),
        ("[1, 2]", r"expected a mapping at the top level, got list"),
    ],
)
def test_a_wrong_value_is_named(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        _load(tmp_path, text)


def _hostile_files() -> Iterator[tuple[str, bytes]]:
    lines = EXAMPLE.splitlines()
    values = [n for n, line in enumerate(lines) if ": " in line and not line.lstrip().startswith("#")]
    generator = random.Random(1414)
    for name, value in HOSTILE_VALUES.items():
        # the YAML reader is the gateway's (tests/unit/test_config_hostile.py): a deep document once is enough here
        for line_number in generator.sample(values, 1 if name.startswith("deep") else 4):
            key = lines[line_number].partition(": ")[0]
            changed = [*lines[:line_number], f"{key}: {value}", *lines[line_number + 1 :]]
            yield f"{name}@line{line_number + 1}", "\n".join(changed).encode()
    for seed in range(60):
        data = bytearray(EXAMPLE.encode())
        for _ in range(generator.randint(1, 8)):
            data[generator.randrange(len(data))] = generator.randrange(256)
        yield f"flipped_{seed}", bytes(data)
    yield (
        "many_priorities",
        ("best_price:\n  priorities:\n" + "".join(f"    'x{n}!': 1\n" for n in range(5000))).encode(),
    )


HOSTILE: Final = list(_hostile_files())


@pytest.mark.parametrize(("name", "data"), HOSTILE, ids=[name for name, _ in HOSTILE])
def test_a_hostile_file_is_valid_or_one_bounded_config_error(tmp_path: Path, name: str, data: bytes) -> None:
    try:
        assert isinstance(_load(tmp_path, data), AggregateConfig)
    except ConfigError as exc:
        assert str(exc).startswith(str(tmp_path / "aggregate.yaml"))
        assert len(str(exc)) < MAX_MESSAGE_CHARS
