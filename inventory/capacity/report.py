"""The capacity report: every section assembled into one JSON-ready dict that the CLI, the
exports and the console render.

Two node aggregates feed everything: grouped by (provider, department, system) for pools,
centers, pool types, totals, showback and the Xinchuang share, and grouped by (host, provider)
for the per-host figures. Sync stores both per provider as rollups (provider_rollups.py), and
the report reads those, grouping live only the nodes of providers without a current rollup;
the hosts table is read once for the pool totals, rack fill and host figures.

A report for some departments (`departments`, from the service layer's scope) keeps the shared
pools, centers, racks and forecasts as totals, and builds everything that names a department,
a system or a node (showback, the Xinchuang share and its trend, hosts, rightsizing, migration
headroom) from those departments' nodes only. A section added here that names departments
must be built from `own`, not from `allocation`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from inventory.capacity import daily_rollups, headroom, provider_rollups
from inventory.capacity import forecast as fc
from inventory.capacity import rightsizing as rs
from inventory.capacity.forecast_fits import FitMemo
from inventory.capacity.history import ensure_history
from inventory.capacity.pools import host_totals, hosts_section, pool_figures, rack_summary, racks_section, rollup
from inventory.capacity.provider_rollups import Coverage
from inventory.capacity.queries import allocated_clause, host_rows, hosts_holding, provider_states
from inventory.capacity.showback import showback, xinchuang_progress
from inventory.capacity.xinchuang_compliance import add_compliance
from inventory.config import GanyunConfig


def stale_section(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in states if s["stale"]]


def aggregate(
    session: Session,
    config: GanyunConfig,
    host_limit: int | None = 500,
    trend: bool = True,
    coverage: Coverage | None = None,
    departments: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Everything that is a plain aggregate of the inventory (no forecast); `trend` adds the
    Xinchuang share over time from capacity_samples; `departments` (None: the whole city)
    restricts every section that names a department, system or host to theirs.

    Node figures come from the providers' rollups where current (provider_rollups.py), else
    from two passes over nodes; hosts are read once; every section is built from those."""
    states = provider_states(session, config)
    by_name = {s["provider"]: s for s in states}
    covered = coverage or provider_rollups.coverage(session)
    allocation = covered.allocation(session)
    hosts = host_rows(session)
    pools = pool_figures(config, host_totals(hosts), allocation, by_name)
    racks = racks_section(config, hosts)
    own = allocation
    if departments is not None:
        wanted = set(departments)
        own = [row for row in allocation if row[1] in wanted]
        holding = hosts_holding(session, departments)
        hosts = [h for h in hosts if (h[0], h[1]) in holding]
    department_rows = showback(config, own, "department")
    return {
        "providers": states,
        "stale": stale_section(states),
        "pools": pools,
        "pool_types": rollup(pools, "pool", config),
        "centers": rollup(pools, "center", config),
        "totals": rollup([{**p, "all": "all"} for p in pools], "all", config)[0] if pools else {},
        "hosts": hosts_section(config, hosts, covered.host_usage(session), host_limit),
        "racks": racks,
        "rack_summary": rack_summary(racks, config),
        "departments": department_rows,
        "systems": showback(config, own, "system"),
        "xinchuang": add_compliance(
            xinchuang_progress(
                config, own, daily_rollups.trend(session, departments) if trend else None, department_rows
            ),
            session,
            config,
            allocated_clause(),
            departments,
        ),
    }


def rightsizing(
    session: Session,
    config: GanyunConfig,
    level: str = "moderate",
    top: int = rs.TOP,
    coverage: Coverage | None = None,
    departments: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Counts per level, reclaimable resources, idle nodes and the largest suggestions.

    Providers with a current rollup are read from it; the rest are measured here. `coverage`
    is the report's, when it has one already. Some departments' nodes are always measured
    live: a rollup holds each provider's best suggestions whatever their department.
    """
    rs.check_level(level)
    if top > rs.TOP or departments is not None:
        # Rollups keep each provider's best TOP: a longer list is measured whole.
        return rs.combine([rs.measure(session, None, [level], top, departments)], level, top)
    coverage = coverage or provider_rollups.coverage(session)
    measurements = [payload["rightsizing"] for payload in coverage.payloads.values()]
    if coverage.live:
        measurements.append(rs.measure(session, coverage.missing, [level], top))
    return rs.combine(measurements, level, top)


def build_report(
    config: GanyunConfig,
    store: Any,
    *,
    now: datetime | None = None,
    forecast: bool = True,
    horizon_weeks: int = 104,
    headroom_filters: Mapping[str, str] | None = None,
    rightsizing_level: str = "moderate",
    import_history: bool = True,
    method: str = "ets",
    departments: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The whole capacity report as a JSON-ready dict; `departments` as for `aggregate`."""
    if import_history:
        ensure_history(config, store)
    moment = now or datetime.now(UTC)
    with store.session() as session:
        covered = provider_rollups.coverage(session)
        report = aggregate(session, config, coverage=covered, departments=departments)
        fits = FitMemo.load(session, [p["name"] for p in report["pools"]], method, horizon_weeks, fc.DEFAULT_LEVEL)
        forecasts = (
            fc.forecast_pools(session, report["pools"], moment, horizon_weeks, method=method, fits=fits)
            if forecast
            else []
        )
        report["rightsizing"] = rightsizing(
            session, config, rightsizing_level, coverage=covered, departments=departments
        )
        if headroom_filters is not None:
            demand = headroom.selection_demand(session, headroom_filters, departments)
            report["headroom"] = headroom.migration_headroom(config, report["pools"], forecasts, demand)
    fits.save(store)
    report["forecast"] = forecasts
    report["generated_at"] = moment.isoformat(timespec="seconds")
    report["policy"] = {
        "overcommit": {k: v.model_dump() for k, v in config.capacity.overcommit.items()},
        "vm_unit": config.capacity.vm_unit.model_dump(),
        "rack": config.capacity.rack.model_dump(),
    }
    report["warnings"] = [
        f"{s['provider']}: {s['status']}, figures from {s['last_success'] or 'no successful sync'}"
        for s in report["stale"]
    ]
    if departments is not None:
        report["scope"] = {"city": False, "departments": sorted(departments)}
    return report
