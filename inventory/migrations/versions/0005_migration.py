"""Migration: runs, per-VM progress, per-step records.

Revision ID: 0005_migration
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_migration"
down_revision = "0001_foundation"
branch_labels = ("migration",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "migration_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=True),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("wave", sa.Integer, nullable=True),
        sa.Column("plan_digest", sa.String(64), nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_index("ix_migration_runs_digest", "migration_runs", ["plan_digest", "wave"])
    op.create_table(
        "migration_vms",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("migration_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item_key", sa.String(300), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("system", sa.String(128), nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("wave", sa.Integer, nullable=False),
        sa.Column("source_provider", sa.String(128), nullable=False),
        sa.Column("source_id", sa.String(128), nullable=False),
        sa.Column("target_provider", sa.String(128), nullable=False),
        sa.Column("target_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_step", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=True),
    )
    op.create_index("ix_migration_vms_run", "migration_vms", ["run_id", "item_key"], unique=True)
    op.create_table(
        "migration_steps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("migration_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item_key", sa.String(300), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("ix_migration_steps_item", "migration_steps", ["run_id", "item_key", "seq"])


def downgrade() -> None:
    op.drop_table("migration_steps")
    op.drop_table("migration_vms")
    op.drop_table("migration_runs")
