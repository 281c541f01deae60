"""Certificates, TLS/TLCP endpoints and where each certificate was seen.

Revision ID: 0002_certs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_certs"
down_revision = "0001_foundation"
branch_labels = ("certs",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("sm3", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("serial", sa.String(80), nullable=False),
        sa.Column("not_before", TS, nullable=True),
        sa.Column("not_after", TS, nullable=True),
        sa.Column("signature_algorithm", sa.String(64), nullable=False),
        sa.Column("key_type", sa.String(16), nullable=False),
        sa.Column("key_size", sa.Integer, nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("info", sa.JSON, nullable=False),
        sa.Column("pem", sa.Text, nullable=False),
        sa.Column("first_seen", TS, nullable=True),
        sa.Column("last_seen", TS, nullable=True),
    )
    op.create_index("ix_certificates_not_after", "certificates", ["not_after"])
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("system", sa.String(128), nullable=False),
        sa.Column("department", sa.String(128), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("reachable", sa.Boolean, nullable=False),
        sa.Column("tls_versions", sa.JSON, nullable=False),
        sa.Column("tlcp", sa.Boolean, nullable=False),
        sa.Column("rfc8998", sa.Boolean, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("first_seen", TS, nullable=True),
        sa.Column("last_seen", TS, nullable=True),
        sa.UniqueConstraint("host", "port", name="uq_endpoints_host_port"),
    )
    op.create_table(
        "certificate_sightings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("certificate_id", sa.Integer, sa.ForeignKey("certificates.id", ondelete="CASCADE"), nullable=False),
        sa.Column("endpoint_id", sa.Integer, sa.ForeignKey("endpoints.id", ondelete="SET NULL"), nullable=True),
        sa.Column("location", sa.String(512), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("first_seen", TS, nullable=True),
        sa.Column("last_seen", TS, nullable=True),
        sa.UniqueConstraint("certificate_id", "location", "role", name="uq_sightings"),
    )
    op.create_index("ix_certificate_sightings_certificate_id", "certificate_sightings", ["certificate_id"])


def downgrade() -> None:
    op.drop_table("certificate_sightings")
    op.drop_table("endpoints")
    op.drop_table("certificates")
