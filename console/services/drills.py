"""DR reads: drill history and reports, and the systems the topology shows, within the
viewer's scope: a scoped viewer sees the drills that measured one of its systems (a drill
report lists the systems whose targets it was held to), and only its systems in them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from console.services import ownership
from console.services.viewer import Viewer
from inventory.config import GanyunConfig
from inventory.drill_models import DrillRun
from inventory.store import Store
from playbooks.drill import history as drill_history

# The drill's own checks that the RTO/RPO columns summarise (playbooks/drill/engine.py::_checks).
_RTO_RPO_CHECKS = ("rto", "rpo_rows", "rpo_s")


def _own_systems(store: Store, viewer: Viewer) -> set[str] | None:
    with store.session() as session:
        return ownership.systems(session, viewer)


def _measured(report: dict[str, Any], systems: set[str] | None) -> bool:
    return systems is None or any(s.get("name") in systems for s in report.get("systems") or ())


def history(store: Store, viewer: Viewer, limit: int = 200) -> list[dict[str, Any]]:
    """Recorded drills judged by what each recorded, newest first."""
    systems = _own_systems(store, viewer)
    with store.session() as session:
        runs = session.scalars(select(DrillRun).order_by(DrillRun.started_at.desc()).limit(limit)).all()
        return [_history_row(run) for run in runs if _measured(run.report or {}, systems)]


def _history_row(run: DrillRun) -> dict[str, Any]:
    """One drill judged by what it recorded, not by today's config: targets may have changed since.

    Same-city drills allow no acknowledged row lost (rpo_rows); a remote failover may lose rows
    and is held to its data-loss window in seconds instead (rpo_s), so the RPO unit follows
    whichever target the drill was run with.
    """
    report = run.report or {}
    targets = report.get("targets") or {}
    if targets.get("rpo_rows") is not None:
        rpo_unit, rpo, rpo_target = "rows", run.rpo_rows_lost, targets["rpo_rows"]
    elif targets.get("rpo_s") is not None:
        rpo_unit, rpo, rpo_target = "s", (report.get("measurements") or {}).get("data_loss_window_s"), targets["rpo_s"]
    else:
        rpo_unit, rpo, rpo_target = "", None, None
    judged_checks = [c for c in report.get("checks") or [] if c.get("name") in _RTO_RPO_CHECKS]
    names = {c["name"] for c in judged_checks}
    # Only a drill that reached the fault has both an RTO and an RPO check; for the others
    # (refused, interrupted before the fault) "met" would be a verdict on half the question.
    met = all(c.get("met") for c in judged_checks) if "rto" in names and len(names) > 1 else None
    return {
        "id": run.id,
        "scenario": run.scenario,
        "started_at": run.started_at.isoformat(timespec="seconds") if run.started_at else None,
        "status": run.status,
        "rto_s": run.rto_s,
        "rto_target_s": run.rto_target_s,
        "rpo_unit": rpo_unit,
        "rpo": rpo,
        "rpo_target": rpo_target,
        "met": met,
    }


def runs(store: Store, viewer: Viewer, limit: int = 50) -> list[dict[str, Any]]:
    """`drill history`: past drills, newest first (playbooks.drill.history.runs)."""
    systems = _own_systems(store, viewer)
    if systems is None:
        return drill_history.runs(store, limit)
    with store.session() as session:
        measured = {run_id for run_id, stored in session.execute(select(DrillRun.id, DrillRun.report))
                    if _measured(stored or {}, systems)}  # fmt: skip
    return [r for r in drill_history.runs(store, limit=len(measured) + limit) if r["run_id"] in measured][:limit]


def report(store: Store, viewer: Viewer, run_id: str) -> dict[str, Any] | None:
    """A stored drill report; a scoped viewer's lists only its systems, and it gets None for a
    drill that measured none of them."""
    systems = _own_systems(store, viewer)
    with store.session() as session:
        row = session.get(DrillRun, run_id)
        stored = dict(row.report) if row is not None else None
    if stored is None or systems is None:
        return stored
    if not _measured(stored, systems):
        return None
    return {**stored, "systems": [s for s in stored.get("systems") or () if s.get("name") in systems]}


def topology_systems(store: Store, viewer: Viewer, config: GanyunConfig) -> dict[str, list[str]]:
    """Configured systems per center, for the topology: a scoped viewer's only."""
    systems = _own_systems(store, viewer)
    out: dict[str, list[str]] = {}
    for system in config.systems:
        if systems is None or system.name in systems:
            out.setdefault(system.center, []).append(system.name)
    return out


__all__ = ["history", "report", "runs", "topology_systems"]
