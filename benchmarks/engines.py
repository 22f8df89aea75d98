"""The systems measured inside the suite's process: Walle and raw Ray.

Both use the same ``InvokerPool`` actors. Walle goes through
``walle_ray.engine.run_workflow`` and records every task's result. Raw Ray
submits the same DAG as object references on the actors' ``run`` method and
only waits for all of them. The Ray actor floor submits the DAG the same way
to actors that sleep for each task's latency and make no HTTP call, which
is what Ray's actor calls cost on their own.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import ray

from benchmarks.workloads import Workload
from walle_ray.engine import build_plan, run_workflow
from walle_ray.invoker.actor import MAX_CONCURRENT_CALLS, InvokerPool
from walle_ray.modes.base import input_argument
from walle_ray.results import ExecutionStatus
from walle_ray.spec import Workflow

RunOnce = Callable[[], None]


class RunFailed(RuntimeError):
    """An execution under measurement did not succeed."""


def walle_runner(
    workload: Workload, mode: str, gateway: str, pool: InvokerPool
) -> RunOnce:
    """Return a function that runs ``workload`` once through ``run_workflow``."""
    workflow = workload.to_workflow()
    return lambda: _run_walle(workflow, mode, gateway, pool)


def _run_walle(workflow: Workflow, mode: str, gateway: str, pool: InvokerPool) -> None:
    result = run_workflow(workflow, mode=mode, gateway=gateway, pool=pool)
    if result.status is not ExecutionStatus.SUCCESS:
        raise RunFailed(f"{workflow.name} in {mode} mode: {result.error}")


def raw_ray_runner(workload: Workload, gateway: str, pool: InvokerPool) -> RunOnce:
    """Return a function that runs ``workload`` once as plain Ray references.

    The task calls are resolved once, outside the timed run, and nothing is
    recorded: this is what the invoker actors cost without the engine.
    """
    plan = build_plan(
        workload.to_workflow(), execution_id=str(uuid.uuid4()), gateway=gateway
    )
    order = plan.dag.order
    depends = plan.dag.depends
    submit = _actor_submitter(plan)

    def run() -> None:
        refs: dict[str, Any] = {}
        for name in order:
            upstream = [refs[up] for up in depends[name]]
            refs[name] = submit(pool.next_actor(), name, upstream)
        results = ray.get(list(refs.values()))
        failed = [r.name for r in results if r.status.value != "SUCCESS"]
        if failed:
            raise RunFailed(f"{workload.id} on raw Ray: tasks failed: {failed[:5]}")

    return run


class SleepActor:
    """An invoker stand-in whose calls sleep for the task's latency."""

    async def ready(self) -> int:
        return os.getpid()

    async def run(self, seconds: float, *upstream: Any) -> float:
        await asyncio.sleep(seconds)
        return seconds


def sleep_actors(size: int, scheduling_strategy: Any = "DEFAULT") -> list[Any]:
    """Start ``size`` sleep actors placed like the invokers and wait for them."""
    actor_class = ray.remote(SleepActor)
    actors = [
        actor_class.options(  # type: ignore[attr-defined]
            num_cpus=0,
            max_concurrency=MAX_CONCURRENT_CALLS,
            scheduling_strategy=scheduling_strategy,
        ).remote()
        for _ in range(size)
    ]
    ray.get([actor.ready.remote() for actor in actors], timeout=120)
    return actors


def ray_actors_runner(workload: Workload, actors: list[Any]) -> RunOnce:
    """Return a function that runs ``workload`` once on sleep actors.

    Calls go to the actors round robin, with their upstream references as
    arguments, as on raw Ray, but no call reaches the gateway.
    """
    order = workload.dag.order
    depends = workload.depends
    seconds = workload.seconds

    def run() -> None:
        refs: dict[str, Any] = {}
        for index, name in enumerate(order):
            actor = actors[index % len(actors)]
            upstream = [refs[up] for up in depends[name]]
            refs[name] = actor.run.remote(seconds[name], *upstream)
        ray.get(list(refs.values()))

    return run


Submit = Callable[[Any, str, list[Any]], Any]


def _actor_submitter(plan: Any) -> Submit:
    """Return how to call an invoker actor's ``run`` for one task of ``plan``.

    The submitter returns the reference of the task's result, which the
    downstream calls receive as arguments. Two call signatures of
    ``Invoker.run`` are supported: ``run(call, *upstream)`` returning one
    result, and ``run(step, input, context, *upstream)``
    returning a summary and the full result.
    """
    calls = getattr(plan, "calls", None)
    if calls is not None:
        return lambda actor, name, upstream: actor.run.remote(calls[name], *upstream)
    steps = plan.steps
    input_arg = input_argument(plan.input)

    def submit(actor: Any, name: str, upstream: list[Any]) -> Any:
        summary, _full = actor.run.remote(steps[name], input_arg, {}, *upstream)
        return summary

    return submit


@dataclass
class ThroughputResult:
    concurrency: int
    executions: int
    elapsed_s: float
    latencies_s: list[float]

    @classmethod
    def combine(cls, parts: list[ThroughputResult]) -> ThroughputResult:
        """Add up rounds run at one concurrency into one result."""
        return cls(
            parts[0].concurrency,
            sum(p.executions for p in parts),
            sum(p.elapsed_s for p in parts),
            [latency for p in parts for latency in p.latencies_s],
        )

    @property
    def executions_per_s(self) -> float:
        return self.executions / self.elapsed_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "executions": self.executions,
            "elapsed_s": self.elapsed_s,
            "executions_per_s": self.executions_per_s,
            "p50_ms": percentile(self.latencies_s, 50) * 1000,
            "p99_ms": percentile(self.latencies_s, 99) * 1000,
        }


def percentile(values: list[float], q: float) -> float:
    """Return the ``q``-th percentile with linear interpolation."""
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    if q >= 100:
        return max(values)
    return cuts[int(q) - 1]


def measure_throughput(
    run_once: RunOnce, concurrency: int, executions: int
) -> ThroughputResult:
    """Run ``executions`` executions from ``concurrency`` threads at once."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        begin = time.perf_counter()
        run_once()
        elapsed = time.perf_counter() - begin
        with lock:
            latencies.append(elapsed)

    begin = time.perf_counter()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="bench-client") as pool:
        list(pool.map(one, range(executions)))
    return ThroughputResult(
        concurrency, executions, time.perf_counter() - begin, latencies
    )
