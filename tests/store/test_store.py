"""Behaviour of the SQL store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import event

from walle_ray.results import (
    Attempt,
    ExecutionResult,
    ExecutionStatus,
    ItemCounts,
    TaskResult,
    TaskStatus,
)
from walle_ray.store import (
    DuplicateExecutionError,
    ExecutionNotFoundError,
    ExecutionStatusWrite,
    SqlStore,
    TaskResultWrite,
    TaskStartWrite,
    open_store,
)
from walle_ray.store.engine import SQLITE_POOL_SIZE
from walle_ray.store.payloads import PREVIEW_BYTES

SPEC_V1 = "name: etl\ntasks:\n  - name: a\n    url: http://127.0.0.1:1/a\n"
SPEC_V2 = SPEC_V1 + "  - name: b\n    url: http://127.0.0.1:1/b\n"
T0 = 1_800_000_000.125


async def create(store: SqlStore, execution_id: str, **fields: object) -> None:
    arguments: dict[str, object] = {
        "workflow": "etl",
        "version": 1,
        "mode": "full",
        "input": {"n": 1},
    }
    arguments.update(fields)
    await store.create_execution(execution_id=execution_id, **arguments)  # type: ignore[arg-type]


def task_result(name: str, status: TaskStatus = TaskStatus.SUCCESS) -> TaskResult:
    return TaskResult(
        name=name,
        status=status,
        attempts=[
            Attempt(1, T0, T0 + 0.5, status_code=503, error="HTTP 503"),
            Attempt(2, T0 + 1, T0 + 1.25, status_code=200),
        ],
        started_at=T0,
        ended_at=T0 + 1.25,
        output={"rows": [1, 2, 3], "text": "é"},
    )


async def test_workflow_versions_kept(store: SqlStore) -> None:
    first = await store.save_workflow("etl", SPEC_V1)
    second = await store.save_workflow("etl", SPEC_V2)
    assert first.version == 1
    assert second.version == 2
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at

    current = await store.get_workflow("etl")
    assert current is not None
    assert current.version == 2
    assert current.spec_yaml == SPEC_V2

    versions = await store.workflow_versions("etl")
    assert [(v.version, v.spec_yaml) for v in versions] == [(1, SPEC_V1), (2, SPEC_V2)]
    old = await store.get_workflow_version("etl", 1)
    assert old is not None
    assert old.spec_yaml == SPEC_V1


async def test_same_spec_keeps_version(store: SqlStore) -> None:
    await store.save_workflow("etl", SPEC_V1)
    again = await store.save_workflow("etl", SPEC_V1)
    assert again.version == 1
    assert len(await store.workflow_versions("etl")) == 1


async def test_delete_workflow_keeps_history(store: SqlStore) -> None:
    await store.save_workflow("etl", SPEC_V1)
    await store.save_workflow("other", SPEC_V1)
    assert await store.delete_workflow("etl") is True
    assert await store.delete_workflow("etl") is False
    assert await store.delete_workflow("never-saved") is False

    assert await store.get_workflow("etl") is None
    assert [w.name for w in await store.list_workflows()] == ["other"]
    assert len(await store.workflow_versions("etl")) == 1

    restored = await store.save_workflow("etl", SPEC_V2)
    assert restored.version == 2
    assert [w.name for w in await store.list_workflows()] == ["etl", "other"]


async def test_workflow_name_validated(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="workflow name"):
        await store.save_workflow("", SPEC_V1)
    with pytest.raises(ValueError, match="at most 255"):
        await store.save_workflow("x" * 256, SPEC_V1)
    with pytest.raises(ValueError, match="empty"):
        await store.save_workflow("etl", "  \n")
    assert await store.list_workflows() == []


async def test_execution_ids_with_prefix(store: SqlStore) -> None:
    for execution_id in ("abc-1", "abc-2", "a_c-3", "b-4"):
        await create(store, execution_id)
    assert await store.execution_ids_with_prefix("abc", 10) == ["abc-1", "abc-2"]
    assert await store.execution_ids_with_prefix("a_c", 10) == ["a_c-3"]
    assert len(await store.execution_ids_with_prefix("a", 2)) == 2
    assert await store.execution_ids_with_prefix("z", 10) == []
    await create(store, "ABC-5")
    assert await store.execution_ids_with_prefix("AB", 10) == ["ABC-5"]
    assert await store.execution_ids_with_prefix("ab", 10) == ["abc-1", "abc-2"]
    with pytest.raises(ValueError, match="invalid limit 0"):
        await store.execution_ids_with_prefix("a", 0)


async def test_idempotency_key_returns_existing(store: SqlStore) -> None:
    first = await store.create_execution(
        execution_id="e-1",
        workflow="etl",
        version=1,
        mode="full",
        input={"n": 1},
        idempotency_key="order-42",
    )
    repeat = await store.create_execution(
        execution_id="e-2",
        workflow="etl",
        version=1,
        mode="full",
        input={"n": 2},
        idempotency_key="order-42",
    )
    assert first.execution_id == "e-1"
    assert repeat.execution_id == "e-1"
    assert repeat.input == {"n": 1}
    assert await store.get_execution("e-2") is None

    other_workflow = await store.create_execution(
        execution_id="e-3",
        workflow="billing",
        version=None,
        mode="sync",
        idempotency_key="order-42",
    )
    assert other_workflow.execution_id == "e-3"


async def test_concurrent_idempotent_creates(store: SqlStore) -> None:
    created = await asyncio.gather(
        *(
            store.create_execution(
                execution_id=f"race-{i}",
                workflow="etl",
                version=1,
                mode="full",
                idempotency_key="same",
            )
            for i in range(8)
        )
    )
    assert len({record.execution_id for record in created}) == 1
    assert (await store.list_executions()).total == 1


async def test_duplicate_execution_id_rejected(store: SqlStore) -> None:
    await create(store, "e-1")
    with pytest.raises(DuplicateExecutionError, match="e-1"):
        await create(store, "e-1")


async def test_update_unknown_execution_raises(store: SqlStore) -> None:
    with pytest.raises(ExecutionNotFoundError, match="missing"):
        await store.update_execution_status("missing", "RUNNING")
    with pytest.raises(ExecutionNotFoundError):
        await store.save_task_result("missing", task_result("a"))
    with pytest.raises(ExecutionNotFoundError):
        await store.save_task_started("missing", "a", T0)


async def test_status_update_sets_given_fields(store: SqlStore) -> None:
    await create(store, "e-1")
    await store.update_execution_status("e-1", "RUNNING", started_at=T0)
    await store.update_execution_status(
        "e-1", "SUCCESS", ended_at=T0 + 2, output={"total": 6}
    )
    record = await store.get_execution("e-1")
    assert record is not None
    assert record.status == "SUCCESS"
    assert record.started_at == pytest.approx(T0, abs=1e-6)
    assert record.duration_s == pytest.approx(2, abs=1e-5)
    assert record.output == {"total": 6}
    assert record.error is None


async def test_task_progress_is_durable(store: SqlStore) -> None:
    await create(store, "e-1")
    await store.save_task_started("e-1", "a", T0)
    record = await store.get_execution("e-1")
    assert record is not None
    run = record.task("a")
    assert run is not None
    assert run.status == "RUNNING"
    assert run.attempts == ()

    await store.save_task_result("e-1", task_result("a"))
    await store.save_task_result("e-1", task_result("b", TaskStatus.ERROR))
    record = await store.get_execution("e-1")
    assert record is not None
    assert [t.name for t in record.tasks] == ["a", "b"]
    run = record.task("a")
    assert run is not None
    assert run.status == "SUCCESS"
    assert run.output == {"rows": [1, 2, 3], "text": "é"}
    assert run.duration_s == pytest.approx(1.25, abs=1e-5)
    assert [(a.number, a.status_code, a.error) for a in run.attempts] == [
        (1, 503, "HTTP 503"),
        (2, 200, None),
    ]
    assert run.attempts[0].duration_s == pytest.approx(0.5, abs=1e-5)


async def test_task_result_replaces_attempts(store: SqlStore) -> None:
    await create(store, "e-1")
    await store.save_task_result("e-1", task_result("a", TaskStatus.ERROR))
    retried = TaskResult(
        name="a",
        status=TaskStatus.SUCCESS,
        attempts=[Attempt(1, T0 + 5, T0 + 6, status_code=200)],
        started_at=T0 + 5,
        ended_at=T0 + 6,
        output="done",
    )
    await store.save_task_result("e-1", retried)
    record = await store.get_execution("e-1")
    assert record is not None
    run = record.task("a")
    assert run is not None
    assert run.status == "SUCCESS"
    assert run.output == "done"
    assert [a.status_code for a in run.attempts] == [200]


async def test_fan_out_counts_in_detail(store: SqlStore) -> None:
    await create(store, "e-1")
    result = task_result("each")
    result.items = ItemCounts(total=3, succeeded=2, failed=1)
    result.attempts[0].item = 2
    await store.save_task_result("e-1", result, detail={"note": "first run"})
    record = await store.get_execution("e-1")
    assert record is not None
    run = record.task("each")
    assert run is not None
    assert run.detail["items"] == {"total": 3, "succeeded": 2, "failed": 1}
    assert run.detail["note"] == "first run"
    assert run.attempts[0].detail == {"item": 2}
    assert run.attempts[1].detail == {}


async def test_fan_out_attempts_share_numbers(store: SqlStore) -> None:
    await create(store, "e-1")
    attempts = [
        Attempt(number=1, started_at=1.0, ended_at=2.0, status_code=200, item=item)
        for item in range(3)
    ]
    attempts.append(
        Attempt(number=2, started_at=2.0, ended_at=3.0, status_code=200, item=1)
    )
    result = TaskResult(
        name="each",
        status=TaskStatus.SUCCESS,
        attempts=attempts,
        started_at=1.0,
        ended_at=3.0,
        items=ItemCounts(total=3, succeeded=3, failed=0),
    )
    await store.save_task_result("e-1", result)
    record = await store.get_execution("e-1")
    assert record is not None
    run = record.task("each")
    assert run is not None
    assert [a.number for a in run.attempts] == [1, 1, 1, 2]
    assert [a.detail["item"] for a in run.attempts] == [0, 1, 2, 1]


@pytest.mark.parametrize("batched", [False, True])
async def test_late_start_keeps_finish(store: SqlStore, batched: bool) -> None:
    await create(store, "e-1")
    if batched:
        await store.apply_writes(
            [
                TaskResultWrite("e-1", task_result("a")),
                TaskStartWrite("e-1", "a", T0),
            ]
        )
    else:
        await store.save_task_result("e-1", task_result("a"))
        await store.save_task_started("e-1", "a", T0)
    record = await store.get_execution("e-1")
    assert record is not None
    run = record.task("a")
    assert run is not None
    assert run.status == "SUCCESS"
    assert len(run.attempts) == 2


async def test_save_result_round_trip(store: SqlStore) -> None:
    await store.create_execution(
        execution_id="e-1",
        workflow="etl",
        version=3,
        mode="batch",
        input={"n": 1},
        idempotency_key="k-1",
    )
    result = ExecutionResult(
        execution_id="e-1",
        workflow="etl",
        mode="batch",
        status=ExecutionStatus.ERROR,
        started_at=T0,
        ended_at=T0 + 3,
        input={"n": 1},
        tasks={
            "a": task_result("a"),
            "b": task_result("b", TaskStatus.ERROR),
            "c": TaskResult(name="c", status=TaskStatus.ABORT),
        },
        error="task 'b' failed: HTTP 500",
        output={"a": 1},
    )
    await store.save_result(result)
    record = await store.get_execution("e-1")
    assert record is not None
    assert record.status == "ERROR"
    assert record.version == 3
    assert record.idempotency_key == "k-1"
    assert record.error == "task 'b' failed: HTTP 500"
    assert record.output == {"a": 1}
    assert record.started_at == pytest.approx(T0, abs=1e-6)
    assert record.ended_at == pytest.approx(T0 + 3, abs=1e-6)
    assert [(t.name, t.status) for t in record.tasks] == [
        ("a", "SUCCESS"),
        ("b", "ERROR"),
        ("c", "ABORT"),
    ]
    aborted = record.task("c")
    assert aborted is not None
    assert aborted.started_at is None
    assert aborted.attempts == ()


async def test_save_result_without_create(store: SqlStore) -> None:
    result = ExecutionResult(
        execution_id="e-9",
        workflow="etl",
        mode="sync",
        status=ExecutionStatus.SUCCESS,
        started_at=T0,
        ended_at=T0 + 1,
        tasks={"a": task_result("a")},
    )
    await store.save_result(result, version=2)
    record = await store.get_execution("e-9")
    assert record is not None
    assert record.version == 2
    assert record.created_at == pytest.approx(T0, abs=1e-6)
    assert len(record.tasks) == 1


async def test_list_executions_filters_and_pages(store: SqlStore) -> None:
    for i in range(5):
        await create(store, f"etl-{i}")
        await store.update_execution_status(
            f"etl-{i}", "SUCCESS" if i % 2 == 0 else "ERROR"
        )
    await create(store, "other-0", workflow="other")

    everything = await store.list_executions()
    assert everything.total == 6
    assert everything.items[0].execution_id == "other-0"
    assert everything.items[-1].execution_id == "etl-0"
    assert all(item.tasks == () for item in everything.items)

    page = await store.list_executions("etl", limit=2, offset=1)
    assert page.total == 5
    assert [item.execution_id for item in page.items] == ["etl-3", "etl-2"]
    assert page.has_more

    failed = await store.list_executions("etl", "ERROR")
    assert failed.total == 2
    assert {item.execution_id for item in failed.items} == {"etl-1", "etl-3"}

    assert (await store.list_executions("nothing")).total == 0
    with pytest.raises(ValueError, match="limit"):
        await store.list_executions(limit=0)
    with pytest.raises(ValueError, match="offset"):
        await store.list_executions(offset=-1)


async def test_unfinished_executions_with_tasks(store: SqlStore) -> None:
    await create(store, "waiting")
    await create(store, "running")
    await store.update_execution_status("running", "RUNNING", started_at=T0)
    await store.save_task_result("running", task_result("a"))
    await create(store, "done")
    await store.update_execution_status("done", "SUCCESS")
    await create(store, "cancelled")
    await store.update_execution_status("cancelled", "CANCELLED")

    unfinished = await store.list_unfinished_executions()
    assert [item.execution_id for item in unfinished] == ["waiting", "running"]
    assert [t.name for t in unfinished[1].tasks] == ["a"]
    assert len(unfinished[1].tasks[0].attempts) == 2


async def test_new_status_strings_stored(store: SqlStore) -> None:
    await create(store, "e-1")
    await store.save_task_started("e-1", "a", T0)
    await store.update_execution_status("e-1", "CANCELLED")
    result = task_result("b")
    await store.save_task_result("e-1", result)
    record = await store.get_execution("e-1")
    assert record is not None
    assert record.status == "CANCELLED"
    assert (await store.list_executions(status="CANCELLED")).total == 1


async def test_large_output_capped(store_url: str) -> None:
    store = await open_store(store_url, max_payload_bytes=1000)
    try:
        await create(store, "big", input="i" * 5000)
        big = task_result("a")
        big.output = {"blob": "x" * 50_000}
        big.error = "e" * 100_000
        await store.save_task_result("big", big)
        record = await store.get_execution("big")
    finally:
        await store.close()
    assert record is not None
    assert record.input["truncated"] is True
    run = record.task("a")
    assert run is not None
    assert run.output["truncated"] is True
    assert run.output["size_bytes"] == len('{"blob":""}') + 50_000
    assert len(run.output["preview"]) == PREVIEW_BYTES
    assert run.error is not None
    assert run.error.endswith("[truncated: 100000 characters in total]")


async def test_non_json_output_stored(store: SqlStore) -> None:
    await create(store, "e-1")
    result = task_result("a")
    result.output = {"bad": float("nan")}
    await store.save_task_result("e-1", result)
    result = task_result("b")
    result.output = {"when": time}
    await store.save_task_result("e-1", result)
    record = await store.get_execution("e-1")
    assert record is not None
    nan_run = record.task("a")
    assert nan_run is not None
    assert nan_run.output["invalid_json"] is True
    module_run = record.task("b")
    assert module_run is not None
    assert module_run.output["when"].startswith("<module 'time'")


async def test_concurrent_writes_succeed(store_url: str, store: SqlStore) -> None:
    # A second store is a second engine with its own connections, as another
    # process would have.
    other = await open_store(store_url)
    try:
        ids = [f"c-{i}" for i in range(40)]
        await asyncio.gather(
            *(create(store if i % 2 else other, eid) for i, eid in enumerate(ids))
        )

        async def progress(index: int, execution_id: str) -> None:
            target = store if index % 2 else other
            for name in ("a", "b", "c"):
                await target.save_task_started(execution_id, name, T0)
                await target.save_task_result(execution_id, task_result(name))
            await target.update_execution_status(execution_id, "SUCCESS")

        await asyncio.gather(*(progress(i, eid) for i, eid in enumerate(ids)))
    finally:
        await other.close()

    page = await store.list_executions(status="SUCCESS", limit=100)
    assert page.total == 40
    for execution_id in ids:
        record = await store.get_execution(execution_id)
        assert record is not None
        assert [t.status for t in record.tasks] == ["SUCCESS"] * 3


async def test_apply_writes_in_order(store: SqlStore) -> None:
    await create(store, "e-1")
    await store.apply_writes(
        [
            ExecutionStatusWrite("e-1", "RUNNING", started_at=T0),
            TaskStartWrite("e-1", "a", T0),
            TaskStartWrite("e-1", "b", T0),
            TaskResultWrite("e-1", task_result("a")),
            TaskStartWrite("e-1", "c", T0 + 2),
            TaskResultWrite("e-1", task_result("c", TaskStatus.ERROR)),
        ]
    )
    record = await store.get_execution("e-1")
    assert record is not None
    assert record.status == "RUNNING"
    assert record.started_at == pytest.approx(T0, abs=1e-6)
    assert [t.name for t in record.tasks] == ["a", "b", "c"]
    assert [t.status for t in record.tasks] == ["SUCCESS", "RUNNING", "ERROR"]
    run = record.task("a")
    assert run is not None
    assert [a.status_code for a in run.attempts] == [503, 200]
    started_only = record.task("b")
    assert started_only is not None
    assert started_only.attempts == ()


@pytest.mark.parametrize(
    ("invalid", "error", "message"),
    [
        (TaskStartWrite("missing", "a", T0), ExecutionNotFoundError, "missing"),
        (TaskStartWrite("e-1", "x" * 300, T0), ValueError, "task name"),
    ],
)
async def test_apply_writes_all_or_nothing(
    store: SqlStore, invalid: TaskStartWrite, error: type[Exception], message: str
) -> None:
    await create(store, "e-1")
    with pytest.raises(error, match=message):
        await store.apply_writes(
            [
                TaskResultWrite("e-1", task_result("a")),
                ExecutionStatusWrite("e-1", "RUNNING"),
                invalid,
            ]
        )
    record = await store.get_execution("e-1")
    assert record is not None
    assert record.status == "WAITING"
    assert record.tasks == ()


async def test_batch_result_replaces_attempts(store: SqlStore) -> None:
    await create(store, "e-1")
    await store.save_task_results(
        "e-1", [task_result("a", TaskStatus.ERROR), task_result("b")]
    )
    retried = TaskResult(
        name="a",
        status=TaskStatus.SUCCESS,
        attempts=[Attempt(1, T0 + 5, T0 + 6, status_code=200)],
        started_at=T0 + 5,
        ended_at=T0 + 6,
        output="done",
    )
    await store.apply_writes(
        [
            TaskResultWrite("e-1", task_result("a", TaskStatus.ERROR)),
            TaskResultWrite("e-1", retried),
        ]
    )
    record = await store.get_execution("e-1")
    assert record is not None
    run = record.task("a")
    assert run is not None
    assert run.status == "SUCCESS"
    assert [a.status_code for a in run.attempts] == [200]
    untouched = record.task("b")
    assert untouched is not None
    assert [a.status_code for a in untouched.attempts] == [503, 200]


async def test_save_result_writes_named_tasks(store: SqlStore) -> None:
    await create(store, "e-1")
    await store.save_task_result("e-1", task_result("a"))
    changed_a = TaskResult(name="a", status=TaskStatus.ERROR, error="not stored")
    result = ExecutionResult(
        execution_id="e-1",
        workflow="etl",
        mode="full",
        status=ExecutionStatus.SUCCESS,
        started_at=T0,
        ended_at=T0 + 3,
        tasks={"a": changed_a, "b": task_result("b")},
        output={"done": True},
    )
    await store.save_result(result, tasks=["b"])
    record = await store.get_execution("e-1")
    assert record is not None
    assert record.status == "SUCCESS"
    assert record.output == {"done": True}
    assert [t.name for t in record.tasks] == ["a", "b"]
    stored_a = record.task("a")
    assert stored_a is not None
    assert stored_a.status == "SUCCESS"
    assert len(stored_a.attempts) == 2
    written = record.task("b")
    assert written is not None
    assert written.status == "SUCCESS"

    await store.save_result(result, tasks=[])
    record = await store.get_execution("e-1")
    assert record is not None
    stored_a = record.task("a")
    assert stored_a is not None
    assert stored_a.status == "SUCCESS"


async def test_batch_of_many_tasks(store: SqlStore) -> None:
    # More names than one IN list takes, and more attempts to replace than
    # one DELETE takes.
    names = [f"t{i}" for i in range(1_100)]
    await create(store, "e-1")
    await store.save_task_results(
        "e-1", [task_result(name, TaskStatus.ERROR) for name in names]
    )

    done = {
        name: TaskResult(
            name=name,
            status=TaskStatus.SUCCESS,
            attempts=[Attempt(1, T0, T0 + 1, status_code=200)],
            started_at=T0,
            ended_at=T0 + 1,
        )
        for name in names
    }
    result = ExecutionResult(
        execution_id="e-1",
        workflow="etl",
        mode="full",
        status=ExecutionStatus.SUCCESS,
        started_at=T0,
        ended_at=T0 + 1,
        tasks=done,
    )
    await store.save_result(result)

    record = await store.get_execution("e-1")
    assert record is not None
    assert [t.name for t in record.tasks] == names
    assert {t.status for t in record.tasks} == {"SUCCESS"}
    assert {len(t.attempts) for t in record.tasks} == {1}


async def test_sqlite_reads_reuse_connections(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'pool.db'}")
    opened: list[object] = []
    event.listen(store.engine.sync_engine, "connect", lambda *_: opened.append(1))
    readers = SQLITE_POOL_SIZE // 2
    try:
        await create(store, "e-1")
        for _ in range(3):
            await asyncio.gather(*(store.get_execution("e-1") for _ in range(readers)))
    finally:
        await store.close()
    # Connections return to the pool and serve the next round. A pool smaller
    # than the number of readers would open some again in every round.
    assert 1 <= len(opened) <= readers
