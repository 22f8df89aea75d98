"""``full`` mode: each task starts the moment its dependencies finish.

The whole DAG is submitted at once as Ray object references: each task is a
call on an invoker actor whose arguments are its upstream tasks' references,
so Ray starts it when they resolve, with no round trip through the driver.
The driver only watches results arrive.
"""

from __future__ import annotations

import time
from typing import Any

import ray

from walle_ray.invoker.actor import InvokerPool
from walle_ray.modes.base import ExecutionListener, ExecutionPlan, invoker_failure
from walle_ray.results import TaskResult, TaskStatus


def run_full(
    plan: ExecutionPlan, pool: InvokerPool, listener: ExecutionListener
) -> dict[str, TaskResult]:
    """Submit every task with its dependencies as futures, then collect."""
    dag = plan.dag
    refs: dict[str, Any] = {}
    for name in dag.order:
        upstream = [refs[up] for up in dag.depends[name]]
        refs[name] = pool.next_actor().run.remote(plan.calls[name], *upstream)
    submitted_at = time.time()
    for name in dag.roots:
        listener.task_started(name, submitted_at)

    name_of = {ref: name for name, ref in refs.items()}
    unfinished_deps = {name: len(dag.depends[name]) for name in dag.order}
    results: dict[str, TaskResult] = {}
    failures: dict[str, ray.exceptions.RayError] = {}
    pending = list(refs.values())
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        name = name_of[done[0]]
        try:
            result: TaskResult = ray.get(done[0])
        except ray.exceptions.RayError as exc:
            # Ray passes an upstream error on to every downstream call; sort
            # out which task failed once all of them are in.
            failures[name] = exc
            continue
        results[name] = result
        listener.task_finished(result)
        for child in dag.dependents[name]:
            unfinished_deps[child] -= 1
            if unfinished_deps[child] == 0 and result.status is TaskStatus.SUCCESS:
                ready = all(
                    results.get(up) is not None
                    and results[up].status is TaskStatus.SUCCESS
                    for up in dag.depends[child]
                )
                if ready:
                    listener.task_started(child, time.time())
    for name in dag.order:
        if name in failures:
            results[name] = _failed_call(
                name, failures[name], dag.depends[name], results
            )
            listener.task_finished(results[name])
    return results


def _failed_call(
    name: str,
    error: ray.exceptions.RayError,
    depends: tuple[str, ...],
    results: dict[str, TaskResult],
) -> TaskResult:
    for up in depends:
        if results[up].status is not TaskStatus.SUCCESS:
            return TaskResult(
                name=name,
                status=TaskStatus.ABORT,
                ended_at=time.time(),
                error=f"not run: upstream task '{up}' ended {results[up].status.value}",
            )
    return invoker_failure(name, error)
