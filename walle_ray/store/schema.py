"""Tables of the store, as SQLAlchemy declarative models.

Deleting a workflow sets ``workflows.deleted_at`` and removes no row. Its
versions stay, so every execution keeps pointing at the exact spec it ran,
and saving the name again continues the version numbers. Executions name
their workflow by string with no foreign key, because an execution may run a
spec that was never saved and must outlive its workflow.

The migrations in ``migrations/versions`` create the same schema; a test
compares the two. The ``detail`` JSON columns take fields added to the result
types later, so that new fields need no migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAME_LENGTH = 255
STATUS_LENGTH = 32
MODE_LENGTH = 64
EXECUTION_ID_LENGTH = 64
IDEMPOTENCY_KEY_LENGTH = 255

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that is written and read back in UTC.

    SQLite stores no offset and returns naive values, so a naive value read
    back is taken to be UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given; pass a UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_column() -> JSON:
    """Return a JSON type that stores Python None as SQL NULL."""
    return JSON(none_as_null=True)


class Base(DeclarativeBase):
    """Declarative base whose constraint names follow ``NAMING_CONVENTION``."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class WorkflowRow(Base):
    __tablename__ = "workflows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    current_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class WorkflowVersionRow(Base):
    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow_id: Mapped[int] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    spec_yaml: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ExecutionRow(Base):
    __tablename__ = "executions"
    __table_args__ = (
        UniqueConstraint("workflow", "idempotency_key"),
        Index("ix_executions_workflow_created_at", "workflow", "created_at"),
        Index("ix_executions_status_created_at", "status", "created_at"),
        Index("ix_executions_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(EXECUTION_ID_LENGTH), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(NAME_LENGTH))
    workflow_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mode: Mapped[str] = mapped_column(String(MODE_LENGTH))
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    input: Mapped[Any] = mapped_column(json_column(), nullable=True)
    output: Mapped[Any] = mapped_column(json_column(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(
        String(IDEMPOTENCY_KEY_LENGTH), nullable=True
    )
    detail: Mapped[Any] = mapped_column(json_column(), nullable=True)

    task_runs: Mapped[list[TaskRunRow]] = relationship(
        back_populates="execution",
        order_by="TaskRunRow.id",
        lazy="raise",
        passive_deletes=True,
    )


class TaskRunRow(Base):
    __tablename__ = "task_runs"
    __table_args__ = (UniqueConstraint("execution_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[str] = mapped_column(
        ForeignKey("executions.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    output: Mapped[Any] = mapped_column(json_column(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[Any] = mapped_column(json_column(), nullable=True)

    execution: Mapped[ExecutionRow] = relationship(
        back_populates="task_runs", lazy="raise"
    )
    attempts: Mapped[list[AttemptRow]] = relationship(
        back_populates="task_run",
        order_by="AttemptRow.position",
        lazy="raise",
        passive_deletes=True,
    )


class AttemptRow(Base):
    __tablename__ = "attempts"
    # Fan-out items number their attempts from 1 each, so the position of
    # an attempt in its task's record is the key.
    __table_args__ = (UniqueConstraint("task_run_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_run_id: Mapped[int] = mapped_column(
        ForeignKey("task_runs.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[Any] = mapped_column(json_column(), nullable=True)

    task_run: Mapped[TaskRunRow] = relationship(back_populates="attempts", lazy="raise")
