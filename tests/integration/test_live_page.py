"""The live page at / in headless Chromium (Debian ``chromium`` + ``chromium-driver``, driven by selenium).

Against a gateway with two simulated brokers on a real nats-server: the prices move between reads and a broker
that stops quoting turns red. Against a server whose snapshot carries HTML in every string: it shows as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from collectors.simulated import SimulatedCollector
from gateway.aggregator import BestQuote
from gateway.app import Gateway
from gateway.broker_quality import BrokerQuality, BrokerQualityPolicy
from gateway.config import parse_config
from gateway.events import Quote
from gateway.ops.server import HealthServer
from gateway.ops.snapshot import SourceSnapshot
from tests.integration.test_broker_quality import two_brokers
from tests.unit.ops.samples import snapshot

HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "headless Chromium is missing: apt-get install chromium chromium-driver (.ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield browser
    finally:
        browser.quit()


async def shown(browser: WebDriver, condition: Callable[[WebDriver], Any], what: str, timeout_s: float = 20) -> Any:
    """Read the page until ``condition`` holds (the event loop keeps serving meanwhile); an element the page
    re-rendered between finding and reading it is read again."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(StaleElementReferenceException):
            value = condition(browser)
            if value:
                return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"the page never showed {what}: {browser.find_element(By.TAG_NAME, 'body').text[:2000]}")


async def load(browser: WebDriver, url: str) -> None:
    """Open the page once the server answers; in a thread, since the server runs on this event loop."""
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(100):
            try:
                await client.get(url)
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    await asyncio.to_thread(browser.get, url)


def row_class(browser: WebDriver, source: str) -> str:
    rows = browser.find_elements(By.CSS_SELECTOR, f'#sources tr[data-source="{source}"]')
    return rows[0].get_attribute("class") or "" if rows else ""


def best_prices(browser: WebDriver) -> tuple[str, str] | None:
    cells = browser.find_elements(By.CSS_SELECTOR, '#best tr[data-instrument="EUR_USD"] td')
    return (cells[1].text, cells[3].text) if len(cells) > 3 and cells[1].text != "-" else None


async def test_page_shows_moving_prices_and_a_silent_broker_in_red(nats_url: str, browser: WebDriver) -> None:
    gateway = Gateway(parse_config(two_brokers(nats_url)))
    await gateway.start()
    try:
        await load(browser, f"http://127.0.0.1:{gateway.http_port}/")
        first = await shown(browser, best_prices, "a best price")
        await shown(browser, lambda page: (best_prices(page) or first) != first, "the price move")
        assert await shown(browser, lambda page: row_class(page, "tight") == "up", "tight up")
        await shown(browser, lambda page: row_class(page, "wide") == "up", "wide up")
        tight = gateway.collector_instances["tight"]
        assert isinstance(tight, SimulatedCollector)
        tight.pause()
        await shown(browser, lambda page: row_class(page, "tight") == "down", "tight in red")
        await shown(browser, lambda page: row_class(page, "wide") == "up", "wide still up")
        tight_row = '#sources tr[data-source="tight"]'
        await shown(
            browser, lambda page: "EUR_USD: stale" in page.find_element(By.CSS_SELECTOR, tight_row).text, "stale"
        )
        recommended = '#best tr[data-instrument="EUR_USD"] td.recommended'
        await shown(
            browser,
            lambda page: page.find_element(By.CSS_SELECTOR, recommended).text.startswith("wide"),
            "wide recommended",
        )
    finally:
        await gateway.stop()


async def test_html_in_broker_and_config_strings_is_shown_as_text(browser: WebDriver) -> None:
    quality = BrokerQuality(BrokerQualityPolicy(), {HOSTILE: ["EUR_USD"]})
    quality.observe_quote(Quote("EUR_USD", HOSTILE, 1_085_000_000, 1_085_100_000, 1, 1, 1, 2))
    quality.observe_rejection(HOSTILE, HOSTILE, HOSTILE, 3)
    quality.observe(4, {HOSTILE: True})
    state = snapshot(
        sources={HOSTILE: SourceSnapshot(kind="simulated", state="failed", last_error=HOSTILE)},
        best=(BestQuote("EUR_USD", 1_085_000_000, HOSTILE, 1_085_100_000, HOSTILE, 1, 2),),
    )
    state = dataclasses.replace(state, quality=quality.report(5))
    server = HealthServer(lambda: state, "127.0.0.1", 0)
    server.start()
    try:
        await load(browser, f"{server.url}/")
        await shown(browser, lambda page: page.find_elements(By.CSS_SELECTOR, "#sources tr"), "the source row")
        body = browser.find_element(By.TAG_NAME, "body").text
        images = browser.find_elements(By.TAG_NAME, "img")
        title = browser.title
    finally:
        await server.stop(timeout_s=5)
    assert body.count(HOSTILE) >= 5  # source, detail, best bid and ask sources, recent event
    assert images == [] and title == "fxgw live"
