"""The shipped server and Debian's chromium, headless, driven by Playwright (no browser download).

One server and one browser per test process (per xdist worker); each test gets a fresh
browser context, so no cookie or session leaks from one test into the next. A failing test
leaves a screenshot of its page under test-artifacts/browser/, named in its failure report.
"""

import os
import re
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from soak.server import ROOT, Server, free_port, manage, server_env
from tests.helpers.servers import Served

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package: scripts/browser_deps.sh installs it
ARTIFACTS = ROOT / "test-artifacts" / "browser"
# Generous: a loaded CI machine may take seconds for what takes milliseconds on a laptop.
ACTION_TIMEOUT_MS = 30_000
NAVIGATION_TIMEOUT_MS = 60_000

expect.set_options(timeout=ACTION_TIMEOUT_MS)


@pytest.fixture(scope="session", autouse=True)
def _browser_available(request: pytest.FixtureRequest) -> None:
    """Skip in the PostgreSQL and Redis run; without chromium, skip, or fail under CI=true."""
    if request.config.getoption("--services"):
        pytest.skip("the browser tests run once, on the embedded default, in the SQLite run")
    if os.access(CHROMIUM, os.X_OK):
        return
    missing = (
        f"{CHROMIUM} is missing: install Debian's chromium with scripts/browser_deps.sh "
        "(as root: apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true needs the browser tests: {missing}", pytrace=False)
    pytest.skip(missing)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``manage.py serve`` as ``make run`` prepares it: a fresh SQLite database and collected
    static files, which the server serves itself (the pages' CSS and JavaScript)."""
    root = tmp_path_factory.mktemp("browser")
    env = server_env(root / "state", ACCESS_LOG="true", LOG_LEVEL="INFO")
    with ThreadPoolExecutor() as pool:  # independent of each other: at once
        for done in [
            pool.submit(manage, env, "migrate", "--no-input", "-v0"),
            pool.submit(manage, env, "collectstatic", "--no-input", "-v0"),
        ]:
            done.result()
    log_path = root / "server.log"
    server = Server(env, port=free_port(), workers=2, log_path=log_path)
    server.start(timeout=120)
    try:
        yield Served(server, f"http://127.0.0.1:{server.port}", log_path)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # /dev/shm is small in containers; chromium then crashes on large pages unless told.
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--disable-dev-shm-usage"],
        timeout=NAVIGATION_TIMEOUT_MS,
    )
    try:
        yield chromium
    finally:
        chromium.close()


def screenshot_path(item: pytest.Item) -> Path:
    return ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', item.name)}.png"


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a context of its own (no cookies, no storage from other tests)."""
    screenshot_path(request.node).unlink(missing_ok=True)  # a stale one would mislead
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, save a screenshot of the test's page and name it in the report."""
    report = yield
    page = getattr(item, "funcargs", {}).get("page")
    if report.failed and report.when == "call" and isinstance(page, Page):
        path = screenshot_path(item)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=path, full_page=True, timeout=ACTION_TIMEOUT_MS)
            saved = f"saved {path} (page at {page.url})"
        except PlaywrightError as exc:
            saved = f"could not be taken: {exc}"
        report.sections.append(("browser screenshot", saved))
        served = item.funcargs.get("served")
        if isinstance(served, Served):
            report.sections.append(("server log", str(served.log_path)))
    return report
