"""Immutable records that the store returns.

No ORM object leaves the store: every read is copied into one of these frozen
dataclasses. Timestamps are seconds since the epoch as floats, like
:mod:`walle_ray.results`, and statuses are plain strings so that statuses added
later read back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from walle_ray.results import iso_timestamp

T = TypeVar("T")


def _duration(started_at: float | None, ended_at: float | None) -> float | None:
    if started_at is None or ended_at is None:
        return None
    return round(ended_at - started_at, 6)


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    """A stored workflow with its current version and that version's spec."""

    name: str
    version: int
    spec_yaml: str
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "created_at": iso_timestamp(self.created_at),
            "updated_at": iso_timestamp(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class WorkflowVersionRecord:
    """One saved version of a workflow spec."""

    workflow: str
    version: int
    spec_yaml: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "version": self.version,
            "created_at": iso_timestamp(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One stored HTTP call of a task; ``status_code`` is None without a response."""

    number: int
    started_at: float
    ended_at: float
    status_code: int | None = None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

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
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class TaskRunRecord:
    """The stored state of one task in one execution, with its attempts in order.

    ``detail`` contains the task's fields that have no column of their own,
    such as the item counts of a fan-out task.
    """

    name: str
    status: str
    started_at: float | None = None
    ended_at: float | None = None
    output: Any = None
    error: str | None = None
    attempts: tuple[AttemptRecord, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        return _duration(self.started_at, self.ended_at)

    def to_dict(self, *, include_attempts: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "attempts": len(self.attempts),
            "started_at": iso_timestamp(self.started_at),
            "ended_at": iso_timestamp(self.ended_at),
            "duration_s": self.duration_s,
            "output": self.output,
            "error": self.error,
            "detail": self.detail,
        }
        if include_attempts:
            data["attempt_details"] = [a.to_dict() for a in self.attempts]
        return data


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """A stored execution.

    ``tasks`` lists the task runs in the order they were first recorded. It is
    empty in records returned by ``list_executions``, which does not load tasks.
    ``detail`` contains the execution's fields that have no column of their own.
    """

    execution_id: str
    workflow: str
    version: int | None
    mode: str
    status: str
    created_at: float
    input: Any = None
    output: Any = None
    error: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    idempotency_key: str | None = None
    tasks: tuple[TaskRunRecord, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        return _duration(self.started_at, self.ended_at)

    def task(self, name: str) -> TaskRunRecord | None:
        """Return the run of task ``name``, or None if it was never recorded."""
        for run in self.tasks:
            if run.name == name:
                return run
        return None

    def to_dict(self, *, include_attempts: bool = False) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "workflow": self.workflow,
            "version": self.version,
            "mode": self.mode,
            "status": self.status,
            "idempotency_key": self.idempotency_key,
            "created_at": iso_timestamp(self.created_at),
            "started_at": iso_timestamp(self.started_at),
            "ended_at": iso_timestamp(self.ended_at),
            "duration_s": self.duration_s,
            "input": self.input,
            "output": self.output,
            "error": self.error,
            "detail": self.detail,
            "tasks": [t.to_dict(include_attempts=include_attempts) for t in self.tasks],
        }


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; ``total`` counts every match, not only ``items``."""

    items: tuple[T, ...]
    total: int
    limit: int
    offset: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total
