"""Maps the ``kind`` of a broker entry in brokers.yaml to its config and collector classes.

Adding a source: one module with a ``<Name>Config`` and a ``<Name>Collector``,
its config in the ``BrokerConfig`` union and one line in each mapping below.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from collectors.base import Collector, CollectorConfig
from collectors.oanda.collector import OandaCollector
from collectors.oanda.config import OandaConfig
from collectors.replay import ReplayCollector, ReplayConfig
from collectors.simulated import SimulatedCollector, SimulatedConfig

CONFIGS: Final[dict[str, type[CollectorConfig]]] = {
    "oanda": OandaConfig,
    "simulated": SimulatedConfig,
    "replay": ReplayConfig,
}

COLLECTORS: Final[dict[str, type[Collector]]] = {
    "oanda": OandaCollector,
    "simulated": SimulatedCollector,
    "replay": ReplayCollector,
}

BrokerConfig = Annotated[OandaConfig | SimulatedConfig | ReplayConfig, Field(discriminator="kind")]
