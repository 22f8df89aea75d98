"""Persistent store of workflows, their versions and their executions.

Open it with ``store = await open_store(url)`` and close it with
``await store.close()``. The default database is the SQLite file
``$XDG_DATA_HOME/walle/walle.db``, or ``~/.local/share/walle/walle.db`` when
XDG_DATA_HOME is unset. The ``WALLE_DATABASE_URL`` environment variable or
the ``url`` argument selects another one, such as
``postgresql://user@host:5432/walle``. Opening a database migrates it to the
newest schema and keeps its data.
"""

from walle_ray.store.base import (
    UNFINISHED_STATUSES,
    DuplicateExecutionError,
    ExecutionNotFoundError,
    Store,
    StoreError,
    UnsupportedDatabaseError,
)
from walle_ray.store.records import (
    AttemptRecord,
    ExecutionRecord,
    Page,
    TaskRunRecord,
    WorkflowRecord,
    WorkflowVersionRecord,
)
from walle_ray.store.sql import SqlStore, open_store
from walle_ray.store.urls import (
    DATABASE_URL_ENV,
    default_database_path,
    mask_url,
    resolve_database_url,
)
from walle_ray.store.writes import (
    ExecutionResultWrite,
    ExecutionStatusWrite,
    StoreWrite,
    TaskResultWrite,
    TaskStartWrite,
)

__all__ = [
    "DATABASE_URL_ENV",
    "UNFINISHED_STATUSES",
    "AttemptRecord",
    "DuplicateExecutionError",
    "ExecutionNotFoundError",
    "ExecutionRecord",
    "ExecutionResultWrite",
    "ExecutionStatusWrite",
    "Page",
    "SqlStore",
    "Store",
    "StoreError",
    "StoreWrite",
    "TaskResultWrite",
    "TaskRunRecord",
    "TaskStartWrite",
    "UnsupportedDatabaseError",
    "WorkflowRecord",
    "WorkflowVersionRecord",
    "default_database_path",
    "mask_url",
    "open_store",
    "resolve_database_url",
]
