"""Playwright driving Debian's Chromium (/usr/bin/chromium, installed by
.ci/run) against pytest-django's live_server: a real browser, real HTTP,
the real database (transactional, so the server thread sees the rows).

Playwright's sync API keeps an asyncio loop running in this thread while it
is open, and Django refuses ORM calls from a thread with a running loop
(SynchronousOnlyOperation), although no Django code runs on that loop. So
the browser fixture opts out of that check with Django's documented switch,
DJANGO_ALLOW_ASYNC_UNSAFE, for its own lifetime only (monkeypatch undoes
it), and each test gets its own Playwright rather than a session-wide one,
so neither the loop nor the switch outlives the browser tests sharing a
worker with the rest of the suite.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.db import connections
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Waits end on a selector or URL; this only bounds how long a broken page may
# take to fail the test (never a pass/fail threshold).
WAIT_MS = 20_000
PASSWORD = "pw-Altar-2026"  # tests.factories.UserFactory


@pytest.fixture
def browser(monkeypatch) -> Iterator[Browser]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            # While a loop runs, Django keeps this thread's connections in
            # context-local storage (asgiref's Local), apart from the thread's
            # usual ones: close them now, or they stay checked out of the
            # pool and block dropping the test database.
            connections.close_all()
            browser.close()


@pytest.fixture
def _page(transactional_db, browser: Browser, live_server) -> Iterator[Page]:
    # transactional_db first: the session-wide database is then set up before
    # (and torn down after) the session-wide live server and its connection.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(_page: Page, csp: CspWatch) -> Iterator[Page]:
    """A Chromium tab on the live server. Every browser test also fails if
    any page it opened broke the Content-Security-Policy (Chromium logs each
    violation to the console)."""
    yield _page
    assert csp.console == [], "CSP violations"


def screenshot(page: Page, name: str) -> Path:
    """Saved under test-artifacts/ (git-ignored), one file per worker so
    parallel runs never write the same file."""
    ARTIFACTS.mkdir(exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    path = ARTIFACTS / f"{name}-{worker}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Page, user) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url("**/admin/")


# Records every CSP violation the page reports, whatever caused it (a
# blocked script, style, image, frame or eval), before any page script runs.
_LISTEN_FOR_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} (${where})`
  );
});
"""


class CspWatch:
    """CSP violations seen by one page: `securitypolicyviolation` events and
    Chromium's console errors about the policy (which also cover what a
    page cannot report itself, e.g. a refused frame)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(_LISTEN_FOR_CSP_VIOLATIONS)
        page.on("console", self._on_console)

    def _on_console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        """Everything reported so far on the current document and before."""
        events = self.page.evaluate("window.__cspViolations || []")
        return [*events, *self.console]


@pytest.fixture
def csp(_page: Page) -> CspWatch:
    return CspWatch(_page)


# Viewports every page is checked at (CONVENTIONS.md "Pages people see").
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def serious_violations(page: Page) -> list[tuple[str, str]]:
    results = Axe().run(page)
    return [
        (v["id"], v["help"])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def show_month(page: Page, month: dt.date, button: str = "Next month") -> None:
    """Click the calendar forward until `month` shows (each click loads a
    month in place; wait for it before the next)."""
    for _ in range(3):
        if page.locator(".cal").get_attribute("data-month") == f"{month:%Y-%m}":
            return
        shown = page.locator(".cal").get_attribute("data-month")
        page.get_by_role("button", name=button).click()
        expect(page.locator(".cal")).not_to_have_attribute("data-month", shown)
    expect(page.locator(".cal")).to_have_attribute("data-month", f"{month:%Y-%m}")
