"""cTrader messages and config, pure: error codes to refusals, symbol names to ids, pip positions, frames."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from collectors.ctrader.collector import CtraderCollector
from collectors.ctrader.config import CtraderConfig
from collectors.ctrader.messages.OpenApiCommonMessages_pb2 import ProtoErrorRes, ProtoMessage
from collectors.ctrader.messages.OpenApiMessages_pb2 import (
    ProtoOAApplicationAuthReq,
    ProtoOAErrorRes,
    ProtoOASymbolByIdRes,
    ProtoOASymbolsListRes,
)
from collectors.ctrader.messages.OpenApiModelMessages_pb2 import ProtoOALightSymbol, ProtoOASymbol
from collectors.ctrader.parsing import (
    COMMON_ERROR_RES,
    ERROR_RES,
    MAX_RETRY_AFTER_S,
    Refusal,
    decode_envelope,
    encode_frame,
    frame_length,
    pip_px_from_position,
    resolve_symbols,
    server_error,
    symbol_pip_sizes,
)
from gateway.errors import BadValueError, ConfigError, MalformedInputError
from tests.support import RecordingSink

NOW_S = 1_700_000_000.0


def oa_error(**fields: object) -> bytes:
    return ProtoOAErrorRes(**fields).SerializeToString()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "refusal"),
    [
        ("CH_CLIENT_AUTH_FAILURE", Refusal.APPLICATION),
        ("CH_OA_CLIENT_NOT_FOUND", Refusal.APPLICATION),
        ("CH_ACCESS_TOKEN_INVALID", Refusal.TOKEN),
        ("OA_AUTH_TOKEN_EXPIRED", Refusal.TOKEN),
        ("CH_CTID_TRADER_ACCOUNT_NOT_FOUND", Refusal.REJECTED),
        ("SYMBOL_NOT_FOUND", Refusal.REJECTED),
        ("REQUEST_FREQUENCY_EXCEEDED", Refusal.RATE_LIMITED),
        ("ALREADY_LOGGED_IN", Refusal.TRANSIENT),
        ("SOMETHING_NEW", Refusal.TRANSIENT),
    ],
)
def test_each_error_code_means_a_named_state(code: str, refusal: Refusal) -> None:
    error = server_error(ERROR_RES, oa_error(errorCode=code, description="words"), NOW_S)
    assert (error.code, error.refusal, error.retry_after_s, str(error)) == (code, refusal, None, f"{code}: words")


def test_retry_after_and_maintenance_end_are_waited_for_at_most_an_hour() -> None:
    assert server_error(ERROR_RES, oa_error(errorCode="BLOCKED_PAYLOAD_TYPE", retryAfter=12), NOW_S).retry_after_s == 12
    huge = server_error(ERROR_RES, oa_error(errorCode="BLOCKED_PAYLOAD_TYPE", retryAfter=2**64 - 1), NOW_S)
    assert huge.retry_after_s == MAX_RETRY_AFTER_S
    maintenance = server_error(
        ERROR_RES, oa_error(errorCode="CANT_ROUTE_REQUEST", maintenanceEndTimestamp=int(NOW_S) + 90), NOW_S
    )
    assert (maintenance.refusal, maintenance.retry_after_s) == (Refusal.RATE_LIMITED, 90.0)
    past = server_error(ERROR_RES, oa_error(errorCode="X", maintenanceEndTimestamp=5), NOW_S)
    assert past.retry_after_s == 0.0


def test_the_common_error_and_hostile_error_texts_are_bounded() -> None:
    common = ProtoErrorRes(errorCode="UNSUPPORTED_MESSAGE", description="d" * 100_000).SerializeToString()
    error = server_error(COMMON_ERROR_RES, common, NOW_S)
    assert error.refusal is Refusal.REJECTED and len(error.description) <= 260
    hostile = server_error(ERROR_RES, oa_error(errorCode="\x1b[31m" + "A" * 10_000), NOW_S)
    assert len(hostile.code) < 200 and "\x1b" not in hostile.code
    with pytest.raises(MalformedInputError, match="not a ProtoOAErrorRes"):
        server_error(ERROR_RES, b"\xff\xff\xff", NOW_S)


def test_symbols_are_found_by_broker_name_exactly_then_ignoring_case_and_disabled_ones_are_not() -> None:
    listed = ProtoOASymbolsListRes(
        ctidTraderAccountId=1,
        symbol=[
            ProtoOALightSymbol(symbolId=1, symbolName="EURUSD", enabled=True),
            ProtoOALightSymbol(symbolId=2, symbolName="gbpusd"),
            ProtoOALightSymbol(symbolId=3, symbolName="USDTRY", enabled=False),
            ProtoOALightSymbol(symbolId=4, symbolName="XAUUSD.r"),
        ],
    )
    names = {"EUR_USD": "EURUSD", "GBP_USD": "GBPUSD", "USD_TRY": "USDTRY", "XAU_USD": "XAUUSD.r", "USD_CHF": "USDCHF"}
    found, missing = resolve_symbols(listed, names)
    assert found == {1: "EUR_USD", 2: "GBP_USD", 4: "XAU_USD"}
    assert missing == ("USD_TRY", "USD_CHF")


def test_pip_sizes_come_from_pip_position() -> None:
    details = ProtoOASymbolByIdRes(
        ctidTraderAccountId=1,
        symbol=[
            ProtoOASymbol(symbolId=1, digits=5, pipPosition=4),
            ProtoOASymbol(symbolId=4, digits=3, pipPosition=2),
            ProtoOASymbol(symbolId=9, digits=5, pipPosition=-3),
            ProtoOASymbol(symbolId=77, digits=5, pipPosition=4),
        ],
    )
    pips, problems = symbol_pip_sizes(details, {1: "EUR_USD", 4: "USD_JPY", 9: "BAD_ONE"})
    assert pips == {"EUR_USD": 100_000, "USD_JPY": 10_000_000}
    assert problems == ["BAD_ONE: pipPosition -3 is not from 0 to 9"]
    assert pip_px_from_position(0) == 1_000_000_000
    with pytest.raises(BadValueError):
        pip_px_from_position(10)


def test_a_frame_is_a_length_then_the_official_envelope() -> None:
    frame = encode_frame(ProtoOAApplicationAuthReq(clientId="id", clientSecret="secret"), client_msg_id="7")
    assert frame_length(frame) == len(frame) - 4
    payload_type, payload = decode_envelope(frame[4:])
    assert payload_type == 2100
    assert ProtoOAApplicationAuthReq.FromString(payload).clientSecret == "secret"
    assert ProtoMessage.FromString(frame[4:]).clientMsgId == "7"
    with pytest.raises(MalformedInputError, match="not a ProtoMessage"):
        decode_envelope(b"\x12\x01x")  # no payloadType: a required field


def config(**fields: object) -> CtraderConfig:
    base: dict[str, object] = {
        "id": "ct",
        "account_id": 12,
        "client_id_env": "CT_ID",
        "client_secret_env": "CT_SECRET",
        "access_token_env": "CT_TOKEN",
    }
    return CtraderConfig.model_validate(base | fields, context={"base_dir": Path("/etc/fxgw")})


def test_config_defaults_to_the_demo_host_and_names_its_variables() -> None:
    settings = config(instruments=["EUR_USD", "XAU_USD"], symbols={"XAU_USD": "XAUUSD.r"}, ca_file="ca.pem")
    assert settings.address == ("demo.ctraderapi.com", 5035)
    assert config(environment="live").address == ("live.ctraderapi.com", 5035)
    assert settings.symbol_names == {"EUR_USD": "EURUSD", "XAU_USD": "XAUUSD.r"}
    assert settings.environment_variables == ("CT_ID", "CT_SECRET", "CT_TOKEN")
    assert settings.ca_file == Path("/etc/fxgw/ca.pem")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"symbols": {"GBP_USD": "GBPUSD"}}, "not listed in instruments: GBP_USD"),
        ({"symbols": {"EUR_USD": ""}}, "is not a symbol name"),
        ({"account_id": 0}, "greater than 0"),
        ({"host": "bad host/"}, "should match pattern"),
        ({"port": 70000}, "less than or equal to 65535"),
        ({"access_token_env": "1-bad"}, "should match pattern"),
        ({"max_frame_bytes": 10}, "greater than or equal to 1024"),
        ({"token": "inline"}, "Extra inputs are not permitted"),
    ],
)
def test_config_refuses_what_it_cannot_use(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config(**fields)


def test_a_ca_file_that_cannot_be_read_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("CT_ID", "CT_SECRET", "CT_TOKEN"):
        monkeypatch.setenv(name, f"value-of-{name}")
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    for path in (tmp_path / "missing.pem", not_pem):
        with pytest.raises(ConfigError, match=r"brokers\[ct\]\.ca_file: .* cannot be used"):
            CtraderCollector(config(ca_file=str(path)), RecordingSink())
