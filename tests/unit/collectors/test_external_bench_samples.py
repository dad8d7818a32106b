"""Each polled collector's ``bench_samples`` (what scripts/bench_external.py times) are recorded answers its own
``parse`` reads in full: the right request for the right body (news picks its parser by the request's label)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collectors.external.base import BenchSample, ExternalCollector
from collectors.polling import HttpResponse, PollingCollector
from collectors.registry import EXTERNAL_KINDS
from gateway.clock import now_ns
from tests.support import RecordingExternalSink

POLLED: list[tuple[type[Any], type[ExternalCollector[Any]], BenchSample]] = [
    (config, collector, sample)
    for config, collector in EXTERNAL_KINDS
    if issubclass(collector, PollingCollector)
    for sample in collector.bench_samples
]
EXPECTED_ITEMS: dict[str, int] = {
    "fred/series_observations_GDP.json": 315,
    "forexfactory/ff_calendar_thisweek_2026-08-16_first.json": 96,
    "forexfactory/ff_calendar_thisweek_2026-08-16_last.json": 100,
    "coingecko/coins_markets_usd_2023-07-28.json": 250,
    "feargreed/alternative_me_fng_limit2_2022-09-12.json": 2,
    "feargreed/cnn_graphdata_2022-04-25.json": 10,
    "yahoo/chart-GC_F-2020-01-01-to-2020-01-03.body.json": 1,
    "cftc/socrata_jun7-fc8e_legacy_combined_239747_2024-08-20.json": 1,
    "news/fxstreet_rss_2026-07-06.xml": 30,
    "news/gdelt_doc_artlist_2026-01.json": 250,
}


def test_every_polled_collector_lists_a_sample() -> None:
    listed = {collector.kind for _, collector, _ in POLLED}
    polled = {collector.kind for _, collector in EXTERNAL_KINDS if issubclass(collector, PollingCollector)}
    assert listed == polled
    assert sorted(sample.body for _, _, sample in POLLED) == sorted(EXPECTED_ITEMS)


@pytest.mark.parametrize(("config_class", "collector_class", "sample"), POLLED, ids=[s.body for _, _, s in POLLED])
def test_each_sample_is_an_answer_its_collector_reads_in_full(
    shared_data: Path, config_class: type[Any], collector_class: type[ExternalCollector[Any]], sample: BenchSample
) -> None:
    body = (shared_data / sample.body).read_bytes()
    settings = {**sample.config, **(sample.config_from_body(body) if sample.config_from_body else {})}
    config = config_class.model_validate({"id": "bench", "kind": collector_class.kind, **settings})
    collector = collector_class(config, RecordingExternalSink())
    assert isinstance(collector, PollingCollector)
    request = collector.requests()[sample.request]
    parsed = collector.parse(HttpResponse(request, 200, {"content-type": sample.content_type}, body), now_ns())
    assert parsed.problems == []
    assert len(parsed.items) == EXPECTED_ITEMS[sample.body]
