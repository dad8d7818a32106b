"""``fxgw replay`` against a real Kafka-protocol broker (tansu) and a real nats-server.

The topic holds what a gateway with two sources writes (gateway.kafka.records):
records of one source and instrument, keyed by instrument over three partitions,
lz4-compressed, some in the protobuf library's encoding (the decoder's fallback)
and some opening with a snapshot tick; then a redelivered record (same fxgw-id,
gzip) and a record re-sent under a new id (zstd), whose ticks only the seq mark
catches. The two sources quote at the same times and share partitions, so their
records interleave in each partition: every output must still be in event-time
order, ties by source then seq.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from nats.aio.msg import Msg

from gateway.clock import NS_PER_MS, NS_PER_S, format_time_ns, parse_time_ns
from gateway.errors import ConfigError, ReplayError
from gateway.events import Quote
from gateway.kafka.replay.request import OutputFormat, ReplayRequest
from gateway.kafka.replay.run import run_replay
from gateway.schema.market.v1.market_pb2 import MarketDataStream
from gateway.wire import STREAM_CONTENT_TYPE, TickRecordEncoder
from tests.servers.tansu import TansuBroker
from tests.support import Recorder, RecordingNatsClient, free_port, fxgw
from tests.unit.kafka.replay.test_run import emitted

SESSIONS = {"oanda-a": 11, "sim-b": 22}
INSTRUMENTS = ("EUR_USD", "USD_JPY", "GBP_USD", "AUD_USD")
RECORDS_PER_SOURCE = 60
T0 = parse_time_ns("2026-11-20T10:00:00Z")
SINCE = T0 + 53 * NS_PER_MS  # both ends cut a record
UNTIL = T0 + 199 * NS_PER_MS
PARTITIONS = 3

Expected = tuple[str, int, int, bool, bool]
"""instrument, seq, ts_event_ns, tradeable, snapshot."""


@dataclass
class Dataset:
    topic: str
    records: int = 0
    window: dict[str, list[Expected]] = field(default_factory=dict)
    """Per source, its distinct ticks in [SINCE, UNTIL), in event order."""
    duplicate_ticks_in_window: int = 0

    @property
    def ticks_in_window(self) -> int:
        return sum(len(ticks) for ticks in self.window.values())

    @property
    def in_event_order(self) -> list[tuple[int, str, int]]:
        """(ts_event_ns, source, seq) of every tick of the window, in the order a replay must output them."""
        return sorted((ts, source, seq) for source, ticks in self.window.items() for _, seq, ts, _, _ in ticks)


@dataclass
class _Record:
    source: str
    instrument: str
    ticks: list[Quote]
    seqs: list[int]
    by_library: bool
    record_id: str = ""

    def value(self, encoder: TickRecordEncoder) -> bytes:
        header = MarketDataStream(source=self.source, batch_time_ns=T0, batch_seq=1, session_id=SESSIONS[self.source])
        if self.by_library:
            header.ticks.extend(quote.to_tick(seq) for quote, seq in zip(self.ticks, self.seqs, strict=True))
            return header.SerializeToString()
        entries = (encoder.encode(quote, seq) for quote, seq in zip(self.ticks, self.seqs, strict=True))
        return header.SerializeToString() + b"".join(entries)


def _records(source: str) -> list[_Record]:
    """A source's records: 1 to 7 ticks each, 1 ms apart, seq from 1 across instruments."""
    records, seq, ts = [], 0, T0
    for index in range(RECORDS_PER_SOURCE):
        instrument = INSTRUMENTS[index % len(INSTRUMENTS)]
        by_library = index % 10 == 9  # non-tradeable ticks, whose false flag the library omits
        quotes, seqs = [], []
        for position in range(1 + index % 7):
            seq += 1
            ts += NS_PER_MS
            px = 1_000_000_000 + seq * 10_000
            snapshot = index % 20 == 0 and position == 0  # as after a reconnection
            quotes.append(
                Quote(instrument, source, px, px + 20_000, 10**6, 10**6, ts, ts + 9, not by_library, snapshot)
            )
            seqs.append(seq)
        records.append(_Record(source, instrument, quotes, seqs, by_library))
    return records


async def _produce(bootstrap: str, dataset: Dataset) -> None:
    encoder = TickRecordEncoder()
    by_source = {source: _records(source) for source in SESSIONS}
    in_order = sorted((r for records in by_source.values() for r in records), key=lambda r: r.ticks[0].ts_event_ns)
    for number, record in enumerate(in_order):
        record.record_id = f"fxgw-it:1:{number}"
    for source, records in by_source.items():
        dataset.window[source] = [
            (quote.instrument, seq, quote.ts_event_ns, quote.tradeable, quote.snapshot)
            for record in records
            for quote, seq in zip(record.ticks, record.seqs, strict=True)
            if SINCE <= quote.ts_event_ns < UNTIL
        ]
    redelivered = by_source["oanda-a"][24]  # ts 91-94 ms: inside the window
    resent = dataclasses.replace(by_source["sim-b"][33], record_id="fxgw-it:2:1")
    dataset.duplicate_ticks_in_window = sum(SINCE <= quote.ts_event_ns < UNTIL for quote in resent.ticks)
    assert dataset.duplicate_ticks_in_window and SINCE <= redelivered.ticks[0].ts_event_ns < UNTIL

    sends = [(in_order, "lz4"), ([redelivered], "gzip"), ([resent], "zstd")]
    for records, compression in sends:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, compression_type=compression, linger_ms=5
        )
        await producer.start()
        try:
            sent = []
            for record in records:
                headers = [("content-type", STREAM_CONTENT_TYPE.encode()), ("fxgw-id", record.record_id.encode())]
                sent.append(
                    await producer.send(
                        dataset.topic, record.value(encoder), key=record.instrument.encode(), headers=headers
                    )
                )
            await asyncio.gather(*sent)
        finally:
            await producer.stop()
        dataset.records += len(records)


@pytest.fixture(scope="module")
def kafka_broker() -> Iterator[TansuBroker]:
    with TansuBroker() as broker:
        yield broker


@pytest.fixture(scope="module")
def dataset(kafka_broker: TansuBroker) -> Dataset:
    data = Dataset(topic=f"ticks-{uuid.uuid4().hex[:8]}")
    kafka_broker.create_topic(data.topic, PARTITIONS)
    asyncio.run(_produce(kafka_broker.bootstrap, data))
    return data


def request(broker: TansuBroker, topic: str, **options: Any) -> ReplayRequest:
    """The window [SINCE, UNTIL) of ``topic``, to ``options`` (default: standard output)."""
    return ReplayRequest(SINCE, UNTIL, broker.bootstrap, topic, **{"timeout_s": 5.0, **options})


async def test_replay_to_nats_delivers_each_tick_of_the_window_once_in_event_order(
    kafka_broker: TansuBroker, dataset: Dataset, nats_url: str
) -> None:
    recorder = await Recorder().start(nats_url, "replay.>")
    arrivals: list[tuple[int, str, int]] = []

    async def arrived(message: Msg) -> None:
        batch = MarketDataStream.FromString(message.data)
        arrivals.extend((tick.ts_event_ns, batch.source, tick.seq) for tick in batch.ticks)

    in_order = await nats.connect(nats_url)
    await in_order.subscribe("replay.>", cb=arrived)
    await in_order.flush()
    try:
        stats = await run_replay(request(kafka_broker, dataset.topic, output=OutputFormat.NATS, nats_url=nats_url))
        await recorder.wait_for(lambda r: sum(len(r.ticks(source)) for source in SESSIONS) >= dataset.ticks_in_window)
    finally:
        await recorder.stop()
        await in_order.drain()

    assert arrivals == dataset.in_event_order, "one subscriber to every subject gets the ticks in event-time order"

    for source in SESSIONS:
        received = [(t.instrument, t.seq, t.ts_event_ns, t.tradeable, t.snapshot) for t in recorder.ticks(source)]
        assert received == dataset.window[source]
        batches = recorder.streams[source]
        ids = [h["Nats-Msg-Id"] for h in recorder.headers if h["Nats-Msg-Id"].startswith(f"replay:{source}:")]
        assert ids == [f"replay:{source}:{SESSIONS[source]}:{batch.ticks[0].seq}" for batch in batches]
        assert [batch.batch_seq for batch in batches] == list(range(1, len(batches) + 1))
    assert {h["Content-Type"] for h in recorder.headers} == {STREAM_CONTENT_TYPE}
    assert (stats.records_read, stats.duplicate_records) == (dataset.records, 1)
    assert stats.duplicate_ticks == dataset.duplicate_ticks_in_window
    assert stats.ticks_output == dataset.ticks_in_window == stats.ticks_in_window - stats.duplicate_ticks


async def test_paced_replay_keeps_the_original_pace_times_the_speed(
    kafka_broker: TansuBroker, dataset: Dataset
) -> None:
    times = [ts for ticks in dataset.window.values() for _, _, ts, _, _ in ticks]
    span_s = (max(times) - min(times)) / NS_PER_S
    output = io.StringIO()
    started = time.monotonic()

    stats = await run_replay(request(kafka_broker, dataset.topic, output=OutputFormat.JSONL, speed=2.0), output)

    elapsed_s = time.monotonic() - started
    assert stats.ticks_output == dataset.ticks_in_window
    assert span_s / 2 - 0.01 <= elapsed_s < span_s / 2 + 2
    assert emitted(OutputFormat.JSONL, output.getvalue(), RecordingNatsClient()) == dataset.in_event_order


@pytest.mark.parametrize("output", [OutputFormat.STDOUT, OutputFormat.JSONL, OutputFormat.CSV], ids=lambda o: o.value)
async def test_every_text_format_is_in_event_time_order_across_sources_and_partitions(
    kafka_broker: TansuBroker, dataset: Dataset, output: OutputFormat
) -> None:
    text = io.StringIO()

    stats = await run_replay(request(kafka_broker, dataset.topic, output=output), text)

    assert emitted(output, text.getvalue(), RecordingNatsClient()) == dataset.in_event_order
    assert stats.late_ticks == 0


def test_cli_replays_the_window_into_jsonl_and_csv_files(
    kafka_broker: TansuBroker, dataset: Dataset, tmp_path: Path
) -> None:
    common = ["--bootstrap", kafka_broker.bootstrap, "--topic", dataset.topic, "--quiet"]
    since, until = format_time_ns(SINCE), f"{UNTIL // NS_PER_S}.{UNTIL % NS_PER_S:09d}"
    jsonl, csv_file = tmp_path / "ticks.jsonl", tmp_path / "ticks.csv"

    as_jsonl = fxgw("replay", "--since", since, "--until", until, "--to", "jsonl", "--output", str(jsonl), *common)
    as_csv = fxgw("replay", "--since", since, "--until", until, "--to", "csv", "--output", str(csv_file), *common)

    assert as_jsonl.returncode == 0, as_jsonl.stderr
    assert as_csv.returncode == 0, as_csv.stderr
    assert f"{dataset.ticks_in_window:,} ticks output" in as_jsonl.stderr
    ticks = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [(t["ts_event_ns"], t["source"], t["seq"]) for t in ticks] == dataset.in_event_order
    for source in SESSIONS:
        mine = [t for t in ticks if t["source"] == source]
        assert [(t["instrument"], t["seq"], t["ts_event_ns"], t["tradeable"], t["snapshot"]) for t in mine] == (
            dataset.window[source]
        )
    first = ticks[0]
    assert first["ts_event"] == format_time_ns(first["ts_event_ns"]) and first["bid"].startswith("1.0")
    lines = csv_file.read_text().splitlines()
    assert lines[0].startswith("ts_event,instrument,source,bid,ask,")
    assert Counter(line.split(",")[2] for line in lines[1:]) == Counter(t["source"] for t in ticks)
    assert emitted(OutputFormat.CSV, csv_file.read_text(), RecordingNatsClient()) == dataset.in_event_order


def test_cli_takes_kafka_settings_from_the_config_and_filters(
    kafka_broker: TansuBroker, dataset: Dataset, tmp_path: Path
) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        f"kafka: {{bootstrap_servers: '{kafka_broker.bootstrap}', ticks_topic: {dataset.topic}}}\n"
        "brokers: [{id: a, kind: simulated}]\n"
    )
    since = f"{SINCE // NS_PER_S}.{SINCE % NS_PER_S:09d}"

    result = fxgw("replay", "--config", str(config), "--since", since, "--until", format_time_ns(UNTIL),
                  "--instruments", "EUR_USD", "--sources", "sim-b")  # fmt: skip

    assert result.returncode == 0, result.stderr
    expected = [seq for instrument, seq, *_ in dataset.window["sim-b"] if instrument == "EUR_USD"]
    lines = result.stdout.splitlines()
    assert [int(line.split("seq=")[1].split()[0]) for line in lines] == expected
    assert all(line.startswith("sim-b EUR_USD 1.") for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-11-20T10:00:00Z", "--until", "2026-11-20T09:00:00Z"], "the window is empty"),
        (["--since", "-15 minutes"], "--since: '-15 minutes' is not a time"),
        (["--since", "-15m", "--to", "nats", "--output", "x.jsonl"], "--output is for --to jsonl or csv"),
    ],
    ids=["since-after-until", "bad-time", "output-for-nats"],
)
def test_cli_refuses_bad_arguments_with_exit_2(args: list[str], message: str) -> None:
    result = fxgw("replay", *args, "--bootstrap", "127.0.0.1:1")

    assert result.returncode == 2
    assert message in result.stderr


def test_cli_refuses_an_unknown_topic_without_creating_it(kafka_broker: TansuBroker) -> None:
    result = fxgw("replay", "--since", "-1h", "--bootstrap", kafka_broker.bootstrap, "--topic", "no-such-ticks")

    assert result.returncode == 2
    assert "topic 'no-such-ticks' is unknown on Kafka at" in result.stderr
    assert "no-such-ticks" not in asyncio.run(_topics(kafka_broker.bootstrap))


async def _topics(bootstrap: str) -> set[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return set(await consumer.topics())
    finally:
        await consumer.stop()


async def test_an_empty_topic_is_refused(kafka_broker: TansuBroker) -> None:
    kafka_broker.create_topic("empty-ticks", 2)
    with pytest.raises(ConfigError, match=r"topic 'empty-ticks' on Kafka at .* is empty"):
        await run_replay(request(kafka_broker, "empty-ticks"))


def test_cli_fails_with_exit_1_when_kafka_is_unreachable() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = fxgw("replay", "--since", "-1h", "--bootstrap", address, "--timeout", "2")

    assert result.returncode == 1
    assert f"fxgw: cannot read from Kafka at {address}" in result.stderr


def test_cli_fails_with_exit_1_when_nats_is_unreachable(kafka_broker: TansuBroker, dataset: Dataset) -> None:
    nats_url = f"nats://127.0.0.1:{free_port()}"
    result = fxgw("replay", "--since", format_time_ns(SINCE), "--bootstrap", kafka_broker.bootstrap,
                  "--topic", dataset.topic, "--to", "nats", "--nats-url", nats_url, "--timeout", "2")  # fmt: skip

    assert result.returncode == 1
    assert f"fxgw: cannot connect to NATS at {nats_url} within 2 s" in result.stderr


async def test_a_hung_broker_fails_the_replay_within_the_timeout(kafka_broker: TansuBroker, dataset: Dataset) -> None:
    kafka_broker.freeze()
    started = time.monotonic()
    try:
        with pytest.raises(ReplayError, match=f"cannot read from Kafka at {kafka_broker.bootstrap}"):
            await run_replay(request(kafka_broker, dataset.topic, timeout_s=1.0), io.StringIO())
    finally:
        kafka_broker.thaw()
    assert time.monotonic() - started < 3


def test_validate_reads_a_source_back_from_kafka(kafka_broker: TansuBroker, dataset: Dataset) -> None:
    """``fxgw validate`` with kafka: feeds: one source against itself agrees, against another it differs."""
    window = ("--since", format_time_ns(T0), "--until", format_time_ns(T0 + 2 * NS_PER_S))
    feed = f"kafka:{kafka_broker.bootstrap}"
    common = ("validate", "--instrument", "EUR_USD", "--topic", dataset.topic, "--grid-ms", "1", *window, "--json")

    same = fxgw(*common, "--reference", f"{feed}#oanda-a", "--source", f"{feed}#oanda-a", timeout_s=120)
    other = fxgw(*common, "--reference", f"{feed}#oanda-a", "--source", f"{feed}#sim-b", timeout_s=120)

    assert same.returncode == 0 and other.returncode == 0, same.stderr + other.stderr
    expected = sum(len(record.ticks) for record in _records("oanda-a") if record.instrument == "EUR_USD")
    alike, unlike = json.loads(same.stdout), json.loads(other.stdout)
    assert alike["reference"]["ticks"] == alike["source"]["ticks"] == expected
    assert alike["lag_ms"] == 0
    assert unlike["source"]["ticks"] > 0
