"""gateway.kafka.records: the topic, key, value and content type of every Kafka record of a publish cycle."""

from __future__ import annotations

import pytest

from gateway.aggregator import BestQuote
from gateway.clock import now_ns
from gateway.cycle import CycleBuilder
from gateway.events import Quote
from gateway.kafka.records import (
    DEFAULT_BEST_PRICES_TOPIC,
    DEFAULT_REJECTIONS_TOPIC,
    DEFAULT_STATUS_TOPIC,
    DEFAULT_TICKS_TOPIC,
    KafkaRecord,
    KafkaTopics,
    cycle_records,
)
from gateway.schema.market.v1.market_pb2 import (
    BestPrice,
    MarketDataStream,
    QualityRejection,
    RejectionReason,
    SourceStatus,
    Tick,
)
from gateway.wire import REJECTION_CONTENT_TYPE, STATUS_CONTENT_TYPE, STREAM_CONTENT_TYPE, TickRecordEncoder

SESSION_ID = 1_700_000_000_000_000_000
TOPICS = KafkaTopics(ticks="t-ticks", best_prices="t-best", rejections="t-rejected", status="t-status")
T0 = 1_700_000_000_000_000_000


def quote(source: str, instrument: str, n: int, *, snapshot: bool = False, tradeable: bool = True) -> Quote:
    """A distinct quote: ``n`` moves its prices and times."""
    bid = 1_091_770_000 + n * 10_000
    return Quote(instrument, source, bid, bid + 100_000, 1_000_000, 2_000_000, T0 + n, T0 + n + 5, tradeable, snapshot)


def best(instrument: str, n: int, *, live: int = 2, crossed: bool = False) -> BestQuote:
    bid = 1_091_770_000 + n * 10_000
    ask = bid - 10_000 if crossed else bid + 100_000
    return BestQuote(instrument, bid, "a", ask, "b", live, T0 + n)


class RecordBuilder:
    """A cycle builder whose ``take`` gives the cycle's Kafka records and tick count, as the Kafka backup sees them."""

    def __init__(self, topics: KafkaTopics, session_id: int) -> None:
        self.topics = topics
        self.cycles = CycleBuilder(session_id)

    def add_tick(self, source: str, instrument: str, record: bytes) -> None:
        self.cycles.add_tick(source, instrument, record)

    def add_best(self, changes: list[BestQuote]) -> None:
        self.cycles.add_best(changes)

    def add_rejection(self, rejection: QualityRejection) -> None:
        self.cycles.add_rejection(rejection)

    def add_status(self, status: SourceStatus) -> None:
        self.cycles.add_status(status)

    def take(self) -> tuple[list[KafkaRecord], int]:
        cycle = self.cycles.take(now_ns())
        return cycle_records(cycle, self.topics), cycle.tick_count


class Builder:
    """A RecordBuilder fed through TickRecordEncoder, remembering the Tick each record must decode to."""

    def __init__(self, topics: KafkaTopics = TOPICS) -> None:
        self.builder = RecordBuilder(topics, SESSION_ID)
        self.encoder = TickRecordEncoder()

    def add(self, q: Quote, seq: int) -> Tick:
        self.builder.add_tick(q.source, q.instrument, self.encoder.encode(q, seq))
        return q.to_tick(seq)


def streams(records: list[KafkaRecord], topic: str) -> list[tuple[bytes, MarketDataStream]]:
    return [(r.key, MarketDataStream.FromString(r.value)) for r in records if r.topic == topic]


def test_default_topics() -> None:
    assert KafkaTopics() == KafkaTopics(
        ticks=DEFAULT_TICKS_TOPIC,
        best_prices=DEFAULT_BEST_PRICES_TOPIC,
        rejections=DEFAULT_REJECTIONS_TOPIC,
        status=DEFAULT_STATUS_TOPIC,
    )
    assert (DEFAULT_TICKS_TOPIC, DEFAULT_BEST_PRICES_TOPIC, DEFAULT_REJECTIONS_TOPIC, DEFAULT_STATUS_TOPIC) == (
        "market-data-stream",
        "market-best-prices",
        "market-rejections",
        "market-status",
    )


# -- ticks -----------------------------------------------------------------------------------------------------


def test_empty_builder_takes_nothing() -> None:
    assert Builder().builder.take() == ([], 0)


@pytest.mark.parametrize(
    ("arrivals", "groups"),
    [
        pytest.param([("a", "EUR_USD")], [("a", "EUR_USD", [0])], id="one_tick"),
        pytest.param(
            [("a", "EUR_USD")] * 3,
            [("a", "EUR_USD", [0, 1, 2])],
            id="one_source_one_instrument_is_one_record",
        ),
        pytest.param(
            [("a", "EUR_USD"), ("a", "USD_JPY"), ("a", "EUR_USD")],
            [("a", "EUR_USD", [0, 2]), ("a", "USD_JPY", [1])],
            id="one_record_per_instrument_of_a_source",
        ),
        pytest.param(
            [("a", "EUR_USD"), ("b", "EUR_USD"), ("a", "EUR_USD"), ("b", "EUR_USD")],
            [("a", "EUR_USD", [0, 2]), ("b", "EUR_USD", [1, 3])],
            id="one_record_per_source_of_an_instrument",
        ),
        pytest.param(
            [("a", "EUR_USD"), ("b", "USD_JPY"), ("b", "EUR_USD"), ("a", "USD_JPY"), ("a", "EUR_USD")],
            [("a", "EUR_USD", [0, 4]), ("a", "USD_JPY", [3]), ("b", "USD_JPY", [1]), ("b", "EUR_USD", [2])],
            id="interleaved_sources_and_instruments_by_source_first",
        ),
    ],
)
def test_ticks_are_grouped_by_source_then_instrument_in_arrival_order(
    arrivals: list[tuple[str, str]], groups: list[tuple[str, str, list[int]]]
) -> None:
    builder = Builder()
    ticks = [builder.add(quote(source, instrument, n), seq=n + 1) for n, (source, instrument) in enumerate(arrivals)]

    records, count = builder.builder.take()

    assert count == len(arrivals)
    assert [(r.topic, r.key, r.content_type) for r in records] == [
        ("t-ticks", instrument.encode(), STREAM_CONTENT_TYPE) for _, instrument, _ in groups
    ]
    decoded = [MarketDataStream.FromString(r.value) for r in records]
    assert [(m.source, list(m.ticks)) for m in decoded] == [
        (source, [ticks[i] for i in indexes]) for source, _, indexes in groups
    ]
    assert all(not m.best_prices and m.session_id == SESSION_ID for m in decoded)


def test_tick_record_carries_the_batch_time_of_the_take() -> None:
    builder = Builder()
    builder.add(quote("a", "EUR_USD", 1), seq=1)
    before = now_ns()
    (record,), _ = builder.builder.take()
    after = now_ns()
    assert before <= MarketDataStream.FromString(record.value).batch_time_ns <= after


@pytest.mark.parametrize(
    ("takes", "batch_seqs"),
    [
        pytest.param([[("a", "EUR_USD")], [("a", "EUR_USD")], [("a", "EUR_USD")]], [[1], [2], [3]], id="one_per_take"),
        pytest.param(
            [[("a", "EUR_USD"), ("a", "USD_JPY"), ("a", "GBP_USD")], [("a", "EUR_USD")]],
            [[1, 1, 1], [2]],
            id="records_of_one_batch_share_its_number",
        ),
        pytest.param(
            [[("a", "EUR_USD"), ("b", "EUR_USD")], [("b", "EUR_USD")], [("a", "USD_JPY"), ("b", "USD_JPY")]],
            [[1, 1], [2], [2, 3]],
            id="per_source_counters",
        ),
        pytest.param([[("a", "EUR_USD")], [], [("a", "EUR_USD")]], [[1], [], [2]], id="empty_take_uses_no_number"),
    ],
)
def test_batch_seq_counts_each_sources_batches_across_takes(
    takes: list[list[tuple[str, str]]], batch_seqs: list[list[int]]
) -> None:
    builder = Builder()
    seen = []
    for n, arrivals in enumerate(takes):
        for source, instrument in arrivals:
            builder.add(quote(source, instrument, n), seq=n + 1)
        records, _ = builder.builder.take()
        seen.append([MarketDataStream.FromString(r.value).batch_seq for r in records])
    assert seen == batch_seqs


def test_take_empties_the_builder_and_counts_only_ticks() -> None:
    builder = Builder()
    for n in range(5):
        builder.add(quote("a", "EUR_USD", n), seq=n + 1)
    builder.builder.add_best([best("EUR_USD", 1)])
    builder.builder.add_status(SourceStatus(source="a", state=SourceStatus.STATE_CONNECTED))
    records, count = builder.builder.take()
    assert (len(records), count) == (3, 5)
    assert builder.builder.take() == ([], 0)


def test_ticks_added_after_a_take_go_to_the_next_one() -> None:
    builder = Builder()
    first = builder.add(quote("a", "EUR_USD", 1), seq=1)
    (record_1,), _ = builder.builder.take()
    second = builder.add(quote("a", "EUR_USD", 2), seq=2)
    (record_2,), _ = builder.builder.take()
    assert list(MarketDataStream.FromString(record_1.value).ticks) == [first]
    assert list(MarketDataStream.FromString(record_2.value).ticks) == [second]


@pytest.mark.parametrize(
    "q",
    [
        pytest.param(quote("oanda", "EUR_USD", 1, snapshot=True), id="snapshot"),
        pytest.param(quote("oanda", "EUR_USD", 1, tradeable=False), id="non_tradeable"),
        pytest.param(quote("é-source", "XAU_USD", 1), id="non_ascii_source"),
        pytest.param(quote("oanda", "SPX500_USD", 1), id="index"),
    ],
)
def test_tick_fields_survive_the_record(q: Quote) -> None:
    builder = Builder()
    expected = builder.add(q, seq=2**64 - 1)
    (record,), count = builder.builder.take()
    assert (record.key, count) == (q.instrument.encode(), 1)
    assert list(MarketDataStream.FromString(record.value).ticks) == [expected]


# -- best prices -----------------------------------------------------------------------------------------------


def best_price(b: BestQuote) -> BestPrice:
    """Independent reference for the BestPrice of a BestQuote."""
    return BestPrice(
        instrument=b.instrument,
        bid_px=b.bid_px,
        bid_source=b.bid_source,
        ask_px=b.ask_px,
        ask_source=b.ask_source,
        live_sources=b.live_sources,
        ts_ns=b.ts_ns,
        crossed=b.live_sources > 0 and b.bid_px > b.ask_px,
        tradeable=b.live_sources > 0 and b.bid_px <= b.ask_px,
    )


@pytest.mark.parametrize(
    ("changes", "groups"),
    [
        pytest.param([best("EUR_USD", 1)], {"EUR_USD": [0]}, id="one_change"),
        pytest.param(
            [best("EUR_USD", 1), best("USD_JPY", 2), best("EUR_USD", 3)],
            {"EUR_USD": [0, 2], "USD_JPY": [1]},
            id="one_record_per_instrument",
        ),
        pytest.param(
            [best("EUR_USD", 1, crossed=True), best("EUR_USD", 2, live=0)],
            {"EUR_USD": [0, 1]},
            id="crossed_and_no_live_source",
        ),
    ],
)
def test_best_prices_are_grouped_per_instrument_as_the_best_source(
    changes: list[BestQuote], groups: dict[str, list[int]]
) -> None:
    builder = RecordBuilder(TOPICS, SESSION_ID)
    builder.add_best(changes)
    records, count = builder.take()
    assert count == 0
    assert all((r.topic, r.content_type) == ("t-best", STREAM_CONTENT_TYPE) for r in records)
    decoded = streams(records, "t-best")
    assert {key.decode(): list(m.best_prices) for key, m in decoded} == {
        instrument: [best_price(changes[i]) for i in indexes] for instrument, indexes in groups.items()
    }
    assert len(decoded) == len(groups)
    assert all((m.source, m.session_id, len(m.ticks)) == ("best", SESSION_ID, 0) for _, m in decoded)


def test_empty_best_price_changes_make_no_record() -> None:
    builder = RecordBuilder(TOPICS, SESSION_ID)
    builder.add_best([])
    assert builder.take() == ([], 0)


# -- rejections and status -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rejection", "key"),
    [
        pytest.param(
            QualityRejection(
                tick=quote("sim-a", "EUR_USD", 1).to_tick(),
                reason=RejectionReason.REJECTION_REASON_CROSSED,
                detail="EUR_USD: bid 1.09190 above ask 1.09180",
            ),
            b"sim-a",
            id="rejected_quote",
        ),
        pytest.param(
            QualityRejection(
                tick=Tick(source="oanda"), reason=RejectionReason.REJECTION_REASON_MALFORMED, raw=b"{oops"
            ),
            b"oanda",
            id="unparseable_input",
        ),
    ],
)
def test_rejection_is_keyed_by_its_source(rejection: QualityRejection, key: bytes) -> None:
    builder = RecordBuilder(TOPICS, SESSION_ID)
    builder.add_rejection(rejection)
    (record,), count = builder.take()
    assert (record.topic, record.key, record.content_type, count) == ("t-rejected", key, REJECTION_CONTENT_TYPE, 0)
    assert QualityRejection.FromString(record.value) == rejection


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(
            SourceStatus(source="oanda", state=SourceStatus.STATE_CONNECTED, session_id=SESSION_ID, seq=1),
            id="connected",
        ),
        pytest.param(
            SourceStatus(
                source="oanda",
                state=SourceStatus.STATE_RECONNECTED,
                ts_ns=T0,
                gap_ns=3_000_000_000,
                detail="heartbeat silence 15.0 s",
                attempt=2,
                session_id=SESSION_ID,
                seq=4,
                snapshot=True,
            ),
            id="reconnected_with_every_field",
        ),
        pytest.param(
            SourceStatus(source="sim-b", state=SourceStatus.STATE_UNAUTHORIZED, detail="401"), id="unauthorized"
        ),
    ],
)
def test_status_is_keyed_by_its_source(status: SourceStatus) -> None:
    builder = RecordBuilder(TOPICS, SESSION_ID)
    builder.add_status(status)
    (record,), count = builder.take()
    assert (record.topic, record.key, record.content_type, count) == (
        "t-status",
        status.source.encode(),
        STATUS_CONTENT_TYPE,
        0,
    )
    assert SourceStatus.FromString(record.value) == status


@pytest.mark.parametrize(
    ("topics", "expected"),
    [
        pytest.param(
            KafkaTopics(),
            {"market-data-stream", "market-best-prices", "market-rejections", "market-status"},
            id="defaults",
        ),
        pytest.param(TOPICS, {"t-ticks", "t-best", "t-rejected", "t-status"}, id="configured"),
    ],
)
def test_each_kind_of_record_goes_to_its_topic(topics: KafkaTopics, expected: set[str]) -> None:
    builder = Builder(topics)
    builder.add(quote("a", "EUR_USD", 1), seq=1)
    builder.builder.add_best([best("EUR_USD", 1)])
    builder.builder.add_rejection(QualityRejection(tick=Tick(source="a")))
    builder.builder.add_status(SourceStatus(source="a"))
    records, count = builder.builder.take()
    assert count == 1
    assert {record_kind(record): record.topic for record in records} == {
        "ticks": topics.ticks,
        "best": topics.best_prices,
        "rejection": topics.rejections,
        "status": topics.status,
    }
    assert {record.topic for record in records} == expected
    assert len(records) == 4


def record_kind(record: KafkaRecord) -> str:
    if record.content_type == REJECTION_CONTENT_TYPE:
        return "rejection"
    if record.content_type == STATUS_CONTENT_TYPE:
        return "status"
    return "best" if MarketDataStream.FromString(record.value).source == "best" else "ticks"
