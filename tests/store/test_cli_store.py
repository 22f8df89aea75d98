"""``walle executions``, ``walle show`` and run recording on a SQLite file."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from walle_ray.cli import main
from walle_ray.cli_store import start_recording
from walle_ray.results import (
    Attempt,
    ExecutionResult,
    ExecutionStatus,
    TaskResult,
    TaskStatus,
)
from walle_ray.store import ExecutionRecord, open_store

T0 = 1_800_000_000.0


class EventLog:
    """A listener that keeps the events it receives."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def task_started(self, name: str, at: float) -> None:
        self.events.append(f"start {name}")

    def task_finished(self, result: TaskResult) -> None:
        self.events.append(f"finish {result.name}")


def read_execution(url: str, execution_id: str) -> ExecutionRecord | None:
    async def read() -> ExecutionRecord | None:
        store = await open_store(url)
        try:
            return await store.get_execution(execution_id)
        finally:
            await store.close()

    return asyncio.run(read())


def finished_task(name: str, status: TaskStatus = TaskStatus.SUCCESS) -> TaskResult:
    return TaskResult(
        name=name,
        status=status,
        attempts=[Attempt(1, T0, T0 + 0.2, status_code=200)],
        started_at=T0,
        ended_at=T0 + 0.2,
        output={"task": name},
        error=None if status is TaskStatus.SUCCESS else "HTTP 500",
    )


@pytest.fixture
def database(tmp_path: Path) -> str:
    """A SQLite file with three recorded executions of two workflows."""
    url = f"sqlite:///{tmp_path / 'walle.db'}"

    async def fill() -> None:
        store = await open_store(url)
        try:
            for index, (workflow, status) in enumerate(
                [("etl", "SUCCESS"), ("etl", "ERROR"), ("report", "SUCCESS")]
            ):
                result = ExecutionResult(
                    execution_id=f"exec-{index}",
                    workflow=workflow,
                    mode="full",
                    status=ExecutionStatus(status),
                    started_at=T0 + index,
                    ended_at=T0 + index + 0.5,
                    tasks={
                        "extract": finished_task("extract"),
                        "load": finished_task(
                            "load",
                            TaskStatus.SUCCESS
                            if status == "SUCCESS"
                            else TaskStatus.ERROR,
                        ),
                    },
                    error=None if status == "SUCCESS" else "task 'load' failed",
                )
                await store.save_result(result)
        finally:
            await store.close()

    asyncio.run(fill())
    return url


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_executions_lists_newest_first(database: str) -> None:
    result = invoke("executions", "--database", database, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"] == 3
    assert [e["execution_id"] for e in data["executions"]] == [
        "exec-2",
        "exec-1",
        "exec-0",
    ]


def test_executions_listed_when_ending_orphans_fails(
    database: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A user who may only read the database can still list executions."""
    import walle_ray.store.runner

    async def denied(store: object) -> list[str]:
        raise PermissionError("permission denied for table executions")

    monkeypatch.setattr(walle_ray.store.runner, "end_orphaned", denied)
    with caplog.at_level(logging.WARNING, logger="walle_ray.cli_store"):
        result = invoke("executions", "--database", database, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total"] == 3
    assert "permission denied for table executions" in caplog.text


def test_executions_filters(database: str) -> None:
    result = invoke(
        "executions", "etl", "--status", "error", "--database", database, "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"] == 1
    assert data["executions"][0]["execution_id"] == "exec-1"


def test_executions_table(database: str) -> None:
    result = invoke("executions", "--limit", "2", "--database", database)
    assert result.exit_code == 0, result.output
    assert "exec-2" in result.output
    assert "exec-0" not in result.output
    assert "executions 1 to 2 of 3" in result.output


def test_executions_env_database(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLE_DATABASE_URL", database)
    result = invoke("executions", "report", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total"] == 1


def test_show_json_has_attempts(database: str) -> None:
    result = invoke("show", "exec-1", "--database", database, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["status"] == "ERROR"
    assert [t["name"] for t in data["tasks"]] == ["extract", "load"]
    assert data["tasks"][1]["error"] == "HTTP 500"
    assert data["tasks"][0]["attempt_details"][0]["status_code"] == 200


def test_show_table(database: str) -> None:
    result = invoke("show", "exec-1", "--database", database)
    assert result.exit_code == 0, result.output
    assert "task 'load' failed" in result.output
    assert "extract" in result.output


def test_show_ambiguous_prefix_fails(database: str) -> None:
    result = CliRunner().invoke(main, ["show", "exec", "--database", database])
    assert result.exit_code == 1
    assert "prefix 'exec' matches several executions" in result.output
    assert "(exec-0, exec-1, exec-2)" in result.output


def test_show_prefix_of_long_id(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'walle.db'}"
    full_id = "f9a21a38-6a86-43f9-8433-f6d10ef00001"

    async def create() -> None:
        store = await open_store(url)
        try:
            await store.create_execution(
                execution_id=full_id, workflow="etl", version=None, mode="full"
            )
        finally:
            await store.close()

    asyncio.run(create())
    result = invoke("show", "f9a21a38", "--database", url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["execution_id"] == full_id
    listed = CliRunner().invoke(
        main, ["executions", "--database", url], env={"COLUMNS": "60"}
    )
    assert full_id in listed.output


def test_show_empty_id_is_usage_error(database: str) -> None:
    result = CliRunner().invoke(main, ["show", " ", "--database", database])
    assert result.exit_code == 2
    assert "invalid EXECUTION_ID ''" in result.output


@pytest.mark.parametrize("width", [60, 80, 100])
def test_executions_keep_id_and_status(database: str, width: int) -> None:
    result = CliRunner().invoke(
        main, ["executions", "--database", database], env={"COLUMNS": str(width)}
    )
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.split()[0] == "EXECUTION"
    assert "STATUS" in header.split()
    assert "exec-1" in result.output
    assert "ERROR" in rows[1]
    assert all(len(line) <= width for line in result.output.splitlines())


def test_executions_wide_shows_every_column(database: str) -> None:
    result = CliRunner().invoke(
        main, ["executions", "--database", database], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split()
    assert header == [
        "EXECUTION",
        "WORKFLOW",
        "MODE",
        "STATUS",
        "CREATED",
        "DURATION",
        "ERROR",
    ]
    assert "task 'load' failed" in result.output


def test_show_unknown_execution_fails(database: str) -> None:
    result = invoke("show", "nope", "--database", database)
    assert result.exit_code == 1
    assert "execution 'nope' not found" in result.output


def test_invalid_database_url_exit_2() -> None:
    result = invoke("executions", "--database", "mysql://u@127.0.0.1/db")
    assert result.exit_code == 2
    assert "unsupported database URL scheme 'mysql'" in result.output


def test_recording_writes_progress(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'record.db'}"
    recording = start_recording(url, "etl", "full", {"n": 3})
    assert recording.execution_id is not None
    forwarded = EventLog()
    listener = recording.listener(forwarded)

    listener.task_started("extract", T0)
    listener.task_finished(finished_task("extract"))
    listener.task_started("load", T0 + 1)
    deadline = time.monotonic() + 30
    record = read_execution(url, recording.execution_id)
    while (record is None or record.task("load") is None) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
        record = read_execution(url, recording.execution_id)
    assert record is not None
    assert record.status == "RUNNING"
    assert record.input == {"n": 3}
    extract = record.task("extract")
    assert extract is not None
    assert extract.status == "SUCCESS"
    load = record.task("load")
    assert load is not None
    assert load.status == "RUNNING"

    listener.task_finished(finished_task("load"))
    recording.finish(
        ExecutionResult(
            execution_id=recording.execution_id,
            workflow="etl",
            mode="full",
            status=ExecutionStatus.SUCCESS,
            started_at=T0,
            ended_at=T0 + 2,
            input={"n": 3},
            tasks={"extract": finished_task("extract"), "load": finished_task("load")},
        )
    )
    assert forwarded.events == [
        "start extract",
        "finish extract",
        "start load",
        "finish load",
    ]
    record = read_execution(url, recording.execution_id)
    assert record is not None
    assert record.status == "SUCCESS"
    assert [t.status for t in record.tasks] == ["SUCCESS", "SUCCESS"]


def test_recording_off_forwards_only() -> None:
    recording = start_recording("mysql://not-used", "etl", "full", None, enabled=False)
    forwarded = EventLog()
    assert recording.execution_id is None
    assert recording.listener(forwarded) is forwarded


def test_recording_invalid_url_exit_2() -> None:
    with pytest.raises(click.UsageError, match="mysql"):
        start_recording("mysql://u@127.0.0.1/db", "etl", "full", None)


def test_recording_unreachable_database_fails() -> None:
    # Nothing listens on port 1 of the loopback address.
    with pytest.raises(click.ClickException, match="--no-record"):
        start_recording("postgresql://u@127.0.0.1:1/db", "etl", "full", None)


def test_recording_survives_store_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'broken.db'}"
    recording = start_recording(url, "etl", "full", None)
    assert recording.execution_id is not None

    async def drop_tables() -> None:
        store = await open_store(url)
        try:
            async with store.engine.begin() as connection:
                await connection.execute(text("DROP TABLE attempts"))
        finally:
            await store.close()

    asyncio.run(drop_tables())
    listener = recording.listener(EventLog())
    with caplog.at_level(logging.WARNING, logger="walle_ray.store.recorder"):
        listener.task_finished(finished_task("extract"))
        recording.finish(
            ExecutionResult(
                execution_id=recording.execution_id,
                workflow="etl",
                mode="full",
                status=ExecutionStatus.SUCCESS,
                started_at=T0,
                ended_at=T0 + 1,
                tasks={"extract": finished_task("extract")},
            )
        )
    messages = [r.getMessage() for r in caplog.records]
    assert any("failed to store the result of task extract" in m for m in messages)
    assert any("2 of 2 store writes" in m for m in messages)


def test_recording_abort_marks_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'abort.db'}"
    recording = start_recording(url, "etl", "sync", None)
    assert recording.execution_id is not None
    recording.abort("invalid gateway URL")
    record = read_execution(url, recording.execution_id)
    assert record is not None
    assert record.status == "ERROR"
    assert record.error == "invalid gateway URL"
    assert record.ended_at is not None
