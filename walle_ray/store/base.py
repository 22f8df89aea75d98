"""The store interface and the errors its implementations raise.

The Ray Serve app and ``walle run`` both program against :class:`Store`;
:func:`walle_ray.store.open_store` returns an implementation. The method
names and arguments are stable: add optional arguments or new methods, and
change none of the existing ones.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol

from walle_ray.errors import WalleError
from walle_ray.results import ExecutionResult, TaskResult
from walle_ray.store.records import (
    ExecutionRecord,
    Page,
    WorkflowRecord,
    WorkflowVersionRecord,
)
from walle_ray.store.writes import StoreWrite

UNFINISHED_STATUSES: tuple[str, ...] = ("WAITING", "RUNNING")
"""Execution statuses that :meth:`Store.list_unfinished_executions` returns.

Every other status, including ones added later such as CANCELLED, counts as
final.
"""


class StoreError(WalleError):
    """A store operation failed, for the reason given in the message."""


class UnsupportedDatabaseError(StoreError, ValueError):
    """A database URL is invalid or uses a scheme the store has no driver for."""


class ExecutionNotFoundError(StoreError, LookupError):
    """An update named an execution id that the store does not contain."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(
            f"execution '{execution_id}' not found; create it with "
            "create_execution or save_result first"
        )


class DuplicateExecutionError(StoreError):
    """``create_execution`` was given an execution id that is already stored."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(
            f"execution '{execution_id}' already exists; use a new execution id"
        )


class Store(Protocol):
    """Persistent storage of workflows, their versions and their executions.

    Statuses are strings: the values of ``TaskStatus`` and ``ExecutionStatus``
    or any status added later. Timestamps are seconds since the epoch, like
    :mod:`walle_ray.results`. Inputs and outputs larger than the store's cap
    are stored as a marker object (see :func:`walle_ray.store.payloads.cap_json`).
    Every method may raise ``sqlalchemy.exc.SQLAlchemyError`` or ``OSError``
    when the database itself fails.
    """

    async def save_workflow(self, name: str, spec_yaml: str) -> WorkflowRecord:
        """Store ``spec_yaml`` as the next version of workflow ``name``.

        When the text equals the newest version, no version is added and that
        version is returned. Saving a deleted workflow restores it. Raises
        ValueError for an empty or too long name.
        """
        ...

    async def get_workflow(self, name: str) -> WorkflowRecord | None:
        """Return the workflow with its newest spec, or None if absent or deleted."""
        ...

    async def get_workflow_version(
        self, name: str, version: int
    ) -> WorkflowVersionRecord | None:
        """Return one version of a workflow, even a deleted one, or None."""
        ...

    async def list_workflows(self) -> list[WorkflowRecord]:
        """Return every workflow that is not deleted, sorted by name."""
        ...

    async def workflow_versions(self, name: str) -> list[WorkflowVersionRecord]:
        """Return the versions of a workflow, oldest first, even after deletion.

        Returns an empty list for a name that was never saved.
        """
        ...

    async def delete_workflow(self, name: str) -> bool:
        """Mark a workflow deleted and keep its versions and executions.

        Returns False when no workflow of that name exists or it was already
        deleted.
        """
        ...

    async def create_execution(
        self,
        *,
        execution_id: str,
        workflow: str,
        version: int | None,
        mode: str,
        input: Any = None,
        idempotency_key: str | None = None,
        status: str = "WAITING",
        detail: dict[str, Any] | None = None,
    ) -> ExecutionRecord:
        """Insert an execution with no task runs and return it.

        ``detail`` is stored in the execution's ``detail`` field.

        When ``idempotency_key`` was already used for ``workflow``, nothing is
        inserted and the existing execution is returned: callers tell the two
        cases apart by comparing ``execution_id``. Raises
        DuplicateExecutionError when ``execution_id`` is already stored.
        """
        ...

    async def update_execution_status(
        self,
        execution_id: str,
        status: str,
        *,
        started_at: float | None = None,
        ended_at: float | None = None,
        output: Any = None,
        error: str | None = None,
    ) -> None:
        """Set an execution's status and each other argument that is not None.

        Raises ExecutionNotFoundError for an unknown id.
        """
        ...

    async def save_task_started(self, execution_id: str, task: str, at: float) -> None:
        """Mark a task RUNNING since ``at``, inserting its task run if needed.

        Raises ExecutionNotFoundError for an unknown execution id.
        """
        ...

    async def save_task_result(
        self,
        execution_id: str,
        result: TaskResult,
        *,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Insert or update one task's run from ``result`` and replace its attempts.

        Fields of ``result`` that the store has no column for (such as the
        item counts of a fan-out task) go to the run's ``detail`` object,
        together with ``detail``. Raises ExecutionNotFoundError for an unknown
        execution id.
        """
        ...

    async def save_task_results(
        self, execution_id: str, results: Iterable[TaskResult]
    ) -> None:
        """Save several task runs like :meth:`save_task_result`, in one transaction."""
        ...

    async def save_result(
        self,
        result: ExecutionResult,
        *,
        version: int | None = None,
        output: Any = None,
        tasks: Collection[str] | None = None,
    ) -> None:
        """Insert or update a whole execution and its task runs in one transaction.

        ``version`` and ``output`` are written when not None. An execution that
        was created before keeps its version and idempotency key. ``tasks``
        names the task runs to write; None writes every task of ``result``.
        """
        ...

    async def apply_writes(self, writes: Sequence[StoreWrite]) -> None:
        """Apply ``writes`` in order in one transaction; see :mod:`.writes`.

        Each write behaves as the single-write method it mirrors, and when one
        raises, none of them is stored.
        """
        ...

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """Return the execution with its task runs and their attempts, or None."""
        ...

    async def list_executions(
        self,
        workflow: str | None = None,
        status: str | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[ExecutionRecord]:
        """Return one page of executions, newest first, without their task runs.

        ``total`` counts every execution that matches the filters. Raises
        ValueError when ``limit`` is not positive or ``offset`` is negative.
        """
        ...

    async def execution_ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Return up to ``limit`` execution ids that start with ``prefix``, sorted."""
        ...

    async def list_unfinished_executions(
        self, *, with_tasks: bool = True
    ) -> list[ExecutionRecord]:
        """Return executions in an :data:`UNFINISHED_STATUSES` status, oldest first.

        Each record includes its task runs and attempts, so that a restarted
        service can resume an execution that a crash interrupted. With
        ``with_tasks`` False the records have no task runs, which costs
        less on executions with many tasks.
        """
        ...

    async def close(self) -> None:
        """Release the database connections; the store is unusable afterwards."""
        ...
