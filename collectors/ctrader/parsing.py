"""Pure encoding and decoding of cTrader Open API messages: bytes in, values out, time passed in.

The wire format (Spotware's Open API documentation, "Sending/receiving messages", and the vendored
definitions in collectors/ctrader/messages/): each message is a 4-byte big-endian length, then a
``ProtoMessage`` of that many bytes holding ``payloadType`` (the ``ProtoOAPayloadType`` or ``ProtoPayloadType``
number), ``payload`` (the serialized message of that type) and an optional ``clientMsgId`` echoed in the answer.
Encode and decode live here, side by side; the framing of a stream of such frames is collectors.ctrader.framing.

Prices in ``ProtoOASpotEvent`` are integers "in 1/100000 of unit of a price" (``bid``, ``ask``): exactly
``10_000`` gateway units (1e-9) each. ``timestamp`` is Unix time in milliseconds, sent only when the
subscription asked for it (``subscribeToSpotTimestamp``).

Errors: ``ProtoOAErrorRes`` (and the common ``ProtoErrorRes``) carry an ``errorCode`` string; :func:`refusal`
maps each code the collector can meet to what it means for the connection (refused credentials, refused
request, rate limit, or a transient failure).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final, TypeVar

from google.protobuf.message import DecodeError, Message

from collectors.ctrader.messages.OpenApiCommonMessages_pb2 import ProtoErrorRes, ProtoHeartbeatEvent, ProtoMessage
from collectors.ctrader.messages.OpenApiMessages_pb2 import ProtoOAErrorRes, ProtoOASymbolByIdRes, ProtoOASymbolsListRes
from collectors.ctrader.messages.OpenApiModelMessages_pb2 import ProtoOAPayloadType
from collectors.streaming import MAX_RETRY_AFTER_S
from gateway.clock import MAX_TIME_NS
from gateway.echo import NAME_CHARS, RAW_BYTES, clip, shown
from gateway.errors import BadValueError, MalformedInputError
from gateway.prices import INT64_MAX

PREFIX_BYTES: Final = 4
"""The big-endian length before every ProtoMessage."""
PX_PER_API_UNIT: Final = 10_000
"""Gateway price units (1e-9) per Open API price unit (1e-5): spot prices convert exactly."""
MAX_API_PRICE: Final = INT64_MAX // PX_PER_API_UNIT
"""Largest spot price (API units) whose gateway price still fits a Tick's int64."""
NS_PER_MS: Final = 1_000_000
MAX_TIMESTAMP_MS: Final = MAX_TIME_NS // NS_PER_MS
MIN_PIP_POSITION: Final = 0
MAX_PIP_POSITION: Final = 9
ERROR_TEXT_CHARS: Final = 200
"""Most characters of a server's error description shown in a status or log."""

HEARTBEAT: Final = 51  # ProtoPayloadType.HEARTBEAT_EVENT
COMMON_ERROR_RES: Final = 50  # ProtoPayloadType.ERROR_RES
SPOT_EVENT: Final = ProtoOAPayloadType.PROTO_OA_SPOT_EVENT
ERROR_RES: Final = ProtoOAPayloadType.PROTO_OA_ERROR_RES
TOKEN_INVALIDATED: Final = ProtoOAPayloadType.PROTO_OA_ACCOUNTS_TOKEN_INVALIDATED_EVENT
CLIENT_DISCONNECT: Final = ProtoOAPayloadType.PROTO_OA_CLIENT_DISCONNECT_EVENT
ACCOUNT_DISCONNECT: Final = ProtoOAPayloadType.PROTO_OA_ACCOUNT_DISCONNECT_EVENT

_prefix = struct.Struct(">I")
M = TypeVar("M", bound=Message)


def encode_frame(message: Message, client_msg_id: str = "") -> bytes:
    """One frame for ``message`` (an Open API message whose ``payloadType`` field has its default)."""
    payload_type: int = message.payloadType  # type: ignore[attr-defined]
    wrapped = ProtoMessage(payloadType=payload_type, payload=message.SerializeToString())
    if client_msg_id:
        wrapped.clientMsgId = client_msg_id
    return prefixed(wrapped.SerializeToString())


def prefixed(body: bytes) -> bytes:
    """``body`` (a serialized ProtoMessage) with its length prefix: one frame."""
    return _prefix.pack(len(body)) + body


HEARTBEAT_FRAME: Final = encode_frame(ProtoHeartbeatEvent())
"""What the client sends to keep an idle connection open (the documentation asks for one every 10 s)."""


def frame_length(data: bytes | bytearray | memoryview, offset: int = 0) -> int:
    """The length in the 4-byte prefix at ``offset`` of ``data`` (which must hold 4 bytes from there)."""
    return int(_prefix.unpack_from(data, offset)[0])


def decode_envelope(frame: bytes) -> tuple[int, bytes]:
    """``(payloadType, payload)`` of one frame's ProtoMessage; MalformedInputError if it is not one."""
    try:
        envelope = ProtoMessage.FromString(frame)
    except DecodeError as exc:
        raise MalformedInputError(f"frame of {len(frame):,} bytes is not a ProtoMessage ({exc})", raw=frame) from exc
    if not envelope.IsInitialized():
        raise MalformedInputError(f"frame of {len(frame):,} bytes is not a ProtoMessage (no payloadType)", raw=frame)
    return envelope.payloadType, envelope.payload


def decode_payload(message_type: type[M], payload: bytes, payload_type: int) -> M:
    """``payload`` as a ``message_type``; MalformedInputError naming the type if it does not parse.

    A required field missing is an error too: protobuf's upb parser does not check them (it parses ``b""`` as
    any message), so they are checked here.
    """
    try:
        message = message_type.FromString(payload)
    except DecodeError as exc:
        raise MalformedInputError(
            f"payload of type {payload_type} is not a {message_type.__name__} ({exc})", raw=payload
        ) from exc
    if not message.IsInitialized():
        missing = ", ".join(message.FindInitializationErrors())  # type: ignore[attr-defined]
        raise MalformedInputError(
            f"payload of type {payload_type} is not a {message_type.__name__} (missing {clip(missing, 200)})",
            raw=payload[:RAW_BYTES],
        )
    return message


def pip_px_from_position(pip_position: int) -> int:
    """A symbol's ``pipPosition`` (the pip is 10**-pipPosition: 4 for EURUSD) as a pip size in 1e-9 units."""
    if not MIN_PIP_POSITION <= pip_position <= MAX_PIP_POSITION:
        raise BadValueError(f"pipPosition {pip_position} is not from {MIN_PIP_POSITION} to {MAX_PIP_POSITION}")
    return 10 ** (9 - pip_position)


class Refusal(Enum):
    """What an error from the server means for the connection."""

    APPLICATION = "application"
    """The application's client id or secret is refused: UNAUTHORIZED, naming their variables."""
    TOKEN = "token"
    """The account's access token is refused, expired or revoked: UNAUTHORIZED, naming its variable."""
    REJECTED = "rejected"
    """The request itself is refused (unknown account, symbol, disabled account): REJECTED."""
    RATE_LIMITED = "rate_limited"
    """Too many requests: wait the server's retry-after (capped) or the backoff."""
    TRANSIENT = "transient"
    """Anything else: reconnect with backoff."""


_REFUSALS: Final[dict[str, Refusal]] = {
    # ProtoOAErrorCode (OpenApiModelMessages.proto): authorization
    "CH_CLIENT_AUTH_FAILURE": Refusal.APPLICATION,  # "Open API client is not activated or wrong client credentials"
    "CH_CLIENT_NOT_AUTHENTICATED": Refusal.APPLICATION,
    "CH_OA_CLIENT_NOT_FOUND": Refusal.APPLICATION,
    "CH_ACCESS_TOKEN_INVALID": Refusal.TOKEN,
    "OA_AUTH_TOKEN_EXPIRED": Refusal.TOKEN,
    "ACCOUNT_NOT_AUTHORIZED": Refusal.TOKEN,
    "CH_CTID_TRADER_ACCOUNT_NOT_FOUND": Refusal.REJECTED,
    "RET_NO_SUCH_LOGIN": Refusal.REJECTED,
    "RET_ACCOUNT_DISABLED": Refusal.REJECTED,
    "CHANNEL_IS_BLOCKED": Refusal.REJECTED,
    "SYMBOL_NOT_FOUND": Refusal.REJECTED,
    "UNKNOWN_SYMBOL": Refusal.REJECTED,
    # ProtoErrorCode (OpenApiCommonModelMessages.proto)
    "ENTITY_NOT_FOUND": Refusal.REJECTED,
    "INVALID_REQUEST": Refusal.REJECTED,
    "UNSUPPORTED_MESSAGE": Refusal.REJECTED,
    "REQUEST_FREQUENCY_EXCEEDED": Refusal.RATE_LIMITED,
    "BLOCKED_PAYLOAD_TYPE": Refusal.RATE_LIMITED,
}


@dataclass(frozen=True, slots=True)
class ServerError:
    """An error answer of the server, its texts bounded and safe to show."""

    code: str
    description: str
    refusal: Refusal
    retry_after_s: float | None
    """Seconds the server asks to wait (``retryAfter``, or until ``maintenanceEndTimestamp``), capped; None if not."""

    def __str__(self) -> str:
        return f"{self.code}: {self.description}" if self.description else self.code


def server_error(payload_type: int, payload: bytes, now_s: float) -> ServerError:
    """The error in a ``ProtoOAErrorRes`` or ``ProtoErrorRes`` payload; MalformedInputError if it does not parse."""
    message: ProtoOAErrorRes | ProtoErrorRes
    if payload_type == ERROR_RES:
        message = decode_payload(ProtoOAErrorRes, payload, payload_type)
        retry_after = float(message.retryAfter) if message.HasField("retryAfter") else None
    else:
        message = decode_payload(ProtoErrorRes, payload, payload_type)
        retry_after = None
    raw_code = message.errorCode
    code = raw_code if len(raw_code) <= NAME_CHARS and raw_code.isprintable() else shown(raw_code)
    refusal = _REFUSALS.get(message.errorCode, Refusal.TRANSIENT)
    if message.HasField("maintenanceEndTimestamp"):  # Unix seconds: the server is down for maintenance until then
        retry_after = max(retry_after or 0.0, float(message.maintenanceEndTimestamp) - now_s)
        refusal = Refusal.RATE_LIMITED
    if retry_after is not None:
        retry_after = min(max(retry_after, 0.0), MAX_RETRY_AFTER_S)
    description = clip(message.description, ERROR_TEXT_CHARS) if message.HasField("description") else ""
    return ServerError(code, description, refusal, retry_after)


def resolve_symbols(listed: ProtoOASymbolsListRes, names: Mapping[str, str]) -> tuple[dict[int, str], tuple[str, ...]]:
    """Symbol ids of the wanted instruments: ``({symbolId: instrument}, instruments not offered)``.

    ``names`` maps each gateway instrument (``EUR_USD``) to the broker's symbol name (``EURUSD``). A symbol
    listed as not ``enabled`` is not offered. Names are compared exactly, then ignoring case.
    """
    exact: dict[str, int] = {}
    folded: dict[str, int] = {}
    for symbol in listed.symbol:
        if symbol.HasField("enabled") and not symbol.enabled:
            continue
        exact.setdefault(symbol.symbolName, symbol.symbolId)
        folded.setdefault(symbol.symbolName.casefold(), symbol.symbolId)
    found: dict[int, str] = {}
    missing: list[str] = []
    for instrument, name in names.items():
        symbol_id = exact.get(name, folded.get(name.casefold()))
        if symbol_id is None or symbol_id in found:
            missing.append(instrument)
        else:
            found[symbol_id] = instrument
    return found, tuple(missing)


def symbol_pip_sizes(details: ProtoOASymbolByIdRes, instruments: Mapping[int, str]) -> tuple[dict[str, int], list[str]]:
    """Pip sizes (1e-9 units) of the symbols in ``details`` by instrument, and a note per symbol not usable."""
    pip_sizes: dict[str, int] = {}
    problems: list[str] = []
    for symbol in details.symbol:
        instrument = instruments.get(symbol.symbolId)
        if instrument is None:
            continue
        try:
            pip_sizes[instrument] = pip_px_from_position(symbol.pipPosition)
        except BadValueError as exc:
            problems.append(f"{instrument}: {exc}")
    return pip_sizes, problems
