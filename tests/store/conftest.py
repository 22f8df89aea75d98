"""Store fixtures: each store test runs on a SQLite file and on PostgreSQL.

PostgreSQL is the server on 127.0.0.1:5432. The session creates one database
with a unique name for the store tests and drops it at the end. Without the
server the PostgreSQL cases skip, or fail when CI=true.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from walle_ray.store import SqlStore, open_store

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
POSTGRES_ADMIN_DATABASE = "test"
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ("sqlite", "postgresql")
STORE_TABLES = ("attempts", "task_runs", "executions", "workflow_versions", "workflows")


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(
        f"{POSTGRES_SERVER}/{POSTGRES_ADMIN_DATABASE}", timeout=5
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_postgres_database(prefix: str) -> str:
    """Create a uniquely named database and return its URL; skip without a server."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = (
            f"PostgreSQL at {POSTGRES_SERVER}/{POSTGRES_ADMIN_DATABASE} "
            f"is unavailable: {type(exc).__name__}: {exc}"
        )
        if IN_CI:
            pytest.fail(f"{reason} (CI=true requires it)")
        pytest.skip(reason)
    return f"{POSTGRES_SERVER}/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One fresh PostgreSQL database shared by the store tests of the session."""
    url = create_postgres_database("walle_store_test")
    yield url
    drop_postgres_database(url)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'walle.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def fresh_database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """An empty database of its own, for tests that migrate step by step."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips without a server
    url = create_postgres_database("walle_store_migration")
    yield url
    drop_postgres_database(url)


async def _empty_tables(store: SqlStore) -> None:
    async with store.engine.begin() as connection:
        for table in STORE_TABLES:
            await connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    """An open, empty store on the backend of the test's parameter."""
    opened = await open_store(store_url)
    await _empty_tables(opened)
    try:
        yield opened
    finally:
        await _empty_tables(opened)
        await opened.close()
