"""The SQLAlchemy implementation of :class:`walle_ray.store.base.Store`.

One class serves SQLite (through aiosqlite) and PostgreSQL (through asyncpg).
On SQLite every write transaction begins with BEGIN IMMEDIATE and, within one
process, writes also take an asyncio lock, so that concurrent coroutines queue
for the single write lock instead of failing with "database is locked".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Sequence,
)
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from walle_ray.results import ExecutionResult, TaskResult
from walle_ray.store import migrate
from walle_ray.store.apply import WriteApplier
from walle_ray.store.base import (
    UNFINISHED_STATUSES,
    DuplicateExecutionError,
    StoreError,
)
from walle_ray.store.engine import SQLITE_IMMEDIATE_OPTION, create_store_engine
from walle_ray.store.payloads import MAX_JSON_BYTES, cap_json
from walle_ray.store.records import (
    AttemptRecord,
    ExecutionRecord,
    Page,
    TaskRunRecord,
    WorkflowRecord,
    WorkflowVersionRecord,
)
from walle_ray.store.schema import (
    EXECUTION_ID_LENGTH,
    IDEMPOTENCY_KEY_LENGTH,
    MODE_LENGTH,
    NAME_LENGTH,
    STATUS_LENGTH,
    AttemptRow,
    ExecutionRow,
    TaskRunRow,
    WorkflowRow,
    WorkflowVersionRow,
)
from walle_ray.store.urls import is_memory_sqlite, mask_url, resolve_database_url
from walle_ray.store.writes import (
    ExecutionResultWrite,
    ExecutionStatusWrite,
    StoreWrite,
    TaskResultWrite,
    TaskStartWrite,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Concurrent inserts of the same workflow name or idempotency key can collide
# on PostgreSQL; the losing transaction is retried this many times in total.
_INTEGRITY_RETRIES = 3


def _now() -> datetime:
    return datetime.fromtimestamp(time.time(), tz=UTC)


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _optional_epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _check_text(value: str, field_name: str, max_length: int) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"invalid {field_name} {value!r}: give a non-empty string")
    if len(value) > max_length:
        raise ValueError(
            f"invalid {field_name} {value[:40]!r}...: it has {len(value)} characters, "
            f"at most {max_length} are allowed"
        )


def _check_write(write: StoreWrite) -> None:
    if isinstance(write, TaskStartWrite):
        _check_text(write.task, "task name", NAME_LENGTH)
    elif isinstance(write, TaskResultWrite):
        _check_text(write.result.name, "task name", NAME_LENGTH)
    elif isinstance(write, ExecutionStatusWrite):
        _check_text(write.status, "status", STATUS_LENGTH)
    else:
        _check_text(write.result.execution_id, "execution id", EXECUTION_ID_LENGTH)
        _check_text(write.result.workflow, "workflow name", NAME_LENGTH)


def _log_write(write: StoreWrite) -> None:
    if isinstance(write, TaskResultWrite):
        logger.debug(
            "saved task %s of execution %s: %s",
            write.result.name,
            write.execution_id,
            write.result.status,
        )
    elif isinstance(write, ExecutionResultWrite):
        logger.info(
            "saved execution %s of workflow %s: %s",
            write.result.execution_id,
            write.result.workflow,
            write.result.status,
        )


class SqlStore:
    """A :class:`~walle_ray.store.base.Store` on one SQLAlchemy async engine.

    Create it with :func:`open_store`, which also migrates the database.
    ``max_payload_bytes`` caps each stored input and output, see
    :func:`~walle_ray.store.payloads.cap_json`.
    """

    def __init__(
        self, engine: AsyncEngine, *, max_payload_bytes: int = MAX_JSON_BYTES
    ) -> None:
        self.engine = engine
        self.max_payload_bytes = max_payload_bytes
        self._sqlite = engine.dialect.name == "sqlite"
        write_engine = engine.execution_options(**{SQLITE_IMMEDIATE_OPTION: True})
        self._read_sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(write_engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self._sqlite else None
        # An in-memory database has one shared connection, so reads must not
        # overlap with writes either.
        self._read_lock = self._write_lock if is_memory_sqlite(engine.url) else None

    async def __aenter__(self) -> SqlStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        lock = self._read_lock or contextlib.nullcontext()
        async with lock, self._read_sessions() as session:
            yield session

    async def _write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` in one write transaction, retrying insert races."""
        for attempt in range(1, _INTEGRITY_RETRIES + 1):
            lock = self._write_lock or contextlib.nullcontext()
            try:
                async with (
                    lock,
                    self._write_sessions() as session,
                    session.begin(),
                ):
                    return await work(session)
            except IntegrityError:
                if attempt == _INTEGRITY_RETRIES:
                    raise
                logger.debug("write collided with another writer, retry %d", attempt)
        raise AssertionError("unreachable")

    def _cap(self, value: Any) -> Any:
        return cap_json(value, self.max_payload_bytes)

    # Workflows

    async def save_workflow(self, name: str, spec_yaml: str) -> WorkflowRecord:
        _check_text(name, "workflow name", NAME_LENGTH)
        if not isinstance(spec_yaml, str) or not spec_yaml.strip():
            raise ValueError(f"invalid spec for workflow '{name}': it is empty")

        async def work(session: AsyncSession) -> WorkflowRecord:
            now = _now()
            row = await session.scalar(
                select(WorkflowRow).where(WorkflowRow.name == name).with_for_update()
            )
            if row is None:
                row = WorkflowRow(
                    name=name, current_version=1, created_at=now, updated_at=now
                )
                session.add(row)
                await session.flush()
                session.add(
                    WorkflowVersionRow(
                        workflow_id=row.id,
                        version=1,
                        spec_yaml=spec_yaml,
                        created_at=now,
                    )
                )
                logger.info("saved workflow %s version 1", name)
                return _workflow_record(row, spec_yaml)

            newest = await session.scalar(
                select(WorkflowVersionRow.spec_yaml).where(
                    WorkflowVersionRow.workflow_id == row.id,
                    WorkflowVersionRow.version == row.current_version,
                )
            )
            if newest == spec_yaml:
                if row.deleted_at is not None:
                    row.deleted_at = None
                    row.updated_at = now
                    logger.info("restored workflow %s", name)
                return _workflow_record(row, spec_yaml)

            row.current_version += 1
            row.updated_at = now
            row.deleted_at = None
            session.add(
                WorkflowVersionRow(
                    workflow_id=row.id,
                    version=row.current_version,
                    spec_yaml=spec_yaml,
                    created_at=now,
                )
            )
            logger.info("saved workflow %s version %d", name, row.current_version)
            return _workflow_record(row, spec_yaml)

        return await self._write(work)

    async def get_workflow(self, name: str) -> WorkflowRecord | None:
        async with self._reading() as session:
            found = (
                await session.execute(
                    _workflow_query().where(
                        WorkflowRow.name == name, WorkflowRow.deleted_at.is_(None)
                    )
                )
            ).first()
        return None if found is None else _workflow_record(found[0], found[1])

    async def get_workflow_version(
        self, name: str, version: int
    ) -> WorkflowVersionRecord | None:
        async with self._reading() as session:
            row = await session.scalar(
                select(WorkflowVersionRow)
                .join(WorkflowRow, WorkflowRow.id == WorkflowVersionRow.workflow_id)
                .where(WorkflowRow.name == name, WorkflowVersionRow.version == version)
            )
        return None if row is None else _version_record(name, row)

    async def list_workflows(self) -> list[WorkflowRecord]:
        async with self._reading() as session:
            rows = (
                await session.execute(
                    _workflow_query()
                    .where(WorkflowRow.deleted_at.is_(None))
                    .order_by(WorkflowRow.name)
                )
            ).all()
        return [_workflow_record(row, spec) for row, spec in rows]

    async def workflow_versions(self, name: str) -> list[WorkflowVersionRecord]:
        async with self._reading() as session:
            rows = await session.scalars(
                select(WorkflowVersionRow)
                .join(WorkflowRow, WorkflowRow.id == WorkflowVersionRow.workflow_id)
                .where(WorkflowRow.name == name)
                .order_by(WorkflowVersionRow.version)
            )
            return [_version_record(name, row) for row in rows]

    async def delete_workflow(self, name: str) -> bool:
        async def work(session: AsyncSession) -> bool:
            now = _now()
            result = await session.execute(
                update(WorkflowRow)
                .where(WorkflowRow.name == name, WorkflowRow.deleted_at.is_(None))
                .values(deleted_at=now, updated_at=now)
            )
            return bool(getattr(result, "rowcount", 0))

        deleted = await self._write(work)
        if deleted:
            logger.info("deleted workflow %s, keeping its versions", name)
        return deleted

    # Executions

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
        _check_text(execution_id, "execution id", EXECUTION_ID_LENGTH)
        _check_text(workflow, "workflow name", NAME_LENGTH)
        _check_text(mode, "mode", MODE_LENGTH)
        _check_text(status, "status", STATUS_LENGTH)
        if idempotency_key is not None:
            _check_text(idempotency_key, "idempotency key", IDEMPOTENCY_KEY_LENGTH)
        stored_input = self._cap(input)

        async def work(session: AsyncSession) -> ExecutionRecord:
            if idempotency_key is not None:
                existing = await session.scalar(
                    select(ExecutionRow).where(
                        ExecutionRow.workflow == workflow,
                        ExecutionRow.idempotency_key == idempotency_key,
                    )
                )
                if existing is not None:
                    logger.info(
                        "idempotency key of workflow %s matches execution %s",
                        workflow,
                        existing.id,
                    )
                    return await _load_execution(session, existing)
            if await session.get(ExecutionRow, execution_id) is not None:
                raise DuplicateExecutionError(execution_id)
            row = ExecutionRow(
                id=execution_id,
                workflow=workflow,
                workflow_version=version,
                mode=mode,
                status=status,
                input=stored_input,
                created_at=_now(),
                idempotency_key=idempotency_key,
                detail=self._cap(detail) if detail else None,
            )
            session.add(row)
            await session.flush()
            logger.debug("created execution %s of workflow %s", execution_id, workflow)
            return _execution_record(row, ())

        return await self._write(work)

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
        await self.apply_writes(
            [
                ExecutionStatusWrite(
                    execution_id,
                    status,
                    started_at=started_at,
                    ended_at=ended_at,
                    output=output,
                    error=error,
                )
            ]
        )

    async def save_task_started(self, execution_id: str, task: str, at: float) -> None:
        await self.apply_writes([TaskStartWrite(execution_id, task, at)])

    async def save_task_result(
        self,
        execution_id: str,
        result: TaskResult,
        *,
        detail: dict[str, Any] | None = None,
    ) -> None:
        await self.apply_writes([TaskResultWrite(execution_id, result, detail)])

    async def save_task_results(
        self, execution_id: str, results: Iterable[TaskResult]
    ) -> None:
        await self.apply_writes(
            [TaskResultWrite(execution_id, result) for result in results]
        )

    async def save_result(
        self,
        result: ExecutionResult,
        *,
        version: int | None = None,
        output: Any = None,
        tasks: Collection[str] | None = None,
    ) -> None:
        await self.apply_writes(
            [ExecutionResultWrite(result, version=version, output=output, tasks=tasks)]
        )

    async def apply_writes(self, writes: Sequence[StoreWrite]) -> None:
        if not writes:
            return
        for write in writes:
            _check_write(write)

        async def work(session: AsyncSession) -> None:
            await WriteApplier(session, self._cap).apply(writes)

        await self._write(work)
        for write in writes:
            _log_write(write)

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        async with self._reading() as session:
            row = await session.get(ExecutionRow, execution_id)
            if row is None:
                return None
            return await _load_execution(session, row)

    async def execution_ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        if limit < 1:
            raise ValueError(f"invalid limit {limit}: give 1 or more")
        async with self._reading() as session:
            ids = await session.scalars(
                select(ExecutionRow.id)
                # substr, unlike LIKE, compares case on SQLite too.
                .where(func.substr(ExecutionRow.id, 1, len(prefix)) == prefix)
                .order_by(ExecutionRow.id)
                .limit(limit)
            )
            return list(ids)

    async def list_executions(
        self,
        workflow: str | None = None,
        status: str | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[ExecutionRecord]:
        if limit < 1:
            raise ValueError(f"invalid limit {limit}: give 1 or more")
        if offset < 0:
            raise ValueError(f"invalid offset {offset}: give 0 or more")
        conditions = []
        if workflow is not None:
            conditions.append(ExecutionRow.workflow == workflow)
        if status is not None:
            conditions.append(ExecutionRow.status == status)
        async with self._reading() as session:
            total = await session.scalar(
                select(func.count()).select_from(ExecutionRow).where(*conditions)
            )
            rows = await session.scalars(
                select(ExecutionRow)
                .where(*conditions)
                .order_by(ExecutionRow.created_at.desc(), ExecutionRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            items = tuple(_execution_record(row, ()) for row in rows)
        return Page(items=items, total=int(total or 0), limit=limit, offset=offset)

    async def list_unfinished_executions(
        self, *, with_tasks: bool = True
    ) -> list[ExecutionRecord]:
        async with self._reading() as session:
            rows = list(
                await session.scalars(
                    select(ExecutionRow)
                    .where(ExecutionRow.status.in_(UNFINISHED_STATUSES))
                    .order_by(ExecutionRow.created_at, ExecutionRow.id)
                )
            )
            runs = (
                await _load_task_runs(session, [row.id for row in rows])
                if with_tasks
                else {}
            )
        return [_execution_record(row, runs.get(row.id, ())) for row in rows]

    async def close(self) -> None:
        await self.engine.dispose()


def _workflow_query() -> Any:
    return select(WorkflowRow, WorkflowVersionRow.spec_yaml).join(
        WorkflowVersionRow,
        (WorkflowVersionRow.workflow_id == WorkflowRow.id)
        & (WorkflowVersionRow.version == WorkflowRow.current_version),
    )


def _workflow_record(row: WorkflowRow, spec_yaml: str) -> WorkflowRecord:
    return WorkflowRecord(
        name=row.name,
        version=row.current_version,
        spec_yaml=spec_yaml,
        created_at=_epoch(row.created_at),
        updated_at=_epoch(row.updated_at),
    )


def _version_record(name: str, row: WorkflowVersionRow) -> WorkflowVersionRecord:
    return WorkflowVersionRecord(
        workflow=name,
        version=row.version,
        spec_yaml=row.spec_yaml,
        created_at=_epoch(row.created_at),
    )


async def _load_task_runs(
    session: AsyncSession, execution_ids: Sequence[str]
) -> dict[str, tuple[TaskRunRecord, ...]]:
    if not execution_ids:
        return {}
    rows = await session.scalars(
        select(TaskRunRow)
        .where(TaskRunRow.execution_id.in_(execution_ids))
        .order_by(TaskRunRow.id)
        .options(selectinload(TaskRunRow.attempts))
    )
    grouped: dict[str, list[TaskRunRecord]] = {}
    for row in rows:
        grouped.setdefault(row.execution_id, []).append(_task_run_record(row))
    return {key: tuple(runs) for key, runs in grouped.items()}


async def _load_execution(session: AsyncSession, row: ExecutionRow) -> ExecutionRecord:
    runs = await _load_task_runs(session, [row.id])
    return _execution_record(row, runs.get(row.id, ()))


def _attempt_record(row: AttemptRow) -> AttemptRecord:
    return AttemptRecord(
        number=row.number,
        started_at=_epoch(row.started_at),
        ended_at=_epoch(row.ended_at),
        status_code=row.status_code,
        error=row.error,
        detail=row.detail or {},
    )


def _task_run_record(row: TaskRunRow) -> TaskRunRecord:
    return TaskRunRecord(
        name=row.name,
        status=row.status,
        started_at=_optional_epoch(row.started_at),
        ended_at=_optional_epoch(row.ended_at),
        output=row.output,
        error=row.error,
        attempts=tuple(_attempt_record(a) for a in row.attempts),
        detail=row.detail or {},
    )


def _execution_record(
    row: ExecutionRow, tasks: Iterable[TaskRunRecord]
) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=row.id,
        workflow=row.workflow,
        version=row.workflow_version,
        mode=row.mode,
        status=row.status,
        created_at=_epoch(row.created_at),
        input=row.input,
        output=row.output,
        error=row.error,
        started_at=_optional_epoch(row.started_at),
        ended_at=_optional_epoch(row.ended_at),
        idempotency_key=row.idempotency_key,
        tasks=tuple(tasks),
        detail=row.detail or {},
    )


async def open_store(
    url: str | None = None, *, max_payload_bytes: int = MAX_JSON_BYTES
) -> SqlStore:
    """Open the store at ``url`` and migrate its database to the newest schema.

    ``url`` defaults to ``WALLE_DATABASE_URL``, then to the SQLite file
    ``$XDG_DATA_HOME/walle/walle.db`` (``~/.local/share/walle/walle.db`` when
    XDG_DATA_HOME is unset). ``postgresql://`` URLs use asyncpg and
    ``sqlite://`` URLs use aiosqlite. Migrating keeps every stored row.

    Raises UnsupportedDatabaseError for an invalid URL and StoreError when
    the database cannot be reached or migrated.
    """
    resolved = resolve_database_url(url)
    engine = create_store_engine(resolved)
    try:
        migrating = engine.execution_options(**{SQLITE_IMMEDIATE_OPTION: True})
        async with migrating.begin() as connection:
            await connection.run_sync(migrate.upgrade)
    except (OSError, DBAPIError) as exc:
        await engine.dispose()
        raise StoreError(
            f"failed to open the store database {mask_url(resolved)}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    except BaseException:
        await engine.dispose()
        raise
    logger.debug("opened the store at %s", mask_url(resolved))
    return SqlStore(engine, max_payload_bytes=max_payload_bytes)
