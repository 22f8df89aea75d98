"""``sync`` mode: one task at a time, in topological order."""

from __future__ import annotations

from walle_ray.modes.base import Run
from walle_ray.rules import Decision


def run_sync(run: Run) -> None:
    """Run each task after the previous one has finished."""
    run.reuse_results()
    for name in run.plan.dag.order:
        if name in run.results:
            continue
        decision = run.decide_here(name)
        if decision is not Decision.RUN:
            run.block(name, decision)
            continue
        run.mark_started(name)
        run.submit(name)
        run.collect()
        if run.stopped():
            run.stop()
            return
