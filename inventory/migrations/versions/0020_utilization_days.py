"""Utilization: each node's daily CPU and memory averages over the window (Prometheus's daily
history), replaced per provider with every sync that reads them. Idle detection checks every
day, so that a burst is not averaged away; the console draws them.

Revision ID: 0020_utilization_days
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_utilization_days"
down_revision = "0019_sync_collected_from"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "utilization_days",
        sa.Column("provider", sa.String(128), primary_key=True),
        sa.Column("node_id", sa.String(128), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("cpu_avg_pct", sa.Float(), nullable=False),
        sa.Column("ram_avg_pct", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("utilization_days")
