"""Session fixtures: the Walle Serve application on the session's Ray instance.

Serve starts once per session on 127.0.0.1 with a free port, a SQLite
database in a temporary folder and a short wait for sync triggers, so
tests can reach the 202 response of a slow sync trigger quickly.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_helpers import (
    MAX_BODY_BYTES,
    SYNC_TRIGGER_WAIT_S,
    CountingServer,
    ServeApp,
    free_port,
)

from walle_ray.service import ServiceConfig

EXAMPLE_FUNCTIONS = Path(__file__).resolve().parents[2] / "examples" / "functions"
STARTUP_TIMEOUT_S = 180.0


@pytest.fixture(scope="session")
def serve_app(
    ray_session: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeApp]:
    import ray
    from ray import serve

    from serve_app.app import build_app

    database = Path(tmp_path_factory.mktemp("service")) / "walle.db"
    functions = (str(EXAMPLE_FUNCTIONS),) if EXAMPLE_FUNCTIONS.is_dir() else ()
    config = ServiceConfig(
        database_url=f"sqlite:///{database}",
        functions_dirs=functions,
        invokers=2,
        sync_trigger_wait_s=SYNC_TRIGGER_WAIT_S,
        max_body_bytes=MAX_BODY_BYTES,
        orchestrator_name="walle-test-orchestrator",
        invoker_prefix="walle-test-service-invoker",
    )
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(config), name="walle", route_prefix="/")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            response = httpx.get(f"{url}/api/health", timeout=60)
            if response.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Walle API at {url} did not become healthy")
        time.sleep(0.5)
    yield ServeApp(url, config)
    serve.shutdown()
    with contextlib.suppress(ValueError):
        ray.kill(ray.get_actor(config.orchestrator_name, namespace=config.namespace))


@pytest.fixture
def client(serve_app: ServeApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=serve_app.url, timeout=60) as http:
        yield http


@pytest.fixture(scope="session")
def counting_server() -> Iterator[CountingServer]:
    server = CountingServer().start()
    yield server
    server.stop()
