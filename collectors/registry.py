"""Maps the ``kind`` of a broker entry in brokers.yaml to its config and collector classes.

Adding a source: one module with a ``<Name>Config`` and a ``<Name>Collector``,
its config in the ``BrokerConfig`` union and one line in each mapping below.
A kind that was renamed keeps working under its old name through ``KIND_ALIASES``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import BeforeValidator, Field

from collectors.base import Collector, CollectorConfig
from collectors.dukascopy.collector import DukascopyCollector
from collectors.dukascopy.config import DukascopyConfig
from collectors.oanda.collector import OandaCollector
from collectors.oanda.config import OandaConfig
from collectors.recorded import RecordedCollector, RecordedConfig
from collectors.simulated import SimulatedCollector, SimulatedConfig

CONFIGS: Final[dict[str, type[CollectorConfig]]] = {
    "oanda": OandaConfig,
    "simulated": SimulatedConfig,
    "recorded": RecordedConfig,
    "dukascopy": DukascopyConfig,
}

COLLECTORS: Final[dict[str, type[Collector]]] = {
    "oanda": OandaCollector,
    "simulated": SimulatedCollector,
    "recorded": RecordedCollector,
    "dukascopy": DukascopyCollector,
}

KIND_ALIASES: Final[dict[str, str]] = {"replay": "recorded"}
"""Old kinds still accepted in brokers.yaml, and the kind each now means (``replay`` was the recorded files')."""


def _canonical_kind(entry: Any) -> Any:
    """The broker entry with an old kind replaced by its current name; anything else as it is (for pydantic)."""
    kind = entry.get("kind") if isinstance(entry, dict) else None
    if isinstance(kind, str) and kind in KIND_ALIASES:
        return {**entry, "kind": KIND_ALIASES[kind]}
    return entry


BrokerConfig = Annotated[
    OandaConfig | SimulatedConfig | RecordedConfig | DukascopyConfig,
    Field(discriminator="kind"),
    BeforeValidator(_canonical_kind),
]
