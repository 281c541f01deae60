"""Sync: the cloud's own clock when the last successful collection began.

The next time-based delta (Nova changes-since, Cinder's time filters) starts from it, less a
safety margin, instead of from the local time the sync finished: a change made while a sync
was collecting is then read by the next one. Utilization also keeps the share of a VM's disks
in use (from Prometheus), and hosts their own operating system family.

Revision ID: 0019_sync_collected_from
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_sync_collected_from"
down_revision = "0017_sync_watermark"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("provider_status", sa.Column("collected_from", sa.DateTime(timezone=True), nullable=True))
    op.add_column("utilization", sa.Column("disk_used_pct", sa.Float(), nullable=True))
    op.add_column("hosts", sa.Column("os_family", sa.String(32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("os_family")
    with op.batch_alter_table("utilization") as batch:
        batch.drop_column("disk_used_pct")
    with op.batch_alter_table("provider_status") as batch:
        batch.drop_column("collected_from")
