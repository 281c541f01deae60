"""Capacity: a covering index on nodes for the per-hypervisor figures.

The capacity report sums every allocated node per (host, provider) for its host figures.
Without an index SQLite reads the whole nodes table (100,000 wide rows on the large lab) and
sorts it. This index holds exactly what that query reads (state for the allocation rule, vcpus
and ram_mb for the sums) in the query's GROUP BY order, so SQLite walks it with no table access
and no sort: less than half the time. It stays narrow (no department or system strings), so a
node write pays for one small extra index entry.

Revision ID: 0010_capacity_host_index
"""

from __future__ import annotations

from alembic import op

revision = "0010_capacity_host_index"
down_revision = "0009_capacity_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_nodes_host_usage", "nodes", ["host", "provider", "state", "vcpus", "ram_mb"])


def downgrade() -> None:
    op.drop_index("ix_nodes_host_usage", table_name="nodes")
