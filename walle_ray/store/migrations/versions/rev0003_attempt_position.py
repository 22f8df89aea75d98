"""Key attempts by their position in the task's record, not their number.

A fan-out task makes one call per item, and each item numbers its attempts
from 1, so a task run can hold several attempts with the same number. The
unique key moves from ``(task_run_id, number)`` to ``(task_run_id, position)``,
where ``position`` is the attempt's index in the record. Existing rows get
``number - 1``, which is their index since numbers were unique and started at 1.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# On SQLite, batch mode copies the attempts table to change its constraints.
# No other table references attempts, so the copy cascades nowhere.


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("position", sa.Integer(), nullable=True))
    op.execute("UPDATE attempts SET position = number - 1")
    with op.batch_alter_table("attempts") as batch:
        batch.alter_column("position", existing_type=sa.Integer(), nullable=False)
        batch.drop_constraint("uq_attempts_task_run_id_number", type_="unique")
        batch.create_unique_constraint(
            "uq_attempts_task_run_id_position", ["task_run_id", "position"]
        )


def downgrade() -> None:
    # Fan-out attempts that share a number cannot keep the old key; the
    # downgrade renumbers each task run's attempts by position.
    op.execute("UPDATE attempts SET number = position + 1")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_constraint("uq_attempts_task_run_id_position", type_="unique")
        batch.create_unique_constraint(
            "uq_attempts_task_run_id_number", ["task_run_id", "number"]
        )
        batch.drop_column("position")
