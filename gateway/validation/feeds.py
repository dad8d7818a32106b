"""Where ``fxgw validate`` reads a feed: what a ``--reference``/``--source`` value names, and the readers of the
gateway's own output (a spool directory, Kafka) into a :class:`TickSeries`.

A feed is ``KIND:WHERE``:

- ``dukascopy:DIR``: a directory of Dukascopy hourly tick files (``DIR/EURUSD/2019/01/04/10h_ticks.bi5``);
- ``recorded:PATH``: a recorded OANDA quote file or a folder of them (``YYYYMMDD_quote.zip``);
- ``spool:DIR#SOURCE``: the ticks of source id SOURCE in a gateway's spool directory;
- ``kafka:HOST:PORT[,HOST:PORT...]#SOURCE``: the ticks of SOURCE on the Kafka ticks topic.

The first two are read by the collectors' readers, which the composition root (gateway.cli) wires in.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.echo import shown
from gateway.errors import ConfigError
from gateway.kafka.replay.readers import KafkaTickReader, SpoolTickReader
from gateway.kafka.replay.request import ECHO_CHARS, check_bootstrap_servers
from gateway.kafka.replay.run import replay
from gateway.kafka.replay.selection import TickSelector
from gateway.validation.series import SeriesBuilder, TickSeries
from gateway.wire import ROW_TS_EVENT, SOURCE_ID, TickRun


class FeedKind(enum.Enum):
    DUKASCOPY = "dukascopy"
    RECORDED = "recorded"
    SPOOL = "spool"
    KAFKA = "kafka"


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A parsed ``KIND:WHERE[#SOURCE]``; ``source_id`` only for spool and kafka."""

    kind: FeedKind
    where: str
    source_id: str | None = None

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.where}" + (f"#{self.source_id}" if self.source_id else "")


def parse_feed(text: str, option: str) -> FeedSpec:
    """Parse a feed argument; ConfigError naming ``option``, the value (clipped) and the accepted forms."""
    forms = "dukascopy:DIR, recorded:PATH, spool:DIR#SOURCE or kafka:HOST:PORT#SOURCE"
    kind_text, colon, rest = text.partition(":")
    try:
        kind = FeedKind(kind_text)
    except ValueError:
        kind = None
    if kind is None or not colon or not rest or "\x00" in rest:
        raise ConfigError(f"{option}: {shown(text, ECHO_CHARS)} is not a feed; use {forms}")
    if kind in (FeedKind.DUKASCOPY, FeedKind.RECORDED):
        return FeedSpec(kind, rest)
    where, hash_, source_id = rest.rpartition("#")
    if not hash_ or not where or SOURCE_ID.fullmatch(source_id) is None:
        raise ConfigError(
            f"{option}: {shown(text, ECHO_CHARS)} does not end in #SOURCE, a source id of the gateway "
            f"(for example {kind.value}:{'spool-dir' if kind is FeedKind.SPOOL else 'localhost:9092'}#oanda-primary)"
        )
    if kind is FeedKind.KAFKA:
        try:
            check_bootstrap_servers(where)
        except ConfigError as exc:
            raise ConfigError(f"{option}: {exc}") from exc
    return FeedSpec(kind, where, source_id)


class _CollectingSink:
    """The replay's TickSink, keeping event time, bid and ask of every tick written."""

    def __init__(self, builder: SeriesBuilder) -> None:
        self._builder = builder

    async def write(self, run: TickRun, indices: Sequence[int]) -> None:
        rows, add = run.rows, self._builder.add
        for index in indices:
            row = rows[index]
            add(row[ROW_TS_EVENT], row[0], row[1])

    async def flush(self) -> None:
        pass


async def read_gateway_feed(
    spec: FeedSpec, instrument: str, since_ns: int, until_ns: int, *, topic: str, timeout_s: float
) -> TickSeries:
    """The ticks of ``spec.source_id`` and ``instrument`` in ``[since_ns, until_ns)`` from a spool or Kafka.

    Read as ``fxgw replay`` reads them (duplicates skipped, event-time order). Raises ConfigError (not a spool,
    unknown topic, too many ticks) or ReplayError (Kafka unreachable).
    """
    if spec.kind not in (FeedKind.SPOOL, FeedKind.KAFKA) or spec.source_id is None:
        raise ValueError(f"{spec} is not read from the gateway's output")
    selector = TickSelector(
        since_ns, until_ns, instruments=frozenset([instrument]), sources=frozenset([spec.source_id])
    )
    reader: SpoolTickReader | KafkaTickReader = (
        SpoolTickReader(Path(spec.where), topic)
        if spec.kind is FeedKind.SPOOL
        else KafkaTickReader(spec.where, topic, timeout_s)
    )
    builder = SeriesBuilder(str(spec), instrument)
    async with reader:
        await replay(reader, selector, _CollectingSink(builder))
    return builder.series()


def check_directory(spec: FeedSpec, option: str) -> Path:
    """``spec.where`` as a path that exists; ConfigError otherwise."""
    path = Path(spec.where)
    try:
        exists = path.is_dir() if spec.kind is FeedKind.DUKASCOPY else path.exists()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a path"
        raise ConfigError(f"{option}: {shown(spec.where, ECHO_CHARS)} cannot be read ({reason})") from exc
    if not exists:
        what = "a directory" if spec.kind is FeedKind.DUKASCOPY else "a file or folder"
        raise ConfigError(f"{option}: {shown(spec.where, ECHO_CHARS)} is not {what}")
    return path
