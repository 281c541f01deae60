"""Foundation: providers, nodes, hosts, resources, utilization, sync runs, change events,
capacity samples.

Revision ID: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _stamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("fingerprint", sa.String(40), nullable=False, server_default=""),
        sa.Column("first_seen", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "provider_status",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("driver", sa.String(64), nullable=False),
        sa.Column("center", sa.String(64), nullable=False),
        sa.Column("pool", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stale", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("warnings", sa.JSON, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("last_attempt", TS, nullable=True),
        sa.Column("last_success", TS, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=False),
    )
    op.create_table(
        "nodes",
        sa.Column("provider", sa.String(128), primary_key=True),
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("vcpus", sa.Integer, nullable=False),
        sa.Column("ram_mb", sa.Integer, nullable=False),
        sa.Column("disk_gb", sa.Integer, nullable=False),
        sa.Column("arch", sa.String(32), nullable=False),
        sa.Column("cpu_vendor", sa.String(32), nullable=False),
        sa.Column("os_family", sa.String(32), nullable=False),
        sa.Column("ips", sa.JSON, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("image", sa.String(128), nullable=False),
        sa.Column("size", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=True),
        sa.Column("department", sa.String(128), nullable=False),
        sa.Column("system", sa.String(128), nullable=False),
        sa.Column("mlps_level", sa.Integer, nullable=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        *_stamps(),
    )
    op.create_index("ix_nodes_department", "nodes", ["department"])
    op.create_index("ix_nodes_system", "nodes", ["system"])
    op.create_table(
        "hosts",
        sa.Column("provider", sa.String(128), primary_key=True),
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("vcpus", sa.Integer, nullable=False),
        sa.Column("ram_mb", sa.Integer, nullable=False),
        sa.Column("disk_gb", sa.Integer, nullable=False),
        sa.Column("vcpus_used", sa.Integer, nullable=False),
        sa.Column("ram_mb_used", sa.Integer, nullable=False),
        sa.Column("disk_gb_used", sa.Integer, nullable=False),
        sa.Column("arch", sa.String(32), nullable=False),
        sa.Column("cpu_vendor", sa.String(32), nullable=False),
        sa.Column("cpu_model", sa.String(128), nullable=False),
        sa.Column("rack", sa.String(64), nullable=False),
        sa.Column("power_kw", sa.Float, nullable=True),
        sa.Column("cpu_util_pct", sa.Float, nullable=True),
        sa.Column("running_vms", sa.Integer, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        *_stamps(),
    )
    op.create_table(
        "resources",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("provider", sa.String(128), primary_key=True),
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        *_stamps(),
    )
    op.create_table(
        "utilization",
        sa.Column("provider", sa.String(128), primary_key=True),
        sa.Column("node_id", sa.String(128), primary_key=True),
        sa.Column("cpu_avg_pct", sa.Float, nullable=False),
        sa.Column("cpu_p95_pct", sa.Float, nullable=False),
        sa.Column("ram_avg_pct", sa.Float, nullable=False),
        sa.Column("window_days", sa.Integer, nullable=False),
        sa.Column("sampled_at", TS, nullable=True),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_table(
        "change_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("sync_run_id", sa.Integer, nullable=True),
        sa.Column("provider", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
    )
    op.create_index("ix_change_events_resource", "change_events", ["provider", "kind", "resource_id"])
    op.create_table(
        "capacity_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("provider", sa.String(128), nullable=False),
        sa.Column("center", sa.String(64), nullable=False),
        sa.Column("pool", sa.String(32), nullable=False),
        sa.Column("department", sa.String(128), nullable=False),
        sa.Column("nodes", sa.Integer, nullable=False),
        sa.Column("vcpus", sa.Integer, nullable=False),
        sa.Column("ram_mb", sa.Integer, nullable=False),
        sa.Column("disk_gb", sa.Integer, nullable=False),
    )
    op.create_index("ix_capacity_samples_at", "capacity_samples", ["at"])


def downgrade() -> None:
    for table in (
        "capacity_samples",
        "change_events",
        "sync_runs",
        "utilization",
        "resources",
        "hosts",
        "nodes",
        "provider_status",
    ):
        op.drop_table(table)
