"""Writes that :meth:`Store.apply_writes` applies in order in one transaction.

Each type is one of the store's single-write methods as a value, so that a
caller can queue writes and commit many of them together.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from walle_ray.results import ExecutionResult, TaskResult


@dataclass(frozen=True, slots=True)
class TaskStartWrite:
    """A task marked RUNNING since ``at``, as :meth:`Store.save_task_started` does."""

    execution_id: str
    task: str
    at: float


@dataclass(frozen=True, slots=True)
class TaskResultWrite:
    """One task's run and attempts, as :meth:`Store.save_task_result` saves them."""

    execution_id: str
    result: TaskResult
    detail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ExecutionStatusWrite:
    """An execution status change, as :meth:`Store.update_execution_status` makes it.

    Every field other than ``status`` is written only when it is not None.
    """

    execution_id: str
    status: str
    started_at: float | None = None
    ended_at: float | None = None
    output: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ExecutionResultWrite:
    """An execution and its task runs, as :meth:`Store.save_result` saves them.

    ``tasks`` names the task runs to write; None writes every task of
    ``result``. Task runs left out keep what is stored.
    """

    result: ExecutionResult
    version: int | None = None
    output: Any = None
    tasks: Collection[str] | None = None


StoreWrite = (
    TaskStartWrite | TaskResultWrite | ExecutionStatusWrite | ExecutionResultWrite
)
"""Any write that :meth:`Store.apply_writes` accepts."""
