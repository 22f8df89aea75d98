"""Database URLs: the default location, driver mapping and masking for logs."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from walle_ray.store.base import UnsupportedDatabaseError

DATABASE_URL_ENV = "WALLE_DATABASE_URL"
"""Environment variable that sets the database URL when none is passed."""

# Accepted URL schemes, mapped to the async driver the store runs on.
_ASYNC_DRIVERS: dict[str, str] = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
SUPPORTED_SCHEMES: tuple[str, ...] = tuple(_ASYNC_DRIVERS)

_URL_EXAMPLES = "sqlite:///path/to/walle.db or postgresql://user@host:5432/dbname"


def default_database_path() -> Path:
    """Return ``$XDG_DATA_HOME/walle/walle.db``, or ``~/.local/share/...`` unset."""
    data_home = os.environ.get("XDG_DATA_HOME")
    if data_home:
        base = Path(data_home).expanduser()
    else:
        base = Path.home() / ".local" / "share"
    return base / "walle" / "walle.db"


def resolve_database_url(url: str | None = None) -> URL:
    """Pick the database URL and map it to its async driver.

    The order is: the ``url`` argument, the ``WALLE_DATABASE_URL`` environment
    variable, then a SQLite file at :func:`default_database_path`. For a
    SQLite file, ``~`` is expanded and the parent folder is created.

    Raises UnsupportedDatabaseError when the URL cannot be parsed or its
    scheme is not one of :data:`SUPPORTED_SCHEMES`.
    """
    text = url or os.environ.get(DATABASE_URL_ENV) or None
    if text is None:
        path = default_database_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        return URL.create("sqlite+aiosqlite", database=str(path))

    try:
        parsed = make_url(text)
    except ArgumentError:
        # The text may contain a password, so the message leaves it out.
        raise UnsupportedDatabaseError(
            f"invalid database URL: it could not be parsed; use {_URL_EXAMPLES}"
        ) from None

    scheme = parsed.drivername
    driver = _ASYNC_DRIVERS.get(scheme)
    if driver is None:
        supported = ", ".join(SUPPORTED_SCHEMES)
        raise UnsupportedDatabaseError(
            f"unsupported database URL scheme '{scheme}'; "
            f"supported schemes: {supported} (for example {_URL_EXAMPLES})"
        )
    parsed = parsed.set(drivername=driver)

    if driver.startswith("sqlite") and not is_memory_sqlite(parsed):
        path = Path(parsed.database or "").expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
    return parsed


def is_memory_sqlite(url: URL) -> bool:
    """Tell whether ``url`` names a private in-memory SQLite database."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def mask_url(url: URL | str) -> str:
    """Render ``url`` with its password replaced by ``***``, for logs and errors."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return "<unparsable database URL>"
    return url.render_as_string(hide_password=True)
