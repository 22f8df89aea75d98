"""``batch`` mode: level by level.

All tasks of a level run at once, and the next level starts only when the
whole level has finished, as in a bulk-synchronous schedule.
"""

from __future__ import annotations

import time
from typing import Any

import ray

from walle_ray.invoker.actor import InvokerPool
from walle_ray.modes.base import ExecutionListener, ExecutionPlan, invoker_failure
from walle_ray.results import TaskResult
from walle_ray.rules import abort_result


def run_batch(
    plan: ExecutionPlan, pool: InvokerPool, listener: ExecutionListener
) -> dict[str, TaskResult]:
    """Run the DAG's levels one after another, each level in parallel."""
    results: dict[str, TaskResult] = {}
    for level in plan.dag.levels():
        submitted: dict[Any, str] = {}
        for name in level:
            upstream = [results[up] for up in plan.dag.depends[name]]
            aborted = abort_result(name, upstream)
            if aborted is not None:
                results[name] = aborted
                listener.task_finished(aborted)
                continue
            listener.task_started(name, time.time())
            ref = pool.next_actor().run.remote(plan.calls[name], *upstream)
            submitted[ref] = name
        pending = list(submitted)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            name = submitted[done[0]]
            try:
                result = ray.get(done[0])
            except ray.exceptions.RayError as exc:
                result = invoker_failure(name, exc)
            results[name] = result
            listener.task_finished(result)
    return results
