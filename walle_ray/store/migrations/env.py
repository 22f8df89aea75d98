"""Alembic environment of the store.

The store runs migrations through ``walle_ray.store.migrate``, which passes an
open connection in ``config.attributes["connection"]``. Run from the Alembic
command line with ``migrations/alembic.ini``, this module opens its own engine
on ``sqlalchemy.url``, else on the URL that ``open_store`` would pick.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from walle_ray.store.engine import create_store_engine
from walle_ray.store.migrate import VERSION_TABLE
from walle_ray.store.schema import Base
from walle_ray.store.urls import resolve_database_url


def _run_on_connection(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        # SQLite can alter few things in place, so later revisions that change
        # columns need Alembic's copy-and-move batch mode there.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    url = resolve_database_url(context.config.get_main_option("sqlalchemy.url"))
    engine = create_store_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run_on_connection)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    url = resolve_database_url(context.config.get_main_option("sqlalchemy.url"))
    context.configure(
        url=url,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    given = context.config.attributes.get("connection")
    if given is None:
        asyncio.run(_run_with_own_engine())
    else:
        _run_on_connection(given)
