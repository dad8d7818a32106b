"""Pure framing of an OANDA v20 pricing stream: chunks of bytes in, events out.

The stream is JSON lines ending in ``\\n`` (a ``\\r`` before it is tolerated), cut into chunks wherever the
network cut it: a chunk may end in the middle of a line, whose start is carried to the next chunk. Empty
lines are skipped. Each line becomes a Quote (:func:`collectors.oanda.parsing.parse_stream_line`), a
heartbeat (counted, no event) or, if it cannot be read, a BadInput; one bad line never stops the stream.
The first price of each instrument on a stream is marked ``snapshot``: it is OANDA's current price,
possibly a repeat of one received before a reconnect.

Hostile input is contained line by line:

- **Any single line** becomes at most one event. The parser turns whatever a line holds into a Quote, a
  heartbeat or an InputError; should anything else escape it (a bug), that line alone becomes a MALFORMED
  BadInput naming the exception, and the other lines of the chunk go on.
- **Line length** is bounded by ``max_line_bytes``: a longer line is rejected once, as soon as it passes the
  limit (one MALFORMED BadInput saying how long it got, with its first :data:`~gateway.echo.RAW_BYTES`
  bytes), and the rest of it is skipped up to its newline without being kept: a line of megabytes costs
  one scan for the newline per chunk, not a buffer that grows with it.

No I/O and no clock: the receive time of a chunk is passed in. This is the collector's hot path (about
a third of its CPU per line, scripts/bench_oanda.py), so the loop allocates nothing per line beyond the
line itself and its event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from collectors.base import bad_input
from collectors.oanda.parsing import Heartbeat, parse_stream_line
from collectors.streaming import Framed
from gateway.echo import RAW_BYTES, clip
from gateway.errors import InputError
from gateway.events import BadInput, Event
from gateway.schema.market.v1.market_pb2 import RejectionReason

MAX_LINE_BYTES: Final = 64 * 1024
"""Default longest line, newline excluded: 64 KiB. OANDA's longest recorded pricing-stream line
(``../shared/data/oanda-v20``) is 568 bytes, a price with four levels a side; a full book of 20 levels
a side with every deprecated field stays under 4 KiB. 64 KiB is over 100 times the longest line seen and
bounds what one stream holds of an unfinished line."""

_MALFORMED: Final = RejectionReason.REJECTION_REASON_MALFORMED
_EXCEPTION_CHARS: Final = 200
"""Most characters of an unexpected exception's text in a rejection's detail."""


class OandaFraming:
    """The framing of one opened pricing stream of ``instruments`` for ``source`` (a StreamFraming).

    ``max_line_bytes`` is the longest line accepted, its newline excluded (default :data:`MAX_LINE_BYTES`).
    """

    __slots__ = ("_awaiting_snapshot", "_max_line_bytes", "_skipping", "_source", "last_heartbeat_ns", "partial")

    def __init__(self, source: str, instruments: Iterable[str], max_line_bytes: int = MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1, not {max_line_bytes}")
        self._source = source
        self._awaiting_snapshot = set(instruments)
        self._max_line_bytes = max_line_bytes
        self._skipping = False
        """Inside a line already rejected as too long: bytes are dropped up to its newline."""
        self.partial = b""
        """The start of a line whose end has not arrived yet; never longer than ``max_line_bytes``."""
        self.last_heartbeat_ns = 0
        """The broker time of the last heartbeat (ns since the epoch); 0 before any."""

    def feed(self, chunk: bytes, recv_ns: int) -> Framed:
        """The events of the lines ``chunk`` completes, stamped ``recv_ns``, and the count of each kind of line."""
        if self._skipping:
            end = chunk.find(b"\n")
            if end < 0:
                return [], 0, 0, 0
            self._skipping = False
            chunk = chunk[end + 1 :]
        lines = chunk.split(b"\n")
        if self.partial:
            lines[0] = self.partial + lines[0]
        partial = lines.pop()
        source = self._source
        awaiting_snapshot = self._awaiting_snapshot
        max_line_bytes = self._max_line_bytes
        # Only the first line (it may continue the partial) can be longer than the limit, unless the chunk
        # itself is: then every line is measured. Measuring each line always would cost 1-2% of the hot path.
        measure = len(chunk) > max_line_bytes or (bool(lines) and len(lines[0]) > max_line_bytes)
        events: list[Event] = []
        prices = heartbeats = malformed = 0
        for line in lines:
            if not line or line == b"\r":
                continue
            if measure and len(line) > max_line_bytes:
                malformed += 1
                events.append(self._too_long(line, recv_ns, complete=True))
                continue
            try:
                parsed = parse_stream_line(line, source, recv_ns)
            except InputError as exc:
                malformed += 1
                events.append(bad_input(exc, source, recv_ns))
                continue
            except Exception as exc:  # a parser bug must cost one line, not the chunk or the stream
                malformed += 1
                events.append(self._unreadable(line, exc, recv_ns))
                continue
            if type(parsed) is Heartbeat:
                heartbeats += 1
                self.last_heartbeat_ns = parsed.ts_event_ns
                continue
            if awaiting_snapshot and parsed.instrument in awaiting_snapshot:
                awaiting_snapshot.discard(parsed.instrument)
                parsed.snapshot = True
            prices += 1
            events.append(parsed)
        if len(partial) > max_line_bytes:
            malformed += 1
            events.append(self._too_long(partial, recv_ns, complete=False))
            self._skipping = True
            partial = b""
        self.partial = partial
        return events, prices, heartbeats, malformed

    def _too_long(self, line: bytes, recv_ns: int, *, complete: bool) -> BadInput:
        """The rejection of a line longer than the limit, with its first bytes only."""
        limit = self._max_line_bytes
        if complete:
            detail = f"line of {len(line):,} bytes is longer than max_line_bytes ({limit:,}); skipped"
        else:
            detail = (
                f"line longer than max_line_bytes ({limit:,}): {len(line):,} bytes without a newline so far; "
                f"the rest of it is skipped"
            )
        return BadInput(
            self._source, _MALFORMED, f"{detail} (raw: its first {RAW_BYTES} bytes)", line[:RAW_BYTES], recv_ns
        )

    def _unreadable(self, line: bytes, exc: Exception, recv_ns: int) -> BadInput:
        """The rejection of a line the parser failed on unexpectedly: the exception named, the text bounded."""
        try:
            text = clip(str(exc), _EXCEPTION_CHARS)
        except Exception:  # an exception whose text cannot be made
            text = "(no text)"
        detail = f"line could not be read ({type(exc).__name__}: {text})"
        # Unpaired surrogates cannot be encoded: the rejection must be publishable whatever the text holds.
        detail = detail.encode("utf-8", "backslashreplace").decode("utf-8")
        return BadInput(self._source, _MALFORMED, detail, bytes(line), recv_ns)
