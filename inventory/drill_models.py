"""DR drill history: one row per drill run, one per executed step (read by CLI and console)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from inventory.models import Base


class DrillRun(Base):
    __tablename__ = "drill_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scenario: Mapped[str] = mapped_column(String(32))
    # passed | failed (target missed or data lost) | refused (preflight) | interrupted | error
    status: Mapped[str] = mapped_column(String(16))
    passed: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    primary_before: Mapped[str] = mapped_column(String(64), default="")
    primary_after: Mapped[str] = mapped_column(String(64), default="")
    rto_s: Mapped[float | None] = mapped_column(Float, default=None)
    rto_target_s: Mapped[float | None] = mapped_column(Float, default=None)
    rpo_rows_lost: Mapped[int | None] = mapped_column(Integer, default=None)
    data_equal: Mapped[bool | None] = mapped_column(default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_drill_runs_started", "started_at"),)


class DrillStep(Base):
    __tablename__ = "drill_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), ForeignKey("drill_runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(32), default="")
    task: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default="")  # ok | changed | failed | skipped
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_drill_steps_run", "run_id", "seq"),)
