"""The API documentation page renders in Chromium from local assets only."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from service_helpers import ServeApp

pytestmark = pytest.mark.ray

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"


def chromium_path() -> str:
    """Return Chromium's path; skip the test without it, or fail under CI."""
    found = str(CHROMIUM) if CHROMIUM.is_file() else shutil.which("chromium")
    reason = None
    if found is None:
        reason = f"Chromium not found at {CHROMIUM}; install it with install.sh"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed; run pip install -e '.[dev]'"
    if reason is not None or found is None:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason or "Chromium not found")
    return found


def test_docs_render_offline(serve_app: ServeApp) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    requested: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{serve_app.url}/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            operations = page.locator(".opblock").count()
            title = page.locator(".info .title").inner_text()
        finally:
            browser.close()
    assert errors == []
    assert "Walle on Ray" in title
    # Every route under /api is listed (health, workflows, executions, triggers).
    assert operations >= 14
    hosts = {urlsplit(url).hostname for url in requested if url.startswith("http")}
    assert hosts == {"127.0.0.1"}
