"""Tables of the tamper-evident audit log (migration 0004_audit).

Timestamps and details are stored as the exact text that was hashed: a database round trip
of a DateTime or a JSON column may change its spelling, and then every hash would break.
"""

from __future__ import annotations

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from inventory.models import Base


class AuditEntry(Base):
    __tablename__ = "audit_log"

    # Assigned by the writer (last + 1), never by the database: a gap means a deleted entry.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(128), default="")
    action: Mapped[str] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_log_action", "action"),)


class AuditCheckpoint(Base):
    """An SM2 signature over (seq, hash) of one entry: the log had at least this much."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entry_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(40))
    signature: Mapped[str] = mapped_column(Text)
    public_key: Mapped[str] = mapped_column(Text)
