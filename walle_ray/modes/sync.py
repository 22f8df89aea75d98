"""``sync`` mode: one task at a time, in topological order."""

from __future__ import annotations

import time

import ray

from walle_ray.invoker.actor import InvokerPool
from walle_ray.modes.base import ExecutionListener, ExecutionPlan, invoker_failure
from walle_ray.results import TaskResult
from walle_ray.rules import abort_result


def run_sync(
    plan: ExecutionPlan, pool: InvokerPool, listener: ExecutionListener
) -> dict[str, TaskResult]:
    """Run each task after the previous one has finished."""
    results: dict[str, TaskResult] = {}
    for name in plan.dag.order:
        upstream = [results[up] for up in plan.dag.depends[name]]
        result = abort_result(name, upstream)
        if result is None:
            listener.task_started(name, time.time())
            ref = pool.next_actor().run.remote(plan.calls[name], *upstream)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as exc:
                result = invoker_failure(name, exc)
        results[name] = result
        listener.task_finished(result)
    return results
