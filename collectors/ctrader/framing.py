"""Pure framing of a subscribed cTrader Open API stream: chunks of bytes in, events out.

After the subscription (collectors.ctrader.collector) the server sends frames (collectors.ctrader.parsing)
cut into chunks wherever the network cut them; a frame's start is carried to the next chunk in ``partial``.
Each frame becomes at most one event:

- ``ProtoOASpotEvent`` of a subscribed symbol: a Quote. A spot event carries only the sides that changed,
  so the last bid and ask of each symbol are kept, per stream: a side missing from an event is taken from
  the previous one, and a symbol whose first event on this stream lacks a side publishes nothing until the
  other side arrives (counted in ``without_quote``, like an event without a price): a quote is never
  published with a missing side, and never with a side from before a reconnect. The event's ``timestamp``
  (Unix ms, asked for with ``subscribeToSpotTimestamp``) is the broker time; without one the receive time
  is. The first quote of each instrument on a stream is marked ``snapshot``.
- ``ProtoHeartbeatEvent``: counted, no event.
- An error answer (``ProtoOAErrorRes``, ``ProtoErrorRes``), a token invalidated for this account
  (``ProtoOAAccountsTokenInvalidatedEvent``), the server ending the application's or the account's session
  (``ProtoOAClientDisconnectEvent``, ``ProtoOAAccountDisconnectEvent``): the stream is over. ``stop`` says why
  (a :class:`~collectors.ctrader.parsing.ServerError`, or a text) and the rest of the input is ignored; the
  collector ends the stream with it before reading more.
- A frame that is not a ProtoMessage, a payload that does not parse, a symbol not subscribed, another
  account's event, a payload type not expected here: a BadInput (MALFORMED, UNKNOWN_INSTRUMENT or BAD_VALUE),
  counted; the stream goes on.
- A length prefix above ``max_frame_bytes``: one MALFORMED BadInput with the first bytes, and ``stop``: the
  stream is out of step (or hostile) and must be reopened. Nothing of such a frame is buffered, so what one
  stream holds stays below ``max_frame_bytes`` plus a chunk.

On this path required fields are not checked one by one (protobuf's upb parser leaves that to the caller):
a spot event without ``symbolId`` or ``ctidTraderAccountId`` reads them as 0, which no subscription has, and
a frame without ``payloadType`` reads it as 0, an unexpected type: both are rejections.

No I/O and no clock: the receive time of a chunk is passed in. This is the hot path of the collector
(scripts/bench_ctrader.py): two protobuf parses, a few dict lookups and one Quote per spot event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from google.protobuf.message import DecodeError

from collectors.ctrader.messages.OpenApiCommonMessages_pb2 import ProtoMessage
from collectors.ctrader.messages.OpenApiMessages_pb2 import (
    ProtoOAAccountDisconnectEvent,
    ProtoOAAccountsTokenInvalidatedEvent,
    ProtoOAClientDisconnectEvent,
    ProtoOASpotEvent,
)
from collectors.ctrader.parsing import (
    ACCOUNT_DISCONNECT,
    CLIENT_DISCONNECT,
    COMMON_ERROR_RES,
    ERROR_RES,
    HEARTBEAT,
    MAX_API_PRICE,
    MAX_TIMESTAMP_MS,
    NS_PER_MS,
    PX_PER_API_UNIT,
    SPOT_EVENT,
    TOKEN_INVALIDATED,
    Refusal,
    ServerError,
    decode_payload,
    frame_length,
    server_error,
)
from collectors.streaming import Framed
from gateway.clock import NS_PER_S
from gateway.echo import RAW_BYTES, clip, shown
from gateway.errors import BadValueError, InputError, UnknownInstrumentError
from gateway.events import BadInput, Event, Quote
from gateway.schema.market.v1.market_pb2 import RejectionReason

MAX_FRAME_BYTES: Final = 64 * 1024
"""Default longest frame on a subscribed stream: a spot event is under 60 bytes (a ProtoMessage around a
ProtoOASpotEvent with both sides and a timestamp), the other events a few hundred; 64 KiB is over a
thousand times a spot event and bounds what one stream holds of an unfinished frame."""

_MALFORMED: Final = RejectionReason.REJECTION_REASON_MALFORMED
_BAD_VALUE: Final = RejectionReason.REJECTION_REASON_BAD_VALUE
_UNKNOWN: Final = RejectionReason.REJECTION_REASON_UNKNOWN_INSTRUMENT
_EXCEPTION_CHARS: Final = 200
_parse_envelope = ProtoMessage.FromString
_parse_spot = ProtoOASpotEvent.FromString


class CtraderFraming:
    """The framing of one subscribed stream of account ``account_id`` for ``source`` (a StreamFraming).

    ``symbols`` maps the subscribed symbol ids to gateway instruments.
    """

    __slots__ = (
        "_account_id",
        "_asks",
        "_awaiting_snapshot",
        "_bids",
        "_max_frame_bytes",
        "_source",
        "_symbols",
        "partial",
        "stop",
        "without_quote",
    )

    def __init__(
        self, source: str, account_id: int, symbols: Mapping[int, str], max_frame_bytes: int = MAX_FRAME_BYTES
    ) -> None:
        if max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be at least 1, not {max_frame_bytes}")
        self._source = source
        self._account_id = account_id
        self._symbols = dict(symbols)
        self._awaiting_snapshot = set(self._symbols.values())
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._max_frame_bytes = max_frame_bytes
        self.partial = b""
        """The start of a frame whose end has not arrived yet; at most ``max_frame_bytes`` + 3 bytes."""
        self.stop: ServerError | str | None = None
        """Why the stream is over (an error answer of the server, or a text); None while it goes on."""
        self.without_quote = 0
        """Spot events of subscribed symbols that published no quote: without a price, or with one side while
        the other has not been seen on this stream yet."""

    def feed(self, chunk: bytes, recv_ns: int) -> Framed:
        """The events of the frames ``chunk`` completes, stamped ``recv_ns``, and the count of each kind."""
        if self.stop is not None:
            return [], 0, 0, 0
        data = self.partial + chunk if self.partial else chunk
        end = len(data)
        pos = 0
        max_frame_bytes = self._max_frame_bytes
        events: list[Event] = []
        prices = heartbeats = malformed = 0
        while end - pos >= 4:
            length = frame_length(data, pos)
            if length > max_frame_bytes:
                malformed += 1
                detail = (
                    f"frame length {length:,} bytes is above max_frame_bytes ({max_frame_bytes:,}): the stream is out "
                    f"of step and is reopened (raw: the prefix and up to {RAW_BYTES - 4} bytes after it)"
                )
                events.append(BadInput(self._source, _MALFORMED, detail, bytes(data[pos : pos + RAW_BYTES]), recv_ns))
                self.stop = f"frame length {length:,} bytes is above max_frame_bytes ({max_frame_bytes:,})"
                self.partial = b""
                return events, prices, heartbeats, malformed
            start = pos + 4
            pos = start + length
            if pos > end:
                pos = start - 4
                break
            frame = data[start:pos]
            try:
                envelope = _parse_envelope(frame)
                payload_type = envelope.payloadType
                if payload_type == SPOT_EVENT:
                    quote = self._spot(envelope.payload, recv_ns)
                    if quote is not None:
                        prices += 1
                        events.append(quote)
                elif payload_type == HEARTBEAT:
                    heartbeats += 1
                else:
                    event = self._other(payload_type, envelope.payload, recv_ns)
                    if event is not None:
                        malformed += 1
                        events.append(event)
                    if self.stop is not None:
                        self.partial = b""
                        return events, prices, heartbeats, malformed
            except DecodeError as exc:
                malformed += 1
                detail = f"frame of {length:,} bytes is not a ProtoMessage ({clip(str(exc), _EXCEPTION_CHARS)})"
                events.append(BadInput(self._source, _MALFORMED, detail, frame[:RAW_BYTES], recv_ns))
            except InputError as exc:
                malformed += 1
                reason = _reason(exc)
                events.append(BadInput(self._source, reason, str(exc), frame[:RAW_BYTES], recv_ns, exc.instrument))
            except Exception as exc:  # a bug must cost one frame, not the chunk or the stream
                malformed += 1
                events.append(self._unreadable(frame, exc, recv_ns))
        self.partial = data[pos:] if pos < end else b""
        return events, prices, heartbeats, malformed

    def _spot(self, payload: bytes, recv_ns: int) -> Quote | None:
        """The quote of a spot event, None while a side is still unknown; raises DecodeError or InputError."""
        spot = _parse_spot(payload)
        symbol_id = spot.symbolId
        instrument = self._symbols.get(symbol_id)
        if instrument is None or spot.ctidTraderAccountId != self._account_id:
            raise UnknownInstrumentError(
                f"spot event for symbol {symbol_id} of account {spot.ctidTraderAccountId}, which this stream did "
                f"not subscribe (account {self._account_id}, {len(self._symbols)} symbols)"
            )
        has_bid, has_ask = spot.HasField("bid"), spot.HasField("ask")
        if not has_bid and not has_ask:  # no price (a trend bar or session close alone): nothing to publish
            self.without_quote += 1
            return None
        bid = self._bids[symbol_id] = spot.bid if has_bid else self._bids.get(symbol_id, 0)
        ask = self._asks[symbol_id] = spot.ask if has_ask else self._asks.get(symbol_id, 0)
        if not bid or not ask:
            self.without_quote += 1
            return None
        if bid > MAX_API_PRICE or ask > MAX_API_PRICE:
            raise BadValueError(
                f"{instrument}: price {max(bid, ask):,} (1e-5 units) is beyond the gateway's range",
                instrument=instrument,
            )
        if spot.HasField("timestamp"):
            timestamp_ms = spot.timestamp
            if not 0 < timestamp_ms <= MAX_TIMESTAMP_MS:
                raise BadValueError(
                    f"{instrument}: timestamp {timestamp_ms:,} ms is not a time from 1970 to 2262",
                    instrument=instrument,
                )
            ts_event_ns = timestamp_ms * NS_PER_MS
        else:
            ts_event_ns = recv_ns
        snapshot = False
        if self._awaiting_snapshot and instrument in self._awaiting_snapshot:
            self._awaiting_snapshot.discard(instrument)
            snapshot = True
        return Quote(
            instrument,
            self._source,
            bid * PX_PER_API_UNIT,
            ask * PX_PER_API_UNIT,
            0,
            0,
            ts_event_ns,
            recv_ns,
            True,
            snapshot,
        )

    def _other(self, payload_type: int, payload: bytes, recv_ns: int) -> BadInput | None:
        """A frame other than a spot event or a heartbeat: sets ``stop``, or is a rejection."""
        account = self._account_id
        if payload_type in (ERROR_RES, COMMON_ERROR_RES):
            self.stop = server_error(payload_type, payload, recv_ns / NS_PER_S)
        elif payload_type == TOKEN_INVALIDATED:
            invalidated = decode_payload(ProtoOAAccountsTokenInvalidatedEvent, payload, payload_type)
            if account in invalidated.ctidTraderAccountIds or not invalidated.ctidTraderAccountIds:
                reason = clip(invalidated.reason, _EXCEPTION_CHARS) if invalidated.HasField("reason") else ""
                self.stop = ServerError("ACCOUNTS_TOKEN_INVALIDATED", reason, Refusal.TOKEN, None)
        elif payload_type == CLIENT_DISCONNECT:
            disconnect = decode_payload(ProtoOAClientDisconnectEvent, payload, payload_type)
            reason = clip(disconnect.reason, _EXCEPTION_CHARS) if disconnect.HasField("reason") else "no reason given"
            self.stop = f"the server disconnected the application ({reason})"
        elif payload_type == ACCOUNT_DISCONNECT:
            if decode_payload(ProtoOAAccountDisconnectEvent, payload, payload_type).ctidTraderAccountId == account:
                self.stop = f"the server ended the session of account {account}"
        else:
            detail = f"unexpected payload type {payload_type} on a spot stream ({len(payload):,} bytes)"
            return BadInput(self._source, _MALFORMED, detail, payload[:RAW_BYTES], recv_ns)
        return None

    def _unreadable(self, frame: bytes, exc: Exception, recv_ns: int) -> BadInput:
        """The rejection of a frame the framing failed on unexpectedly: the exception named, the text bounded."""
        try:
            text = clip(str(exc), _EXCEPTION_CHARS)
        except Exception:  # an exception whose text cannot be made
            text = "(no text)"
        detail = f"frame could not be read ({type(exc).__name__}: {shown(text, _EXCEPTION_CHARS)})"
        return BadInput(self._source, _MALFORMED, detail, frame[:RAW_BYTES], recv_ns)


def _reason(exc: InputError) -> RejectionReason:
    """The rejection reason of an input error."""
    if isinstance(exc, BadValueError):
        return _BAD_VALUE
    if isinstance(exc, UnknownInstrumentError):
        return _UNKNOWN
    return _MALFORMED
