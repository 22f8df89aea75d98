"""``full`` mode: each task starts the moment its trigger rule allows it.

The DAG is submitted as Ray object references. A task with one dependency
is submitted as soon as that dependency has a reference, with the
reference as an argument, so Ray starts it when the dependency ends with
no round trip through the Python driver. The invoker then applies its
trigger rule.

A task with several dependencies is decided in the driver, which counts
the outcomes of its upstream tasks as their results arrive. The moment its
rule can no longer change, the driver submits it with the results that
decided it, or records it blocked. A merge therefore starts on its first
success, and an AND-join aborts on the first failure. The decision costs a
round trip through the driver, which is cheaper than handing the invoker
references to wait on: Ray then tracks each one as a borrowed reference.
"""

from __future__ import annotations

from collections import deque

from walle_ray.modes.base import Run
from walle_ray.results import TaskStatus
from walle_ray.rules import Decision, decide_counts


def run_full(run: Run) -> None:
    """Submit every task as soon as it can be, then collect the results."""
    full = _FullRun(run)
    full.start()
    while run.has_outstanding() and not run.stopped():
        finished = run.collect(until_all=False)
        if run.stopped():
            # A failure under fail_fast starts no dependents of its own.
            break
        full.finished(finished)
    if run.stopped():
        run.stop()


class _FullRun:
    """The driver's state of one ``full`` execution between results."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.dag = run.plan.dag
        # Outcomes of each task's ended upstream tasks, as counts of
        # succeeded, failed and skipped, so a wide fan-in costs O(1) per
        # finished task.
        self.counts = {name: [0, 0, 0] for name in self.dag.order}
        # Tasks neither submitted nor decided yet.
        self.waiting: set[str] = set()
        # For each task, the tasks whose templates read its result. A task
        # is submitted only once those it reads have been, even when its
        # trigger rule let it run earlier.
        self.readers: dict[str, list[str]] = {name: [] for name in self.dag.order}
        for name, step in run.plan.steps.items():
            for up in step.context_tasks:
                self.readers[up].append(name)

    def start(self) -> None:
        run = self.run
        run.reuse_results()
        for name in run.results:
            self._count(name)
        self.waiting = {name for name in self.dag.order if name not in run.results}
        # Each task is reported started when it is submitted with every
        # dependency ended, or later when its last dependency ends.
        for name in self.dag.order:
            if name in self.waiting:
                self._advance([name])

    def finished(self, names: list[str]) -> None:
        """Take in tasks whose results arrived; start what they allow."""
        for name in names:
            self._count(name)
            self._advance(
                [child for child in self.dag.dependents[name] if child in self.waiting]
            )
            self._mark_children(name)

    def _mark_children(self, name: str) -> None:
        """Report the start of dependents that ``name``'s result lets run."""
        run = self.run
        for child in self.dag.dependents[name]:
            # A waiting child is reported when the driver submits it.
            if child in self.waiting:
                continue
            started = child in run.results or child in run.started
            if not started and self._runs(child):
                run.mark_started(child)

    def _advance(self, names: list[str]) -> None:
        """Submit or block each waiting task that can be, then its dependents."""
        queue = deque(names)
        while queue:
            name = queue.popleft()
            if name not in self.waiting or not self._start(name):
                continue
            self.waiting.discard(name)
            queue.extend(c for c in self.dag.dependents[name] if c in self.waiting)
            queue.extend(c for c in self.readers[name] if c in self.waiting)

    def _start(self, name: str) -> bool:
        """Submit or block ``name`` if the driver can; tell whether it did."""
        run = self.run
        depends = self.dag.depends[name]
        if len(depends) <= 1:
            if any(up not in run.summary_refs for up in depends):
                return False
            if not self._context_ready(name):
                return False
            run.submit(name)
            if all(up in run.results for up in depends) and self._runs(name):
                run.mark_started(name)
            return True
        decision = self._decision(name)
        if decision is None:
            return False
        ended = [up for up in depends if up in run.results]
        if decision is not Decision.RUN:
            run.block(name, decision, upstream=ended)
            self._count(name)
            self._mark_children(name)
            return True
        if not self._context_ready(name):
            return False
        run.mark_started(name)
        run.submit(name, upstream=ended)
        return True

    def _context_ready(self, name: str) -> bool:
        """Tell whether every task that ``name``'s templates read was submitted."""
        steps = self.run.plan.steps
        return all(up in self.run.full_refs for up in steps[name].context_tasks)

    def _count(self, name: str) -> None:
        status = self.run.results[name].status
        if status is TaskStatus.SUCCESS:
            slot = 0
        elif status.is_failure:
            slot = 1
        else:
            slot = 2
        for child in self.dag.dependents[name]:
            self.counts[child][slot] += 1

    def _decision(self, name: str) -> Decision | None:
        step = self.run.plan.steps[name]
        succeeded, failed, skipped = self.counts[name]
        return decide_counts(step.rule, succeeded, failed, skipped, len(step.depends))

    def _runs(self, name: str) -> bool:
        """Tell whether the driver's view of upstream results lets ``name`` start."""
        return self._decision(name) is Decision.RUN
