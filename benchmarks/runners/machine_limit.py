"""Machine-limit baseline: the workloads' calls made with asyncio and aiohttp.

No engine: one event loop in one process starts each call as soon as its
dependencies' calls have returned, over one connection pool. This is the
fastest the gateway and this machine can serve each workload.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import common

# Open connections at once, as many as a two-actor invoker pool allows.
CONNECTION_LIMIT = 2000


async def run_dag(
    session: aiohttp.ClientSession, url: str, workload: common.Workload
) -> None:
    calls: dict[str, asyncio.Task[None]] = {}

    async def call(task: dict[str, Any]) -> None:
        for name in task["depends"]:
            await calls[name]
        async with session.post(url, json={"seconds": task["seconds"]}) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"task {task['name']}: HTTP {response.status}")

    # Tasks arrive in topological order, so every dependency exists already.
    for task in workload["tasks"]:
        calls[task["name"]] = asyncio.create_task(call(task))
    await asyncio.gather(*calls.values())


async def measure_throughput(
    session: aiohttp.ClientSession,
    url: str,
    workload: common.Workload,
    concurrency: int,
    executions: int,
) -> dict[str, Any]:
    """Run ``executions`` executions, ``concurrency`` at a time."""
    latencies: list[float] = []
    remaining = executions

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            begin = time.perf_counter()
            await run_dag(session, url, workload)
            latencies.append(time.perf_counter() - begin)

    begin = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - begin
    return {
        "concurrency": concurrency,
        "executions": executions,
        "elapsed_s": elapsed,
        "latencies_s": latencies,
    }


async def main_async() -> None:
    args = common.parse_args(__doc__ or "")
    data = common.load_input(args.workloads)
    url = common.sleep_url(args.gateway)
    connector = aiohttp.TCPConnector(limit=CONNECTION_LIMIT, limit_per_host=0)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=connector) as session:

        def run_once(workload: common.Workload) -> None:
            # measure_workload is synchronous; this runner drives it from a
            # worker thread and runs each DAG on the main loop.
            future = asyncio.run_coroutine_threadsafe(
                run_dag(session, url, workload), loop
            )
            future.result()

        output = await asyncio.to_thread(
            common.run_all,
            "machine-limit",
            f"aiohttp {aiohttp.__version__}",
            run_once,
            args,
            {"connection_limit": CONNECTION_LIMIT},
        )
        spec = data.get("throughput")
        if spec:
            by_id = {w["id"]: w for w in data["workloads"]}
            workload = spec.get("workload_json") or by_id[spec["workload"]]
            await run_dag(session, url, workload)
            output["throughput"] = [
                await measure_throughput(
                    session, url, workload, level["concurrency"], level["executions"]
                )
                for level in spec["levels"]
            ]
            for level in output["throughput"]:
                median = statistics.median(level["latencies_s"])
                print(f"throughput {level['concurrency']}: p50 {median:.4f}s")
            Path(args.out).write_text(json.dumps(output, indent=1), encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main_async())
