"""Pure framing of an OANDA v20 pricing stream: chunks of bytes in, events out.

The stream is JSON lines ending in ``\\n`` (a ``\\r`` before it is tolerated), cut into chunks wherever the
network cut it: a chunk may end in the middle of a line, whose start is carried to the next chunk. Empty
lines are skipped. Each line becomes a Quote (:func:`collectors.oanda.parsing.parse_stream_line`), a
heartbeat (counted, no event) or, if it cannot be read, a BadInput; one bad line never stops the stream.
The first price of each instrument on a stream is marked ``snapshot``: it is OANDA's current price,
possibly a repeat of one received before a reconnect.

No I/O and no clock: the receive time of a chunk is passed in. This is the collector's hot path (about
a third of its CPU per line, scripts/bench_oanda.py), so the loop allocates nothing per line beyond the
line itself and its event.
"""

from __future__ import annotations

from collections.abc import Iterable

from collectors.base import bad_input
from collectors.oanda.parsing import Heartbeat, parse_stream_line
from collectors.streaming import Framed
from gateway.errors import InputError
from gateway.events import Event


class OandaFraming:
    """The framing of one opened pricing stream of ``instruments`` for ``source`` (a StreamFraming)."""

    __slots__ = ("_awaiting_snapshot", "_source", "partial")

    def __init__(self, source: str, instruments: Iterable[str]) -> None:
        self._source = source
        self._awaiting_snapshot = set(instruments)
        self.partial = b""
        """The start of a line whose end has not arrived yet."""

    def feed(self, chunk: bytes, recv_ns: int) -> Framed:
        """The events of the lines ``chunk`` completes, stamped ``recv_ns``, and the count of each kind of line."""
        lines = chunk.split(b"\n")
        if self.partial:
            lines[0] = self.partial + lines[0]
        self.partial = lines.pop()
        source = self._source
        awaiting_snapshot = self._awaiting_snapshot
        events: list[Event] = []
        prices = heartbeats = malformed = 0
        for line in lines:
            if not line or line == b"\r":
                continue
            try:
                parsed = parse_stream_line(line, source, recv_ns)
            except InputError as exc:
                malformed += 1
                events.append(bad_input(exc, source, recv_ns))
                continue
            if type(parsed) is Heartbeat:
                heartbeats += 1
                continue
            if awaiting_snapshot and parsed.instrument in awaiting_snapshot:
                awaiting_snapshot.discard(parsed.instrument)
                parsed.snapshot = True
            prices += 1
            events.append(parsed)
        return events, prices, heartbeats, malformed
