"""A loopback HTTP server that counts calls per task, and polling helpers.

Tasks in the service tests call this server by URL:

- ``POST /ok/KEY`` returns 200 with ``{"key", "calls", "body"}``.
- ``POST /sleep/KEY?seconds=S`` waits S seconds, then responds like ``/ok``.
- ``POST /fail/KEY`` returns 500 while KEY is in ``failing``, else like ``/ok``.

Every call is counted by KEY, and its ``Idempotency-Key`` header is kept.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web

from walle_ray.gateway.runner import start_site
from walle_ray.service import ServiceConfig

FINAL = ("SUCCESS", "ERROR", "CANCELLED")
SYNC_TRIGGER_WAIT_S = 3.0
"""Wait of sync triggers in the test application, shorter than the default."""
MAX_BODY_BYTES = 64 * 1024
"""Maximum request body of the test application."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServeApp:
    """The running application: its base URL and the settings it was given."""

    url: str
    config: ServiceConfig


class CountingServer:
    """The server above, running in a daemon thread with its own event loop."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.idempotency_keys: dict[str, list[str]] = {}
        self.failing: set[str] = set()
        self.url = ""
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> CountingServer:
        self._thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("the counting server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)

    def count(self, key: str) -> int:
        with self._lock:
            return self.calls[key]

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/ok/{key}", self._ok)
        app.router.add_post("/sleep/{key}", self._sleep)
        app.router.add_post("/fail/{key}", self._fail)
        runner, self.url = await start_site(app, "127.0.0.1", 0)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    async def _record(self, request: web.Request) -> dict[str, Any]:
        key = request.match_info["key"]
        raw = await request.read()
        with self._lock:
            self.calls[key] += 1
            calls = self.calls[key]
            self.idempotency_keys.setdefault(key, []).append(
                request.headers.get("Idempotency-Key", "")
            )
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", errors="replace")
        return {"key": key, "calls": calls, "body": body}

    async def _ok(self, request: web.Request) -> web.Response:
        return web.json_response(await self._record(request))

    async def _sleep(self, request: web.Request) -> web.Response:
        data = await self._record(request)
        await asyncio.sleep(float(request.query.get("seconds", "1")))
        return web.json_response(data)

    async def _fail(self, request: web.Request) -> web.Response:
        data = await self._record(request)
        if data["key"] in self.failing:
            return web.json_response({"error": "failing on purpose"}, status=500)
        return web.json_response(data)


def wait_for(
    check: Callable[[], Any], timeout_s: float = 60.0, interval_s: float = 0.2
) -> Any:
    """Call ``check`` until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


def wait_final(
    client: httpx.Client, execution_id: str, timeout_s: float = 90.0
) -> dict[str, Any]:
    """Poll an execution until its status is final; return it."""

    def final() -> dict[str, Any] | None:
        data: dict[str, Any] = client.get(f"/api/executions/{execution_id}").json()
        return data if data["status"] in FINAL else None

    result: dict[str, Any] = wait_for(final, timeout_s)
    return result


def task_of(execution: dict[str, Any], name: str) -> dict[str, Any]:
    """Return one task of an execution as the API shows it."""
    for task in execution["tasks"]:
        if task["name"] == name:
            return dict(task)
    raise KeyError(f"execution {execution['execution_id']} has no task {name!r}")


def read_sse(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """Read a whole server-sent event stream into (event, data) pairs."""
    events: list[tuple[str, dict[str, Any]]] = []
    event_type = "message"
    for line in response.iter_lines():
        if line.startswith("event: "):
            event_type = line[len("event: ") :]
        elif line.startswith("data: "):
            events.append((event_type, json.loads(line[len("data: ") :])))
            event_type = "message"
    return events
