"""Every kind of page under the Content-Security-Policy (issue 10, items 8
and 9), in Chromium: each renders and works, and the browser reports no
CSP violation (no inline script or style runs without the nonce, nothing
loads from elsewhere)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import CspWatch, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_api_docs_render_operations_from_our_own_files(page: Page, csp: CspWatch, live_server):
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    response = page.goto("/api/docs/")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    operations = page.locator(".opblock").count()
    shot = screenshot(page, "api-docs")

    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert operations > 0
    assert csp.violations() == []
    assert [url for url in requested if not url.startswith(live_server.url)] == []
    assert shot.stat().st_size > 0
