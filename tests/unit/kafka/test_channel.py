"""gateway.kafka.channel, the pipe between the gateway and its Kafka writer process, and the writer's entry point.

Every message survives the round trip; a generated corpus of hostile lines (truncations, wrong types, huge and
non-finite numbers, deep nesting, unknown tags, binary) is refused by the decoders with msgspec's errors only;
the writer process refuses a bad start message with one line and exit status 2, never a traceback.
"""

from __future__ import annotations

import random
import subprocess
import sys

import msgspec
import pytest

from gateway.kafka.channel import (
    MAX_TEXT_CHARS,
    Appended,
    Connection,
    Delivered,
    FromWriter,
    SetAside,
    ToWriter,
    Waiting,
    WriterStart,
    clip,
    decode_from_writer,
    decode_to_writer,
    encode,
)
from gateway.kafka.spool import SpoolLayout, SpoolPart

SEED = 20261204
START = WriterStart(
    bootstrap_servers="127.0.0.1:9092",
    instance_id="gw-1",
    epoch=1_764_800_000_000_000_000,
    layout=SpoolLayout(
        "/var/spool/fxgw", 7, [SpoolPart("/var/spool/fxgw/00000000000000000001.seg", 7, 640, 4096)], open_last=True
    ),
    compression="zstd",
    linger_ms=5,
    request_timeout_ms=30_000,
    log_level=20,
)
FROM_WRITER: list[FromWriter] = [
    Delivered(upto_seq=41, end_offset=9000, records=35),
    Connection(connected=True),
    Connection(connected=False, error="KafkaConnectionError: refused", failed_send=True),
    SetAside("market-data-stream record 2 of 8,388,608 bytes refused as too large (MessageSizeTooLargeError)"),
    Waiting(after_seq=41),
]


def test_every_message_survives_the_round_trip_as_one_line() -> None:
    to_writer: list[ToWriter] = [START, Appended(last_seq=99)]
    for message in to_writer:
        line = encode(message)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert decode_to_writer(line) == message
    for report in FROM_WRITER:
        assert decode_from_writer(encode(report)) == report


def test_the_decoders_do_not_take_each_others_messages() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_from_writer(encode(START))
    with pytest.raises(msgspec.ValidationError):
        decode_to_writer(encode(Waiting(after_seq=1)))


def test_clip_bounds_error_texts() -> None:
    assert clip("short") == "short"
    clipped = clip("x" * 10 * MAX_TEXT_CHARS)
    assert len(clipped) == MAX_TEXT_CHARS and clipped.endswith("...")


def hostile_lines() -> list[bytes]:
    """Generated lines a broken or hostile peer might send."""
    rng = random.Random(SEED)
    valid = [encode(START), encode(Appended(last_seq=3)), *(encode(report) for report in FROM_WRITER)]
    lines = [
        b"",
        b"\n",
        b"null",
        b"[]",
        b'"delivered"',
        b"{}",
        b'{"type": "delivered"}',
        b'{"type": "nope", "upto_seq": 1}',
        b'{"type": "delivered", "upto_seq": "1", "end_offset": 0, "records": 1}',
        b'{"type": "delivered", "upto_seq": 1e400, "end_offset": 0, "records": 1}',
        b'{"type": "delivered", "upto_seq": NaN, "end_offset": 0, "records": 1}',
        b'{"type": "delivered", "upto_seq": 1, "end_offset": Infinity, "records": 1}',
        b'{"type": "waiting", "after_seq": 123456789012345678901234567890}',
        b'{"type": "connection", "connected": "yes"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"type": "set_aside", "description": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        bytes(range(256)),
        b"\xff\xfe" * 1000,
    ]
    for line in valid:
        lines += [line[:cut] for cut in sorted(rng.sample(range(1, len(line) - 1), 8))]
        for _ in range(20):
            damaged = bytearray(line)
            for _ in range(rng.randint(1, 4)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            lines.append(bytes(damaged))
    return lines


def test_hostile_lines_are_refused_with_msgspec_errors_only() -> None:
    refused = accepted = 0
    for line in hostile_lines():
        for decode in (decode_from_writer, decode_to_writer):
            try:
                decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError):
                refused += 1
            else:
                accepted += 1  # a flipped byte inside a text can leave a valid message
    assert refused > 10 * max(accepted, 1)


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b"", "no valid start message on stdin"),
        (b"{not json\n", "no valid start message on stdin"),
        (encode(Appended(last_seq=1)), "the first message on stdin must be the start message"),
    ],
)
def test_the_writer_process_refuses_a_bad_start_with_one_line_and_status_2(stdin: bytes, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.kafka.writer"], input=stdin, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert message in result.stderr.decode()
    assert b"Traceback" not in result.stderr and result.stdout == b""
