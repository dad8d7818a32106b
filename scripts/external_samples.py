"""The external collectors' recorded answers, ready to be parsed and published: what the benchmarks feed them.

Each registered external collector lists its recorded answers in its ``bench_samples`` class attribute
(:class:`collectors.external.base.BenchSample`: a body under ``../shared/data``, the config keys that make one
of its requests the one that body answers). :func:`load_samples` builds one collector per sample, with the
answer as the collector's parser receives it; a collector without samples (``market_sessions`` polls nothing)
is listed in :attr:`Samples.without`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from collectors.external.base import BenchSample, ExternalCollector
from collectors.polling import HttpResponse, PollingCollector
from collectors.registry import EXTERNAL_COLLECTORS, EXTERNAL_CONFIGS, EXTERNAL_KINDS
from gateway.clock import now_ns
from gateway.events import ExternalSink
from gateway.pipeline import Pipeline

SHARED_DATA: Final = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True, slots=True)
class Sample:
    """One collector and one recorded answer of one of its requests."""

    kind: str
    sample: BenchSample
    collector: PollingCollector[Any]
    response: HttpResponse

    @property
    def name(self) -> str:
        return f"{self.kind} {Path(self.sample.body).name}"


@dataclass(slots=True)
class Samples:
    found: list[Sample] = field(default_factory=list)
    without: list[str] = field(default_factory=list)
    """Kinds that list no sample (or are not polled over HTTP)."""


def load_samples(sink_for: Callable[[str], ExternalSink], data: Path = SHARED_DATA) -> Samples:
    """A collector (its id ``<kind>-<n>``, its sink from ``sink_for(id)``, no state file) per registered sample."""
    samples = Samples()
    for config_class, collector_class in EXTERNAL_KINDS:
        kind = collector_class.kind
        listed = collector_class.bench_samples
        if not listed or not issubclass(collector_class, PollingCollector):
            samples.without.append(kind)
            continue
        for number, sample in enumerate(listed, 1):
            source = f"{kind.replace('_', '-')}-{number}"
            body = (data / sample.body).read_bytes()
            settings = {**sample.config, **(sample.config_from_body(body) if sample.config_from_body else {})}
            config = config_class.model_validate({"id": source, "kind": kind, **settings})
            collector: ExternalCollector[Any] = collector_class(config, sink_for(source))
            assert isinstance(collector, PollingCollector)
            request = collector.requests()[sample.request]
            response = HttpResponse(request, 200, {"content-type": sample.content_type}, body)
            samples.found.append(Sample(kind, sample, collector, response))
    return samples


class ExternalLoad:
    """Every external collector at work on the pipeline's event loop, for ``scripts/bench_pipeline.py --external``.

    Each polled collector parses its recorded answer and publishes what changed every ``interval_s`` (the CPU
    work of a poll; the loopback fetch is left out), starting with an empty change tracker, so its first poll
    publishes every item at once; ``market_sessions`` runs as in the gateway. All publish through ``pipeline``.
    """

    def __init__(self, pipeline: Pipeline, interval_s: float) -> None:
        self.interval_s = interval_s
        self.samples = load_samples(lambda source: pipeline)
        self.others: list[ExternalCollector[Any]] = []
        for kind in self.samples.without:
            collector_class = EXTERNAL_COLLECTORS[kind]
            if not issubclass(collector_class, PollingCollector):
                config = EXTERNAL_CONFIGS[kind].model_validate({"id": kind.replace("_", "-"), "kind": kind})
                self.others.append(collector_class(config, pipeline))
        for collector in [*(sample.collector for sample in self.samples.found), *self.others]:
            pipeline.add_external_source(collector.source_id)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def collectors(self) -> int:
        return len(self.samples.found) + len(self.others)

    async def __aenter__(self) -> ExternalLoad:
        self._tasks = [asyncio.create_task(self._poll(sample)) for sample in self.samples.found]
        self._tasks += [asyncio.create_task(collector.run()) for collector in self.others]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _poll(self, sample: Sample) -> None:
        collector, response = sample.collector, sample.response
        while True:
            recv_ns = now_ns()
            await collector.publish(collector.parse(response, recv_ns).items, recv_ns)
            await asyncio.sleep(self.interval_s)
