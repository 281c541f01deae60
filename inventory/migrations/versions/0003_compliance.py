"""Compliance: audits, findings (first/last seen), waivers, evidence attachments.

Revision ID: 0003_compliance
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_compliance"
down_revision = "0001_foundation"
branch_labels = ("compliance",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "compliance_audits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_table(
        "compliance_findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("check_id", sa.String(96), nullable=False),
        sa.Column("resource_key", sa.String(400), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("resource_name", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(128), nullable=False),
        sa.Column("center", sa.String(64), nullable=False),
        sa.Column("department", sa.String(128), nullable=False),
        sa.Column("system", sa.String(128), nullable=False),
        sa.Column("mlps_level", sa.Integer, nullable=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("last_audit_id", sa.Integer, nullable=False),
    )
    op.create_index("ux_compliance_findings_key", "compliance_findings", ["check_id", "resource_key"], unique=True)
    op.create_index("ix_compliance_findings_audit", "compliance_findings", ["last_audit_id"])
    op.create_table(
        "compliance_waivers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("check_id", sa.String(96), nullable=False),
        sa.Column("resource_key", sa.String(400), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("approver", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("approved_at", TS, nullable=True),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_table(
        "compliance_evidence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("resource_key", sa.String(400), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(128), nullable=False),
        sa.Column("sm3", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("added_by", sa.String(128), nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_compliance_evidence_subject", "compliance_evidence", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_compliance_evidence_subject", table_name="compliance_evidence")
    op.drop_table("compliance_evidence")
    op.drop_table("compliance_waivers")
    op.drop_index("ix_compliance_findings_audit", table_name="compliance_findings")
    op.drop_index("ux_compliance_findings_key", table_name="compliance_findings")
    op.drop_table("compliance_findings")
    op.drop_table("compliance_audits")
