"""The shapes of OANDA v20's JSON that the gateway reads, as msgspec structs, and their decoders.

Lines are decoded by msgspec straight into these typed structs: about a quarter cheaper than building a dict and
reading it, and a field of the wrong type is reported with its JSON path. Fields the gateway does not use
(``closeoutBid``, deeper levels' extra keys, ...) are skipped. The structs are not tracked by the cyclic garbage
collector (``gc=False``: they hold strings, numbers and lists of levels, never a cycle): a line of four levels a
side builds nine, and untracked they parse in 3.8 instead of 4.4 µs.

This module stays pure Python while collectors.oanda.parsing, which converts what these decode, is compiled
(gateway.compiled): msgspec reads a struct's field types from its class, which a compiled module does not keep.
"""

from __future__ import annotations

from typing import Final

import msgspec


class PriceBucket(msgspec.Struct, gc=False):
    """One level of ``bids`` or ``asks``; liquidity is an integer (a float in one recorded client)."""

    price: str
    liquidity: int | float = 0


class StreamMessage(msgspec.Struct, gc=False):
    """The fields of a PRICE or HEARTBEAT line that the gateway reads."""

    type: str | None = None
    time: str | None = None
    instrument: str | None = None
    bids: list[PriceBucket] | None = None
    asks: list[PriceBucket] | None = None
    tradeable: bool | None = None  # current shape; when absent, the deprecated ``status`` decides
    status: str = "tradeable"


class ErrorBody(msgspec.Struct):
    """The body of an OANDA error response."""

    errorMessage: str | None = None  # OANDA's field names
    errorCode: str | None = None


decode_stream_message: Final = msgspec.json.Decoder(StreamMessage).decode
"""One pricing-stream line to a StreamMessage; raises msgspec.DecodeError (ValidationError for a wrong shape)."""

decode_error_body: Final = msgspec.json.Decoder(ErrorBody).decode
"""An error response's body to an ErrorBody; raises msgspec.DecodeError."""
