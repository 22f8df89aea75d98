"""Conversions from stored records back to engine results."""

from __future__ import annotations

from walle_ray.results import Attempt, TaskResult, TaskStatus
from walle_ray.store.records import ExecutionRecord, TaskRunRecord

SUCCESS = TaskStatus.SUCCESS.value


def task_result_from_record(run: TaskRunRecord) -> TaskResult:
    """Rebuild the engine's ``TaskResult`` from a stored task run.

    Raises ValueError when the stored status is not a ``TaskStatus``.
    """
    return TaskResult(
        name=run.name,
        status=TaskStatus(run.status),
        attempts=[
            Attempt(
                number=a.number,
                started_at=a.started_at,
                ended_at=a.ended_at,
                status_code=a.status_code,
                error=a.error,
            )
            for a in run.attempts
        ],
        started_at=run.started_at,
        ended_at=run.ended_at,
        output=run.output,
        error=run.error,
    )


def succeeded_tasks(record: ExecutionRecord) -> dict[str, TaskResult]:
    """Return the results of the tasks that succeeded in ``record``, by name.

    These are the results a retried or resumed execution reuses instead of
    calling the tasks again.
    """
    return {
        run.name: task_result_from_record(run)
        for run in record.tasks
        if run.status == SUCCESS
    }
