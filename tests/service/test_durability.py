"""The orchestrator resumes interrupted executions after Ray restarts it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from typing import Any

import httpx
import pytest
from service_helpers import (
    CountingServer,
    ServeApp,
    read_sse,
    task_of,
    wait_final,
    wait_for,
)

pytestmark = pytest.mark.ray


def kill_with_ray(name: str, namespace: str) -> None:
    import ray

    ray.kill(ray.get_actor(name, namespace=namespace), no_restart=False)


def kill_with_sigkill(client: httpx.Client) -> None:
    pid = client.get("/api/health").json()["orchestrator"]["pid"]
    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("how", ["ray-kill", "sigkill"])
def test_killed_orchestrator_resumes_execution(
    client: httpx.Client,
    counting_server: CountingServer,
    serve_app: ServeApp,
    how: str,
) -> None:
    config = serve_app.config
    name = f"durable-{how}-{uuid.uuid4().hex[:6]}"
    spec = f"""\
name: {name}
tasks:
  - name: a
    url: {counting_server.url}/ok/{name}-a
  - name: b
    url: {counting_server.url}/sleep/{name}-b?seconds=4
    depends: [a]
  - name: c
    url: {counting_server.url}/ok/{name}-c
    depends: [b]
"""
    created = client.put(
        f"/api/workflows/{name}",
        content=spec,
        headers={"content-type": "application/yaml"},
    )
    assert created.status_code == 201
    before = client.get("/api/health").json()["orchestrator"]["pid"]
    started = client.post(f"/api/workflows/{name}/executions", json={"input": 5})
    execution_id = started.json()["execution_id"]

    def b_running() -> bool:
        record = client.get(f"/api/executions/{execution_id}").json()
        tasks = {t["name"]: t["status"] for t in record["tasks"]}
        return tasks.get("a") == "SUCCESS" and tasks.get("b") == "RUNNING"

    wait_for(b_running)
    events_url = f"/api/executions/{execution_id}/events"
    old_event_id = first_event_id(client, events_url)
    # A client streaming the events while the orchestrator dies.
    streamed: list[tuple[str, dict[str, Any]]] = []
    reader = threading.Thread(
        target=lambda: streamed.extend(stream_events(serve_app.url, events_url)),
        daemon=True,
    )
    reader.start()
    if how == "ray-kill":
        kill_with_ray(config.orchestrator_name, config.namespace)
    else:
        kill_with_sigkill(client)

    final = wait_final(client, execution_id, timeout_s=180)
    reader.join(timeout=60)
    assert not reader.is_alive(), "the event stream did not end"
    kinds = [kind for kind, _ in streamed]
    assert kinds[-1] == "execution_finished"
    assert streamed[-1][1]["status"] == "SUCCESS"
    # After the restart the stream attached to the new orchestrator's
    # events with a new snapshot, instead of only waiting for the end.
    assert kinds.count("snapshot") >= 2, kinds
    assert final["status"] == "SUCCESS", final
    assert final["execution_id"] == execution_id
    assert final["input"] == 5
    assert [task_of(final, n)["status"] for n in "abc"] == ["SUCCESS"] * 3
    # The task that had succeeded is not called again; the interrupted one is.
    assert counting_server.count(f"{name}-a") == 1
    assert counting_server.count(f"{name}-b") == 2
    assert counting_server.count(f"{name}-c") == 1
    keys = counting_server.idempotency_keys[f"{name}-b"]
    assert keys[0] == keys[1]
    assert execution_id in keys[0]

    after = client.get("/api/health").json()["orchestrator"]
    assert after["pid"] != before
    assert after["resumed"] >= 1

    # An event id from before the restart gets a fresh snapshot, not the
    # new orchestrator's events after that number.
    headers = {"Last-Event-ID": str(old_event_id)}
    with client.stream("GET", events_url, headers=headers) as response:
        replayed = read_sse(response)
    assert [kind for kind, _ in replayed] == ["snapshot", "execution_finished"]
    assert replayed[0][1]["status"] == "SUCCESS"


def stream_events(base_url: str, url: str) -> list[tuple[str, dict[str, Any]]]:
    """Read an event stream to its end on a connection of its own."""
    with (
        httpx.Client(base_url=base_url, timeout=180) as own,
        own.stream("GET", url) as response,
    ):
        return read_sse(response)


def first_event_id(client: httpx.Client, url: str) -> int:
    """Return the id of the first event of an execution's event stream."""
    with client.stream("GET", url) as response:
        for line in response.iter_lines():
            if line.startswith("id: "):
                return int(line[len("id: ") :])
    raise AssertionError(f"no event id in {url}")


def _create_running(
    url: str, execution_id: str, runner: dict[str, object] | None
) -> None:
    from walle_ray.store import open_store
    from walle_ray.store.runner import RUNNER_KEY

    async def create() -> None:
        store = await open_store(url)
        try:
            await store.create_execution(
                execution_id=execution_id,
                workflow="recorded-by-cli",
                version=None,
                mode="full",
                status="RUNNING",
                detail=None if runner is None else {RUNNER_KEY: runner},
            )
        finally:
            await store.close()

    asyncio.run(create())


def test_restart_leaves_live_cli_runs_alone(
    client: httpx.Client, serve_app: ServeApp
) -> None:
    """A restarted orchestrator resumes none of walle run's executions.

    It ends the one whose process died, leaves the live one running, and
    ends an execution recorded without a version with a reason.
    """
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host = socket.gethostname()
    suffix = uuid.uuid4().hex[:6]
    ids = {
        "live": f"cli-live-{suffix}",
        "dead": f"cli-dead-{suffix}",
        "legacy": f"cli-legacy-{suffix}",
    }
    url = serve_app.config.database_url
    assert url is not None
    _create_running(
        url, ids["live"], {"kind": "walle run", "host": host, "pid": os.getpid()}
    )
    _create_running(
        url, ids["dead"], {"kind": "walle run", "host": host, "pid": child.pid}
    )
    _create_running(url, ids["legacy"], None)
    before = client.get("/api/health").json()["orchestrator"]["pid"]

    kill_with_ray(serve_app.config.orchestrator_name, serve_app.config.namespace)

    def restarted() -> bool:
        health = client.get("/api/health")
        if health.status_code != 200:
            return False
        return bool(health.json()["orchestrator"]["pid"] != before)

    wait_for(restarted, timeout_s=180, interval_s=0.5)

    def record(key: str) -> dict[str, object]:
        response = client.get(f"/api/executions/{ids[key]}")
        assert response.status_code == 200
        value: dict[str, object] = response.json()
        return value

    wait_for(lambda: record("dead")["status"] == "ERROR", timeout_s=60)
    dead = record("dead")
    assert f"pid {child.pid} on {host}" in str(dead["error"])
    legacy = record("legacy")
    assert legacy["status"] == "ERROR"
    assert "recorded without a workflow version" in str(legacy["error"])
    live = record("live")
    assert live["status"] == "RUNNING"
    assert live["error"] is None

    cancel = client.post(f"/api/executions/{ids['live']}/cancel")
    assert cancel.status_code == 409
    assert f"is run by walle run (pid {os.getpid()} on {host})" in cancel.text
    retry = client.post(f"/api/executions/{ids['dead']}/retry")
    assert retry.status_code == 409
    assert "it was recorded by walle run" in retry.text
