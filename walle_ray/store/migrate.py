"""Alembic migrations of the store, run on a connection the caller provides.

The scripts live in the ``migrations`` folder next to this module and record
the applied revision in the ``walle_alembic_version`` table, so a database
shared with another Alembic project keeps both histories apart.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from walle_ray.store.base import StoreError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "walle_alembic_version"

# Arbitrary constant key of the PostgreSQL advisory lock taken while
# migrating, so that processes starting together migrate one after another.
_PG_MIGRATION_LOCK_KEY = 0x57A11E


def alembic_config(connection: Connection | None = None) -> Config:
    """Build an Alembic configuration for the store's scripts, with no ini file.

    When ``connection`` is given, ``migrations/env.py`` runs the migrations
    on it, inside the transaction that the caller opened.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """Return the newest revision of the store's migration scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration scripts found in {MIGRATIONS_DIR}")
    return head


def current_revision(connection: Connection) -> str | None:
    """Return the revision the database is at, or None for an empty database."""
    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE}
    )
    return context.get_current_revision()


def _lock_for_migration(connection: Connection) -> None:
    # The lock lasts until the caller's transaction ends, so that processes
    # starting together migrate one after another. On SQLite the caller's
    # transaction already holds the write lock: it began with BEGIN IMMEDIATE.
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"),
            {"key": _PG_MIGRATION_LOCK_KEY},
        )


def _check_known_revision(connection: Connection) -> str | None:
    current = current_revision(connection)
    if current is None:
        return None
    scripts = ScriptDirectory.from_config(alembic_config())
    known = {script.revision for script in scripts.walk_revisions()}
    if current not in known:
        raise StoreError(
            f"the store database is at revision {current}, which this version "
            f"of walle does not know (its newest is {head_revision()}); "
            "upgrade walle-ray or use another database"
        )
    return current


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` inside the connection's transaction.

    On SQLite the transaction must have begun with BEGIN IMMEDIATE (see
    ``SQLITE_IMMEDIATE_OPTION``), so that two processes never create the same
    tables at once. Raises StoreError when the database is at a revision
    newer than the scripts know.
    """
    _lock_for_migration(connection)
    before = _check_known_revision(connection)
    command.upgrade(alembic_config(connection), revision)
    after = current_revision(connection)
    if before != after:
        logger.info("migrated store database from %s to %s", before, after)


def downgrade(connection: Connection, revision: str) -> None:
    """Downgrade the database to ``revision`` (``"base"`` drops every table)."""
    _lock_for_migration(connection)
    command.downgrade(alembic_config(connection), revision)
    logger.info("downgraded store database to %s", revision)
