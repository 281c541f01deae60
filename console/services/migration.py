"""Migration reads: assessment, plans, runs and a run's VMs, within the viewer's scope.

A scoped viewer assesses and plans its own nodes only. A migration VM is the viewer's when its
source node is one of the viewer's nodes; once that node is gone from the inventory (removed
after the move), the department the run's plan recorded for it decides. A run is listed when
it holds one of the viewer's VMs, and shows only those.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from console.services import ownership
from console.services.viewer import Viewer
from inventory import planning
from inventory.config import GanyunConfig
from inventory.migration_models import MigrationRun, MigrationVm
from inventory.models import NodeRow
from inventory.store import Store
from playbooks.migration import list_runs, run_status

# Runs read before the scope is applied: a scoped viewer's runs are among the latest of these.
_RUNS_READ = 200


def _filters(viewer: Viewer, filters: Mapping[str, str]) -> dict[str, str]:
    wanted = dict(filters)
    departments = viewer.departments
    if departments is not None and "department" in wanted and wanted["department"] not in departments:
        wanted["department"] = "\x00"  # a department outside the scope matches nothing
    return wanted


def assessment(
    store: Store, viewer: Viewer, config: GanyunConfig, filters: Mapping[str, str], lang: str
) -> list[dict[str, Any]]:
    """Each legacy node's migration strategy and reasons (inventory.planning.assess)."""
    with store.session() as session:
        found = planning.assess(config, session, _filters(viewer, filters), lang=lang, where=_node_scope(viewer))
        return [a.to_dict() for a in found]


def build_plan(
    store: Store,
    viewer: Viewer,
    config: GanyunConfig,
    target: str,
    filters: Mapping[str, str],
    *,
    wave_size: int,
    lang: str,
) -> planning.PlanOutcome:
    """A migration plan for the viewer's nodes (inventory.planning.build_plan)."""
    with store.session() as session:
        return planning.build_plan(
            config, session, target, _filters(viewer, filters), wave_size=wave_size, lang=lang,
            where=_node_scope(viewer),
        )  # fmt: skip


def _node_scope(viewer: Viewer) -> list[Any]:
    clause = ownership.node_clause(viewer)
    return [] if clause is None else [clause]


def _own_vm_keys(store: Store, viewer: Viewer, run_ids: list[int]) -> dict[int, set[str]] | None:
    """Per run, the item keys of the viewer's VMs; None for a city-wide viewer."""
    departments = viewer.departments
    if departments is None:
        return None
    wanted = set(departments)
    with store.session() as session:
        vms = session.execute(
            select(MigrationVm.run_id, MigrationVm.item_key, NodeRow.department)
            .outerjoin(
                NodeRow, (NodeRow.provider == MigrationVm.source_provider) & (NodeRow.id == MigrationVm.source_id)
            )
            .where(MigrationVm.run_id.in_(run_ids))
        ).all()
        planned = _planned_departments(session, {run for run, _key, dept in vms if dept is None})
    own: dict[int, set[str]] = {}
    for run_id, key, department in vms:
        if (department if department is not None else planned.get((run_id, key), "")) in wanted:
            own.setdefault(run_id, set()).add(key)
    return own


def _planned_departments(session: Any, run_ids: set[int]) -> dict[tuple[int, str], str]:
    """(run, item key) -> the department its plan recorded."""
    if not run_ids:
        return {}
    out: dict[tuple[int, str], str] = {}
    for run_id, plan in session.execute(select(MigrationRun.id, MigrationRun.plan).where(MigrationRun.id.in_(run_ids))):
        for item in (plan or {}).get("items") or ():
            out[(run_id, f"{item.get('source_provider')}/{item.get('source_id')}")] = str(item.get("department", ""))
    return out


def runs(store: Store, viewer: Viewer, limit: int = 50) -> list[dict[str, Any]]:
    """The latest runs, newest first; a scoped viewer's summary counts its own VMs."""
    if viewer.departments is None:
        return list_runs(store, limit=limit)
    listed = list_runs(store, limit=_RUNS_READ)
    own = _own_vm_keys(store, viewer, [r["run_id"] for r in listed]) or {}
    out = []
    for run in listed:
        if run["run_id"] in own:
            vms = run_status(store, run["run_id"])["vms"]
            out.append({**run, "summary": _summary([vm for vm in vms if vm["key"] in own[run["run_id"]]])})
    return out[:limit]


def run_detail(store: Store, viewer: Viewer, run_id: int | None = None) -> dict[str, Any]:
    """One run (the latest when not given) with its VMs and their steps; a scoped viewer's
    holds its own VMs only, and a run without any of them is reported as not found."""
    if viewer.departments is None:
        return run_status(store, run_id)
    if run_id is None:
        latest = runs(store, viewer, limit=1)
        if not latest:
            return {"run_id": None, "vms": []}
        run_id = int(latest[0]["run_id"])
    detail = run_status(store, run_id)
    own = (_own_vm_keys(store, viewer, [int(detail["run_id"])]) or {}).get(int(detail["run_id"]), set())
    if not own:
        from providers.errors import ConfigError

        raise ConfigError(f"no migration run {detail['run_id']}")
    vms = [vm for vm in detail["vms"] if vm["key"] in own]
    return {**detail, "vms": vms, "summary": _summary(vms)}


def _summary(vms: list[dict[str, Any]]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for vm in vms:
        by_status[vm["status"]] = by_status.get(vm["status"], 0) + 1
    return {"vms": len(vms), "by_status": by_status}


__all__ = ["assessment", "build_plan", "run_detail", "runs"]
