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
from walle_ray.rules import Decision, decide


def run_full(run: Run) -> None:
    """Submit every task with its dependencies as futures, then collect."""
    dag = run.plan.dag
    run.reuse_results()
    for name in dag.order:
        if name not in run.results:
            run.submit(name, await_upstream=len(dag.depends[name]) > 1)
    now = time.time()
    for name in dag.order:
        if name not in run.results and _runs(run, name):
            run.mark_started(name, now)
    pending = run.outstanding()
    while pending and not run.stopped():
        for name in run.collect(pending, until_all=False):
            for child in dag.dependents[name]:
                if child not in run.results and _runs(run, child):
                    run.mark_started(child)
        pending = run.outstanding()
    if run.stopped():
        run.stop()


def _runs(run: Run, name: str) -> bool:
    """Tell whether the driver's view of upstream results lets ``name`` start."""
    step = run.plan.steps[name]
    ended = [run.results[up].status for up in step.depends if up in run.results]
    return decide(step.rule, ended, len(step.depends)) is Decision.RUN
