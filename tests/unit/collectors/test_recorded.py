"""collectors.recorded: recorded OANDA quote files (``ms_since_midnight,bid,ask``) played as a source."""

from __future__ import annotations

import calendar
import random
import re
import zipfile
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Final

import pytest

from collectors.recorded import RecordedCollector, RecordedConfig, quote_files, read_lines
from collectors.recorded_parsing import RecordedQuote, _parse_any_line, parse_quote_line
from collectors.registry import COLLECTORS
from gateway.clock import NS_PER_MS, NS_PER_S
from gateway.config import parse_config
from gateway.errors import BadValueError, ConfigError, MalformedInputError
from gateway.events import BadInput, Quote
from gateway.schema.market.v1.market_pb2 import RejectionReason
from tests.support import RecordingSink
from tests.unit.collectors.external.hostile import damaged

DAYS = ["01", "02", "04", "05", "06", "07", "08", "09", "11", "12", "13", "14", "15"]
TOTAL_QUOTES = 532_903
MS_PER_DAY = 86_400_000


def may_2014(day: int) -> int:
    return calendar.timegm((2014, 5, day, 0, 0, 0, 0, 0, 0)) * NS_PER_S


@pytest.fixture
def ticks_dir(shared_data: Path) -> Path:
    return shared_data / "oanda-eurusd-ticks"


def first_line(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as member:
        return member.readline()


@pytest.mark.parametrize(
    ("file_name", "day", "expected"),
    [
        pytest.param("20140501_quote.zip", 1, RecordedQuote(292 * NS_PER_MS, 1_386_760_000, 1_386_860_000), id="0501"),
        pytest.param(
            "20140504_quote.zip",
            4,
            RecordedQuote(75_600_462 * NS_PER_MS, 1_388_170_000, 1_388_840_000),
            id="0504_sunday",
        ),
        pytest.param(
            "20140515_quote.zip", 15, RecordedQuote(4_000 * NS_PER_MS, 1_371_710_000, 1_371_810_000), id="0515"
        ),
    ],
)
def test_first_recorded_line_of_a_day_becomes_an_exact_quote(
    ticks_dir: Path, file_name: str, day: int, expected: RecordedQuote
) -> None:
    raw = first_line(ticks_dir / file_name)
    assert raw.endswith(b"\r\n")  # the recording has Windows line ends
    day_start = may_2014(day)
    quote = parse_quote_line(raw.rstrip(b"\r\n"), day_start)
    assert quote == RecordedQuote(day_start + expected.ts_ns, expected.bid_px, expected.ask_px)


def test_every_recorded_quote_parses_in_time_order_within_its_day(ticks_dir: Path) -> None:
    count = 0
    for path, day_start in quote_files(ticks_dir):
        previous = day_start
        for line in read_lines(path):
            quote = parse_quote_line(line, day_start)
            assert previous <= quote.ts_ns < day_start + MS_PER_DAY * NS_PER_MS
            assert 0 < quote.bid_px < quote.ask_px
            previous = quote.ts_ns
            count += 1
    assert count == TOTAL_QUOTES


def test_read_lines_yields_each_non_empty_line_without_its_line_end(ticks_dir: Path) -> None:
    lines = list(read_lines(ticks_dir / "20140504_quote.zip"))
    assert len(lines) == 1164
    assert lines[0] == b"75600462,1.38817,1.38884"
    assert lines[-1] == b"86388314,1.38710,1.38727"
    assert not any(line.endswith((b"\r", b"\n")) or not line for line in lines)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"1,1.1,1.2\r\n2,1.1,1.3\r\n", [b"1,1.1,1.2", b"2,1.1,1.3"], id="crlf"),
        pytest.param(b"1,1.1,1.2\n2,1.1,1.3", [b"1,1.1,1.2", b"2,1.1,1.3"], id="lf_no_final_newline"),
        pytest.param(b"\n1,1.1,1.2\n\r\n  \n2,1.1,1.3\n", [b"1,1.1,1.2", b"2,1.1,1.3"], id="blank_lines_skipped"),
        pytest.param(b"", [], id="empty_file"),
    ],
)
def test_read_lines_of_csv_and_zip_agree(tmp_path: Path, content: bytes, expected: list[bytes]) -> None:
    csv_path = tmp_path / "20140501_quote.csv"
    csv_path.write_bytes(content)
    zip_path = tmp_path / "20140501_quote.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("20140501_eurusd_tick_quote.csv", content)
    assert list(read_lines(csv_path)) == expected
    assert list(read_lines(zip_path)) == expected


@pytest.mark.parametrize("members", [0, 2], ids=["empty_zip", "two_csvs"])
def test_zip_without_exactly_one_csv_is_malformed(tmp_path: Path, members: int) -> None:
    zip_path = tmp_path / "20140501_quote.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for i in range(members):
            archive.writestr(f"part{i}.csv", b"1,1.1,1.2\n")
    with pytest.raises(MalformedInputError, match=f"expected one CSV in the zip, found {members}"):
        list(read_lines(zip_path))


def test_quote_files_of_the_recording_are_in_date_order_with_each_days_start(ticks_dir: Path) -> None:
    files = quote_files(ticks_dir)
    assert [(path.name, start) for path, start in files] == [
        (f"201405{day}_quote.zip", may_2014(int(day))) for day in DAYS
    ]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(
            ["20140502_quote.csv", "20140501_quote.zip", "notes.txt", "20140503_quote.zip.bak"],
            [("20140501_quote.zip", (2014, 5, 1)), ("20140502_quote.csv", (2014, 5, 2))],
            id="other_files_ignored",
        ),
        pytest.param(
            ["20141231_quote.csv", "20150101_quote.csv"],
            [("20141231_quote.csv", (2014, 12, 31)), ("20150101_quote.csv", (2015, 1, 1))],
            id="across_new_year",
        ),
        pytest.param(["20160229_quote.zip"], [("20160229_quote.zip", (2016, 2, 29))], id="leap_day"),
    ],
)
def test_quote_files_in_a_folder_are_sorted_by_date(
    tmp_path: Path, names: list[str], expected: list[tuple[str, tuple[int, int, int]]]
) -> None:
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert quote_files(tmp_path) == [
        (tmp_path / name, calendar.timegm((*date, 0, 0, 0, 0, 0, 0)) * NS_PER_S) for name, date in expected
    ]


def test_single_quote_file_is_its_own_list(ticks_dir: Path) -> None:
    path = ticks_dir / "20140508_quote.zip"
    assert quote_files(path) == [(path, may_2014(8))]


@pytest.mark.parametrize(
    "names",
    [
        pytest.param([], id="empty_folder"),
        pytest.param(["quotes.csv", "2014-05-01_quote.zip", "20140501_quote.txt"], id="no_matching_names"),
    ],
)
def test_folder_without_quote_files_is_a_config_error(tmp_path: Path, names: list[str]) -> None:
    for name in names:
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ConfigError, match=re.escape("no quote files named YYYYMMDD_quote.zip")) as caught:
        quote_files(tmp_path)
    assert str(tmp_path) in str(caught.value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(b"0,1.38676,1.38686", RecordedQuote(0, 1_386_760_000, 1_386_860_000), id="midnight"),
        pytest.param(
            b"86399999,1.38676,1.38686",
            RecordedQuote(86_399_999 * NS_PER_MS, 1_386_760_000, 1_386_860_000),
            id="last_ms",
        ),
        pytest.param(
            b" 292 , 1.38676 , 1.38686 ", RecordedQuote(292 * NS_PER_MS, 1_386_760_000, 1_386_860_000), id="spaces"
        ),
        pytest.param(
            b"292,101.123,101.125", RecordedQuote(292 * NS_PER_MS, 101_123_000_000, 101_125_000_000), id="jpy"
        ),
    ],
)
def test_quote_line_is_parsed_relative_to_the_day_start(line: bytes, expected: RecordedQuote) -> None:
    day_start = may_2014(1)
    assert parse_quote_line(line, day_start) == RecordedQuote(
        day_start + expected.ts_ns, expected.bid_px, expected.ask_px
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(b"292,1.38676", "expected 3 comma-separated fields, got 2", id="two_fields"),
        pytest.param(b"292,1.38676,1.38686,5", "expected 3 comma-separated fields, got 4", id="four_fields"),
        pytest.param(b"", "expected 3 comma-separated fields, got 1", id="empty"),
        pytest.param(b"292;1.38676;1.38686", "got 1", id="semicolons"),
        pytest.param(b"29a,1.38676,1.38686", "is not whole milliseconds", id="letter_in_ms"),
        pytest.param(b"292.5,1.38676,1.38686", "is not whole milliseconds", id="fractional_ms"),
        pytest.param(b"-5,1.38676,1.38686", "is not whole milliseconds", id="negative_ms"),
        pytest.param(b",1.38676,1.38686", "is not whole milliseconds", id="missing_ms"),
        pytest.param(b"292,1.38\xff76,1.38686", "not ASCII", id="non_ascii_price"),
    ],
)
def test_malformed_quote_line_keeps_the_raw_line(line: bytes, message: str) -> None:
    with pytest.raises(MalformedInputError, match=re.escape(message)) as caught:
        parse_quote_line(line, may_2014(1))
    assert caught.value.raw == line


@pytest.mark.parametrize(
    ("line", "text"),
    [
        pytest.param(b"292,abc,1.38686", "'abc'", id="word_bid"),
        pytest.param(b"292,1.38676,NaN", "'NaN'", id="nan_ask"),
        pytest.param(b"292,1.38676,", "''", id="empty_ask"),
        pytest.param(b"292,1.3867612345,1.38686", "'1.3867612345'", id="ten_decimals"),
        pytest.param(b"292,1e0,1.38686", "'1e0'", id="exponent"),
    ],
)
def test_quote_line_with_a_bad_price_is_a_bad_value_with_the_raw_line(line: bytes, text: str) -> None:
    with pytest.raises(BadValueError, match=re.escape(text)) as caught:
        parse_quote_line(line, may_2014(1))
    assert caught.value.raw == line


# -- the collector, against a sink that records what it hands over ---------------------------------------


async def test_bad_lines_and_unreadable_files_are_reported_and_the_rest_is_played(tmp_path: Path) -> None:
    (tmp_path / "20140505_quote.csv").write_bytes(b"23668,1.38710,1.38726\nnot,a,quote\n25634,1.38709,1.38727\n")
    (tmp_path / "20140506_quote.zip").write_bytes(b"this is not a zip archive")
    (tmp_path / "20140507_quote.csv").write_bytes(b"100,1.38800,1.38810\n")
    sink = RecordingSink()
    config = RecordedConfig(id="rp", kind="recorded", path=tmp_path, instruments=("EUR_USD",), speed="max")

    await RecordedCollector(config, sink).run()

    quotes = [e for e in sink.events if isinstance(e, Quote)]
    bad = [e for e in sink.events if isinstance(e, BadInput)]
    assert [(q.bid_px, q.ask_px) for q in quotes] == [
        (1_387_100_000, 1_387_260_000),
        (1_387_090_000, 1_387_270_000),
        (1_388_000_000, 1_388_100_000),
    ]
    assert all(q.source == "rp" and q.instrument == "EUR_USD" and q.ts_event_ns == q.ts_recv_ns for q in quotes)
    assert [b.reason for b in bad] == [RejectionReason.REJECTION_REASON_MALFORMED] * 2
    assert bad[0].raw == b"not,a,quote" and "20140505_quote.csv" in bad[0].detail
    assert "20140506_quote.zip: cannot be read" in bad[1].detail


async def test_ten_times_the_recorded_speed_keeps_the_recorded_spacing(tmp_path: Path) -> None:
    (tmp_path / "20140505_quote.csv").write_bytes(b"0,1.38710,1.38726\n300,1.38711,1.38726\n600,1.38712,1.38726\n")
    sink = RecordingSink()
    config = RecordedConfig(id="rp", kind="recorded", path=tmp_path, instruments=("EUR_USD",), speed=10)

    await RecordedCollector(config, sink).run()

    times = [e.ts_recv_ns for e in sink.events if isinstance(e, Quote)]
    offsets_ms = [(time - times[0]) / 1e6 for time in times]
    # 300 ms recorded / 10: each quote at least 30 ms after the one before on the schedule, never early. The
    # schedule is absolute, so a quote late on a loaded machine is followed by one less than 30 ms after it.
    assert len(times) == 3 and offsets_ms[1] >= 29 and offsets_ms[2] >= 59


# -- the kind in brokers.yaml --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", [pytest.param("recorded", id="recorded"), pytest.param("replay", id="old_name_replay")]
)
def test_kind_recorded_and_its_old_name_replay_both_configure_the_recorded_collector(tmp_path: Path, kind: str) -> None:
    config = parse_config({"brokers": [{"id": "r", "kind": kind, "path": str(tmp_path), "instruments": ["EUR_USD"]}]})
    [broker] = config.brokers
    assert isinstance(broker, RecordedConfig) and broker.kind == "recorded"
    assert COLLECTORS[broker.kind] is RecordedCollector


def test_an_error_in_an_entry_of_the_old_kind_names_the_key_and_the_recorded_keys(tmp_path: Path) -> None:
    broker = {"id": "r", "kind": "replay", "path": str(tmp_path), "instruments": ["EUR_USD"], "sped": 10}
    with pytest.raises(ConfigError) as caught:
        parse_config({"brokers": [broker]})
    allowed = "enabled, id, instruments, kind, loop, path, priority, speed"
    assert f"brokers[0].sped: unknown key; allowed keys: {allowed}" in str(caught.value)


def test_an_unknown_kind_lists_recorded_among_the_allowed_kinds() -> None:
    with pytest.raises(ConfigError, match=r"brokers\[0\]\.kind: 'fix' is not a known kind; allowed: .*\brecorded\b"):
        parse_config({"brokers": [{"id": "r", "kind": "fix"}]})


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(["replay"], id="list"),
        pytest.param({"replay": 1}, id="mapping"),
        pytest.param(None, id="null"),
        pytest.param(7, id="number"),
    ],
)
def test_a_kind_that_is_not_a_name_is_a_config_error_not_a_crash(kind: object) -> None:
    with pytest.raises(ConfigError, match=r"brokers\[0\]\.kind: "):
        parse_config({"brokers": [{"id": "r", "kind": kind}]})


@pytest.mark.parametrize(
    "millis",
    ["9" * 5_000, "1" * 30, "86400000", "999999999"],
    ids=["thousands_of_digits", "thirty_digits", "one_day", "nine_digits"],
)
def test_a_time_that_is_not_a_millisecond_of_the_day_is_a_bad_value(millis: str) -> None:
    line = f"{millis},1.09177,1.09180".encode()
    with pytest.raises(BadValueError, match=r"is not a millisecond of the day") as caught:
        parse_quote_line(line, 0)
    assert len(str(caught.value)) < 200
    assert caught.value.raw == line


LINE_JUNK: Final = (b",", b".", b" ", b"-", b"+", b"e", b"\t", b"\x00", b"\xff", b"9" * 12, b"0" * 40, b"NaN")
"""What :func:`damaged` inserts into a quote line: separators, signs, padding, runs of digits past the limits."""


def outcome(parse: Callable[[bytes, int], RecordedQuote], line: bytes) -> object:
    """What ``parse`` makes of ``line``: the quote, or the error's type, message and raw line."""
    try:
        return parse(line, 0)
    except (MalformedInputError, BadValueError) as exc:
        return (type(exc), str(exc), exc.raw)


def test_the_fast_path_parses_every_line_as_the_general_path_does(ticks_dir: Path) -> None:
    """parse_quote_line scans the usual line byte by byte and hands the rest to _parse_any_line; over real lines
    and 20,000 damaged ones, the two agree on every quote and every error."""
    seeds = list(islice(read_lines(ticks_dir / "20140505_quote.zip"), 2_000))
    fast_path_taken = 0
    rng = random.Random(1505)
    for line in [*seeds, *(damaged(rng.choice(seeds), rng, LINE_JUNK) for _ in range(20_000))]:
        expected = outcome(_parse_any_line, line)
        assert outcome(parse_quote_line, line) == expected, line
        fast_path_taken += isinstance(expected, RecordedQuote)
    assert fast_path_taken > 2_000  # the real lines, and mutations that stayed valid


def test_a_line_of_a_million_digits_is_refused_at_once() -> None:
    """The millisecond scan stops after MAX_MILLIS_DIGITS + 1 digits: no big number is built from the line."""
    line = b"7" * 1_000_000 + b",1.09177,1.09180"
    with pytest.raises(BadValueError, match="is not a millisecond of the day") as caught:
        parse_quote_line(line, 0)
    assert caught.value.raw == line
