"""Migration runs, per-VM progress and per-step records (the console and `migrate status` read them).

A run is one execution of one plan (optionally one wave); re-running the same plan resumes
the open run instead of starting over, so every step row is the single source of truth for
where a VM is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from inventory.models import Base

# Run: open -> running -> completed | failed | partial | rolled_back | finalized
# VM:  pending -> running -> cut_over | failed | rolled_back ; cut_over -> finalized | rolled_back


class MigrationRun(Base):
    __tablename__ = "migration_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
    target: Mapped[str] = mapped_column(String(128), default="")
    wave: Mapped[int | None] = mapped_column(Integer, default=None)
    plan_digest: Mapped[str] = mapped_column(String(64), default="")
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")
    actor: Mapped[str] = mapped_column(String(128), default="")
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_migration_runs_digest", "plan_digest", "wave"),)


class MigrationVm(Base):
    __tablename__ = "migration_vms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("migration_runs.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(300))
    name: Mapped[str] = mapped_column(String(255), default="")
    system: Mapped[str] = mapped_column(String(128), default="")
    strategy: Mapped[str] = mapped_column(String(16), default="")
    wave: Mapped[int] = mapped_column(Integer, default=1)
    source_provider: Mapped[str] = mapped_column(String(128), default="")
    source_id: Mapped[str] = mapped_column(String(128), default="")
    target_provider: Mapped[str] = mapped_column(String(128), default="")
    target_id: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    current_step: Mapped[str] = mapped_column(String(32), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    # What later steps and rollback need: snapshot/image ids, target node id, checksums.
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_migration_vms_run", "run_id", "item_key", unique=True),)


class MigrationStep(Base):
    __tablename__ = "migration_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("migration_runs.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(300))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[str] = mapped_column(String(32))
    # pending | running | ok | failed | rolled_back
    status: Mapped[str] = mapped_column(String(16), default="pending")
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_migration_steps_item", "run_id", "item_key", "seq"),)
