"""The orchestrator's metrics reach Ray's Prometheus endpoint."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from service_helpers import CountingServer, wait_final, wait_for

pytestmark = pytest.mark.ray

# Ray reports metrics to its agent about every 10 s.
METRICS_TIMEOUT_S = 120.0


def metrics_url() -> str:
    import ray

    port = ray.nodes()[0]["MetricsExportPort"]
    return f"http://127.0.0.1:{port}/metrics"


def sample_lines(text: str, metric: str, **labels: str) -> list[str]:
    """Return the sample lines of ``metric`` that carry every label given."""
    found = []
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            found.append(line)
    return found


def test_execution_metrics_exported(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = f"metrics-{uuid.uuid4().hex[:6]}"
    spec = f"""\
name: {name}
tasks:
  - name: fine
    url: {counting_server.url}/ok/{name}
  - name: broken
    url: {counting_server.url}/fail/{name}-broken
"""
    counting_server.failing.add(f"{name}-broken")
    assert (
        client.put(
            f"/api/workflows/{name}",
            content=spec,
            headers={"content-type": "application/yaml"},
        ).status_code
        == 201
    )
    started = client.post(f"/api/workflows/{name}/executions", json={})
    assert wait_final(client, started.json()["execution_id"])["status"] == "ERROR"
    url = metrics_url()

    def exported() -> str | None:
        text = httpx.get(url, timeout=30).text
        finished = sample_lines(
            text, "ray_walle_executions_finished_total", workflow=name, status="ERROR"
        )
        return text if finished else None

    text = wait_for(exported, timeout_s=METRICS_TIMEOUT_S, interval_s=2.0)
    started_lines = sample_lines(
        text, "ray_walle_executions_started_total", workflow=name, mode="full"
    )
    assert started_lines
    assert re.search(r"\} 1(\.0)?$", started_lines[0])
    buckets = sample_lines(
        text, "ray_walle_task_duration_seconds_bucket", workflow=name, status="SUCCESS"
    )
    assert buckets
    assert sample_lines(text, "ray_walle_invocations_total", status_code="200")
    assert sample_lines(text, "ray_walle_invocations_total", status_code="500")
