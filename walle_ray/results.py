"""Statuses and records of executions, tasks and attempts.

Timestamps are seconds since the epoch (``time.time()``), as floats, so the
records stay cheap to pickle between Ray processes. ``to_dict`` renders them
as ISO 8601 strings in UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class TaskStatus(enum.StrEnum):
    """Lifecycle of one task within an execution."""

    WAITING = "WAITING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    ABORT = "ABORT"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self not in (TaskStatus.WAITING, TaskStatus.RUNNING)

    @property
    def is_failure(self) -> bool:
        """Whether the task failed or was stopped: ERROR, ABORT or CANCELLED."""
        return self in (TaskStatus.ERROR, TaskStatus.ABORT, TaskStatus.CANCELLED)


class ExecutionStatus(enum.StrEnum):
    """Lifecycle of one execution of a workflow."""

    WAITING = "WAITING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self not in (ExecutionStatus.WAITING, ExecutionStatus.RUNNING)


def iso_timestamp(epoch: float | None) -> str | None:
    """Format seconds since the epoch as ISO 8601 in UTC, or pass None through."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds")


def _duration(started_at: float | None, ended_at: float | None) -> float | None:
    if started_at is None or ended_at is None:
        return None
    return round(ended_at - started_at, 6)


@dataclass(slots=True)
class Attempt:
    """One HTTP call made for a task.

    ``status_code`` is None when no response arrived (connection error or
    timeout), and ``error`` is None when the attempt succeeded. ``item`` is
    the index of the ``for_each`` item the call was made for.
    """

    number: int
    started_at: float
    ended_at: float
    status_code: int | None = None
    error: str | None = None
    item: int | None = None

    @property
    def duration_s(self) -> float:
        return round(self.ended_at - self.started_at, 6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status_code": self.status_code,
            "started_at": iso_timestamp(self.started_at),
            "ended_at": iso_timestamp(self.ended_at),
            "duration_s": self.duration_s,
            "error": self.error,
            "item": self.item,
        }


@dataclass(frozen=True, slots=True)
class ItemCounts:
    """Counts of the items of a ``for_each`` task by outcome."""

    total: int
    succeeded: int
    failed: int

    def to_dict(self) -> dict[str, int]:
        return {"total": self.total, "succeeded": self.succeeded, "failed": self.failed}


@dataclass(slots=True)
class TaskResult:
    """Final record of one task: its status, attempts and output.

    ``started_at`` is None for a task that never ran (``ABORT``, ``SKIPPED``).
    ``error`` gives the reason a task did not succeed, including why it was skipped.
    ``items`` is set for ``for_each`` tasks only. ``input`` is the request
    body sent after rendering templates (a list of bodies for ``for_each``).
    """

    name: str
    status: TaskStatus
    attempts: list[Attempt] = field(default_factory=list)
    started_at: float | None = None
    ended_at: float | None = None
    output: Any = None
    error: str | None = None
    items: ItemCounts | None = None
    input: Any = None

    @property
    def duration_s(self) -> float | None:
        return _duration(self.started_at, self.ended_at)

    def to_dict(self, *, include_attempts: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "status": self.status.value,
            "attempts": len(self.attempts),
            "started_at": iso_timestamp(self.started_at),
            "ended_at": iso_timestamp(self.ended_at),
            "duration_s": self.duration_s,
            "output": self.output,
            "error": self.error,
        }
        if self.items is not None:
            data["items"] = self.items.to_dict()
        if include_attempts:
            data["input"] = self.input
            data["attempt_details"] = [a.to_dict() for a in self.attempts]
        return data


@dataclass(slots=True)
class ExecutionResult:
    """Record of one execution: its status, timing and every task's result.

    ``tasks`` keeps the order in which the spec declares the tasks.
    """

    execution_id: str
    workflow: str
    mode: str
    status: ExecutionStatus
    started_at: float
    ended_at: float | None = None
    input: Any = None
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    error: str | None = None
    output: Any = None

    @property
    def duration_s(self) -> float | None:
        return _duration(self.started_at, self.ended_at)

    def to_dict(self, *, include_attempts: bool = False) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "workflow": self.workflow,
            "mode": self.mode,
            "status": self.status.value,
            "started_at": iso_timestamp(self.started_at),
            "ended_at": iso_timestamp(self.ended_at),
            "duration_s": self.duration_s,
            "error": self.error,
            "output": self.output,
            "tasks": [
                t.to_dict(include_attempts=include_attempts)
                for t in self.tasks.values()
            ],
        }
