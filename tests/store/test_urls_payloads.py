"""Database URL resolution and payload capping, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from walle_ray.store import (
    UnsupportedDatabaseError,
    default_database_path,
    mask_url,
    resolve_database_url,
)
from walle_ray.store.payloads import cap_json, cap_text


def test_default_path_follows_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_database_path() == tmp_path / "walle" / "walle.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_database_path() == Path.home() / ".local/share/walle/walle.db"


def test_environment_url_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WALLE_DATABASE_URL", f"sqlite:///{tmp_path}/env/x.db")
    url = resolve_database_url()
    assert url.drivername == "sqlite+aiosqlite"
    assert url.database == str(tmp_path / "env" / "x.db")
    assert (tmp_path / "env").is_dir()


def test_default_url_creates_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("WALLE_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    url = resolve_database_url()
    assert url.database == str(tmp_path / "walle" / "walle.db")
    assert (tmp_path / "walle").is_dir()


@pytest.mark.parametrize(
    "given",
    ["postgresql://u@127.0.0.1/db", "postgres://u@127.0.0.1/db"],
)
def test_postgres_uses_asyncpg(given: str) -> None:
    assert resolve_database_url(given).drivername == "postgresql+asyncpg"


def test_unsupported_scheme_rejected() -> None:
    with pytest.raises(UnsupportedDatabaseError, match="'mysql'"):
        resolve_database_url("mysql://u@127.0.0.1/db")
    with pytest.raises(UnsupportedDatabaseError, match="could not be parsed"):
        resolve_database_url("not a url")


def test_password_masked() -> None:
    masked = mask_url("postgresql://user:secret@127.0.0.1/db")
    assert "secret" not in masked
    assert "***" in masked


def test_cap_json_marker() -> None:
    assert cap_json({"a": 1}, max_bytes=100) == {"a": 1}
    assert cap_json(None) is None
    marker = cap_json("é" * 100, max_bytes=50)
    assert marker["truncated"] is True
    assert marker["size_bytes"] == 202
    assert marker["preview"].startswith('"é')


def test_cap_text_notes_length() -> None:
    assert cap_text("short", max_chars=10) == "short"
    assert cap_text("x" * 20, max_chars=10) == (
        "x" * 10 + "... [truncated: 20 characters in total]"
    )


def test_cli_environment_variable_matches() -> None:
    from walle_ray import cli_store
    from walle_ray.store import DATABASE_URL_ENV

    assert cli_store.DATABASE_URL_ENV == DATABASE_URL_ENV
