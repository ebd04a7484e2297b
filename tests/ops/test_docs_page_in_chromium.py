"""The docs page in a real browser: Debian's Chromium, headless, driven by Playwright, against each app served by
`resource-service serve`.

The page must load with no failed request, ask no other host for anything, log no error, show every operation
of the app's OpenAPI document, and run one with "Try it out" under its Content-Security-Policy. Chromium sends
every other host's request to a closed port, so the page is checked as it works offline. A full-page screenshot
is saved in the test's temporary folder.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e.apps import FRAMEWORKS, Framework
from integration.otlp_receiver import HOST, ServiceProcess, closed_port, service_environment
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from entrypoints.http.docs_page import DOCS_ASSET_PATHS, DOCS_PATH, OPENAPI_PATH

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # Chromium's sandbox refuses to run as root.
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium calls Google's hosts on its own, for updates, sync and field trials.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT_WIDTH, VIEWPORT_HEIGHT = 1280, 900
RENDER_TIMEOUT_MS = 30_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_SCREENSHOT_BYTES = 10_000
# Each operation's block: its method, its path, and the id Swagger UI gives it (operations-<tag>-<operationId>).
SHOWN_OPERATIONS_JS = """blocks => blocks.map(block => [
    block.querySelector('.opblock-summary-method').textContent,
    block.querySelector('.opblock-summary-path').dataset.path,
    block.id,
])"""
# The operation run from the page: GET /health/live, which needs no input.
TRIED_OPERATION, TRIED_PATH = "operations-health-live", "/health/live"


@dataclass
class Visit:
    """What the browser did while it showed the page: every request, every failure, every error it logged."""

    requested: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("request", self._requested)
        page.on("requestfailed", self._failed)
        page.on("response", self._answered)
        page.on("console", self._logged)
        page.on("pageerror", self._raised)

    def _requested(self, request: Request) -> None:
        self.requested.append(request.url)

    def _failed(self, request: Request) -> None:
        self.failed.append(f"{request.method} {request.url}: {request.failure}")

    def _answered(self, response: Response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.request.method} {response.url}: {response.status}")

    def _logged(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _raised(self, error: Exception) -> None:
        self.errors.append(str(error))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; skipped outside CI when it is not installed."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    # Loopback is never proxied; any other host would be asked through a port nothing listens on.
    offline = f"--proxy-server=http://{HOST}:{closed_port()}"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, offline])
        yield chromium
        chromium.close()


@pytest.fixture(params=FRAMEWORKS)
def base_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of `resource-service serve` running each framework's app on SQLite."""
    framework: Framework = request.param
    env = service_environment(f"sqlite+aiosqlite:///{tmp_path / 'resources.db'}", {"OTEL_SDK_DISABLED": "true"})
    service = ServiceProcess(framework, tmp_path / "service", env)
    service.start()
    try:
        yield service.base_url
    finally:
        service.kill()


def documented_operations(base_url: str) -> list[tuple[str, str, str]]:
    """(METHOD, path, Swagger UI's id) of every operation in the app's OpenAPI document."""
    document: dict[str, Any] = httpx.get(f"{base_url}{OPENAPI_PATH}", timeout=10.0).json()
    return sorted(
        (method.upper(), path, f"operations-{operation['tags'][0]}-{operation['operationId']}")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    )


@dataclass(frozen=True, slots=True)
class Shown:
    """What the page showed: its operations, and the status of the one tried out."""

    operations: list[tuple[str, str, str]]
    tried_status: str


def show_docs(browser: Browser, base_url: str, screenshot: Path) -> tuple[Visit, Shown]:
    """Open the page, wait for the operations, try one out, save a screenshot: what the browser did and showed."""
    page = browser.new_page(viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT})
    visit = Visit()
    visit.watch(page)
    try:
        page.goto(f"{base_url}{DOCS_PATH}", wait_until="networkidle", timeout=RENDER_TIMEOUT_MS)
        page.wait_for_selector(".opblock", timeout=RENDER_TIMEOUT_MS)
    except PlaywrightTimeout:
        page.screenshot(path=screenshot, full_page=True)
        pytest.fail(
            f"no operation shown ({screenshot}); failed requests: {visit.failed}, errors: {visit.errors}, "
            f"the page says: {page.inner_text('body')[:1000]!r}"
        )
    operations = page.eval_on_selector_all(".opblock", SHOWN_OPERATIONS_JS)
    tried_status = try_it_out(page, TRIED_OPERATION)
    page.screenshot(path=screenshot, full_page=True)
    page.close()
    return visit, Shown(sorted((method, path, block_id) for method, path, block_id in operations), tried_status)


def try_it_out(page: Page, block_id: str) -> str:
    """Run an operation from the page as a person would; the status the page shows for its answer."""
    block = page.locator(f"#{block_id}")
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    block.get_by_role("button", name="Execute").click()
    status = block.locator(".live-responses-table tr.response .response-col_status")
    status.wait_for(timeout=RENDER_TIMEOUT_MS)
    return status.inner_text().strip()


def png_dimensions(image: bytes) -> tuple[int, int]:
    """The width and height a PNG's header gives."""
    assert image[:8] == PNG_SIGNATURE, image[:8]
    assert image[12:16] == b"IHDR", image[:16]
    width, height = struct.unpack(">II", image[16:24])
    return width, height


def test_the_docs_page_shows_every_operation_offline(browser: Browser, base_url: str, tmp_path: Path) -> None:
    expected = documented_operations(base_url)
    screenshot = tmp_path / "docs.png"
    started = time.monotonic()
    visit, shown = show_docs(browser, base_url, screenshot)
    elapsed = time.monotonic() - started

    assert visit.failed == []
    assert visit.errors == []
    loaded = (DOCS_PATH, *DOCS_ASSET_PATHS, OPENAPI_PATH, TRIED_PATH)
    assert sorted(visit.requested) == sorted(f"{base_url}{path}" for path in loaded)
    assert shown.operations == expected
    assert shown.tried_status == "200"
    image = screenshot.read_bytes()
    width, height = png_dimensions(image)
    assert width == VIEWPORT_WIDTH
    assert height >= VIEWPORT_HEIGHT
    assert len(image) > MIN_SCREENSHOT_BYTES
    print(
        f"\n{base_url}{DOCS_PATH}: {len(shown.operations)} operations shown and one tried in {elapsed:.2f} s, "
        f"{len(visit.requested)} requests; {screenshot}: {len(image)} bytes, {width}x{height}"
    )
