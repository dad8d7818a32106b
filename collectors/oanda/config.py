"""Configuration of an OANDA v20 broker account."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, model_validator

from collectors.base import CollectorConfig

OANDA_HOSTS: Final = {
    "practice": ("https://api-fxpractice.oanda.com", "https://stream-fxpractice.oanda.com"),
    "live": ("https://api-fxtrade.oanda.com", "https://stream-fxtrade.oanda.com"),
}
ENV_NAME_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]*$"


class OandaConfig(CollectorConfig):
    """One OANDA account. The token is read from the environment variable ``token_env``."""

    kind: Literal["oanda"] = "oanda"
    environment: Literal["practice", "live"] = "practice"
    account_id: str | None = Field(default=None, pattern=r"^\d{3}-\d{3}-\d+-\d{3}$")
    account_id_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN)
    token_env: str = Field(pattern=ENV_NAME_PATTERN, description="Name of the variable holding the API token.")
    rest_url: str | None = Field(default=None, description="Overrides the environment's REST host.")
    stream_url: str | None = Field(default=None, description="Overrides the environment's streaming host.")

    @model_validator(mode="after")
    def _one_account_source(self) -> OandaConfig:
        if (self.account_id is None) == (self.account_id_env is None):
            raise ValueError("give exactly one of account_id and account_id_env")
        return self
