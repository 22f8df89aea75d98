"""Application of a list of store writes inside one SQLAlchemy session.

:class:`WriteApplier` reads every execution and task run that the writes
name with two queries, changes the ORM rows in the order of the writes, and
then flushes once. The number of statements therefore stays about the same
whether the list contains one write or a hundred.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from walle_ray.results import TaskResult
from walle_ray.store.base import ExecutionNotFoundError
from walle_ray.store.payloads import cap_text
from walle_ray.store.schema import AttemptRow, ExecutionRow, TaskRunRow
from walle_ray.store.writes import (
    ExecutionResultWrite,
    ExecutionStatusWrite,
    StoreWrite,
    TaskResultWrite,
    TaskStartWrite,
)

# Fields of the result types that have a column of their own. Every other
# field, including fields added to the dataclasses later, goes to ``detail``.
_EXECUTION_COLUMNS = frozenset(
    {
        "execution_id",
        "workflow",
        "mode",
        "status",
        "started_at",
        "ended_at",
        "input",
        "output",
        "tasks",
        "error",
    }
)
_TASK_COLUMNS = frozenset(
    {"name", "status", "attempts", "started_at", "ended_at", "output", "error"}
)
_ATTEMPT_COLUMNS = frozenset(
    {"number", "started_at", "ended_at", "status_code", "error"}
)

# Queries bind at most this many values in one IN list, well under the
# bound-parameter limits of SQLite (32,766 since 3.32) and asyncpg (32,767).
# Above it, task runs are selected by execution id alone.
_MAX_NAMES_IN_QUERY = 500
_MAX_IDS_IN_QUERY = 1000

_TaskKey = tuple[str, str]


def to_datetime(epoch: float | None) -> datetime | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC)


def extra_fields(obj: Any, columns: frozenset[str]) -> dict[str, Any]:
    """Return the dataclass fields of ``obj`` that have no column and are set.

    Nested dataclasses, such as a task's item counts, become dicts.
    """
    extra: dict[str, Any] = {}
    for item in dataclasses.fields(obj):
        value = getattr(obj, item.name)
        if item.name in columns or value is None:
            continue
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        extra[item.name] = value
    return extra


def _task_results(write: ExecutionResultWrite) -> list[TaskResult]:
    tasks = write.result.tasks
    if write.tasks is None:
        return list(tasks.values())
    return [tasks[name] for name in write.tasks if name in tasks]


class WriteApplier:
    """Applies store writes in order in one session; see the module docs.

    ``cap`` caps a JSON payload to the store's maximum size.
    """

    def __init__(self, session: AsyncSession, cap: Callable[[Any], Any]) -> None:
        self._session = session
        self._cap = cap
        self._executions: dict[str, ExecutionRow] = {}
        self._runs: dict[_TaskKey, TaskRunRow] = {}
        # Task runs that were stored before this transaction and so may
        # have attempts to delete.
        self._stored_runs: set[_TaskKey] = set()
        # Attempts to store per task run, replacing the stored ones.
        self._attempts: dict[_TaskKey, list[AttemptRow]] = {}

    async def apply(self, writes: Sequence[StoreWrite]) -> None:
        await self._load(writes)
        for write in writes:
            if isinstance(write, TaskStartWrite):
                self._start_task(write)
            elif isinstance(write, TaskResultWrite):
                self._require_execution(write.execution_id)
                self._save_task(write.execution_id, write.result, write.detail)
            elif isinstance(write, ExecutionStatusWrite):
                self._update_status(write)
            else:
                self._save_execution(write)
        await self._session.flush()
        await self._replace_attempts()

    async def _load(self, writes: Sequence[StoreWrite]) -> None:
        execution_ids: set[str] = set()
        names: set[str] = set()
        for write in writes:
            if isinstance(write, ExecutionResultWrite):
                execution_ids.add(write.result.execution_id)
                names.update(task.name for task in _task_results(write))
                continue
            execution_ids.add(write.execution_id)
            if isinstance(write, TaskStartWrite):
                names.add(write.task)
            elif isinstance(write, TaskResultWrite):
                names.add(write.result.name)
        rows = await self._session.scalars(
            select(ExecutionRow).where(ExecutionRow.id.in_(execution_ids))
        )
        self._executions = {row.id: row for row in rows}
        if not names:
            return
        query = select(TaskRunRow).where(TaskRunRow.execution_id.in_(execution_ids))
        if len(names) <= _MAX_NAMES_IN_QUERY:
            query = query.where(TaskRunRow.name.in_(names))
        runs = await self._session.scalars(query)
        self._runs = {(run.execution_id, run.name): run for run in runs}
        self._stored_runs = set(self._runs)

    def _require_execution(self, execution_id: str) -> ExecutionRow:
        row = self._executions.get(execution_id)
        if row is None:
            raise ExecutionNotFoundError(execution_id)
        return row

    def _start_task(self, write: TaskStartWrite) -> None:
        self._require_execution(write.execution_id)
        key = (write.execution_id, write.task)
        started = to_datetime(write.at)
        run = self._runs.get(key)
        if run is None:
            run = TaskRunRow(
                execution_id=write.execution_id,
                name=write.task,
                status="RUNNING",
                started_at=started,
            )
            self._session.add(run)
            self._runs[key] = run
            return
        # A finish stored after this start wins, whatever order the writes
        # arrive in.
        finished = run.ended_at
        if finished is not None and started is not None and finished >= started:
            return
        run.status = "RUNNING"
        run.started_at = started
        run.ended_at = None

    def _save_task(
        self, execution_id: str, result: TaskResult, detail: dict[str, Any] | None
    ) -> None:
        key = (execution_id, result.name)
        run = self._runs.get(key)
        if run is None:
            run = TaskRunRow(execution_id=execution_id, name=result.name)
            self._session.add(run)
            self._runs[key] = run
        run.status = str(result.status)
        run.started_at = to_datetime(result.started_at)
        run.ended_at = to_datetime(result.ended_at)
        run.output = self._cap(result.output)
        run.error = cap_text(result.error)
        run.detail = self._cap_detail(
            {**extra_fields(result, _TASK_COLUMNS), **(detail or {})}
        )
        self._attempts[key] = [
            AttemptRow(
                position=position,
                number=attempt.number,
                status_code=attempt.status_code,
                started_at=to_datetime(attempt.started_at),
                ended_at=to_datetime(attempt.ended_at),
                error=cap_text(attempt.error),
                detail=self._cap_detail(extra_fields(attempt, _ATTEMPT_COLUMNS)),
            )
            for position, attempt in enumerate(result.attempts)
        ]

    def _update_status(self, write: ExecutionStatusWrite) -> None:
        row = self._require_execution(write.execution_id)
        row.status = write.status
        if write.started_at is not None:
            row.started_at = to_datetime(write.started_at)
        if write.ended_at is not None:
            row.ended_at = to_datetime(write.ended_at)
        if write.output is not None:
            row.output = self._cap(write.output)
        if write.error is not None:
            row.error = cap_text(write.error)

    def _save_execution(self, write: ExecutionResultWrite) -> None:
        result = write.result
        row = self._executions.get(result.execution_id)
        if row is None:
            row = ExecutionRow(
                id=result.execution_id,
                created_at=to_datetime(result.started_at),
            )
            self._session.add(row)
            self._executions[result.execution_id] = row
        row.workflow = result.workflow
        row.mode = result.mode
        row.status = str(result.status)
        row.started_at = to_datetime(result.started_at)
        row.ended_at = to_datetime(result.ended_at)
        row.error = cap_text(result.error)
        if write.version is not None:
            row.workflow_version = write.version
        if result.input is not None:
            row.input = self._cap(result.input)
        output = result.output if write.output is None else write.output
        if output is not None:
            row.output = self._cap(output)
        extra = extra_fields(result, _EXECUTION_COLUMNS)
        if extra:
            # Keep what the execution was created with, such as its runner.
            row.detail = self._cap_detail({**(row.detail or {}), **extra})
        for task in _task_results(write):
            self._save_task(result.execution_id, task, None)

    async def _replace_attempts(self) -> None:
        """Delete the stored attempts of each saved task and insert the new ones.

        Runs after the flush, which gives new task runs their ids.
        """
        if not self._attempts:
            return
        run_ids = [
            self._runs[key].id for key in self._attempts if key in self._stored_runs
        ]
        for start in range(0, len(run_ids), _MAX_IDS_IN_QUERY):
            chunk = run_ids[start : start + _MAX_IDS_IN_QUERY]
            await self._session.execute(
                delete(AttemptRow)
                .where(AttemptRow.task_run_id.in_(chunk))
                .execution_options(synchronize_session=False)
            )
        for key, attempts in self._attempts.items():
            run_id = self._runs[key].id
            for attempt in attempts:
                attempt.task_run_id = run_id
                self._session.add(attempt)

    def _cap_detail(self, detail: dict[str, Any]) -> Any:
        return self._cap(detail) if detail else None
