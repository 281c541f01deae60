"""Drill history in the inventory database (drill_runs, drill_steps), for the CLI and console."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from inventory.drill_models import DrillRun, DrillStep
from inventory.store import Store


def _dt(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def save(store: Store, report: dict[str, Any]) -> None:
    m = report.get("measurements", {})
    with store.write_lock, store.session() as session:
        session.merge(
            DrillRun(
                id=report["run_id"],
                scenario=report["scenario"],
                status=report["status"],
                passed=bool(report["passed"]),
                started_at=_dt(report["started_at"]),
                finished_at=_dt(report.get("finished_at")),
                primary_before=report.get("primary_before", ""),
                primary_after=report.get("primary_after", ""),
                rto_s=m.get("rto_s"),
                rto_target_s=report.get("targets", {}).get("rto_s"),
                rpo_rows_lost=m.get("rows_lost"),
                data_equal=report.get("verification", {}).get("equal"),
                message=report.get("message", ""),
                report=report,
            )
        )
        for step in report.get("steps", []):
            session.add(
                DrillStep(
                    run_id=report["run_id"],
                    seq=step["seq"],
                    stage=step["stage"],
                    task=step["task"][:255],
                    status=step["status"],
                    started_at=_dt(step.get("started_at")),
                    duration_s=step["duration_s"],
                    message=step.get("message", ""),
                )
            )


def runs(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    with store.session() as session:
        rows = session.scalars(select(DrillRun).order_by(DrillRun.started_at.desc()).limit(limit)).all()
        return [
            {
                "run_id": r.id,
                "scenario": r.scenario,
                "status": r.status,
                "passed": r.passed,
                "started_at": r.started_at.isoformat() if r.started_at else None,
                "primary_before": r.primary_before,
                "primary_after": r.primary_after,
                "rto_s": r.rto_s,
                "rto_target_s": r.rto_target_s,
                "rpo_rows_lost": r.rpo_rows_lost,
                "data_equal": r.data_equal,
            }
            for r in rows
        ]


def report(store: Store, run_id: str) -> dict[str, Any] | None:
    with store.session() as session:
        row = session.get(DrillRun, run_id)
        return dict(row.report) if row is not None else None
