"""``batch`` mode: level by level.

All tasks of a level run at once, and the next level starts only when the
whole level has finished, as in a bulk-synchronous schedule. Trigger rules
are decided in the driver, since every upstream task has ended by then.
"""

from __future__ import annotations

from walle_ray.modes.base import Run
from walle_ray.rules import Decision


def run_batch(run: Run) -> None:
    """Run the DAG's levels one after another, each level in parallel."""
    run.reuse_results()
    for level in run.plan.dag.levels():
        for name in level:
            if name in run.results:
                continue
            decision = run.decide_here(name)
            if decision is Decision.RUN:
                run.mark_started(name)
                run.submit(name)
            else:
                run.block(name, decision)
        run.collect()
        if run.stopped():
            run.stop()
            return
