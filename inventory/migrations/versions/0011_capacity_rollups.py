"""Capacity: rollups the report reads instead of every node and every sample.

capacity_rollups holds each provider's figures as sync last computed them from its nodes;
capacity_trend_days and capacity_provider_days hold the daily groups of capacity_samples that
the Xinchuang trend and the forecasts read; capacity_rollup_state records which samples those
were computed from; capacity_forecast_fits keeps fitted forecast curves by the digest of their
series. They start empty: until a sync (or a history import, or a report) fills them the
report computes everything live, as before.

Revision ID: 0011_capacity_rollups
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_capacity_rollups"
down_revision = "0010_capacity_host_index"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _counts(*names: str) -> list[sa.Column[int]]:
    return [sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in names]


def upgrade() -> None:
    op.create_table(
        "capacity_rollups",
        sa.Column("provider", sa.String(128), primary_key=True),
        sa.Column("params", sa.String(64), nullable=False),
        sa.Column("computed_at", TS, nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_table(
        "capacity_trend_days",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("center", sa.String(64), primary_key=True),
        sa.Column("department", sa.String(128), primary_key=True),
        *_counts("vcpus", "xc_vcpus", "nodes", "xc_nodes"),
    )
    op.create_table(
        "capacity_provider_days",
        sa.Column("provider", sa.String(128), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("at", TS, nullable=False),
        *_counts("vcpus", "ram_mb", "disk_gb"),
    )
    op.create_table(
        "capacity_forecast_fits",
        sa.Column("provider", sa.String(128), primary_key=True),
        sa.Column("resource", sa.String(16), primary_key=True),
        sa.Column("method", sa.String(16), primary_key=True),
        sa.Column("horizon", sa.Integer, primary_key=True),
        sa.Column("level", sa.Float, primary_key=True),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.Column("bounds", sa.LargeBinary, nullable=False),
        sa.Column("fitted_at", TS, nullable=True),
    )
    op.create_table(
        "capacity_rollup_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "capacity_rollup_state", "capacity_forecast_fits", "capacity_provider_days", "capacity_trend_days",
        "capacity_rollups",
    ):  # fmt: skip
        op.drop_table(table)
