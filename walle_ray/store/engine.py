"""Creation of the async SQLAlchemy engine, with the SQLite settings applied."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from walle_ray.store.urls import is_memory_sqlite, mask_url

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another connection's write lock, in ms.

After this the write fails with "database is locked".
"""

SQLITE_POOL_SIZE = 32
"""Connections to a SQLite file that the pool keeps open between uses.

Opening one starts a driver thread and runs four PRAGMA statements. A pool
smaller than the number of concurrent readers (SQLAlchemy's default is 5)
opens and closes connections all the time under load, as the Serve ingress
did at 10 concurrent requests.
"""

SQLITE_MAX_OVERFLOW = 64
"""Connections to a SQLite file opened beyond ``SQLITE_POOL_SIZE`` when needed."""

SQLITE_IMMEDIATE_OPTION = "walle_sqlite_begin_immediate"
"""Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE.

The store sets it on every transaction that writes. Such a transaction takes
the write lock at its start, waiting up to the busy timeout for it. A
deferred transaction that reads first and writes later would instead fail at
once with "database is locked" whenever another connection wrote after its
read, because SQLite cannot wait in that case.
"""


def _configure_sqlite_connection(
    dbapi_connection: Any, connection_record: ConnectionPoolEntry
) -> None:
    # WAL lets readers run while one process writes, and the busy timeout
    # makes concurrent writers wait instead of failing at once. SQLite leaves
    # foreign keys, and so ON DELETE CASCADE, off unless asked per connection.
    # The busy timeout comes first so that switching to WAL waits too.
    #
    # With isolation_level None the driver stops issuing BEGIN on its own, so
    # _begin_sqlite_transaction decides how each transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_store_engine(url: URL, *, echo: bool = False) -> AsyncEngine:
    """Create an async engine for ``url``, which must already name an async driver.

    For SQLite, every new connection gets WAL mode, a busy timeout and foreign
    keys, and transactions begin as :data:`SQLITE_IMMEDIATE_OPTION` selects. A
    SQLite file keeps up to :data:`SQLITE_POOL_SIZE` connections open. An
    in-memory SQLite database keeps one shared connection, because
    each new connection would otherwise open a separate, empty database.
    """
    options: dict[str, Any] = {"echo": echo}
    backend = url.get_backend_name()
    if backend == "sqlite":
        if is_memory_sqlite(url):
            options["poolclass"] = StaticPool
            options["connect_args"] = {"check_same_thread": False}
        else:
            options["pool_size"] = SQLITE_POOL_SIZE
            options["max_overflow"] = SQLITE_MAX_OVERFLOW
    else:
        options["pool_pre_ping"] = True

    engine = create_async_engine(url, **options)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)
    logger.debug("created database engine for %s", mask_url(url))
    return engine
