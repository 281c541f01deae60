"""Capacity: index capacity_samples by (provider, at).

Forecasts and the Xinchuang trend pick each provider's last sample of a day and join back on
(provider, at); with only the `at` index every lookup scans the samples of all providers and
departments taken at that instant (the lab history takes them all at the same weekly instants).

Revision ID: 0009_capacity_index
"""

from __future__ import annotations

from alembic import op

revision = "0009_capacity_index"
down_revision = "0008_capacity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_capacity_samples_provider_at", "capacity_samples", ["provider", "at"])


def downgrade() -> None:
    op.drop_index("ix_capacity_samples_provider_at", table_name="capacity_samples")
