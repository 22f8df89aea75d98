"""What every execution mode receives and reports.

A mode takes an ``ExecutionPlan`` (the DAG and one ``TaskCall`` per task),
an ``InvokerPool`` and an ``ExecutionListener``, and returns every task's
``TaskResult``. Modes differ only in when they submit each call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from walle_ray.dag import Dag
from walle_ray.invoker.actor import InvokerPool
from walle_ray.invoker.http import TaskCall
from walle_ray.results import TaskResult, TaskStatus


@dataclass(frozen=True)
class ExecutionPlan:
    """One execution's graph and the resolved call of each task."""

    execution_id: str
    workflow: str
    dag: Dag
    calls: dict[str, TaskCall]


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


Mode = Callable[[ExecutionPlan, InvokerPool, ExecutionListener], dict[str, TaskResult]]


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
