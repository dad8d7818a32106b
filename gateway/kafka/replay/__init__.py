"""Replay of a time window of ticks from Kafka (or a gateway's spool) onto NATS or into a file (``fxgw replay``).

The ticks topic (records as in gateway.kafka.records) is read from every partition,
from the beginning up to the end offsets found on opening, so a replay is bounded
and ends even while the gateway keeps writing. Ticks are chosen by their own
``ts_event_ns`` in [since, until). Nothing skips ahead by record timestamp
(``offsets_for_times``): a record is written after its ticks, after an outage
possibly much later (the spool redelivers), and tansu answers offset 0 to every
such query; so reading from the beginning is the only choice that is right
whatever the broker.

The core is pure and synchronous; the async shell moves records through it::

    request     ReplayRequest, OutputFormat: what to replay and where, checked
    readers     KafkaTickReader (aiokafka consumer without a group: bounded read,
                bounded buffers), SpoolTickReader (a spool directory, read-only)
    selection   TickSelector: skips records by fxgw-id, filters instrument and source,
                keeps the window, drops ticks at or below the seq high-water mark, gives
                each run's ticks in event-time order (values decoded by gateway.wire.decode_ticks)
    merge       TickMerge: the ticks of every partition in (ts_event_ns, source, seq) order,
                with a reorder window of 1 s; Pacer: original pace times ``speed``, or none
    outputs     NatsTickSink (<prefix>.<source>.ticks, up to 512 consecutive ticks a message),
                TextTickSink (human lines, JSON lines or CSV)
    run         replay(): reader -> selector -> merge -> pacing -> sink; run_replay(): a whole request

Arguments are parsed by the CLI (gateway.cli) and checked by ReplayRequest. Errors:
:class:`~gateway.errors.ConfigError` for bad arguments, an output that cannot be
created and an unknown or empty topic (``fxgw`` exits 2);
:class:`~gateway.errors.ReplayError` when Kafka or NATS cannot be reached or stop
answering, or the output refuses a write (exit 1).
"""
