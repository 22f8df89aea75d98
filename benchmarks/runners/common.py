"""Shared harness of the runner scripts, with no import from walle_ray.

Each runner is a script run by a Python interpreter of its own environment
(the peers' virtual environments lack walle_ray). It reads the workloads
that the main suite exported as JSON, runs each one against the gateway,
and writes the makespans of its runs as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

Workload = dict[str, Any]


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workloads", required=True, help="workloads JSON file")
    parser.add_argument("--gateway", required=True, help="gateway base URL")
    parser.add_argument("--out", required=True, help="results JSON file to write")
    parser.add_argument("--runs", type=int, default=5, help="measured runs per cell")
    parser.add_argument("--min-runs", type=int, default=3, help="runs kept past budget")
    parser.add_argument(
        "--warmup", type=int, default=1, help="unmeasured runs of the first workload"
    )
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds per workload, soft cap"
    )
    return parser.parse_args()


def load_input(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


def sleep_url(gateway: str) -> str:
    return gateway.rstrip("/") + "/function/sleep"


def post_sleep(url: str, seconds: float) -> int:
    """Call the gateway's ``sleep`` function with ``requests``; raise unless 200.

    Each thread keeps one ``requests.Session``, so connections are reused.
    ``requests`` is imported here because the machine-limit runner's
    environment may lack it.
    """
    import requests

    thread = threading.current_thread()
    session = getattr(thread, "bench_session", None)
    if session is None:
        session = requests.Session()
        thread.bench_session = session  # type: ignore[attr-defined]
    response = session.post(url, json={"seconds": seconds}, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
    return int(response.status_code)


def measure_workload(
    workload: Workload,
    run_once: Callable[[Workload], None],
    args: argparse.Namespace,
    warmup: int,
) -> dict[str, Any]:
    """Run ``workload`` ``warmup`` times untimed, then up to ``args.runs`` times.

    After ``args.min_runs`` timed runs, no further run starts once the
    workload has used ``args.budget`` seconds. A failing run ends the
    workload with its error.
    """
    started = time.perf_counter()
    makespans: list[float] = []
    try:
        for _ in range(warmup):
            run_once(workload)
        while len(makespans) < args.runs:
            begin = time.perf_counter()
            run_once(workload)
            makespans.append(time.perf_counter() - begin)
            spent = time.perf_counter() - started
            mean = statistics.fmean(makespans)
            if len(makespans) >= args.min_runs and spent + mean > args.budget:
                break
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:500]}
    return {"status": "ok", "makespans": makespans}


def run_all(
    engine: str,
    version: str,
    run_once: Callable[[Workload], None],
    args: argparse.Namespace,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure every exported workload and write the results file."""
    data = load_input(args.workloads)
    results: dict[str, Any] = {}
    output = {
        "engine": engine,
        "version": version,
        "config": config or {},
        "results": results,
    }
    # Only the first workload gets warm-up runs: they start the engine's
    # processes and connections, and a warm-up of a large peer workload
    # would cost minutes.
    for index, workload in enumerate(data["workloads"]):
        warmup = args.warmup if index == 0 else 0
        results[workload["id"]] = measure_workload(workload, run_once, args, warmup)
        print(f"{engine}: {workload['id']}: {results[workload['id']]}", flush=True)
        # Write after every workload, so a runner stopped at its timeout
        # still leaves the workloads it finished.
        Path(args.out).write_text(json.dumps(output, indent=1), encoding="utf-8")
    return output
