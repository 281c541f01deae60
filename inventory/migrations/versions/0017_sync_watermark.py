"""Sync: each provider's own watermark for the next incremental listing.

A provider that answers "what changed since" with a marker of its own (vSphere's property
collector version) gets it back on the next sync; providers that use the time of the last
success leave it empty.

Revision ID: 0017_sync_watermark
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_sync_watermark"
down_revision = "0001_foundation"
branch_labels = ("sync",)
depends_on = None


def upgrade() -> None:
    op.add_column("provider_status", sa.Column("watermark", sa.String(512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("provider_status") as batch:
        batch.drop_column("watermark")
