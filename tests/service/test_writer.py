"""The orchestrator's write-behind queue, on a real SQLite store."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import event

from walle_ray.results import (
    Attempt,
    ExecutionResult,
    ExecutionStatus,
    TaskResult,
    TaskStatus,
)
from walle_ray.service.writer import StoreWriter
from walle_ray.store import (
    ExecutionNotFoundError,
    ExecutionResultWrite,
    ExecutionStatusWrite,
    SqlStore,
    TaskResultWrite,
    TaskStartWrite,
    open_store,
)

T0 = 1_800_000_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await open_store(f"sqlite:///{tmp_path / 'walle.db'}")
    try:
        yield opened
    finally:
        await opened.close()


def count_commits(store: SqlStore) -> list[int]:
    commits: list[int] = []
    event.listen(store.engine.sync_engine, "commit", lambda *_: commits.append(1))
    return commits


def succeeded(name: str, at: float = T0) -> TaskResult:
    return TaskResult(
        name=name,
        status=TaskStatus.SUCCESS,
        attempts=[Attempt(1, at, at + 1, status_code=200)],
        started_at=at,
        ended_at=at + 1,
        output={"task": name},
    )


def execution(execution_id: str, tasks: list[TaskResult]) -> ExecutionResult:
    return ExecutionResult(
        execution_id=execution_id,
        workflow="etl",
        mode="full",
        status=ExecutionStatus.SUCCESS,
        started_at=T0,
        ended_at=T0 + 5,
        tasks={task.name: task for task in tasks},
    )


async def create(store: SqlStore, execution_id: str) -> None:
    await store.create_execution(
        execution_id=execution_id, workflow="etl", version=1, mode="full"
    )


async def test_writer_commits_queue_in_one_transaction(store: SqlStore) -> None:
    await create(store, "e-1")
    commits = count_commits(store)
    writer = StoreWriter(store)
    handled: list[str] = []

    def note(label: str) -> Callable[[], Awaitable[None]]:
        async def after() -> None:
            handled.append(label)

        return after

    names = [f"t{i}" for i in range(10)]
    writer.post(ExecutionStatusWrite("e-1", "RUNNING", started_at=T0), note("run"))
    for name in names:
        writer.post(TaskStartWrite("e-1", name, T0), note(f"start {name}"))
        writer.post(TaskResultWrite("e-1", succeeded(name)), note(f"end {name}"))
    final = execution("e-1", [succeeded(name) for name in names])
    await writer.submit(ExecutionResultWrite(final, tasks=[]), note("final"))

    assert len(commits) == 1
    expected = ["run"]
    for name in names:
        expected += [f"start {name}", f"end {name}"]
    assert handled == [*expected, "final"]
    record = await store.get_execution("e-1")
    assert record is not None
    assert record.status == "SUCCESS"
    assert [t.name for t in record.tasks] == names
    assert {t.status for t in record.tasks} == {"SUCCESS"}
    assert {len(t.attempts) for t in record.tasks} == {1}


async def test_writer_isolates_failing_write(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    await create(store, "e-1")
    writer = StoreWriter(store)
    handled: list[str] = []

    async def after_missing() -> None:
        handled.append("missing")

    async def after_good() -> None:
        handled.append("good")

    writer.post(TaskResultWrite("e-1", succeeded("a")), after_good)
    writer.post(TaskStartWrite("missing", "a", T0), after_missing)
    writer.post(TaskResultWrite("e-1", succeeded("b")), after_good)
    with caplog.at_level(logging.ERROR, logger="walle_ray.service.writer"):
        await writer.submit(ExecutionStatusWrite("e-1", "SUCCESS", ended_at=T0 + 5))

    assert handled == ["good", "good"]
    assert "execution missing: storing the start of task a failed" in caplog.text
    record = await store.get_execution("e-1")
    assert record is not None
    assert record.status == "SUCCESS"
    assert [t.name for t in record.tasks] == ["a", "b"]


async def test_submit_raises_write_error(store: SqlStore) -> None:
    writer = StoreWriter(store)
    with pytest.raises(ExecutionNotFoundError, match="missing"):
        await writer.submit(ExecutionStatusWrite("missing", "RUNNING"))


@pytest.mark.parametrize("same_batch", [True, False])
async def test_final_write_stores_failed_task(
    store: SqlStore, same_batch: bool
) -> None:
    # The task write fails because its execution does not exist yet. The
    # final write creates the execution and must then store every task, not
    # only the one it names.
    writer = StoreWriter(store)
    writer.post(TaskResultWrite("e-1", succeeded("a")))
    if not same_batch:
        with pytest.raises(ExecutionNotFoundError):
            await writer.submit(ExecutionStatusWrite("e-1", "RUNNING"))
    final = execution("e-1", [succeeded("a"), succeeded("b")])
    await writer.submit(ExecutionResultWrite(final, tasks=["b"]))

    record = await store.get_execution("e-1")
    assert record is not None
    assert record.status == "SUCCESS"
    assert [t.name for t in record.tasks] == ["a", "b"]
