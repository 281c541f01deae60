"""Capacity figures for planners: physical against allocated, headroom, racks, showback.

Every figure is a GROUP BY in the database (a handful of rows per provider, department or
host reach Python, never the 100,000 nodes). Two node aggregates feed everything: grouped by
(provider, department, system) for pools, centers, pool types, totals, showback and the
Xinchuang share, and grouped by (host, provider) for the per-host figures. Sync stores both
per provider as rollups (inventory/rollups.py), and the report reads those, grouping live
only the nodes of providers without a current rollup; the hosts table is read once for the
pool totals, rack fill and host figures. `build_report` assembles the sections into one
JSON-ready dict that the CLI, the exports and the console page all render.

Allocation follows Nova's placement: a node holds its resources unless it is terminated or
failed before it got a host (an errored node that sits on a host still holds them).
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, and_, case, func, not_, or_, select
from sqlalchemy.orm import Session

from inventory.config import GanyunConfig, ProviderConfig, ResourceRatio
from inventory.models import CapacitySample, HostRow, NodeRow, ProviderStatus
from inventory.xinchuang_compliance import add_compliance
from providers.base import State

if TYPE_CHECKING:
    from inventory.rollups import Coverage

RESOURCES = ("vcpus", "ram_mb", "disk_gb")
# Overcommit ratio field of each resource.
RATIO_FIELD = {"vcpus": "cpu", "ram_mb": "ram", "disk_gb": "disk"}
XINCHUANG = "xinchuang"
LEGACY = "legacy"


def allocated_clause() -> ColumnElement[bool]:
    """Nodes that hold resources on their hypervisor."""
    return and_(
        NodeRow.state != State.TERMINATED.value,
        not_(and_(NodeRow.state == State.ERROR.value, or_(NodeRow.host == "", NodeRow.host.is_(None)))),
    )


def overcommit_for(config: GanyunConfig, provider: str, pool: str) -> ResourceRatio:
    """The most specific policy wins: provider name, then pool name, then "default"."""
    policies = config.capacity.overcommit
    for key in (provider, pool, "default"):
        if key in policies:
            return policies[key]
    return ResourceRatio()


def _zero() -> dict[str, int]:
    return dict.fromkeys(RESOURCES, 0)


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def free_units(free: Mapping[str, float], config: GanyunConfig) -> int:
    """How many standard VMs (capacity.vm_unit) still fit: the scarcest resource decides."""
    unit = config.capacity.vm_unit
    sizes = {"vcpus": unit.vcpus, "ram_mb": unit.ram_mb, "disk_gb": unit.disk_gb}
    return max(0, min(math.floor(max(0.0, free[r]) / sizes[r]) for r in RESOURCES))


# --------------------------------------------------------------------------- providers


def provider_states(session: Session, config: GanyunConfig) -> list[dict[str, Any]]:
    """Every configured provider with its last sync; stale = its numbers are not current."""
    # Only the columns the report shows: the warnings and counts JSON stay in the database.
    stmt = select(
        ProviderStatus.name, ProviderStatus.status, ProviderStatus.stale, ProviderStatus.last_success,
        ProviderStatus.error,
    )  # fmt: skip
    rows = {name: (status, stale, last, error) for name, status, stale, last, error in session.execute(stmt)}
    out = []
    for pc in config.providers:
        row = rows.get(pc.name)
        status = row[0] if row else "never"
        last_success = row[2] if row else None
        out.append(
            {
                "provider": pc.name,
                "center": pc.center,
                "pool": pc.pool,
                "status": status,
                # Failed (with or without old data) or never synced: the figures are not current.
                "stale": bool(row and row[1]) or status in ("failed", "never"),
                "last_success": last_success.isoformat(timespec="seconds") if last_success else None,
                "error": (row[3] if row else "")[:300],
            }
        )
    return out


# --------------------------------------------------------------------------- pools


# One hypervisor as the host sections read it: (provider, name, rack, vcpus, ram_mb, disk_gb,
# vcpus_used, ram_mb_used, disk_gb_used, power_kw).
HostTuple = tuple[str, str, str, int, int, int, int, int, int, float | None]


def host_rows(session: Session) -> list[HostTuple]:
    """Every hypervisor, the columns the host sections need and nothing else.

    Hosts are a few thousand rows even on the large lab: one plain read feeds the per-pool
    physical totals, the rack fill and the per-host figures, where three GROUP BY queries
    over the same table each paid for their own scan and sort.
    """
    stmt = select(
        HostRow.provider, HostRow.name, HostRow.rack, HostRow.vcpus, HostRow.ram_mb, HostRow.disk_gb,
        HostRow.vcpus_used, HostRow.ram_mb_used, HostRow.disk_gb_used, HostRow.power_kw,
    )  # fmt: skip
    # Core execution: the ORM's per-row result processing is pure overhead for plain tuples.
    return [
        (p, n, rack, v, r, d, vu, ru, du, kw)
        for p, n, rack, v, r, d, vu, ru, du, kw in session.connection().execute(stmt)
    ]


def host_totals(hosts: Iterable[HostTuple]) -> dict[str, dict[str, int]]:
    """Per provider: host count, physical resources and what the hypervisors report as used."""
    fields = ("hosts", "vcpus", "ram_mb", "disk_gb", "vcpus_used", "ram_mb_used", "disk_gb_used")
    sums: dict[str, list[int]] = {}
    for provider, _name, _rack, v, r, d, vu, ru, du, _kw in hosts:
        t = sums.get(provider)
        if t is None:
            t = sums[provider] = [0] * len(fields)
        t[0] += 1
        t[1] += v
        t[2] += r
        t[3] += d
        t[4] += vu
        t[5] += ru
        t[6] += du
    return {provider: dict(zip(fields, t, strict=True)) for provider, t in sums.items()}


# The node GROUP BYs below do not lead with `provider`, on purpose. SQLite satisfies a GROUP
# BY whose first column starts an index by walking that index; for `provider` that is the
# primary key (provider, id), which costs a random table lookup for each of the 100,000 nodes
# and still leaves a sort on the other columns. Led by another column, SQLite scans the table
# (or a narrower index) and sorts once, about 1.5-2x faster per query on the large lab. The
# groups are the same whatever the order, and PostgreSQL hashes them either way.


AllocationRow = tuple[str, str, str, int, int, int, int]


def allocation_rows(session: Session, providers: Sequence[str] | None = None) -> list[AllocationRow]:
    """(provider, department, system, nodes, vcpus, ram_mb, disk_gb): the one node aggregate,
    over every provider's nodes or only those of `providers`."""
    stmt = (
        select(
            NodeRow.provider,
            NodeRow.department,
            NodeRow.system,
            func.count(),
            func.coalesce(func.sum(NodeRow.vcpus), 0),
            func.coalesce(func.sum(NodeRow.ram_mb), 0),
            func.coalesce(func.sum(NodeRow.disk_gb), 0),
        )
        .where(allocated_clause())
        # `provider` last: see the note above.
        .group_by(NodeRow.system, NodeRow.department, NodeRow.provider)
    )
    if providers is not None:
        stmt = stmt.where(NodeRow.provider.in_(providers))
    rows = session.connection().execute(stmt)
    return [(p, d or "", s or "", int(n), int(v), int(r), int(k)) for p, d, s, n, v, r, k in rows]


def pool_figures(
    config: GanyunConfig,
    hosts: Mapping[str, Mapping[str, int]],
    allocation: Iterable[AllocationRow],
    states: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """One entry per provider (a cloud is a pool of one type, legacy or xinchuang)."""
    allocated: dict[str, dict[str, int]] = defaultdict(lambda: {"nodes": 0, **_zero()})
    for provider, _dept, _system, n, v, r, d in allocation:
        a = allocated[provider]
        a["nodes"] += n
        a["vcpus"] += v
        a["ram_mb"] += r
        a["disk_gb"] += d
    return [_pool_entry(config, pc, hosts.get(pc.name, {}), allocated[pc.name], states.get(pc.name, {}))
            for pc in config.providers]  # fmt: skip


def _pool_entry(
    config: GanyunConfig,
    pc: ProviderConfig,
    host: Mapping[str, int],
    alloc: Mapping[str, int],
    state: Mapping[str, Any],
) -> dict[str, Any]:
    ratio = overcommit_for(config, pc.name, pc.pool)
    physical = {r: int(host.get(r, 0)) for r in RESOURCES}
    capacity = {r: round(physical[r] * getattr(ratio, RATIO_FIELD[r]), 1) for r in RESOURCES}
    allocated = {r: int(alloc.get(r, 0)) for r in RESOURCES}
    free = {r: round(capacity[r] - allocated[r], 1) for r in RESOURCES}
    used_pct = {r: _pct(allocated[r], capacity[r]) for r in RESOURCES}
    # The resource closest to full limits what still fits.
    binding = max(RESOURCES, key=lambda r: (used_pct[r] or 0.0) if capacity[r] else -1.0)
    return {
        "name": pc.name,
        "center": pc.center,
        "pool": pc.pool,
        "status": state.get("status", "never"),
        "stale": bool(state.get("stale", True)),
        "hosts": int(host.get("hosts", 0)),
        "nodes": int(alloc.get("nodes", 0)),
        "overcommit": {"cpu": ratio.cpu, "ram": ratio.ram, "disk": ratio.disk},
        "physical": physical,
        "capacity": capacity,
        "allocated": allocated,
        "free": free,
        "used_pct": used_pct,
        "free_vm_units": free_units(free, config) if physical["vcpus"] else 0,
        "binding": binding,
        # What the hypervisors themselves report as used: a cross-check of `allocated`.
        "hypervisor_used": {r: int(host.get(f"{r}_used", 0)) for r in RESOURCES},
    }


def rollup(pools: Iterable[Mapping[str, Any]], key: str, config: GanyunConfig) -> list[dict[str, Any]]:
    """Pools summed by `center` or `pool`; free units recomputed from the summed free figures."""
    groups: dict[str, dict[str, Any]] = {}
    for p in pools:
        g = groups.setdefault(
            str(p[key]),
            {key: p[key], "providers": 0, "hosts": 0, "nodes": 0,
             **{s: _zero() for s in ("physical", "allocated")}, "capacity": dict.fromkeys(RESOURCES, 0.0)},
        )  # fmt: skip
        g["providers"] += 1
        g["hosts"] += p["hosts"]
        g["nodes"] += p["nodes"]
        for section in ("physical", "capacity", "allocated"):
            for r in RESOURCES:
                g[section][r] += p[section][r]
    for g in groups.values():
        g["capacity"] = {r: round(v, 1) for r, v in g["capacity"].items()}
        g["free"] = {r: round(g["capacity"][r] - g["allocated"][r], 1) for r in RESOURCES}
        g["used_pct"] = {r: _pct(g["allocated"][r], g["capacity"][r]) for r in RESOURCES}
        g["free_vm_units"] = free_units(g["free"], config)
    return [groups[k] for k in sorted(groups)]


# --------------------------------------------------------------------------- hosts and racks


def host_usage_query(providers: Sequence[str] | None = None) -> Select[str, str, int, int, int]:
    """(host, provider, nodes, vcpus, ram_mb) per host, over the allocated nodes (of `providers`)."""
    stmt = (
        select(NodeRow.host, NodeRow.provider, func.count(), func.sum(NodeRow.vcpus), func.sum(NodeRow.ram_mb))
        .where(allocated_clause())
        # `host` first, as in ix_nodes_host_usage (migration 0010), which covers this query: SQLite
        # walks that index in group order, with no sort and no table access.
        .group_by(NodeRow.host, NodeRow.provider)
    )
    return stmt if providers is None else stmt.where(NodeRow.provider.in_(providers))


HostUsage = dict[tuple[str, str], tuple[int, int, int]]


def host_usage(session: Session, providers: Sequence[str] | None = None) -> HostUsage:
    """(provider, host) -> (nodes, vcpus, ram_mb) that the host's allocated nodes hold."""
    # Every group has a node, so the sums are never NULL; the columns are integers.
    rows = session.connection().execute(host_usage_query(providers))
    return {(p, h): (n, v, r) for h, p, n, v, r in rows}


def hosts_section(
    config: GanyunConfig,
    hosts: Iterable[HostTuple],
    usage: Mapping[tuple[str, str], tuple[int, int, int]],
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The per-host figures from `host_rows` and `host_usage`, fullest first."""
    pools = {pc.name: pc for pc in config.providers}
    ratios: dict[str, tuple[float, float]] = {}
    unused = (0, 0, 0)
    # Score every host, but build the report entry only for those that make the cut (500 of
    # ~4,700 hosts on the large lab). The index breaks ties in reading order, as the stable
    # sort over all entries did.
    scored: list[tuple[float, int, float | None, float | None, int, int, int]] = []
    rows = hosts if isinstance(hosts, list) else list(hosts)
    for i, h in enumerate(rows):
        provider = h[0]
        ratio = ratios.get(provider)
        if ratio is None:
            pc = pools.get(provider)
            policy = overcommit_for(config, provider, pc.pool if pc else LEGACY)
            ratio = ratios[provider] = (policy.cpu, policy.ram)
        nodes, v_used, r_used = usage.get((provider, h[1]), unused)
        cpu_pct = _pct(v_used, h[3] * ratio[0])
        ram_pct = _pct(r_used, h[4] * ratio[1])
        scored.append((-max(cpu_pct or 0.0, ram_pct or 0.0), i, cpu_pct, ram_pct, nodes, v_used, r_used))
    # nsmallest equals sorted()[:limit] here (the index makes every key unique), without the full sort.
    top = heapq.nsmallest(limit, scored) if limit and limit > 0 else sorted(scored)[: limit or None]
    out = []
    for _score, i, cpu_pct, ram_pct, nodes, v_used, r_used in top:
        provider, name, rack, vcpus, ram, disk, *_rest = rows[i]
        pc = pools.get(provider)
        out.append(
            {
                "provider": provider,
                "host": name,
                "center": pc.center if pc else "",
                "pool": pc.pool if pc else "",
                "rack": rack or "",
                "physical": {"vcpus": vcpus, "ram_mb": ram, "disk_gb": disk},
                "nodes": nodes,
                "allocated": {"vcpus": v_used, "ram_mb": r_used},
                "used_pct": {"vcpus": cpu_pct, "ram_mb": ram_pct},
            }
        )
    return out


def racks_section(config: GanyunConfig, hosts: Iterable[HostTuple]) -> list[dict[str, Any]]:
    """Rack fill from `host_rows`."""
    design = config.capacity.rack
    centers = {pc.name: pc.center for pc in config.providers}
    # (provider, rack) -> [hosts, measured kW, hosts with a measured kW]
    per_rack: dict[tuple[str, str], list[Any]] = {}
    for provider, _name, rack_label, *_sizes, power in hosts:
        g = per_rack.get((provider, rack_label))
        if g is None:
            g = per_rack[(provider, rack_label)] = [0, None, 0]
        g[0] += 1
        if power is not None:
            # As SQL's SUM: NULL until the first measured host, then a running float sum.
            g[1] = power if g[1] is None else g[1] + power
            g[2] += 1
    racks: dict[tuple[str, str], dict[str, Any]] = {}
    # In (provider, rack) order, as the GROUP BY returned them: it fixes each rack's providers list.
    for (provider, rack), (n, kw, with_kw) in sorted(per_rack.items()):
        center = centers.get(provider, "")
        # Rack labels are per data center; hosts without one are grouped as "(unracked)".
        key = (center, rack or "")
        r = racks.setdefault(key, {"center": center, "rack": rack or "", "providers": [], "hosts": 0, "kw": 0.0})
        r["providers"].append(provider)
        r["hosts"] += int(n)
        measured = float(kw or 0.0)
        estimated = (int(n) - int(with_kw)) * (design.kw_per_host or 0.0)
        r["kw"] += measured + estimated
    out = []
    for (_center, rack), r in sorted(racks.items()):
        kw = round(r["kw"], 2) if (design.kw_per_host or r["kw"]) else None
        out.append(
            {
                **r,
                "kw": kw,
                "design_hosts": design.hosts_per_rack,
                "fill_pct": _pct(r["hosts"], design.hosts_per_rack),
                "design_kw": design.kw_per_rack,
                "kw_fill_pct": _pct(kw, design.kw_per_rack) if kw is not None and design.kw_per_rack else None,
                "free_slots": max(0, design.hosts_per_rack - r["hosts"]) if rack else None,
            }
        )
    return out


def rack_summary(racks: list[dict[str, Any]], config: GanyunConfig) -> dict[str, Any]:
    racked = [r for r in racks if r["rack"]]
    hosts = sum(r["hosts"] for r in racked)
    slots = len(racked) * config.capacity.rack.hosts_per_rack
    return {
        "racks": len(racked),
        "hosts": hosts,
        "unracked_hosts": sum(r["hosts"] for r in racks if not r["rack"]),
        "design_slots": slots,
        "fill_pct": _pct(hosts, slots),
        "free_slots": max(0, slots - hosts),
    }


# --------------------------------------------------------------------------- showback and Xinchuang


def showback(config: GanyunConfig, allocation: Iterable[AllocationRow], by: str) -> list[dict[str, Any]]:
    """Allocated resources per department or per system, with the share on the Xinchuang pool."""
    xc_providers = {pc.name for pc in config.providers if pc.pool == XINCHUANG}
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for provider, dept, system, n, v, r, d in allocation:
        key = (dept,) if by == "department" else (dept, system)
        g = groups.get(key)
        if g is None:
            # Built only for a new group: setdefault would build (and drop) one per row.
            g = groups[key] = {
                "department": dept, **({"system": system} if by == "system" else {}), "nodes": 0, **_zero(),
                "xc_nodes": 0, "xc_vcpus": 0, "providers": set(),
            }  # fmt: skip
        g["nodes"] += n
        g["vcpus"] += v
        g["ram_mb"] += r
        g["disk_gb"] += d
        g["providers"].add(provider)
        if provider in xc_providers:
            g["xc_nodes"] += n
            g["xc_vcpus"] += v
    out = []
    for g in groups.values():
        g["providers"] = sorted(g["providers"])
        g["xc_share"] = round(g["xc_vcpus"] / g["vcpus"], 4) if g["vcpus"] else 0.0
        g["xc_node_share"] = round(g["xc_nodes"] / g["nodes"], 4) if g["nodes"] else 0.0
        out.append(g)
    out.sort(key=lambda g: (-g["vcpus"], g["department"], g.get("system", "")))
    return out


def _share(xc: float, total: float) -> float:
    return round(xc / total, 4) if total else 0.0


def xinchuang_progress(
    config: GanyunConfig,
    allocation: Iterable[AllocationRow],
    trend: Iterable[TrendGroup] | None,
    departments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """国产化率: share of allocated vCPU (and of nodes) on Xinchuang pools, now and over time
    (`trend`: the groups of `trend_groups`, or None for no trend).

    `departments` is `showback(config, allocation, "department")` when the caller has it
    already (it is only read here)."""
    pc_of = {pc.name: pc for pc in config.providers}
    total = {"vcpus": 0, "nodes": 0, "xc_vcpus": 0, "xc_nodes": 0}
    by_center: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(total, 0))
    for provider, _dept, _system, n, v, _r, _d in allocation:
        pc = pc_of.get(provider)
        center = pc.center if pc else ""
        for bucket in (total, by_center[center]):
            bucket["vcpus"] += v
            bucket["nodes"] += n
            if pc is not None and pc.pool == XINCHUANG:
                bucket["xc_vcpus"] += v
                bucket["xc_nodes"] += n
    if departments is None:
        departments = showback(config, allocation, "department")
    return {
        "share": _share(total["xc_vcpus"], total["vcpus"]),
        "node_share": _share(total["xc_nodes"], total["nodes"]),
        **total,
        "by_center": [
            {"center": c, **b, "share": _share(b["xc_vcpus"], b["vcpus"]),
             "node_share": _share(b["xc_nodes"], b["nodes"])}
            for c, b in sorted(by_center.items())
        ],
        "by_department": [
            {"department": d["department"], "vcpus": d["vcpus"], "xc_vcpus": d["xc_vcpus"], "share": d["xc_share"],
             "nodes": d["nodes"], "xc_nodes": d["xc_nodes"], "node_share": d["xc_node_share"]}
            for d in departments
        ],
        "trend": xinchuang_trend(trend) if trend is not None else {"overall": [], "by_center": {}, "by_department": {}},
    }  # fmt: skip


@dataclass(frozen=True)
class DayWindow:
    """Some days of capacity_samples: their date() values, as the database computes and types
    them (text in SQLite, DATE in PostgreSQL), and the first and last instant sampled on them
    (an index range around those days)."""

    days: tuple[Any, ...]
    first: datetime
    last: datetime


def latest_samples_per_day(session: Session, window: DayWindow | None = None) -> Any:
    """(provider, day, at) of the last sample of each provider on each day (of `window`): several
    syncs a day must count once, and a day's figure is what the provider held at its end."""
    # A sync writes one sample per department at the same instant: reduce to the distinct
    # (provider, at) first (a walk of the (provider, at) index) so that date() is computed
    # once per sync rather than once per department row.
    instants_stmt = select(CapacitySample.provider, CapacitySample.at).distinct()
    if window is not None:
        # A day's samples lie within a day of the window's instants whatever the zone the
        # database's date() uses; date() itself then picks the days exactly.
        margin = timedelta(days=1)
        instants_stmt = instants_stmt.where(
            CapacitySample.at.between(window.first - margin, window.last + margin),
            func.date(CapacitySample.at).in_(window.days),
        )
    instants = instants_stmt.subquery()
    day = func.date(instants.c.at)
    return (
        select(instants.c.provider.label("provider"), day.label("day"), func.max(instants.c.at).label("at"))
        .group_by(instants.c.provider, day)
        .subquery()
    )


# (day, center, department, vcpus, xc_vcpus, nodes, xc_nodes): one group of the Xinchuang trend.
TrendGroup = tuple[str, str, str, int, int, int, int]


def trend_groups(session: Session, window: DayWindow | None = None) -> list[TrendGroup]:
    """The Xinchuang trend's groups from capacity_samples (on the days of `window`)."""
    last = latest_samples_per_day(session, window)
    # The joined sample's day is the subquery's: no second date() per sample row.
    day = last.c.day
    xc = CapacitySample.pool == XINCHUANG
    stmt = (
        select(day, CapacitySample.center, CapacitySample.department,
               func.sum(CapacitySample.vcpus), func.sum(case((xc, CapacitySample.vcpus), else_=0)),
               func.sum(CapacitySample.nodes), func.sum(case((xc, CapacitySample.nodes), else_=0)))
        .join(last, and_(last.c.provider == CapacitySample.provider, last.c.at == CapacitySample.at))
        .group_by(day, CapacitySample.center, CapacitySample.department)
    )  # fmt: skip
    return [
        (str(d), center or "", dept or "", int(vcpus or 0), int(xc_vcpus or 0), int(nodes or 0), int(xc_nodes or 0))
        for d, center, dept, vcpus, xc_vcpus, nodes, xc_nodes in session.connection().execute(stmt)
    ]


# (provider, day, at, vcpus, ram_mb, disk_gb): a provider's allocation at its last sample of a day.
ProviderDayRow = tuple[str, str, datetime, int, int, int]


def provider_day_rows(session: Session, window: DayWindow | None = None) -> list[ProviderDayRow]:
    """Each provider's allocation at its last sample of each day (of `window`): the forecasts' input."""
    last = latest_samples_per_day(session, window)
    stmt = (
        select(CapacitySample.provider, last.c.day, CapacitySample.at, func.sum(CapacitySample.vcpus),
               func.sum(CapacitySample.ram_mb), func.sum(CapacitySample.disk_gb))
        .join(last, and_(last.c.provider == CapacitySample.provider, last.c.at == CapacitySample.at))
        .group_by(CapacitySample.provider, CapacitySample.at, last.c.day)
    )  # fmt: skip
    return [
        (provider, str(day), at, int(v or 0), int(r or 0), int(d or 0))
        for provider, day, at, v, r, d in session.connection().execute(stmt)
    ]


def xinchuang_trend(groups: Iterable[TrendGroup]) -> dict[str, Any]:
    """Daily share overall, per center and per department, from `trend_groups`."""
    overall: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    centers: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    depts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for key, center, dept, v, xv, nodes, xc_nodes in groups:
        o = overall[key]
        o[0] += v
        o[1] += nodes
        o[2] += xv
        o[3] += xc_nodes
        cell = centers[center][key]
        cell[0] += v
        cell[1] += xv
        cell = depts[dept][key]
        cell[0] += v
        cell[1] += xv
    return {
        "overall": [
            {"day": k, "vcpus": o[0], "xc_vcpus": o[2], "share": _share(o[2], o[0]), "node_share": _share(o[3], o[1])}
            for k, o in sorted(overall.items())
        ],
        "by_center": _share_series(centers),
        "by_department": _share_series(depts),
    }


def _share_series(table: Mapping[str, Mapping[str, list[int]]]) -> dict[str, list[list[Any]]]:
    """{name: [[day, share], ...]} from {name: {day: [vcpus, xc_vcpus]}}."""
    return {name: [[k, _share(x, v)] for k, (v, x) in sorted(days.items())] for name, days in sorted(table.items())}


# --------------------------------------------------------------------------- the report


def stale_section(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in states if s["stale"]]


def aggregate(
    session: Session,
    config: GanyunConfig,
    host_limit: int | None = 500,
    trend: bool = True,
    coverage: Coverage | None = None,
) -> dict[str, Any]:
    """Everything that is a plain aggregate of the inventory (no forecast); `trend` adds the
    Xinchuang share over time from capacity_samples.

    Node figures come from the providers' rollups where current (inventory/rollups.py), else
    from two passes over nodes; hosts are read once; every section is built from those."""
    from inventory import rollups, sample_rollups

    states = provider_states(session, config)
    by_name = {s["provider"]: s for s in states}
    covered = coverage or rollups.coverage(session)
    allocation = covered.allocation(session)
    hosts = host_rows(session)
    pools = pool_figures(config, host_totals(hosts), allocation, by_name)
    racks = racks_section(config, hosts)
    departments = showback(config, allocation, "department")
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
        "departments": departments,
        "systems": showback(config, allocation, "system"),
        "xinchuang": add_compliance(
            xinchuang_progress(config, allocation, sample_rollups.trend(session) if trend else None, departments),
            session,
            config,
            allocated_clause(),
        ),
    }


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
) -> dict[str, Any]:
    """The whole capacity report as a JSON-ready dict."""
    from inventory import forecast as fc
    from inventory import headroom as hr
    from inventory import rightsizing as rs
    from inventory import rollups
    from inventory.forecast_fits import FitMemo
    from inventory.history import ensure_history

    if import_history:
        ensure_history(config, store)
    moment = now or datetime.now(UTC)
    with store.session() as session:
        covered = rollups.coverage(session)
        report = aggregate(session, config, coverage=covered)
        fits = FitMemo.load(session, [p["name"] for p in report["pools"]], method, horizon_weeks, fc.DEFAULT_LEVEL)
        forecasts = (
            fc.forecast_pools(session, report["pools"], moment, horizon_weeks, method=method, fits=fits)
            if forecast
            else []
        )
        report["rightsizing"] = rs.rightsizing(session, config, rightsizing_level, coverage=covered)
        if headroom_filters is not None:
            demand = hr.selection_demand(session, headroom_filters)
            report["headroom"] = hr.migration_headroom(config, report["pools"], forecasts, demand)
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
    return report
