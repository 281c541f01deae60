"""Migration headroom: can each Xinchuang pool take a selection of legacy nodes now, and
until which forecast date (its own growth plus the wave must stay within capacity)?"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from inventory.capacity.pools import free_units
from inventory.capacity.queries import RESOURCES, XINCHUANG, allocated_clause
from inventory.config import GanyunConfig
from inventory.models import NodeRow
from inventory.query import apply_filters  # the same --where semantics as `inventory list`


def selection_demand(
    session: Session, filters: Mapping[str, str], departments: Sequence[str] | None = None
) -> dict[str, Any]:
    """Resources held by the selected nodes (of `departments`, or of every department); the
    selection is legacy nodes unless a pool is named."""
    wanted = dict(filters)
    wanted.setdefault("pool", "legacy")
    stmt: Any = select(
        func.count(),
        func.coalesce(func.sum(NodeRow.vcpus), 0),
        func.coalesce(func.sum(NodeRow.ram_mb), 0),
        func.coalesce(func.sum(NodeRow.disk_gb), 0),
    ).where(allocated_clause())
    if departments is not None:
        stmt = stmt.where(NodeRow.department.in_(list(departments)))
    row: Any = session.execute(apply_filters(stmt, NodeRow, wanted)).one()
    n, v, r, d = row
    return {"filters": wanted, "nodes": int(n), "vcpus": int(v), "ram_mb": int(r), "disk_gb": int(d)}


def _until(forecast: Mapping[str, Any] | None, demand: Mapping[str, Any]) -> dict[str, Any]:
    """First forecast week where the pool's own growth plus the wave exceeds a resource."""
    if forecast is None:
        return {"status": "no_forecast", "date": None, "earliest": None, "resource": None}
    first: tuple[str, str] | None = None
    earliest: tuple[str, str] | None = None
    usable = False
    for r in RESOURCES:
        res = forecast["resources"][r]
        if not res["points"]:
            continue
        usable = True
        cap = res["capacity"]
        hit = next((p[0] for p in res["points"] if p[1] + demand[r] > cap), None)
        hit_hi = next((p[0] for p in res["points"] if p[3] + demand[r] > cap), None)
        if hit and (first is None or hit < first[0]):
            first = (hit, r)
        if hit_hi and (earliest is None or hit_hi < earliest[0]):
            earliest = (hit_hi, r)
    if not usable:
        return {"status": "insufficient_history", "date": None, "earliest": None, "resource": None}
    return {
        "status": "until" if first else "beyond_horizon",
        "date": first[0] if first else None,
        "earliest": earliest[0] if earliest else None,
        "resource": first[1] if first else None,
    }


def migration_headroom(
    config: GanyunConfig,
    pools: Iterable[Mapping[str, Any]],
    forecasts: Iterable[Mapping[str, Any]],
    demand: Mapping[str, Any],
) -> dict[str, Any]:
    by_pool = {f["pool"]: f for f in forecasts}
    targets = []
    for p in pools:
        if p["pool"] != XINCHUANG:
            continue
        free = p["free"]
        shortfall = {r: round(max(0.0, demand[r] - free[r]), 1) for r in RESOURCES}
        fits = demand["nodes"] > 0 and all(v == 0 for v in shortfall.values()) and not p["stale"]
        after = {r: free[r] - demand[r] for r in RESOURCES}
        targets.append(
            {
                "pool": p["name"],
                "center": p["center"],
                "stale": p["stale"],
                "free": free,
                "fits_now": fits,
                "shortfall": shortfall,
                "free_vm_units_after": free_units(after, config) if fits else 0,
                "until": _until(by_pool.get(p["name"]), demand) if fits else None,
            }
        )
    return {"demand": dict(demand), "targets": targets, "any_fits": any(t["fits_now"] for t in targets)}
