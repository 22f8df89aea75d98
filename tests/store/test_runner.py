"""Ending executions whose ``walle run`` process died, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from walle_ray.results import ExecutionResult, ExecutionStatus, TaskResult, TaskStatus
from walle_ray.store import SqlStore
from walle_ray.store.runner import (
    RUNNER_KEY,
    cli_runner,
    end_orphaned,
    process_exists,
    runner_gone,
)

T0 = 1_800_000_000.0


def dead_pid() -> int:
    """Return the id of a process that has just exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def runner(pid: int, host: str | None = None) -> dict[str, object]:
    return {
        "kind": "walle run",
        "host": socket.gethostname() if host is None else host,
        "pid": pid,
    }


def test_process_exists_for_self_not_dead() -> None:
    assert process_exists(os.getpid())
    assert not process_exists(dead_pid())


def test_runner_gone_only_on_this_host() -> None:
    pid = dead_pid()
    assert runner_gone(runner(pid))
    assert not runner_gone(runner(pid, host="elsewhere.example"))
    assert not runner_gone(runner(os.getpid()))


def test_runner_gone_only_in_this_namespace() -> None:
    pid = dead_pid()
    recorded = {**runner(pid), "pid_namespace": 4026531836}
    assert runner_gone(recorded, namespace=4026531836)
    assert not runner_gone(recorded, namespace=4026532000)


def test_zombie_process_does_not_exist() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process_exists(child.pid):
            time.sleep(0.05)
        # The child has exited but is not reaped yet: it is a zombie.
        assert not process_exists(child.pid)
        assert Path(f"/proc/{child.pid}").exists()
    finally:
        child.wait()


def test_cli_runner_names_this_process() -> None:
    this = cli_runner()
    assert this["pid"] == os.getpid()
    assert this["host"] == socket.gethostname()
    assert this["kind"] == "walle run"
    assert this["pid_namespace"] == os.stat("/proc/self/ns/pid").st_ino


async def _create_running(store: SqlStore, execution_id: str, detail: object) -> None:
    await store.create_execution(
        execution_id=execution_id,
        workflow="etl",
        version=None,
        mode="full",
        status="RUNNING",
        detail=None if detail is None else {RUNNER_KEY: detail},
    )


async def test_end_orphaned_marks_only_dead_local(store: SqlStore) -> None:
    pid = dead_pid()
    await _create_running(store, "dead", runner(pid))
    await _create_running(store, "alive", runner(os.getpid()))
    await _create_running(store, "remote", runner(pid, host="elsewhere.example"))
    await _create_running(store, "service", None)

    assert await end_orphaned(store) == ["dead"]

    dead = await store.get_execution("dead")
    assert dead is not None
    assert dead.status == "ERROR"
    assert dead.ended_at is not None
    assert f"pid {pid} on {socket.gethostname()}" in (dead.error or "")
    assert "ended before the execution did" in (dead.error or "")
    for execution_id in ("alive", "remote", "service"):
        record = await store.get_execution(execution_id)
        assert record is not None
        assert record.status == "RUNNING", execution_id
    assert await end_orphaned(store) == []


async def test_end_orphaned_ends_running_tasks(store: SqlStore) -> None:
    await _create_running(store, "dead", runner(dead_pid()))
    await store.save_task_results(
        "dead",
        [
            TaskResult(name="done", status=TaskStatus.SUCCESS, started_at=T0),
        ],
    )
    await store.save_task_started("dead", "nap", T0 + 1)
    assert await end_orphaned(store) == ["dead"]
    record = await store.get_execution("dead")
    assert record is not None
    tasks = {run.name: run for run in record.tasks}
    assert tasks["done"].status == "SUCCESS"
    assert tasks["nap"].status == "ERROR"
    assert tasks["nap"].started_at == pytest.approx(T0 + 1)
    assert tasks["nap"].ended_at is not None
    assert "not finished: the walle run process" in (tasks["nap"].error or "")


async def test_unfinished_without_tasks(store: SqlStore) -> None:
    await _create_running(store, "light", runner(os.getpid()))
    await store.save_task_started("light", "nap", T0)
    (light,) = await store.list_unfinished_executions(with_tasks=False)
    assert light.tasks == ()
    (full,) = await store.list_unfinished_executions()
    assert [run.name for run in full.tasks] == ["nap"]


async def test_saved_result_keeps_runner(store: SqlStore) -> None:
    await _create_running(store, "kept", runner(os.getpid()))
    result = ExecutionResult(
        execution_id="kept",
        workflow="etl",
        mode="full",
        status=ExecutionStatus.SUCCESS,
        started_at=T0,
        ended_at=T0 + 1,
        tasks={},
    )
    await store.save_result(result)
    record = await store.get_execution("kept")
    assert record is not None
    assert record.status == "SUCCESS"
    assert record.detail[RUNNER_KEY]["pid"] == os.getpid()


@pytest.mark.parametrize("detail", [{"pid": "7"}, "text", {"host": "h"}])
async def test_malformed_runner_is_ignored(store: SqlStore, detail: object) -> None:
    await _create_running(store, "odd", detail)
    assert await end_orphaned(store) == []
