"""gateway.config: brokers.yaml to a typed, strict GatewayConfig, or a ConfigError that says what and where."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from collectors.oanda.config import OandaConfig
from collectors.recorded import RecordedConfig
from collectors.simulated import SimulatedConfig
from gateway.config import GatewayConfig, load_config, parse_config
from gateway.errors import ConfigError
from gateway.quality import InstrumentLimits, QualityPolicy

SIM = {"id": "sim", "kind": "simulated"}

FULL_CONFIG = """\
instance_id: fxgw-test
nats:
  url: nats://127.0.0.1:14222
  subject_prefix: md.fx
  max_batch_ticks: 64
quality:
  max_spread_pips: 15
  max_jump_pips: 80
  max_age_ms: 5000
  max_future_ms: 500
  jump_confirm_ticks: 4
  jump_reset_after_ms: 30000
  instruments:
    XAU_USD: {pip_size: "0.01", max_spread_pips: 50}
    EUR_USD: {max_jump_pips: 40}
best_price:
  stale_after_ms: 7000
brokers:
  - id: oanda-practice
    kind: oanda
    priority: 10
    account_id_env: OANDA_ACCOUNT_ID
    token_env: OANDA_TOKEN
    instruments: [EUR_USD, USD_JPY, XAU_USD]
  - id: sim-a
    kind: simulated
    ticks_per_second: 20
    seed: 3
    instruments: [EUR_USD]
  - id: replay-2014
    kind: replay
    path: data/eurusd
    speed: max
    instruments: [EUR_USD]
  - id: sim-off
    kind: simulated
    enabled: false
"""


def write(folder: Path, text: str, name: str = "brokers.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def config_error(data: Any, base_dir: Path | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "brokers.yaml", base_dir=base_dir)
    return str(caught.value)


def test_full_config_file_gives_typed_brokers_and_the_quality_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "etc"
    (config_dir / "data" / "eurusd").mkdir(parents=True)
    path = write(config_dir, FULL_CONFIG)
    monkeypatch.chdir(tmp_path)  # relative paths follow the file, not the working directory

    config = load_config(path)

    assert config.instance_id == "fxgw-test"
    assert (config.nats.url, config.nats.subject_prefix, config.nats.max_batch_ticks) == (
        "nats://127.0.0.1:14222",
        "md.fx",
        64,
    )
    assert config.best_price.stale_after_ms == 7000
    assert [type(broker) for broker in config.brokers] == [
        OandaConfig,
        SimulatedConfig,
        RecordedConfig,
        SimulatedConfig,
    ]
    oanda, sim, replay, _ = config.brokers
    assert isinstance(sim, SimulatedConfig) and isinstance(replay, RecordedConfig)
    assert (oanda.id, oanda.priority, oanda.instruments) == ("oanda-practice", 10, ("EUR_USD", "USD_JPY", "XAU_USD"))
    assert (sim.ticks_per_second, sim.seed) == (20, 3)
    assert replay.path == config_dir / "data" / "eurusd"
    assert replay.speed == "max"
    assert [broker.id for broker in config.enabled_brokers] == ["oanda-practice", "sim-a", "replay-2014"]
    assert config.quality.to_policy() == QualityPolicy(
        max_spread_pips=15.0,
        max_jump_pips=80.0,
        max_age_ms=5000,
        max_future_ms=500,
        jump_confirm_ticks=4,
        jump_reset_after_ms=30000,
        instruments={
            "XAU_USD": InstrumentLimits(pip_px=10_000_000, max_spread_pips=50.0, max_jump_pips=None),
            "EUR_USD": InstrumentLimits(pip_px=None, max_spread_pips=None, max_jump_pips=40.0),
        },
    )


def test_minimal_config_takes_the_documented_defaults() -> None:
    config = parse_config({"brokers": [SIM]})
    assert isinstance(config, GatewayConfig)
    assert config.quality.to_policy() == QualityPolicy()
    assert config.nats.url == "nats://127.0.0.1:4222"
    assert config.kafka.enabled is False
    assert config.brokers[0].instruments == ("EUR_USD",)


@pytest.mark.parametrize(
    ("pip_size", "pip_px"),
    [
        pytest.param("0.01", 10_000_000, id="metal_hundredth"),
        pytest.param("0.0001", 100_000, id="pair_pip"),
        pytest.param("1", 1_000_000_000, id="index_point"),
        pytest.param("0.000000001", 1, id="smallest_unit"),
    ],
)
def test_configured_pip_size_becomes_exact_price_units(pip_size: str, pip_px: int) -> None:
    config = parse_config({"brokers": [SIM], "quality": {"instruments": {"XAU_USD": {"pip_size": pip_size}}}})
    assert config.quality.to_policy().instruments == {"XAU_USD": InstrumentLimits(pip_px=pip_px)}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {"brokers": [SIM], "nats2": {}},
            [
                "nats2: unknown key; allowed keys: "
                "best_price, broker_quality, brokers, central_hub, cpus, external, http, instance_id, kafka, nats, "
                "quality, state_dir"
            ],
            id="unknown_top_level_key_lists_allowed_keys",
        ),
        pytest.param(
            {"brokers": [SIM], "nats": {"host": "x"}},
            ["nats.host: unknown key; allowed keys:", "subject_prefix", "url"],
            id="unknown_nats_key",
        ),
        pytest.param(
            {"brokers": [{**SIM, "rate": 5}]},
            ["brokers[0].rate: unknown key; allowed keys:", "ticks_per_second", "market_seed"],
            id="unknown_broker_key_lists_that_kinds_keys",
        ),
        pytest.param(
            {"brokers": [SIM, {"id": "o", "kind": "oanda", "token_env": "T", "account_id_env": "A", "tokn": 1}]},
            ["brokers[1].tokn: unknown key; allowed keys:", "account_id", "token_env"],
            id="unknown_oanda_key_in_second_broker",
        ),
        pytest.param(
            {"brokers": [SIM], "quality": {"instruments": {"XAU_USD": {"pip": "0.01"}}}},
            ["quality.instruments.XAU_USD.pip: unknown key; allowed keys: max_jump_pips, max_spread_pips, pip_size"],
            id="unknown_instrument_limit_key",
        ),
        pytest.param(
            {"brokers": [{**SIM, "kind": "fix"}]},
            ["brokers[0].kind: 'fix' is not a known kind; allowed: oanda, simulated, recorded"],
            id="unknown_broker_kind_lists_kinds",
        ),
        pytest.param(
            {"brokers": [SIM, {**SIM, "seed": 2}]},
            ["ids of brokers and external collectors must be unique; repeated: sim"],
            id="duplicate_broker_ids",
        ),
        pytest.param(
            {"brokers": [{**SIM, "id": "best"}]},
            ["brokers[0].id: 'best' is not allowed", "reserved"],
            id="reserved_id_best",
        ),
        pytest.param(
            {"brokers": [{**SIM, "id": "rejected"}]},
            ["brokers[0].id: 'rejected' is not allowed", "reserved"],
            id="reserved_id_rejected",
        ),
        pytest.param(
            {"brokers": [{**SIM, "id": "has space"}]},
            ["brokers[0].id: 'has space' is not allowed"],
            id="id_not_a_subject_token",
        ),
        pytest.param(
            {"brokers": [{**SIM, "instruments": ["EUR_USD", "EURUSD"]}]},
            ["brokers[0].instruments", "'EURUSD' is not of the form BASE_QUOTE"],
            id="bad_broker_instrument_name",
        ),
        pytest.param(
            {"brokers": [{**SIM, "instruments": ["EUR_USD", "EUR_USD"]}]},
            ["brokers[0].instruments", "more than once"],
            id="repeated_broker_instrument",
        ),
        pytest.param(
            {"brokers": [SIM], "quality": {"instruments": {"xau_usd": {"pip_size": "0.01"}}}},
            ["quality.instruments", "'xau_usd' is not of the form BASE_QUOTE"],
            id="bad_quality_instrument_name",
        ),
        pytest.param(
            {"brokers": [SIM], "quality": {"instruments": {"XAU_USD": {"pip_size": "abc"}}}},
            ["quality.instruments.XAU_USD.pip_size: 'abc' is not allowed", "not a decimal number"],
            id="pip_size_not_a_number",
        ),
        pytest.param(
            {"brokers": [SIM], "quality": {"instruments": {"XAU_USD": {"pip_size": "-0.01"}}}},
            ["quality.instruments.XAU_USD.pip_size: '-0.01' is not allowed", "positive"],
            id="negative_pip_size",
        ),
        pytest.param(
            {"brokers": [SIM], "quality": {"instruments": {"XAU_USD": {"pip_size": "0.0000000001"}}}},
            ["pip_size: '0.0000000001' is not allowed", "at most 9 decimals"],
            id="pip_size_below_price_resolution",
        ),
        pytest.param(
            {"brokers": [SIM], "quality": {"max_spread_pips": -1}},
            ["quality.max_spread_pips: -1 is not allowed", "greater than 0"],
            id="negative_spread_limit",
        ),
        pytest.param(
            {"brokers": [SIM], "quality": {"jump_confirm_ticks": 1}},
            ["quality.jump_confirm_ticks: 1 is not allowed", "greater than or equal to 2"],
            id="jump_confirmation_needs_two_ticks",
        ),
        pytest.param(
            {"brokers": [SIM], "nats": {"url": "http://127.0.0.1:4222"}},
            ["nats.url: 'http://127.0.0.1:4222' is not allowed"],
            id="nats_url_scheme",
        ),
        pytest.param(
            {"brokers": [SIM], "kafka": {"bootstrap_servers": "localhost"}},
            ["kafka.bootstrap_servers: 'localhost' is not allowed"],
            id="kafka_bootstrap_without_port",
        ),
        pytest.param(
            {"brokers": [SIM], "kafka": {"compression": "brotli"}},
            ["kafka.compression: 'brotli' is not allowed", "'lz4'"],
            id="kafka_unknown_compression",
        ),
        pytest.param(
            {"brokers": [SIM], "kafka": {"spool": {"fsync": "sometimes"}}},
            ["kafka.spool.fsync: 'sometimes' is not allowed", "'interval'"],
            id="spool_unknown_fsync_policy",
        ),
        pytest.param(
            {"brokers": [SIM], "kafka": {"spool": {"max_bytes": 2**20, "segment_bytes": 2**21}}},
            ["kafka.spool: segment_bytes must not exceed max_bytes"],
            id="spool_segment_above_limit",
        ),
        pytest.param(
            {"brokers": [SIM], "kafka": {"spool": {"max_bytes": 2**40, "segment_bytes": 2**16}}},
            ["kafka.spool: max_bytes / segment_bytes is 16,777,216 segments, at most 100,000"],
            id="spool_of_too_many_segments",
        ),
        pytest.param(
            {"brokers": [SIM], "central_hub": {"enabled": True, "url": "ftp://hub"}},
            ["central_hub.url", "String should match pattern"],
            id="central_hub_url_not_http",
        ),
        pytest.param({"brokers": []}, ["<top level>: list at least one broker or external collector"], id="no_brokers"),
        pytest.param(
            {"nats": {}},
            ["<top level>: list at least one broker or external collector"],
            id="neither_brokers_nor_external",
        ),
        pytest.param(
            {"brokers": [{"id": "o", "kind": "oanda", "token_env": "T"}]},
            ["brokers[0]", "exactly one of account_id and account_id_env"],
            id="oanda_without_account",
        ),
        pytest.param(
            {"brokers": [{**SIM, "instruments": ["XAU_USD"]}]},
            ["brokers[0].instruments", "no simulated market for XAU_USD"],
            id="simulated_metal",
        ),
    ],
)
def test_invalid_config_error_names_the_file_key_path_value_and_what_is_allowed(
    data: dict[str, Any], expected: list[str]
) -> None:
    message = config_error(data)
    assert message.startswith("brokers.yaml: invalid configuration:")
    for fragment in expected:
        assert fragment in message


def test_every_problem_is_reported_at_once() -> None:
    message = config_error({"brokers": [{**SIM, "kind": "fix"}, {**SIM, "id": "best"}], "nats2": 1})
    assert "brokers[0].kind" in message
    assert "brokers[1].id" in message
    assert "nats2: unknown key" in message


def test_broker_without_kind_names_the_allowed_kinds() -> None:
    # The module promises messages that say "what is allowed"; a missing kind currently gives
    # "brokers[0]: Unable to extract tag using discriminator 'kind'".
    message = config_error({"brokers": [{"id": "sim"}]})
    assert "brokers[0].kind" in message
    assert "oanda, simulated, recorded" in message


@pytest.mark.parametrize(
    ("text", "got"),
    [
        pytest.param("- id: sim\n  kind: simulated\n", "list", id="list"),
        pytest.param("just a string\n", "str", id="scalar"),
        pytest.param("", "NoneType", id="empty_file"),
        pytest.param("# only a comment\n", "NoneType", id="only_comment"),
    ],
)
def test_top_level_that_is_not_a_mapping_is_rejected(tmp_path: Path, text: str, got: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: expected a mapping at the top level, got {got}"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("brokers: [\n", id="unclosed_bracket"),
        pytest.param("brokers:\n  - id: sim\n   kind: simulated\n", id="bad_indentation"),
        pytest.param("a: b: c\n", id="nested_colon"),
        pytest.param("brokers: {id: sim\n", id="unclosed_brace"),
    ],
)
def test_yaml_syntax_error_is_a_config_error_naming_the_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert caught.value.__cause__ is not None


def test_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match="cannot read") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_validation_error_from_a_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "brokers:\n  - id: best\n    kind: simulated\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: invalid configuration:")
    assert "brokers[0].id: 'best'" in str(caught.value)


def test_relative_replay_path_is_resolved_against_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "conf"
    (config_dir / "ticks").mkdir(parents=True)
    path = write(config_dir, "brokers:\n  - {id: r, kind: replay, path: ticks, instruments: [EUR_USD]}\n")
    monkeypatch.chdir(tmp_path)
    assert not (tmp_path / "ticks").exists()
    (replay,) = load_config(path).brokers
    assert isinstance(replay, RecordedConfig)
    assert replay.path == config_dir / "ticks"


@pytest.mark.parametrize(
    "kafka",
    [None, {}, {"spool": {}}, {"spool": {"dir": "spool"}}],
    ids=["no kafka", "empty kafka", "empty spool", "relative dir"],
)
def test_the_spool_and_state_dirs_are_anchored_at_the_config_files_folder_by_default(
    tmp_path: Path, kafka: dict[str, Any] | None
) -> None:
    data: dict[str, Any] = {"brokers": [SIM], **({} if kafka is None else {"kafka": kafka})}
    config = parse_config(data, base_dir=tmp_path / "conf")
    assert config.kafka.spool.dir == tmp_path / "conf" / "spool"
    assert config.state_dir == tmp_path / "conf" / "state"


def test_absolute_replay_path_is_kept(tmp_path: Path) -> None:
    (tmp_path / "ticks").mkdir()
    config = parse_config(
        {"brokers": [{"id": "r", "kind": "replay", "path": str(tmp_path / "ticks"), "instruments": ["EUR_USD"]}]},
        base_dir=tmp_path / "elsewhere",
    )
    (replay,) = config.brokers
    assert isinstance(replay, RecordedConfig)
    assert replay.path == tmp_path / "ticks"


def test_missing_replay_path_names_the_broker_and_the_resolved_path(tmp_path: Path) -> None:
    message = config_error(
        {"brokers": [SIM, {"id": "r", "kind": "replay", "path": "nope", "instruments": ["EUR_USD"]}]},
        base_dir=tmp_path,
    )
    assert "brokers[1]" in message
    assert f"{str(tmp_path / 'nope')!r} does not exist" in message


def test_disabled_replay_may_point_at_a_missing_path(tmp_path: Path) -> None:
    config = parse_config(
        {"brokers": [SIM, {"id": "r", "kind": "replay", "path": "nope", "instruments": ["EUR_USD"], "enabled": False}]},
        base_dir=tmp_path,
    )
    assert [broker.id for broker in config.enabled_brokers] == ["sim"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"instruments": ["EUR_USD", "USD_JPY"]}, "a recorded source plays one instrument", id="two_instruments"
        ),
        pytest.param({"speed": 0}, "speed must be a positive number or 'max'", id="zero_speed"),
        pytest.param({"speed": "fast"}, "brokers[0].speed", id="speed_word"),
    ],
)
def test_replay_settings_are_validated(tmp_path: Path, fields: dict[str, Any], expected: str) -> None:
    broker = {"id": "r", "kind": "replay", "path": str(tmp_path), "instruments": ["EUR_USD"], **fields}
    assert expected in config_error({"brokers": [broker]})


OANDA = {"id": "oanda", "kind": "oanda", "token_env": "OANDA_TOKEN", "account_id_env": "OANDA_ACCOUNT_ID"}


def oanda_config(**fields: Any) -> OandaConfig:
    (broker,) = parse_config({"brokers": [{**OANDA, **fields}]}).brokers
    assert isinstance(broker, OandaConfig)
    return broker


def test_oanda_broker_takes_the_documented_connection_defaults() -> None:
    broker = oanda_config()
    assert (
        broker.heartbeat_timeout_s,
        broker.connect_timeout_s,
        broker.reconnect_min_s,
        broker.reconnect_max_s,
        broker.healthy_after_s,
        broker.refused_retry_s,
    ) == (15.0, 10.0, 0.5, 10.0, 30.0, 60.0)
    assert (broker.rest_url, broker.stream_url) == (None, None)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("heartbeat_timeout_s", 20, id="heartbeat_timeout_s"),
        pytest.param("connect_timeout_s", 2.5, id="connect_timeout_s"),
        pytest.param("reconnect_min_s", 0.1, id="reconnect_min_s"),
        pytest.param("reconnect_max_s", 120, id="reconnect_max_s"),
        pytest.param("healthy_after_s", 5, id="healthy_after_s"),
        pytest.param("refused_retry_s", 300, id="refused_retry_s"),
        pytest.param("heartbeat_timeout_s", "7.5", id="number_written_as_a_string"),
    ],
)
def test_oanda_connection_setting_is_read_as_seconds(key: str, value: Any) -> None:
    assert getattr(oanda_config(**{key: value}), key) == float(value)


def test_oanda_reconnect_range_may_be_a_single_value() -> None:
    broker = oanda_config(reconnect_min_s=2, reconnect_max_s=2)
    assert (broker.reconnect_min_s, broker.reconnect_max_s) == (2.0, 2.0)


@pytest.mark.parametrize(
    ("fields", "hosts"),
    [
        pytest.param(
            {}, ("https://api-fxpractice.oanda.com", "https://stream-fxpractice.oanda.com"), id="practice_by_default"
        ),
        pytest.param(
            {"environment": "practice"},
            ("https://api-fxpractice.oanda.com", "https://stream-fxpractice.oanda.com"),
            id="practice",
        ),
        pytest.param(
            {"environment": "live"}, ("https://api-fxtrade.oanda.com", "https://stream-fxtrade.oanda.com"), id="live"
        ),
        pytest.param(
            {"stream_url": "http://127.0.0.1:8081"},
            ("https://api-fxpractice.oanda.com", "http://127.0.0.1:8081"),
            id="stream_override_keeps_rest",
        ),
        pytest.param(
            {"rest_url": "http://127.0.0.1:8080"},
            ("http://127.0.0.1:8080", "https://stream-fxpractice.oanda.com"),
            id="rest_override_keeps_stream",
        ),
        pytest.param(
            {"environment": "live", "rest_url": "http://localhost:1", "stream_url": "http://localhost:2"},
            ("http://localhost:1", "http://localhost:2"),
            id="both_overridden_win_over_environment",
        ),
        pytest.param(
            {"rest_url": "https://api.example.com/", "stream_url": "https://stream.example.com/"},
            ("https://api.example.com", "https://stream.example.com"),
            id="trailing_slash_stripped",
        ),
        pytest.param(
            {"stream_url": "https://stream.example.com//"},
            ("https://api-fxpractice.oanda.com", "https://stream.example.com"),
            id="repeated_trailing_slashes_stripped",
        ),
        pytest.param(
            {"stream_url": "http://[::1]:8081/"},
            ("https://api-fxpractice.oanda.com", "http://[::1]:8081"),
            id="ipv6_literal_with_port",
        ),
    ],
)
def test_oanda_hosts_are_the_environments_unless_overridden(fields: dict[str, Any], hosts: tuple[str, str]) -> None:
    assert oanda_config(**fields).hosts == hosts


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"rest_url": "ftp://api.example.com"},
            [
                "brokers[0].rest_url: 'ftp://api.example.com' is not allowed",
                "is not an http(s) URL such as https://stream-fxpractice.oanda.com",
            ],
            id="rest_url_not_http",
        ),
        pytest.param(
            {"stream_url": "wss://stream.example.com"},
            ["brokers[0].stream_url: 'wss://stream.example.com' is not allowed", "is not an http(s) URL"],
            id="stream_url_websocket_scheme",
        ),
        pytest.param(
            {"stream_url": "stream-fxpractice.oanda.com"},
            ["brokers[0].stream_url: 'stream-fxpractice.oanda.com' is not allowed", "is not an http(s) URL"],
            id="stream_url_without_scheme",
        ),
        pytest.param(
            {"rest_url": "https://"},
            ["brokers[0].rest_url: 'https://' is not allowed", "is not an http(s) URL"],
            id="rest_url_without_host",
        ),
        pytest.param(
            {"stream_url": "https://stream.example.com/v3"},
            [
                "brokers[0].stream_url: 'https://stream.example.com/v3' is not allowed",
                "must be a host URL without path, query, fragment or credentials",
            ],
            id="stream_url_with_path",
        ),
        pytest.param(
            {"rest_url": "https://api.example.com/v3/accounts/"},
            [
                "brokers[0].rest_url: 'https://api.example.com/v3/accounts/' is not allowed",
                "without path, query, fragment or credentials",
            ],
            id="rest_url_with_path_and_trailing_slash",
        ),
        pytest.param(
            {"rest_url": "https://api.example.com?token=x"},
            [
                "brokers[0].rest_url: 'https://api.example.com?token=x' is not allowed",
                "without path, query, fragment or credentials",
            ],
            id="rest_url_with_query",
        ),
        pytest.param(
            {"rest_url": 8080},
            ["brokers[0].rest_url: 8080 is not allowed", "valid string"],
            id="rest_url_number",
        ),
        pytest.param(
            {"environment": "demo"},
            ["brokers[0].environment: 'demo' is not allowed", "'practice' or 'live'"],
            id="unknown_environment",
        ),
        pytest.param(
            {"heartbeat_timeout_s": 0},
            ["brokers[0].heartbeat_timeout_s: 0 is not allowed", "greater than 0"],
            id="zero_heartbeat_timeout",
        ),
        pytest.param(
            {"connect_timeout_s": -1},
            ["brokers[0].connect_timeout_s: -1 is not allowed", "greater than 0"],
            id="negative_connect_timeout",
        ),
        pytest.param(
            {"reconnect_min_s": 0},
            ["brokers[0].reconnect_min_s: 0 is not allowed", "greater than 0"],
            id="zero_reconnect_min",
        ),
        pytest.param(
            {"reconnect_max_s": -5},
            ["brokers[0].reconnect_max_s: -5 is not allowed", "greater than 0"],
            id="negative_reconnect_max",
        ),
        pytest.param(
            {"healthy_after_s": "soon"},
            ["brokers[0].healthy_after_s: 'soon' is not allowed", "valid number"],
            id="healthy_after_a_word",
        ),
        pytest.param(
            {"refused_retry_s": 0},
            ["brokers[0].refused_retry_s: 0 is not allowed", "greater than 0"],
            id="zero_refused_retry",
        ),
        pytest.param(
            {"reconnect_min_s": 5, "reconnect_max_s": 1},
            ["brokers[0]: reconnect_max_s must not be below reconnect_min_s"],
            id="reconnect_max_below_min",
        ),
        pytest.param(
            {"reconnect_max_s": 0.25},
            ["brokers[0]: reconnect_max_s must not be below reconnect_min_s"],
            id="reconnect_max_below_the_default_min",
        ),
        pytest.param(
            {"heartbeat_timout_s": 15},
            ["brokers[0].heartbeat_timout_s: unknown key; allowed keys:", "heartbeat_timeout_s", "refused_retry_s"],
            id="misspelled_setting_lists_the_real_ones",
        ),
    ],
)
def test_invalid_oanda_connection_setting_names_the_key_value_and_reason(
    fields: dict[str, Any], expected: list[str]
) -> None:
    message = config_error({"brokers": [{**OANDA, **fields}]})
    assert message.startswith("brokers.yaml: invalid configuration:")
    for fragment in expected:
        assert fragment in message


def test_bad_oanda_url_in_a_later_broker_names_that_broker() -> None:
    message = config_error({"brokers": [SIM, {**OANDA, "stream_url": "https://stream.example.com/v3"}]})
    assert "brokers[1].stream_url: 'https://stream.example.com/v3' is not allowed" in message


def test_every_bad_oanda_setting_is_reported_at_once() -> None:
    message = config_error(
        {"brokers": [{**OANDA, "rest_url": "ftp://a", "stream_url": "https://s/x", "connect_timeout_s": 0}]}
    )
    assert "brokers[0].rest_url: 'ftp://a'" in message
    assert "brokers[0].stream_url: 'https://s/x'" in message
    assert "brokers[0].connect_timeout_s: 0" in message


@pytest.mark.parametrize(
    ("key", "url"),
    [
        pytest.param("stream_url", "https://stream.example.com#v3", id="fragment"),
        pytest.param("rest_url", "https://api.example.com#", id="empty_fragment"),
        pytest.param("stream_url", "https://stream.example.com?", id="empty_query"),
        pytest.param("rest_url", "https://api.example.com:port", id="port_not_a_number"),
        pytest.param("stream_url", "https://stream.example.com:99999", id="port_out_of_range"),
    ],
)
def test_oanda_url_that_is_not_a_plain_host_url_is_rejected(key: str, url: str) -> None:
    # The collector appends "/v3/accounts/..." to these and reads their port: a fragment or an empty query would
    # swallow that path, and a bad port fails only when the collector starts (ValueError from urlsplit().port).
    message = config_error({"brokers": [{**OANDA, key: url}]})
    assert f"brokers[0].{key}: {url!r} is not allowed" in message


@pytest.mark.parametrize(
    "url",
    [
        "https://ops:hub-password-1234@hub.example/api",
        "http://ops:hub-password-1234@[broken/x",
        "ftp://hub-password-1234@h",
    ],
)
def test_a_refused_url_is_named_without_its_credentials(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"brokers": [{"id": "a", "kind": "simulated"}], "central_hub": {"enabled": True, "url": url}})
    assert "central_hub.url" in str(refused.value)
    assert "hub-password-1234" not in str(refused.value)
