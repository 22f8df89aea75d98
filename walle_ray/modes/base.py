"""What every execution mode shares: the plan, the listener and the run.

A mode takes a ``Run``, which holds an ``ExecutionPlan`` (the DAG and one
``TaskStep`` per task), an ``InvokerPool`` and an ``ExecutionListener``. The
mode decides only when each task is submitted. ``Run`` submits the calls and
collects their results. It also stops the execution on cancellation, on its
timeout, or on the first failure under ``fail_fast``.

Each call returns two Ray objects: a summary with the output capped for
display and records, which the driver fetches, and the full result, which
only the downstream invoker actors fetch. Outputs therefore travel between
actors without passing through the driver.
"""

from __future__ import annotations

import logging
import pickle
import queue
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

import ray

from walle_ray.control import ExecutionControl
from walle_ray.dag import Dag
from walle_ray.invoker.actor import InvokerPool
from walle_ray.invoker.step import TaskStep
from walle_ray.outputs import is_truncated
from walle_ray.results import TaskResult, TaskStatus
from walle_ray.rules import Decision, blocked_result, decide

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.05
"""How long the driver waits for results before it checks for cancellation."""

CANCEL_GRACE_S = 5.0
"""How long a stopping run waits for cancelled calls to end."""

INLINE_INPUT_BYTES = 16 * 1024
"""Largest pickled execution input passed to each call by value."""


@dataclass(frozen=True)
class ExecutionPlan:
    """One execution's graph, the step of each task and how to stop it.

    ``reuse`` contains results of tasks that already succeeded in an earlier
    execution. They are not run again, and their outputs feed the others.
    """

    execution_id: str
    workflow: str
    dag: Dag
    steps: dict[str, TaskStep]
    input: Any = None
    on_failure: str = "continue"
    timeout_s: float | None = None
    reuse: Mapping[str, TaskResult] = field(default_factory=dict)


class ExecutionListener(Protocol):
    """Receives task events while an execution runs, in the driver process."""

    def task_started(self, name: str, at: float) -> None: ...

    def task_finished(self, result: TaskResult) -> None: ...


class NullListener:
    """A listener that ignores every event."""

    def task_started(self, name: str, at: float) -> None:
        pass

    def task_finished(self, result: TaskResult) -> None:
        pass


class Run:
    """The driver's side of one execution: submitted calls and their results."""

    def __init__(
        self,
        plan: ExecutionPlan,
        pool: InvokerPool,
        listener: ExecutionListener,
        control: ExecutionControl | None = None,
    ) -> None:
        self.plan = plan
        self.pool = pool
        self.listener = listener
        self.control = control or ExecutionControl()
        self.results: dict[str, TaskResult] = {}
        self.summary_refs: dict[str, Any] = {}
        self.full_refs: dict[str, Any] = {}
        self.started: set[str] = set()
        self.stop_reason: str | None = None
        self.timed_out = False
        # Submitted tasks without a recorded result, and the names of calls
        # that ended, queued by Ray's completion callbacks.
        self._unfinished: dict[str, Future[TaskResult]] = {}
        self._ended: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._input_arg = input_argument(plan.input)
        self._deadline = (
            time.time() + plan.timeout_s if plan.timeout_s is not None else None
        )
        self._position = {name: index for index, name in enumerate(plan.dag.order)}

    # -- submitting ----------------------------------------------------------

    def reuse_results(self) -> None:
        """Put the reused results in place of their tasks' calls."""
        for name, result in self.plan.reuse.items():
            if name not in self.plan.steps:
                continue
            self.full_refs[name] = ray.put(result)
            self.summary_refs[name] = self.full_refs[name]
            self.results[name] = result
            self.listener.task_finished(result)

    def submit(self, name: str, *, upstream: list[str] | None = None) -> None:
        """Submit one task's call on the next invoker actor.

        The call receives the references of its dependencies' results, or
        of ``upstream`` only when given, and Ray resolves them before the
        call starts.
        """
        step = self.plan.steps[name]
        context = {up: self.full_refs[up] for up in step.context_tasks}
        names = step.depends if upstream is None else upstream
        refs = self.pool.next_actor().run.remote(
            step, self._input_arg, context, *[self.summary_refs[up] for up in names]
        )
        self.summary_refs[name], self.full_refs[name] = refs
        # Ray calls back when the summary is ready, so waiting costs O(1)
        # per result instead of a scan of every pending reference.
        future = refs[0].future()
        self._unfinished[name] = future
        future.add_done_callback(lambda _: self._ended.put(name))

    def mark_started(self, name: str, at: float | None = None) -> None:
        if name not in self.started:
            self.started.add(name)
            self.listener.task_started(name, at if at is not None else time.time())

    def decide_here(self, name: str) -> Decision:
        """Decide a task's trigger rule in the driver, from finished upstream."""
        step = self.plan.steps[name]
        statuses = [self.results[up].status for up in step.depends]
        decision = decide(step.rule, statuses, len(statuses))
        assert decision is not None, f"upstream of {name} has not finished"
        return decision

    def block(
        self, name: str, decision: Decision, *, upstream: list[str] | None = None
    ) -> None:
        """Record a task that its trigger rule keeps from running.

        ``upstream`` names the ended dependencies that decided it; by default
        every dependency.
        """
        step = self.plan.steps[name]
        names = step.depends if upstream is None else upstream
        result = blocked_result(
            name, step.rule, decision, [self.results[up] for up in names]
        )
        # Downstream calls receive this result like any other upstream result.
        self.summary_refs[name] = self.full_refs[name] = ray.put(result)
        self.finish(result)

    def finish(self, result: TaskResult) -> None:
        # A fast task can end before the driver saw it start; report the
        # start first so listeners always see both events in order.
        if result.started_at is not None and result.name not in self.started:
            self.mark_started(result.name, result.started_at)
        self.results[result.name] = result
        self.listener.task_finished(result)

    # -- collecting ----------------------------------------------------------

    def outstanding(self) -> list[Any]:
        """Return the summary references of submitted calls not yet recorded."""
        return [self.summary_refs[name] for name in self._unfinished]

    def has_outstanding(self) -> bool:
        return bool(self._unfinished)

    def collect(self, *, until_all: bool = True) -> list[str]:
        """Wait for submitted calls and record their results, upstream first.

        Returns the names that finished. With ``until_all`` it returns only
        when every submitted call has ended or the run has stopped;
        otherwise as soon as at least one has.
        """
        finished: list[str] = []
        while self._unfinished and not self.stopped():
            timeout = POLL_INTERVAL_S
            if self._deadline is not None:
                timeout = max(0.0, min(timeout, self._deadline - time.time()))
            try:
                ended = [self._ended.get(timeout=timeout)]
            except queue.Empty:
                continue
            # Take every other call that has ended meanwhile.
            while True:
                try:
                    ended.append(self._ended.get_nowait())
                except queue.Empty:
                    break
            finished.extend(self._record(ended))
            if not until_all:
                break
        return finished

    def _record(self, ended: list[str]) -> list[str]:
        names = sorted(
            (name for name in ended if name in self._unfinished),
            key=self._position.__getitem__,
        )
        finished = []
        for name in names:
            future = self._unfinished.pop(name)
            try:
                result = future.result()
            except ray.exceptions.TaskCancelledError:
                continue
            except ray.exceptions.RayError as exc:
                result = self._call_failure(name, exc)
            self.finish(result)
            finished.append(name)
            if result.status is TaskStatus.ERROR:
                self._on_error(result)
        return finished

    def _call_failure(self, name: str, error: ray.exceptions.RayError) -> TaskResult:
        # Ray passes an upstream call's error on to the calls that received
        # its reference, so blame the upstream task when it failed first.
        step = self.plan.steps[name]
        upstream = [self.results[up] for up in step.depends if up in self.results]
        if any(result.status.is_failure for result in upstream):
            return blocked_result(name, step.rule, Decision.ABORT, upstream)
        return invoker_failure(name, error)

    def _on_error(self, result: TaskResult) -> None:
        if self.plan.on_failure == "fail_fast" and self.stop_reason is None:
            self.stop_reason = f"stopped by fail_fast: task '{result.name}' failed"

    def stopped(self) -> bool:
        """Tell whether the run must stop, and note why."""
        if self.stop_reason is not None:
            return True
        if self.control.cancelled:
            self.stop_reason = self.control.reason or "cancelled by request"
            return True
        if self._deadline is not None and time.time() >= self._deadline:
            self.timed_out = True
            self.stop_reason = f"execution timed out after {self.plan.timeout_s:g}s"
            return True
        return False

    # -- stopping ------------------------------------------------------------

    def stop(self) -> None:
        """Cancel every outstanding call and record the tasks that did not end.

        Running calls are cancelled, which cancels their HTTP requests. When
        the execution is cancelled, every unfinished task ends ``CANCELLED``.
        After a timeout or under ``fail_fast``, running tasks end
        ``CANCELLED`` and tasks that had not started end ``ABORT``.
        """
        outstanding = self.outstanding()
        self._unfinished.clear()
        for ref in outstanding:
            ray.cancel(ref)
        if outstanding:
            done, _ = ray.wait(
                outstanding, num_returns=len(outstanding), timeout=CANCEL_GRACE_S
            )
            self._record_after_stop(done)
        cancelled = self.control.cancelled
        now = time.time()
        for name in self.plan.dag.order:
            if name in self.results:
                continue
            if cancelled or name in self.started:
                status = TaskStatus.CANCELLED
            else:
                status = TaskStatus.ABORT
            self.finish(
                TaskResult(
                    name=name,
                    status=status,
                    started_at=now if name in self.started else None,
                    ended_at=now,
                    error=f"not finished: {self.stop_reason}",
                )
            )

    def _record_after_stop(self, done: list[Any]) -> None:
        for ref in done:
            try:
                result: TaskResult = ray.get(ref)
            except ray.exceptions.RayError:
                continue  # cancelled: recorded below with the others
            self.finish(result)

    def fetch_full(self, names: list[str]) -> dict[str, TaskResult]:
        """Fetch the uncapped results of ``names`` into the driver.

        Tasks whose call did not return (cancelled, aborted) keep the result
        the driver recorded, and so do tasks whose output was not capped: their
        summary is their full result.
        """
        full = {name: self.results[name] for name in names if name in self.results}
        wanted = [
            name
            for name in full
            if name in self.full_refs and is_truncated(full[name].output)
        ]
        try:
            values = ray.get([self.full_refs[name] for name in wanted])
        except ray.exceptions.RayError:
            values = []
            for name in wanted:
                try:
                    values.append(ray.get(self.full_refs[name]))
                except ray.exceptions.RayError:
                    values.append(full[name])
        full.update(zip(wanted, values, strict=True))
        return full


Mode = Callable[[Run], None]


def input_argument(value: Any) -> Any:
    """Return the execution's input as each call receives it: value or reference.

    Ray copies a small argument into the call itself, which costs less than
    a shared object that every invoker fetches. A large input is stored once
    and passed by reference.
    """
    if value is None or isinstance(value, bool | int | float | str | bytes):
        if not isinstance(value, str | bytes) or len(value) <= INLINE_INPUT_BYTES:
            return value
        return ray.put(value)
    try:
        size = len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # let Ray's serializer report what cannot be pickled
        size = INLINE_INPUT_BYTES + 1
    return value if size <= INLINE_INPUT_BYTES else ray.put(value)


def invoker_failure(name: str, error: BaseException) -> TaskResult:
    """Record a task whose invoker call raised instead of returning a result.

    This happens when Ray gives up on the actor, not for HTTP failures, which
    the invoker records itself.
    """
    return TaskResult(
        name=name,
        status=TaskStatus.ERROR,
        ended_at=time.time(),
        error=f"invoker failed: {type(error).__name__}: {error}",
    )
