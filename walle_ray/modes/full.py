"""``full`` mode: each task starts the moment its trigger rule allows it.

The whole DAG is submitted at once as Ray object references: each task is a
call on an invoker actor that receives its upstream tasks' references, so
dependencies resolve as futures with no round trip through the driver. A
task with one dependency gets it as a resolved argument. A task with several
gets their references and decides its trigger rule as each one ends, so a
merge starts on the first success and an AND-join aborts on the first
failure. The driver only watches results arrive.
"""

from __future__ import annotations

import time

from walle_ray.modes.base import Run
from walle_ray.results import TaskStatus
from walle_ray.rules import Decision, decide_counts


def run_full(run: Run) -> None:
    """Submit every task with its dependencies as futures, then collect."""
    dag = run.plan.dag
    run.reuse_results()
    for name in dag.order:
        if name not in run.results:
            run.submit(name, await_upstream=len(dag.depends[name]) > 1)
    # Outcomes of each task's ended upstream tasks, as counts of succeeded,
    # failed and skipped, so a wide fan-in costs O(1) per finished task.
    counts = {name: [0, 0, 0] for name in dag.order}
    for name in run.results:
        _count(run, counts, name)
    now = time.time()
    for name in dag.order:
        if name not in run.results and _runs(run, counts, name):
            run.mark_started(name, now)
    pending = run.outstanding()
    while pending and not run.stopped():
        for name in run.collect(pending, until_all=False):
            _count(run, counts, name)
            for child in dag.dependents[name]:
                if child in run.results or child in run.started:
                    continue
                if _runs(run, counts, child):
                    run.mark_started(child)
        pending = run.outstanding()
    if run.stopped():
        run.stop()


def _count(run: Run, counts: dict[str, list[int]], name: str) -> None:
    status = run.results[name].status
    if status is TaskStatus.SUCCESS:
        slot = 0
    elif status.is_failure:
        slot = 1
    else:
        slot = 2
    for child in run.plan.dag.dependents[name]:
        counts[child][slot] += 1


def _runs(run: Run, counts: dict[str, list[int]], name: str) -> bool:
    """Tell whether the driver's view of upstream results lets ``name`` start."""
    step = run.plan.steps[name]
    succeeded, failed, skipped = counts[name]
    decision = decide_counts(step.rule, succeeded, failed, skipped, len(step.depends))
    return decision is Decision.RUN
