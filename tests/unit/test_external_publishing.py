"""External data through the pipeline: numbering, the publish cycle (spool first), NATS subjects and headers,
Kafka records, statuses that leave the best price alone, and how ``fxgw tail`` prints them."""

from __future__ import annotations

from gateway.aggregator import BestPriceAggregator
from gateway.cycle import PublishCycle
from gateway.events import Quote, StatusChange
from gateway.kafka.records import KafkaTopics, cycle_records
from gateway.pipeline import Pipeline
from gateway.publisher import NatsPublisher
from gateway.quality import QualityGate, QualityPolicy
from gateway.schema.market.v1.market_pb2 import (
    ExternalData,
    FieldChange,
    IndicatorObservation,
    SourceStatus,
)
from gateway.tail import describe
from gateway.wire import EXTERNAL_CONTENT_TYPE, Subjects, external_message_id
from tests.support import RecordingNatsClient

SESSION_ID = 77
DAY_NS = 86_400 * 10**9


class RecordingSpool:
    def __init__(self) -> None:
        self.cycles: list[PublishCycle] = []

    def commit(self, cycle: PublishCycle) -> None:
        self.cycles.append(cycle)


def pipeline() -> tuple[Pipeline, RecordingNatsClient, RecordingSpool]:
    client = RecordingNatsClient()
    spool = RecordingSpool()
    gate = QualityGate(QualityPolicy(max_age_ms=10**12, max_future_ms=10**12))
    built = Pipeline(gate, BestPriceAggregator({"a": 1}), NatsPublisher(client), 0.0, spool, session_id=SESSION_ID)
    return built, client, spool


def observation(item_id: str, value: float, source: str = "fred") -> ExternalData:
    return ExternalData(
        type="fred",
        source=source,
        ts_ns=19_905 * DAY_NS,
        ts_recv_ns=20_000 * DAY_NS,
        item_id=item_id,
        change=ExternalData.CHANGE_NEW,
        revision=1,
        indicator=IndicatorObservation(series_id="GDP", date="2024-07-01", value=value, units="lin"),
    )


async def test_external_data_is_numbered_per_source_and_published_after_the_spool() -> None:
    built, client, spool = pipeline()
    await built.publish_external([observation("GDP:1", 1.0), observation("GDP:2", 2.0)])
    await built.publish_external([observation("GDP:3", 3.0), observation("X:1", 9.0, source="fred-b")])
    [first, second] = spool.cycles
    assert [(data.source, data.seq, data.session_id) for data in [*first.external, *second.external]] == [
        ("fred", 1, SESSION_ID),
        ("fred", 2, SESSION_ID),
        ("fred", 3, SESSION_ID),
        ("fred-b", 1, SESSION_ID),
    ]
    assert [subject for subject, _, _ in client.published] == ["market.external.fred"] * 4
    _, payload, headers = client.published[2]
    assert ExternalData.FromString(payload).item_id == "GDP:3"
    assert headers == {"Content-Type": EXTERNAL_CONTENT_TYPE, "Nats-Msg-Id": f"fred:external:{SESSION_ID}:3"}
    assert built.external["fred"].published == 3 and built.publisher.stats.external == 4
    assert built.sources == {}  # an external source is no broker


async def test_an_external_status_is_published_but_leaves_the_best_price_alone() -> None:
    built, client, _ = pipeline()
    built.add_external_source("fred")
    await built.submit([Quote("EUR_USD", "a", 1_091_770_000, 1_091_870_000)])
    await built.report_status("fred", StatusChange(SourceStatus.STATE_DISCONNECTED, "rate limited"))
    assert built.aggregator.current()["EUR_USD"].bid_source == "a"
    [status] = [SourceStatus.FromString(data) for subject, data, _ in client.published if subject.endswith(".status")]
    assert (status.source, status.state, status.seq, status.detail) == (
        "fred",
        SourceStatus.STATE_DISCONNECTED,
        1,
        "rate limited",
    )
    assert built.external["fred"].status == SourceStatus.STATE_DISCONNECTED and "fred" not in built.sources


def test_kafka_records_of_external_data_go_to_their_topic_keyed_by_type() -> None:
    data = observation("GDP:1", 1.0)
    data.session_id, data.seq = SESSION_ID, 1
    cycle = PublishCycle(SESSION_ID, 0, external=[data])
    [record] = cycle_records(cycle, KafkaTopics(external="ext-topic"))
    assert (record.topic, record.key, record.content_type) == ("ext-topic", b"fred", EXTERNAL_CONTENT_TYPE)
    assert ExternalData.FromString(record.value) == data
    assert KafkaTopics().external == "market-external"


def test_subject_and_message_id_of_external_data() -> None:
    assert Subjects("fx").external("economic_calendar") == "fx.external.economic_calendar"
    assert external_message_id("cal", 5, 9) == "cal:external:5:9"


def test_tail_prints_an_update_on_one_line_with_what_changed() -> None:
    data = observation("GDP:2024-07-01", 29374.914)
    data.change, data.revision, data.seq = ExternalData.CHANGE_UPDATED, 2, 316
    data.changes.append(FieldChange(field="value", previous="29349.924", current="29374.914"))
    headers = {"Content-Type": EXTERNAL_CONTENT_TYPE}
    [line] = describe("market.external.fred", headers, data.SerializeToString())
    assert line == (
        "market.external.fred fred fred GDP:2024-07-01 UPDATED r2 seq=316 at 2024-07-01T00:00:00.000000000Z:"
        ' value: \'29349.924\' -> \'29374.914\'; | series_id: "GDP" date: "2024-07-01" value: 29374.914 units: "lin"'
    )
    [guessed] = describe("market.external.fred", None, data.SerializeToString())
    assert guessed == line


def test_tail_bounds_a_huge_item_and_names_garbage() -> None:
    data = observation("GDP:1", 1.0)
    data.indicator.units = "u" * 100_000
    [line] = describe("market.external.fred", None, data.SerializeToString())
    assert len(line) < 700
    [garbage] = describe("market.external.fred", None, b"\xff\xff\xff")
    assert "not a valid market.v1.ExternalData" in garbage
