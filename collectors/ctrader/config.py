"""Configuration of a cTrader Open API account (IC Markets, Pepperstone and every other cTrader broker)."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from collectors.ctrader.framing import MAX_FRAME_BYTES
from collectors.streaming import StreamingConfig
from gateway.secrets import ENV_NAME_PATTERN

CTRADER_HOSTS: Final = {"demo": "demo.ctraderapi.com", "live": "live.ctraderapi.com"}
"""The Open API proxies of Spotware's documentation ("Proxies and endpoints"); a demo or a live account."""
CTRADER_PORT: Final = 5035
"""The port of the Protocol Buffers (TLS) endpoint; 5036 is the JSON one, not used here."""
MIN_FRAME_BYTES: Final = 1024
MAX_FRAME_BYTES_CEILING: Final = 16 * 1024 * 1024
MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024
"""Default longest answer before the subscription: the symbol list and the symbols' details are the largest
messages (tens of bytes per symbol; a broker lists a few thousand symbols, so a few hundred KiB)."""
HOST_PATTERN: Final = r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$"


class CtraderConfig(StreamingConfig):
    """One cTrader account. Credentials are read from the environment variables named here.

    The application's ``client_id_env`` and ``client_secret_env`` (from the Open API application registered at
    Spotware), the account's ``access_token_env`` (the OAuth access token granted to that application). The
    connection settings are StreamingConfig's; the heartbeat timeout is 30 s by default: the server sends a
    heartbeat when it has nothing else to send, and the client sends one every ``heartbeat_interval_s``.
    """

    kind: Literal["ctrader"] = "ctrader"
    environment: Literal["demo", "live"] = "demo"
    account_id: int = Field(gt=0, lt=2**63, description="The ctidTraderAccountId of the trading account.")
    client_id_env: str = Field(pattern=ENV_NAME_PATTERN, description="Variable holding the application's client id.")
    client_secret_env: str = Field(pattern=ENV_NAME_PATTERN, description="Variable holding the client secret.")
    access_token_env: str = Field(pattern=ENV_NAME_PATTERN, description="Variable holding the account's access token.")
    host: str | None = Field(default=None, pattern=HOST_PATTERN, description="Overrides the environment's host.")
    port: int = Field(default=CTRADER_PORT, ge=1, le=65535)
    ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CAs trusted for the server's certificate; the system's if unset.",
    )
    symbols: dict[str, str] = Field(
        default_factory=dict,
        description="Broker symbol name per instrument when it is not the instrument without '_' (EUR_USD -> EURUSD).",
    )
    heartbeat_timeout_s: float = Field(
        default=30.0, gt=0, description="A connection silent this long is reopened: three of the server's heartbeats."
    )
    heartbeat_interval_s: float = Field(
        default=10.0, gt=0, description="How often the client sends a heartbeat (Spotware asks for one every 10 s)."
    )
    max_frame_bytes: int = Field(
        default=MAX_FRAME_BYTES,
        ge=MIN_FRAME_BYTES,
        le=MAX_FRAME_BYTES_CEILING,
        description="Longest frame accepted once subscribed; a longer length prefix reopens the connection.",
    )
    max_response_bytes: int = Field(
        default=MAX_RESPONSE_BYTES,
        ge=MIN_FRAME_BYTES,
        le=256 * 1024 * 1024,
        description="Longest answer accepted before the subscription (the symbol list is the largest).",
    )

    @field_validator("ca_file")
    @classmethod
    def _anchor_relative_path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Relative paths are relative to the config file's folder."""
        base_dir = (info.context or {}).get("base_dir")
        if value is not None and base_dir is not None and not value.is_absolute():
            return Path(base_dir) / value
        return value

    @model_validator(mode="after")
    def _symbols_of_instruments(self) -> CtraderConfig:
        unknown = sorted(set(self.symbols) - set(self.instruments))
        if unknown:
            raise ValueError(f"symbols names instruments that are not listed in instruments: {', '.join(unknown)}")
        for instrument, name in self.symbols.items():
            if not name or len(name) > 64 or not name.isprintable():
                raise ValueError(f"symbols[{instrument}]: {name!r} is not a symbol name")
        return self

    @property
    def environment_variables(self) -> tuple[str, ...]:
        return (self.client_id_env, self.client_secret_env, self.access_token_env)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the Open API endpoint: the environment's, unless overridden."""
        return self.host or CTRADER_HOSTS[self.environment], self.port

    @property
    def symbol_names(self) -> dict[str, str]:
        """The broker's symbol name of each configured instrument."""
        return {
            instrument: self.symbols.get(instrument, instrument.replace("_", "")) for instrument in self.instruments
        }
