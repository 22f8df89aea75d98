"""Add a JSON detail column to executions, task runs and attempts.

The columns take fields that the result types gain later, such as the item
counts of fan-out tasks, so that those fields need no further migration.
Existing rows get NULL, which the store reads as an empty object.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("executions", "task_runs", "attempts")


# Both statements run in place on PostgreSQL and on SQLite 3.35 or newer,
# with no copy of the table. A copy would need foreign keys switched off on
# SQLite, because dropping the old executions table cascades to its task runs.


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table, sa.Column("detail", sa.JSON(none_as_null=True), nullable=True)
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_column(table, "detail")
