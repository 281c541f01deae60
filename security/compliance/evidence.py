"""Evidence attachments (policy documents, module certificates, assessment reports) stored in
the inventory database with their SM3 digest, so an assessor can tell the file is unchanged."""

from __future__ import annotations

import hashlib
import mimetypes
from typing import Any

from sqlalchemy import func, select

from inventory.store import Store
from providers.errors import ConfigError
from security.compliance.models import ComplianceEvidence
from security.compliance.timeutil import now

MAX_BYTES = 20 * 1024 * 1024


def add(
    store: Store, subject: str, filename: str, content: bytes, *, note: str = "", added_by: str = "",
    resource_key: str = "", known_subjects: set[str] | None = None,
) -> int:  # fmt: skip
    if known_subjects is not None and subject not in known_subjects:
        raise ConfigError(f"evidence: unknown requirement or check '{subject}'")
    if not content:
        raise ConfigError(f"evidence: {filename} is empty")
    if len(content) > MAX_BYTES:
        raise ConfigError(f"evidence: {filename} is larger than {MAX_BYTES // (1024 * 1024)} MB")
    row = ComplianceEvidence(
        subject=subject,
        resource_key=resource_key,
        filename=filename,
        media_type=mimetypes.guess_type(filename)[0] or "application/octet-stream",
        sm3=hashlib.new("sm3", content).hexdigest(),
        size=len(content),
        note=note,
        added_by=added_by,
        added_at=now(),
        content=content,
    )
    with store.write_lock, store.session() as session:
        session.add(row)
        session.flush()
        return int(row.id)


def listing(store: Store, subject: str | None = None) -> list[dict[str, Any]]:
    stmt = select(
        ComplianceEvidence.id, ComplianceEvidence.subject, ComplianceEvidence.resource_key,
        ComplianceEvidence.filename, ComplianceEvidence.media_type, ComplianceEvidence.sm3,
        ComplianceEvidence.size, ComplianceEvidence.note, ComplianceEvidence.added_by, ComplianceEvidence.added_at,
    ).order_by(ComplianceEvidence.id)  # fmt: skip
    if subject:
        stmt = stmt.where(ComplianceEvidence.subject == subject)
    with store.session() as session:
        return [
            {**row._asdict(), "added_at": row.added_at.isoformat() if row.added_at else ""}
            for row in session.execute(stmt)
        ]


def content(store: Store, evidence_id: int) -> tuple[str, bytes]:
    with store.session() as session:
        row = session.get(ComplianceEvidence, evidence_id)
        if row is None:
            raise ConfigError(f"no evidence #{evidence_id}")
        return row.filename, row.content


def counts(store: Store) -> dict[str, int]:
    with store.session() as session:
        stmt = select(ComplianceEvidence.subject, func.count()).group_by(ComplianceEvidence.subject)
        return {subject: int(n) for subject, n in session.execute(stmt)}
