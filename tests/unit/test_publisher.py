"""gateway.publisher: publish cycles' status messages as handed to the NATS client.

The client here is ``tests.support.RecordingNatsClient`` (as in the benchmarks): these tests check subjects,
headers, payloads and counters; delivery through a real nats-server is covered by tests/integration.
"""

from __future__ import annotations

import pytest
from nats.errors import ConnectionClosedError, OutboundBufferLimitError
from nats.errors import Error as NatsError

from gateway.cycle import CycleBuilder
from gateway.publisher import NatsPublisher, PublishStats
from gateway.schema.market.v1.market_pb2 import SourceStatus
from gateway.wire import STATUS_CONTENT_TYPE
from tests.support import RecordingNatsClient

SESSION_ID = 1_700_000_000_000_000_000
T0 = 1_700_000_000_000_000_000


class Feeder:
    """A cycle builder and the publisher it feeds: ``flush`` takes a cycle and publishes it, as the pipeline does."""

    def __init__(self, client: RecordingNatsClient, *, subject_prefix: str = "market") -> None:
        self.cycles = CycleBuilder(SESSION_ID)
        self.publisher = NatsPublisher(client, subject_prefix=subject_prefix)

    def add_status(self, status: SourceStatus) -> None:
        self.cycles.add_status(status)

    @property
    def has_pending(self) -> bool:
        return self.cycles.has_pending

    @property
    def stats(self) -> PublishStats:
        return self.publisher.stats

    async def flush(self) -> None:
        await self.publisher.publish(self.cycles.take(T0))


def status(
    source: str = "oanda", seq: int = 1, state: SourceStatus.State = SourceStatus.STATE_CONNECTED
) -> SourceStatus:
    return SourceStatus(source=source, state=state, ts_ns=T0 + seq, session_id=SESSION_ID, seq=seq)


@pytest.mark.parametrize(
    ("prefix", "source", "subject"),
    [
        pytest.param("market", "oanda", "market.oanda.status", id="default_prefix"),
        pytest.param("md.fx", "oanda-practice", "md.fx.oanda-practice.status", id="dotted_prefix"),
        pytest.param("market", "sim_b", "market.sim_b.status", id="underscore_source"),
    ],
)
async def test_status_is_published_on_the_sources_status_subject(prefix: str, source: str, subject: str) -> None:
    client = RecordingNatsClient()
    publisher = Feeder(client, subject_prefix=prefix)
    sent = status(source, seq=3)
    publisher.add_status(sent)
    await publisher.flush()
    ((published_subject, payload, headers),) = client.published
    assert published_subject == subject
    assert SourceStatus.FromString(payload) == sent
    assert headers == {
        "Content-Type": "application/x-protobuf; proto=market.v1.SourceStatus",
        "Nats-Msg-Id": f"{source}:status:{SESSION_ID}:3",
    }
    assert headers["Content-Type"] == STATUS_CONTENT_TYPE


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(status(state=SourceStatus.STATE_CONNECTED), id="connected"),
        pytest.param(
            SourceStatus(
                source="oanda",
                state=SourceStatus.STATE_RECONNECTED,
                ts_ns=T0,
                gap_ns=12_500_000_000,
                detail="stream silent for 15.0 s",
                attempt=3,
                session_id=SESSION_ID,
                seq=7,
                snapshot=True,
            ),
            id="reconnected_with_every_field",
        ),
        pytest.param(status(state=SourceStatus.STATE_UNAUTHORIZED, seq=2), id="unauthorized"),
        pytest.param(status(state=SourceStatus.STATE_REJECTED, seq=2), id="rejected"),
    ],
)
async def test_status_payload_is_the_source_status_unchanged(sent: SourceStatus) -> None:
    client = RecordingNatsClient()
    publisher = Feeder(client)
    publisher.add_status(sent)
    await publisher.flush()
    assert [SourceStatus.FromString(payload) for _, payload, _ in client.published] == [sent]


async def test_statuses_are_published_in_order_each_with_its_own_message_id() -> None:
    client = RecordingNatsClient()
    publisher = Feeder(client)
    sent = [status("a", 1), status("b", 1), status("a", 2, SourceStatus.STATE_DISCONNECTED)]
    for item in sent:
        publisher.add_status(item)
    await publisher.flush()
    assert [(subject, headers["Nats-Msg-Id"]) for subject, _, headers in client.published] == [
        ("market.a.status", f"a:status:{SESSION_ID}:1"),
        ("market.b.status", f"b:status:{SESSION_ID}:1"),
        ("market.a.status", f"a:status:{SESSION_ID}:2"),
    ]
    assert (publisher.stats.statuses, publisher.stats.statuses_dropped, publisher.stats.messages) == (3, 0, 3)


@pytest.mark.parametrize("count", [0, 1, 3])
async def test_pending_status_is_pending_until_flushed(count: int) -> None:
    client = RecordingNatsClient()
    publisher = Feeder(client)
    for seq in range(1, count + 1):
        publisher.add_status(status(seq=seq))
    assert publisher.has_pending is (count > 0)
    await publisher.flush()
    assert not publisher.has_pending
    await publisher.flush()  # nothing is published twice
    assert len(client.published) == count


@pytest.mark.parametrize(
    ("failures", "published_seqs", "published", "dropped"),
    [
        pytest.param([OutboundBufferLimitError()], [2, 3], 2, 1, id="first_dropped_buffer_full"),
        pytest.param([None, ConnectionClosedError()], [1, 3], 2, 1, id="middle_dropped_connection_closed"),
        pytest.param([NatsError("boom")] * 3, [], 0, 3, id="all_dropped"),
        pytest.param([], [1, 2, 3], 3, 0, id="none_dropped"),
    ],
)
async def test_failed_status_publish_is_counted_as_dropped_and_the_rest_still_go(
    failures: list[NatsError | None], published_seqs: list[int], published: int, dropped: int
) -> None:
    client = RecordingNatsClient(failures)
    publisher = Feeder(client)
    for seq in (1, 2, 3):
        publisher.add_status(status(seq=seq))
    await publisher.flush()  # never raises
    assert [SourceStatus.FromString(payload).seq for _, payload, _ in client.published] == published_seqs
    stats = publisher.stats
    assert (stats.statuses, stats.statuses_dropped, stats.messages) == (published, dropped, published)
    assert (stats.ticks_dropped, stats.best_prices_dropped, stats.rejections_dropped) == (0, 0, 0)
    assert not publisher.has_pending


async def test_failed_status_publish_records_the_error() -> None:
    client = RecordingNatsClient([OutboundBufferLimitError()])
    publisher = Feeder(client)
    publisher.add_status(status())
    await publisher.flush()
    assert publisher.stats.last_error.startswith("OutboundBufferLimitError")


async def test_dropped_status_is_not_retried_on_the_next_flush() -> None:
    client = RecordingNatsClient([ConnectionClosedError()])
    publisher = Feeder(client)
    publisher.add_status(status(seq=1))
    await publisher.flush()
    publisher.add_status(status(seq=2))
    await publisher.flush()
    assert [SourceStatus.FromString(payload).seq for _, payload, _ in client.published] == [2]
    assert (publisher.stats.statuses, publisher.stats.statuses_dropped) == (1, 1)


async def test_messages_confirmed_by_the_server_are_not_counted_at_an_outage() -> None:
    publisher = Feeder(RecordingNatsClient())
    for seq in (1, 2):
        publisher.add_status(status(seq=seq))
    await publisher.flush()
    flushes: list[int] = []

    async def flush() -> None:
        flushes.append(publisher.stats.messages)

    await publisher.publisher.confirm(flush)
    publisher.add_status(status(seq=3))
    await publisher.flush()
    assert publisher.publisher.connection_lost() == 1  # only the message sent after the confirmation
    stats = publisher.stats
    assert (flushes, stats.confirmed, stats.unconfirmed_at_outages, stats.outages) == ([2], 3, 1, 1)
    assert publisher.publisher.connection_lost() == 0  # a second outage without new messages loses nothing more
    assert (stats.unconfirmed_at_outages, stats.outages) == (1, 2)


async def test_a_failed_confirmation_confirms_nothing() -> None:
    publisher = Feeder(RecordingNatsClient())
    publisher.add_status(status(seq=1))
    await publisher.flush()

    async def flush() -> None:
        raise TimeoutError

    with pytest.raises(TimeoutError):
        await publisher.publisher.confirm(flush)
    assert publisher.stats.confirmed == 0
    assert publisher.publisher.connection_lost() == 1
