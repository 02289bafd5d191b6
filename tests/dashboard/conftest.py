"""A headless Chromium (the system's, driven by Playwright) and one dev server serving ``workers/app.py``.

Outside CI, without the ``playwright`` package or a Chromium, the browser tests skip and say why; with ``CI``
set they fail instead, since ``.ci/run`` installs both. Playwright's own browser downloads are never used:
the system Chromium is launched through its executable path.

Every request the dashboard makes is recorded (``Browser.requests``) and, when it leaves the server's origin,
blocked; every test ends by checking there was none. Screenshots go to a temporary folder, or to
``$RENDER_SDK_SCREENSHOTS`` when set (how ``docs/dashboard-*.png`` are made).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import LocalRuntimeProcess, _start  # tests/conftest.py: how the tests start a dev server

WORKER = Path(__file__).resolve().parent / "workers" / "app.py"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1360, "height": 860}


def _chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; .ci/run installs it, so in CI the browser tests must run")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser_path() -> str:
    """The system Chromium's executable, once Playwright and a Chromium are known to be there."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the `playwright` package is not installed (pip install -e '.[test]')")
    executable = _chromium()
    if executable is None:
        _unavailable("no Chromium on PATH (apt-get install chromium)")
    assert executable is not None
    return executable


@pytest.fixture(scope="module")
def starting_server(browser_path: str) -> Iterator[Future[LocalRuntimeProcess]]:
    """``render-workflows dev`` on an ephemeral port serving ``workers/app.py``, started in the background."""
    options = ["--max-concurrency", "16", "--prefork", "--no-watch"]
    with ThreadPoolExecutor(1) as pool:
        starting = pool.submit(_start, [sys.executable, WORKER.name], WORKER.parent, None, options, None)
        try:
            yield starting
        finally:
            starting.result().stop()


@pytest.fixture(scope="module")
def server(starting_server: Future[LocalRuntimeProcess]) -> LocalRuntimeProcess:
    """The dev server, once it is ready."""
    return starting_server.result()


@pytest.fixture(scope="module")
def chromium(browser_path: str, starting_server: Future[LocalRuntimeProcess]) -> Iterator[Any]:
    """A headless system Chromium, through Playwright (launched while the server starts)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests write a screenshot of each page."""
    wanted = os.environ.get("RENDER_SDK_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        return Path(wanted)
    return tmp_path_factory.mktemp("screenshots")


@dataclass
class Dashboard:
    """A browser page on the dashboard, recording every request it makes.

    Attributes:
        url: The server's origin, e.g. ``http://127.0.0.1:41234``.
        page: The Playwright page.
        requests: ``(method, url)`` of every request the page made, in order.
    """

    url: str
    page: Any
    screenshots: Path
    requests: list[tuple[str, str]] = field(default_factory=list)

    def open(self, fragment: str = "") -> Any:
        """Load the dashboard at ``/#<fragment>``; returns the page."""
        self.page.goto(f"{self.url}/#{fragment}")
        return self.page

    def foreign_requests(self) -> list[str]:
        """Requests to any origin but the server's."""
        origin = urlsplit(self.url)
        return [
            f"{method} {url}"
            for method, url in self.requests
            if (urlsplit(url).scheme, urlsplit(url).netloc) != (origin.scheme, origin.netloc)
        ]

    def screenshot(self, name: str) -> Path:
        """A full-page PNG of what the page shows now."""
        path = self.screenshots / f"dashboard-{name}.png"
        self.page.mouse.move(0, 0)  # no hover highlight in the picture
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def dashboard(chromium: Any, server: LocalRuntimeProcess, screenshots: Path) -> Iterator[Dashboard]:
    """A fresh browser context on the dashboard; fails the test if it asked any other origin for anything."""
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    page = context.new_page()
    board = Dashboard(server.url, page, screenshots)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def record(route: Any) -> None:
        request = route.request
        board.requests.append((request.method, request.url))
        if urlsplit(request.url).netloc == urlsplit(server.url).netloc:
            route.continue_()
        else:
            route.abort()

    context.route("**/*", record)
    try:
        yield board
    finally:
        context.close()
    assert board.requests, "the page made no request at all: the recording is broken"
    assert board.foreign_requests() == [], "the dashboard asked another origin"
    assert errors == [], f"the page raised: {errors}"
