"""Configuration of an OANDA v20 broker account."""

from __future__ import annotations

from typing import Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from collectors.oanda.framing import MAX_LINE_BYTES
from collectors.streaming import StreamingConfig
from gateway.secrets import ENV_NAME_PATTERN

OANDA_HOSTS: Final = {
    "practice": ("https://api-fxpractice.oanda.com", "https://stream-fxpractice.oanda.com"),
    "live": ("https://api-fxtrade.oanda.com", "https://stream-fxtrade.oanda.com"),
}
ACCOUNT_ID_PATTERN: Final = r"^\d{3}-\d{3}-\d+-\d{3}$"
MIN_LINE_BYTES: Final = 4 * 1024
"""Lowest max_line_bytes allowed: OANDA's longest recorded line is 568 bytes, a full book stays under 4 KiB."""
MAX_LINE_BYTES_CEILING: Final = 16 * 1024 * 1024
"""Highest max_line_bytes allowed: what one stream may hold of an unfinished line stays bounded."""


class OandaConfig(StreamingConfig):
    """One OANDA account. The token is read from the environment variable ``token_env``.

    The connection settings (``heartbeat_timeout_s``, ``reconnect_min_s``, ...) are StreamingConfig's; their
    defaults are OANDA's: it sends a heartbeat every 5 s.
    """

    kind: Literal["oanda"] = "oanda"
    environment: Literal["practice", "live"] = "practice"
    account_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN)
    account_id_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN)
    token_env: str = Field(pattern=ENV_NAME_PATTERN, description="Name of the variable holding the API token.")
    rest_url: str | None = Field(default=None, description="Overrides the environment's REST host.")
    stream_url: str | None = Field(default=None, description="Overrides the environment's streaming host.")
    max_line_bytes: int = Field(
        default=MAX_LINE_BYTES,
        ge=MIN_LINE_BYTES,
        le=MAX_LINE_BYTES_CEILING,
        description=(
            "Longest stream line accepted (bytes, newline excluded); a longer one is rejected as MALFORMED as "
            "soon as it passes the limit and skipped to its end without being kept. 64 KiB by default: over "
            "100 times OANDA's longest recorded line (568 bytes)."
        ),
    )

    @field_validator("rest_url", "stream_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL such as https://stream-fxpractice.oanda.com")
        if parts.path.strip("/") or "?" in value or "#" in value or "@" in parts.netloc:
            raise ValueError(f"{value!r} must be a host URL without path, query, fragment or credentials")
        try:
            parts.port  # noqa: B018 (raises on a port that is not a number from 0 to 65535)
        except ValueError as exc:
            raise ValueError(f"{value!r} has an invalid port") from exc
        return value.rstrip("/")

    @property
    def environment_variables(self) -> tuple[str, ...]:
        return (self.token_env,) if self.account_id_env is None else (self.token_env, self.account_id_env)

    @model_validator(mode="after")
    def _consistent(self) -> OandaConfig:
        if (self.account_id is None) == (self.account_id_env is None):
            raise ValueError("give exactly one of account_id and account_id_env")
        return self

    @property
    def hosts(self) -> tuple[str, str]:
        """(REST URL, streaming URL): the environment's, unless overridden."""
        rest, stream = OANDA_HOSTS[self.environment]
        return self.rest_url or rest, self.stream_url or stream
