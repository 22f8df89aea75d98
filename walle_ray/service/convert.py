"""Conversions from stored records back to engine results and specs."""

from __future__ import annotations

import functools

from walle_ray.results import Attempt, TaskResult, TaskStatus
from walle_ray.spec import Workflow, load_workflow
from walle_ray.store.records import ExecutionRecord, TaskRunRecord

SUCCESS = TaskStatus.SUCCESS.value
PARSED_SPECS_KEPT = 64


@functools.lru_cache(maxsize=PARSED_SPECS_KEPT)
def parse_stored_spec(spec_yaml: str) -> Workflow:
    """Parse a stored spec, reusing the result for a text parsed recently.

    Workflow models are frozen, so executions of one spec can share one.
    Raises ``SpecError`` like :func:`walle_ray.spec.load_workflow`.
    """
    return load_workflow(spec_yaml)


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
