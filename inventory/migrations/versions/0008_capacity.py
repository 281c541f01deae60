"""Capacity: the record of imported history files.

Revision ID: 0008_capacity
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_capacity"
down_revision = "0001_foundation"
branch_labels = ("capacity",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "capacity_history_imports",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(512), nullable=False, server_default=""),
        sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_at", TS, nullable=True),
        sa.Column("last_at", TS, nullable=True),
        sa.Column("imported_at", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("capacity_history_imports")
