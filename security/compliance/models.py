"""Compliance tables (migration 0003_compliance): audits, findings, waivers, evidence.

A finding is keyed by (check, resource) so that the same problem seen in successive audits
keeps its first-seen time; `audit_results` keeps each audit's status per finding for trends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from inventory.models import Base


class ComplianceAudit(Base):
    __tablename__ = "compliance_audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    level: Mapped[int] = mapped_column(Integer, default=3)
    actor: Mapped[str] = mapped_column(String(128), default="")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    # counts per status and severity, scores per system/department/center
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ComplianceFinding(Base):
    __tablename__ = "compliance_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(String(96))
    resource_key: Mapped[str] = mapped_column(String(400))
    resource_type: Mapped[str] = mapped_column(String(32), default="")
    resource_name: Mapped[str] = mapped_column(String(255), default="")
    provider: Mapped[str] = mapped_column(String(128), default="")
    center: Mapped[str] = mapped_column(String(64), default="")
    department: Mapped[str] = mapped_column(String(128), default="")
    system: Mapped[str] = mapped_column(String(128), default="")
    mlps_level: Mapped[int | None] = mapped_column(Integer, default=None)
    severity: Mapped[str] = mapped_column(String(16), default="medium")
    # status of the latest audit that saw it: PASS | FAIL | MANUAL | WAIVED
    status: Mapped[str] = mapped_column(String(8), default="FAIL")
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    last_audit_id: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ux_compliance_findings_key", "check_id", "resource_key", unique=True),
        Index("ix_compliance_findings_audit", "last_audit_id"),
    )


class ComplianceWaiver(Base):
    __tablename__ = "compliance_waivers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(String(96))
    # "*" waives the check for every resource; else a resource_key or a "system:NAME" scope
    resource_key: Mapped[str] = mapped_column(String(400), default="*")
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(128), default="")
    approver: Mapped[str] = mapped_column(String(128), default="")
    # requested | approved | rejected | revoked
    state: Mapped[str] = mapped_column(String(16), default="requested")
    created_at: Mapped[datetime] = mapped_column()
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime] = mapped_column()


class ComplianceEvidence(Base):
    """Files attached to a requirement (MANUAL items) or a finding, stored in the database."""

    __tablename__ = "compliance_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # a framework requirement id (e.g. gbt39786-2021:8.1.1) or a check id
    subject: Mapped[str] = mapped_column(String(128))
    resource_key: Mapped[str] = mapped_column(String(400), default="")
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(128), default="application/octet-stream")
    sm3: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(128), default="")
    added_at: Mapped[datetime] = mapped_column()
    content: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_compliance_evidence_subject", "subject"),)
