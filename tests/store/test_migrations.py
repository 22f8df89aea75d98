"""Migrations of the store database: upgrades keep data, models match scripts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from walle_ray.store import StoreError, migrate, open_store, resolve_database_url
from walle_ray.store.engine import SQLITE_IMMEDIATE_OPTION, create_store_engine
from walle_ray.store.schema import Base

CREATED = datetime(2026, 11, 1, 12, 0, 0, 250000, tzinfo=UTC)


async def run_on_new_engine(url: str, work: object) -> object:
    engine = create_store_engine(resolve_database_url(url))
    try:
        writing = engine.execution_options(**{SQLITE_IMMEDIATE_OPTION: True})
        async with writing.begin() as connection:
            return await connection.run_sync(work)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


def fill_revision_0001(connection: Connection) -> None:
    migrate.upgrade(connection, "0001")
    rows = {"created": CREATED}
    connection.execute(
        text(
            "INSERT INTO workflows (id, name, current_version, created_at, "
            "updated_at) VALUES (1, 'etl', 1, :created, :created)"
        ),
        rows,
    )
    connection.execute(
        text(
            "INSERT INTO workflow_versions (id, workflow_id, version, spec_yaml, "
            "created_at) VALUES (1, 1, 1, 'name: etl', :created)"
        ),
        rows,
    )
    connection.execute(
        text(
            "INSERT INTO executions (id, workflow, workflow_version, mode, status, "
            "input, created_at, started_at, idempotency_key) VALUES ('old-1', "
            "'etl', 1, 'full', 'RUNNING', '{\"n\": 7}', :created, :created, 'k')"
        ),
        rows,
    )
    connection.execute(
        text(
            "INSERT INTO task_runs (id, execution_id, name, status, started_at, "
            "ended_at, output) VALUES (1, 'old-1', 'a', 'SUCCESS', :created, "
            ":created, '[1, 2]')"
        ),
        rows,
    )
    connection.execute(
        text(
            "INSERT INTO attempts (id, task_run_id, number, status_code, "
            "started_at, ended_at) VALUES (1, 1, 1, 200, :created, :created)"
        ),
        rows,
    )


async def test_upgrade_from_0001_keeps_data(fresh_database_url: str) -> None:
    await run_on_new_engine(fresh_database_url, fill_revision_0001)

    store = await open_store(fresh_database_url)
    try:
        revision = await run_on_new_engine(fresh_database_url, migrate.current_revision)
        workflow = await store.get_workflow("etl")
        execution = await store.get_execution("old-1")
        unfinished = await store.list_unfinished_executions()
    finally:
        await store.close()

    assert revision == migrate.head_revision()
    assert workflow is not None
    assert workflow.spec_yaml == "name: etl"
    assert execution is not None
    assert execution.input == {"n": 7}
    assert execution.idempotency_key == "k"
    assert execution.created_at == CREATED.timestamp()
    assert execution.detail == {}
    run = execution.task("a")
    assert run is not None
    assert run.output == [1, 2]
    assert run.detail == {}
    assert [a.status_code for a in run.attempts] == [200]
    assert [e.execution_id for e in unfinished] == ["old-1"]


async def test_reopen_keeps_data(fresh_database_url: str) -> None:
    store = await open_store(fresh_database_url)
    await store.save_workflow("etl", "name: etl")
    await store.close()
    reopened = await open_store(fresh_database_url)
    try:
        workflow = await reopened.get_workflow("etl")
    finally:
        await reopened.close()
    assert workflow is not None
    assert workflow.version == 1


async def test_models_match_migrations(fresh_database_url: str) -> None:
    store = await open_store(fresh_database_url)
    await store.close()

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        found = compare_metadata(context, Base.metadata)
        return [d for d in found if "walle_alembic_version" not in str(d)]

    assert await run_on_new_engine(fresh_database_url, differences) == []


async def test_downgrade_then_upgrade(fresh_database_url: str) -> None:
    await run_on_new_engine(fresh_database_url, fill_revision_0001)
    await run_on_new_engine(fresh_database_url, migrate.upgrade)
    await run_on_new_engine(
        fresh_database_url, lambda connection: migrate.downgrade(connection, "0001")
    )
    store = await open_store(fresh_database_url)
    try:
        execution = await store.get_execution("old-1")
    finally:
        await store.close()
    assert execution is not None
    assert len(execution.tasks) == 1


async def test_unknown_revision_rejected(fresh_database_url: str) -> None:
    store = await open_store(fresh_database_url)
    await store.close()

    def pretend_newer(connection: Connection) -> None:
        connection.execute(
            text(f"UPDATE {migrate.VERSION_TABLE} SET version_num = '9999'")
        )

    await run_on_new_engine(fresh_database_url, pretend_newer)
    with pytest.raises(StoreError, match="revision 9999"):
        await open_store(fresh_database_url)
