"""Fixtures for the dashboard tests: the Walle app on Serve and a headless Chromium.

The app runs on the session's Ray instance under the route prefix
``/dashboard``, so the dashboard is also checked behind a path prefix. When
another fixture of the session already started Serve, the app joins that
Serve instance; otherwise this package starts Serve and shuts it down after
its tests. Chromium is Debian's ``/usr/bin/chromium``: nothing is downloaded.
Without it the tests skip, or fail when ``CI=true``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_FUNCTIONS = ROOT / "examples" / "functions"
IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
APP_NAME = "walle-dashboard"
ROUTE_PREFIX = "/dashboard"
STARTUP_TIMEOUT_S = 180.0
VIEWPORT = {"width": 1440, "height": 1000}


@dataclass(frozen=True)
class DashboardApp:
    """The running application: the dashboard's URL and the API's base URL."""

    url: str
    api: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _running_serve_port() -> int | None:
    """Return the HTTP port of a Serve instance already running on this Ray."""
    import ray
    from ray.serve.context import _get_global_client

    # NOTE: Serve has no public call for the port of a running instance, so
    # this reads the controller's HTTP options (Ray 2.60 internals).
    client = _get_global_client(raise_if_no_controller_running=False)
    if client is None:
        return None
    options = ray.get(client._controller.get_http_config.remote())
    port: int = options.port
    return port


def _wait_healthy(api: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{api}/health", timeout=60).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Walle API at {api} did not become healthy")
        time.sleep(0.5)


@pytest.fixture(scope="package")
def dashboard_app(
    ray_session: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DashboardApp]:
    import ray
    from ray import serve

    from serve_app.app import build_app
    from walle_ray.service import ServiceConfig

    database = Path(tmp_path_factory.mktemp("dashboard")) / "walle.db"
    config = ServiceConfig(
        database_url=f"sqlite:///{database}",
        functions_dirs=(str(EXAMPLE_FUNCTIONS),),
        invokers=2,
        orchestrator_name="walle-test-dashboard-orchestrator",
        invoker_prefix="walle-test-dashboard-invoker",
    )
    port = _running_serve_port()
    started_serve = port is None
    if port is None:
        port = _free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(config), name=APP_NAME, route_prefix=ROUTE_PREFIX)
    base = f"http://127.0.0.1:{port}{ROUTE_PREFIX}"
    _wait_healthy(f"{base}/api")
    yield DashboardApp(url=f"{base}/", api=f"{base}/api")
    if started_serve:
        serve.shutdown()
    else:
        serve.delete(APP_NAME)
    with contextlib.suppress(ValueError):
        ray.kill(ray.get_actor(config.orchestrator_name, namespace=config.namespace))


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    reason = None
    if not CHROMIUM.is_file() and shutil.which("chromium") is None:
        reason = (
            f"Chromium not found at {CHROMIUM}; install it with "
            "'apt-get install -y chromium' (install.sh does this as root)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed; run pip install -e '.[dev]'"
    if reason is not None:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, dashboard_app: DashboardApp) -> Iterator[Any]:
    """A fresh page that fails the test on any uncaught script error."""
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.set_default_timeout(30_000)
    yield tab
    context.close()
    assert not errors, f"uncaught errors in the dashboard: {errors}"


@pytest.fixture
def api(dashboard_app: DashboardApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dashboard_app.api + "/", timeout=60) as client:
        yield client


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot to ``tests/dashboard/artifacts/NAME.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    # Sticky headers land mid-page in full-page shots taken while scrolled.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    return path
