"""Maps the ``kind`` of an entry in brokers.yaml to its config and collector classes.

Adding a broker: one module with a ``<Name>Config`` and a ``<Name>Collector``,
its config in the ``BrokerConfig`` union and one line in each mapping below (the
collector's as ``"module:Class"``: it is imported when a gateway runs one).
A kind that was renamed keeps working under its old name through ``KIND_ALIASES``.

Adding an external collector (``external:`` in brokers.yaml): one module in
collectors/external/ with a ``<Name>Config`` (whose ``kind`` is a one-value Literal)
and a ``<Name>Collector`` (whose ``kind`` ClassVar is the same), then one import
and one ``(<Name>Config, <Name>Collector)`` line in ``EXTERNAL_KINDS``; the
mappings and the config union are derived from it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Final, Union

from pydantic import BeforeValidator, Field

from collectors.base import Collector, CollectorConfig
from collectors.ctrader.config import CtraderConfig
from collectors.dukascopy.config import DukascopyConfig
from collectors.external.base import ExternalCollector, ExternalConfig
from collectors.external.coingecko import CoingeckoCollector, CoingeckoConfig
from collectors.external.cot import CotCollector, CotConfig
from collectors.external.economic_calendar import EconomicCalendarCollector, EconomicCalendarConfig
from collectors.external.fear_greed import FearGreedCollector, FearGreedConfig
from collectors.external.fred import FredCollector, FredConfig
from collectors.external.market_sessions import MarketSessionsCollector, MarketSessionsConfig
from collectors.external.news import NewsCollector, NewsConfig
from collectors.external.yahoo_commodities import YahooCommoditiesCollector, YahooCommoditiesConfig
from collectors.oanda.config import OandaConfig
from collectors.recorded import RecordedConfig
from collectors.simulated import SimulatedConfig

CONFIGS: Final[dict[str, type[CollectorConfig]]] = {
    "oanda": OandaConfig,
    "simulated": SimulatedConfig,
    "recorded": RecordedConfig,
    "dukascopy": DukascopyConfig,
    "ctrader": CtraderConfig,
}


class _CollectorClasses(Mapping[str, type[Collector]]):
    """Collector classes by kind, each module imported when its kind is first looked up, so a gateway loads the
    collectors it runs only (the Dukascopy player brings numpy: 15 MB and OpenBLAS's threads)."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = paths

    def __getitem__(self, kind: str) -> type[Collector]:
        module, _, name = self._paths[kind].partition(":")
        collector: type[Collector] = getattr(importlib.import_module(module), name)
        return collector

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


COLLECTORS: Final[Mapping[str, type[Collector]]] = _CollectorClasses(
    {
        "oanda": "collectors.oanda.collector:OandaCollector",
        "simulated": "collectors.simulated:SimulatedCollector",
        "recorded": "collectors.recorded:RecordedCollector",
        "dukascopy": "collectors.dukascopy.collector:DukascopyCollector",
        "ctrader": "collectors.ctrader.collector:CtraderCollector",
    }
)

KIND_ALIASES: Final[dict[str, str]] = {"replay": "recorded"}
"""Old kinds still accepted in brokers.yaml, and the kind each now means (``replay`` was the recorded files')."""


def _canonical_kind(entry: Any) -> Any:
    """The broker entry with an old kind replaced by its current name; anything else as it is (for pydantic)."""
    kind = entry.get("kind") if isinstance(entry, dict) else None
    if isinstance(kind, str) and kind in KIND_ALIASES:
        return {**entry, "kind": KIND_ALIASES[kind]}
    return entry


BrokerConfig = Annotated[
    OandaConfig | SimulatedConfig | RecordedConfig | DukascopyConfig | CtraderConfig,
    Field(discriminator="kind"),
    BeforeValidator(_canonical_kind),
]


EXTERNAL_KINDS: Final[tuple[tuple[type[ExternalConfig], type[ExternalCollector[Any]]], ...]] = (
    (FredConfig, FredCollector),
    (EconomicCalendarConfig, EconomicCalendarCollector),
    (CoingeckoConfig, CoingeckoCollector),
    (FearGreedConfig, FearGreedCollector),
    (YahooCommoditiesConfig, YahooCommoditiesCollector),
    (CotConfig, CotCollector),
    (MarketSessionsConfig, MarketSessionsCollector),
    (NewsConfig, NewsCollector),
)
"""Every external collector: its config and its class (append one line per collector)."""


def _external_kind(config: type[ExternalConfig], collector: type[ExternalCollector[Any]]) -> str:
    """The kind both classes declare; TypeError at import when they disagree (a mistake in EXTERNAL_KINDS)."""
    kind = config.model_fields["kind"].default if "kind" in config.model_fields else None
    if kind != collector.kind:
        raise TypeError(f"{config.__name__}.kind {kind!r} differs from {collector.__name__}.kind {collector.kind!r}")
    return collector.kind


EXTERNAL_CONFIGS: Final[dict[str, type[ExternalConfig]]] = {
    _external_kind(config, collector): config for config, collector in EXTERNAL_KINDS
}
EXTERNAL_COLLECTORS: Final[dict[str, type[ExternalCollector[Any]]]] = {
    collector.kind: collector for _, collector in EXTERNAL_KINDS
}

if TYPE_CHECKING:
    ExternalEntryConfig = ExternalConfig
else:
    ExternalEntryConfig = Annotated[Union[tuple(EXTERNAL_CONFIGS.values())], Field(discriminator="kind")]  # noqa: UP007
