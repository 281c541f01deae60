"""DR drills: drill_runs and drill_steps.

Revision ID: 0006_drills
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_drills"
down_revision = "0001_foundation"
branch_labels = ("drills",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "drill_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("scenario", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("primary_before", sa.String(64), nullable=False, server_default=""),
        sa.Column("primary_after", sa.String(64), nullable=False, server_default=""),
        sa.Column("rto_s", sa.Float, nullable=True),
        sa.Column("rto_target_s", sa.Float, nullable=True),
        sa.Column("rpo_rows_lost", sa.Integer, nullable=True),
        sa.Column("data_equal", sa.Boolean, nullable=True),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("report", sa.JSON, nullable=False),
    )
    op.create_index("ix_drill_runs_started", "drill_runs", ["started_at"])
    op.create_table(
        "drill_steps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("drill_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(32), nullable=False, server_default=""),
        sa.Column("task", sa.String(255), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default=""),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_drill_steps_run", "drill_steps", ["run_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_drill_steps_run", table_name="drill_steps")
    op.drop_table("drill_steps")
    op.drop_index("ix_drill_runs_started", table_name="drill_runs")
    op.drop_table("drill_runs")
