"""Showback and Xinchuang progress (国产化率): allocation per department and system, and the
share of it on Xinchuang pools, now and over time. Pure functions over the rows of queries.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from inventory.capacity.queries import RESOURCES, XINCHUANG, AllocationRow, TrendGroup
from inventory.config import GanyunConfig


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
                "department": dept, **({"system": system} if by == "system" else {}), "nodes": 0,
                **dict.fromkeys(RESOURCES, 0), "xc_nodes": 0, "xc_vcpus": 0, "providers": set(),
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
