"""``fxgw reference fetch`` against a local Dukascopy server serving ../shared/data/dukascopy, faults injected."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.dukascopy.fetch import FetchRequest, fetch_window
from collectors.dukascopy.files import read_window
from gateway.cli import main
from gateway.clock import parse_time_ns
from gateway.errors import ConfigError
from tests.servers.dukascopy import DukascopyServer, Fault

DAY = parse_time_ns("2019-02-04T00:00:00Z")
HOUR_NS = 3600 * 10**9
FIRST = "EURUSD/2019/01/04/00h_ticks.bi5"
SECOND = "EURUSD/2019/01/04/01h_ticks.bi5"


def _request(server: DukascopyServer, directory: Path, hours: int = 3, **overrides: object) -> FetchRequest:
    settings: dict = {"timeout_s": 5.0, "retry_min_s": 0.01, "retry_max_s": 0.05, "max_attempts": 4, **overrides}
    return FetchRequest("EUR_USD", DAY, DAY + hours * HOUR_NS, directory, base_url=server.base_url, **settings)


def _no_partials(directory: Path) -> None:
    assert [path for path in directory.rglob("*") if path.name.startswith(".")] == []


async def test_a_day_is_fetched_byte_for_byte(shared_data: Path, tmp_path: Path) -> None:
    async with DukascopyServer(shared_data / "dukascopy") as server:
        summary = await fetch_window(_request(server, tmp_path, hours=24, concurrency=4))
    assert (summary.fetched, summary.failed, summary.not_found, summary.present) == (24, 0, 0, 0)
    for hour in range(24):
        name = f"EURUSD/2019/01/04/{hour:02d}h_ticks.bi5"
        assert (tmp_path / name).read_bytes() == (shared_data / "dukascopy" / name).read_bytes()
    assert len(read_window(tmp_path, "EUR_USD", DAY, DAY + 24 * HOUR_NS).series) == len(
        read_window(shared_data / "dukascopy", "EUR_USD", DAY, DAY + 24 * HOUR_NS).series
    )


async def test_fetch_resumes_after_a_cut_and_never_keeps_a_partial_file(shared_data: Path, tmp_path: Path) -> None:
    async with DukascopyServer(shared_data / "dukascopy") as server:
        # the first run: the second hour is cut mid-body on every attempt and fails
        server.inject(SECOND, *[Fault.truncated(100)] * 2)
        first = await fetch_window(_request(server, tmp_path, max_attempts=2))
        assert (first.fetched, first.failed) == (2, 1)
        assert not (tmp_path / SECOND).exists()
        _no_partials(tmp_path)
        # the second run fetches only what is missing
        server.server.requests.clear()
        second = await fetch_window(_request(server, tmp_path))
    assert (second.fetched, second.present, second.failed) == (1, 2, 0)
    assert server.files() == [SECOND]
    assert (tmp_path / SECOND).read_bytes() == (shared_data / "dukascopy" / SECOND).read_bytes()


async def test_a_truncated_body_without_length_is_retried(shared_data: Path, tmp_path: Path) -> None:
    async with DukascopyServer(shared_data / "dukascopy") as server:
        server.inject(FIRST, Fault.truncated(500, declare_length=False))
        summary = await fetch_window(_request(server, tmp_path, hours=1))
    assert (summary.fetched, summary.retries, summary.failed) == (1, 1, 0)
    assert (tmp_path / FIRST).read_bytes() == (shared_data / "dukascopy" / FIRST).read_bytes()


async def test_503_and_429_are_retried_honouring_retry_after(shared_data: Path, tmp_path: Path) -> None:
    async with DukascopyServer(shared_data / "dukascopy") as server:
        server.inject(FIRST, Fault.unavailable(), Fault.unavailable())
        server.inject(SECOND, Fault.too_many("0"))
        summary = await fetch_window(_request(server, tmp_path, hours=2))
    assert (summary.fetched, summary.retries, summary.failed) == (2, 3, 0)
    assert server.files().count(FIRST) == 3 and server.files().count(SECOND) == 2


async def test_a_slow_answer_times_out_and_is_retried(shared_data: Path, tmp_path: Path) -> None:
    async with DukascopyServer(shared_data / "dukascopy") as server:
        server.inject(FIRST, Fault.slow(1.0))
        summary = await fetch_window(_request(server, tmp_path, hours=1, timeout_s=0.2))
    assert (summary.fetched, summary.retries) == (1, 1)


async def test_404_is_counted_and_writes_nothing(shared_data: Path, tmp_path: Path) -> None:
    async with DukascopyServer(shared_data / "dukascopy") as server:
        server.inject(FIRST, Fault.not_found())
        # 2019-02-06 is not in the data: 404 for all its hours
        request = FetchRequest("EUR_USD", DAY, DAY + 2 * HOUR_NS, tmp_path, base_url=server.base_url, retry_min_s=0.01)
        summary = await fetch_window(request)
        later = await fetch_window(
            FetchRequest("EUR_USD", DAY + 48 * HOUR_NS, DAY + 50 * HOUR_NS, tmp_path, base_url=server.base_url)
        )
    assert (summary.fetched, summary.not_found, summary.failed) == (1, 1, 0)
    assert not (tmp_path / FIRST).exists()
    assert (later.not_found, later.fetched) == (2, 0)


async def test_an_empty_body_is_kept_as_an_hour_without_ticks(shared_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "served"
    (root / "EURUSD/2019/01/04").mkdir(parents=True)
    (root / FIRST).write_bytes((shared_data / "dukascopy/empty.bi5").read_bytes())
    async with DukascopyServer(root) as server:
        summary = await fetch_window(_request(server, tmp_path / "out", hours=1))
    assert (summary.fetched, summary.empty) == (1, 1)
    window = read_window(tmp_path / "out", "EUR_USD", DAY, DAY + HOUR_NS)
    assert (len(window.series), window.empty_hours, window.missing_hours) == (0, 1, ())


async def test_retries_give_up_and_count_the_hour_as_failed(shared_data: Path, tmp_path: Path) -> None:
    async with DukascopyServer(shared_data / "dukascopy") as server:
        server.inject(FIRST, *[Fault.unavailable()] * 4)
        summary = await fetch_window(_request(server, tmp_path, hours=1))
    assert (summary.fetched, summary.failed) == (0, 1)
    assert "HTTP 503" in summary.failures[0]
    _no_partials(tmp_path)


def test_bad_requests_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="concurrency"):
        FetchRequest("EUR_USD", DAY, DAY + HOUR_NS, tmp_path, concurrency=0)
    with pytest.raises(ConfigError, match="after"):
        FetchRequest("EUR_USD", DAY, DAY, tmp_path)
    with pytest.raises(ConfigError, match="instrument"):
        FetchRequest("eurusd", DAY, DAY + HOUR_NS, tmp_path)


def test_cli_fetch_prints_a_summary(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import threading

    ready = threading.Event()
    stop = threading.Event()
    holder: dict[str, str] = {}

    def serve() -> None:
        async def run() -> None:
            async with DukascopyServer(shared_data / "dukascopy") as server:
                holder["url"] = server.base_url
                ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.02)

        asyncio.run(run())

    thread = threading.Thread(target=serve, name="dukascopy-server")
    thread.start()
    try:
        assert ready.wait(5)
        argv = ["reference", "fetch", "--instrument", "EUR_USD", "--since", "2019-02-04T22:00:00Z"]
        argv += ["--until", "2019-02-05T00:00:00Z", "--dir", str(tmp_path), "--base-url", holder["url"]]
        assert main(argv) == 0
    finally:
        stop.set()
        thread.join(5)
    assert "2 hours: 2 fetched" in capsys.readouterr().err
    assert main(["reference", "fetch", "--instrument", "EUR_USD", "--since", "x", "--dir", str(tmp_path)]) == 2
