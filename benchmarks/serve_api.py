"""Executions per second through the Serve HTTP API, when it is available.

The Walle Serve application runs on the suite's Ray instance with a SQLite
database in a temporary folder and the suite's gateway. Each client runs an
execution with one request to the workflow's synchronous HTTP trigger
(``POST /api/triggers/{name}/bench``), which responds when the execution has
ended, as a user waiting for a result would call it. Only when the trigger
answers 202 (its wait ran out) does the client poll
``GET /api/executions/{id}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from benchmarks.engines import ThroughputResult
from benchmarks.plan import ThroughputLevel, throughput_workload

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.025
STARTUP_TIMEOUT_S = 180.0
EXECUTION_TIMEOUT_S = 120.0
FINAL_STATUSES = frozenset({"SUCCESS", "ERROR", "CANCELLED"})
ORCHESTRATOR_NAME = "walle-bench-orchestrator"
TRIGGER = "bench"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def measure_serve(levels: list[ThroughputLevel], gateway: str) -> dict[str, Any]:
    """Measure the Serve API's throughput, or return why it was not measured."""
    try:
        from ray import serve

        from serve_app.app import build_app
        from walle_ray.service import ServiceConfig
    except ImportError as exc:
        return {
            "status": "not available",
            "detail": f"the Serve application cannot be imported: {exc}",
        }
    database = Path(tempfile.mkdtemp(prefix="walle-bench-serve-")) / "walle.db"
    config = ServiceConfig(
        database_url=f"sqlite:///{database}",
        gateway_url=gateway,
        functions_dirs=(),
        invokers=2,
        orchestrator_name=ORCHESTRATOR_NAME,
        invoker_prefix="walle-bench-service-invoker",
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app(config), name="walle-bench", route_prefix="/")
        rows = asyncio.run(_measure(url, levels))
    except Exception as exc:
        logger.exception("measuring the Serve API failed")
        return {"status": "error", "detail": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        _stop_serve(config)
    return {"status": "ok", "url_kind": "Ray Serve HTTP proxy", "rows": rows}


def _stop_serve(config: Any) -> None:
    import ray
    from ray import serve

    try:
        serve.shutdown()
    except Exception as exc:
        logger.warning("stopping Serve failed: %s", exc)
    with contextlib.suppress(ValueError):
        ray.kill(ray.get_actor(config.orchestrator_name, namespace=config.namespace))


async def _measure(url: str, levels: list[ThroughputLevel]) -> list[dict[str, Any]]:
    workload = throughput_workload()
    workflow = workload.to_workflow()
    document = workflow.model_dump(mode="json", exclude_defaults=True)
    document["triggers"] = [{"type": "http", "name": TRIGGER, "async": False}]
    spec = yaml.safe_dump(document)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await _wait_healthy(http, url)
        async with http.put(
            f"{url}/api/workflows/{workflow.name}",
            data=spec,
            headers={"Content-Type": "application/yaml"},
        ) as response:
            if response.status >= 300:
                raise RuntimeError(
                    f"saving the workflow failed: HTTP {response.status}: "
                    f"{(await response.text())[:300]}"
                )
        await _run_execution(http, url, workflow.name)
        rows = []
        for level in levels:
            result = await _throughput(http, url, workflow.name, level)
            row = {"system": "walle", "via": "serve-http", **result.to_dict()}
            logger.info("throughput %s", row)
            rows.append(row)
        return rows


async def _wait_healthy(http: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            async with http.get(f"{url}/api/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Walle API at {url} did not become healthy")
        await asyncio.sleep(0.5)


async def _run_execution(http: aiohttp.ClientSession, url: str, name: str) -> None:
    """Run one execution through the sync trigger; raise unless it succeeds."""
    async with http.post(f"{url}/api/triggers/{name}/{TRIGGER}", json={}) as response:
        body = await response.json(content_type=None)
        if response.status >= 300:
            raise RuntimeError(f"starting an execution failed: {body}")
    execution = body.get("execution", body)
    execution_id = execution["execution_id"]
    if response.status == 200:
        if execution.get("status") != "SUCCESS":
            raise RuntimeError(f"execution {execution_id} ended {execution}")
        return
    deadline = time.monotonic() + EXECUTION_TIMEOUT_S
    while True:
        await asyncio.sleep(POLL_INTERVAL_S)
        async with http.get(f"{url}/api/executions/{execution_id}") as response:
            record = await response.json(content_type=None)
        status = record.get("status")
        if status in FINAL_STATUSES:
            if status != "SUCCESS":
                raise RuntimeError(f"execution {execution_id} ended {status}")
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_id} still {status}")


async def _throughput(
    http: aiohttp.ClientSession, url: str, name: str, level: ThroughputLevel
) -> ThroughputResult:
    latencies: list[float] = []
    remaining = level.executions

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            begin = time.perf_counter()
            await _run_execution(http, url, name)
            latencies.append(time.perf_counter() - begin)

    begin = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(level.concurrency)))
    return ThroughputResult(
        level.concurrency, level.executions, time.perf_counter() - begin, latencies
    )
