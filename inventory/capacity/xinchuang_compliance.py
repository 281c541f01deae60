"""国产化率 as the policy counts it: a workload is 信创-compliant when the CPU it runs on is
domestic and its operating system is domestic, as collected from the clouds, whichever pool it
sits in. A CentOS VM on Kunpeng counts for the pool share, not for this one; a Kylin VM on a
Hygon host of a legacy VMware cluster counts here, not in the pool share.

What is domestic is data of the providers' mapping tables: the vendors cpu_models.yaml marks
`domestic: true`, and mapping.DOMESTIC_OS_FAMILIES.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, select
from sqlalchemy.orm import Session

from inventory.config import GanyunConfig
from inventory.models import NodeRow
from providers import mapping

XINCHUANG = "xinchuang"
LISTED = 500  # non-compliant workloads in domestic pools listed one by one (all are counted)


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def why_not(cpu_vendor: str, os_family: str) -> list[str]:
    """Why a workload is not compliant: foreign_cpu, unknown_cpu, foreign_os, unknown_os; [] when it is."""
    reasons = []
    if cpu_vendor not in mapping.domestic_cpu_vendors():
        reasons.append("foreign_cpu" if cpu_vendor else "unknown_cpu")
    if os_family not in mapping.DOMESTIC_OS_FAMILIES:
        reasons.append("foreign_os" if os_family else "unknown_os")
    return reasons


def _compliant_clause() -> ColumnElement[bool]:
    return and_(
        NodeRow.cpu_vendor.in_(sorted(mapping.domestic_cpu_vendors())),
        NodeRow.os_family.in_(sorted(mapping.DOMESTIC_OS_FAMILIES)),
    )


def add_compliance(
    section: dict[str, Any],
    session: Session,
    config: GanyunConfig,
    allocated: ColumnElement[bool],
    departments: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The capacity report's `xinchuang` section with the compliant share beside the pool share:
    overall, per department (in `by_department`), and the non-compliant workloads of the
    Xinchuang pools. `allocated` selects the nodes the pool share counts; `departments` (None:
    the whole city) keeps a scoped report to those departments' workloads."""
    domestic_pool = sorted(pc.name for pc in config.providers if pc.pool == XINCHUANG)
    if departments is not None:
        allocated = and_(allocated, NodeRow.department.in_(list(departments)))
    compliant = _compliant_clause()
    # `provider` last in the GROUP BY: see inventory/capacity/queries.py on SQLite's index walk.
    rows = session.execute(
        select(
            NodeRow.department,
            NodeRow.provider,
            compliant.label("ok"),
            func.count(),
            func.coalesce(func.sum(NodeRow.vcpus), 0),
        )
        .where(allocated)
        .group_by(NodeRow.department, compliant, NodeRow.provider)
    )
    totals: dict[str, int] = defaultdict(int)
    per_department: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for department, provider, ok, nodes, vcpus in rows:
        in_pool = provider in domestic_pool
        for bucket in (totals, per_department[department or ""]):
            if ok:
                bucket["compliant_nodes"] += int(nodes)
                bucket["compliant_vcpus"] += int(vcpus)
            elif in_pool:
                bucket["noncompliant_pool_nodes"] += int(nodes)
                bucket["noncompliant_pool_vcpus"] += int(vcpus)
    for group in section.get("by_department", []):
        mine = per_department.get(group["department"] or "", {})
        group.update(_figures(mine, group["vcpus"], group["nodes"]))
    section.update(_figures(totals, section.get("vcpus", 0), section.get("nodes", 0)))
    section["policy"] = {
        "cpu_vendors": sorted(mapping.domestic_cpu_vendors()),
        "os_families": sorted(mapping.DOMESTIC_OS_FAMILIES),
    }
    section["noncompliant_in_pool"] = {
        "nodes": totals.get("noncompliant_pool_nodes", 0),
        "vcpus": totals.get("noncompliant_pool_vcpus", 0),
        "listed": _noncompliant(session, domestic_pool, allocated, compliant),
    }
    return section


def _figures(counts: Mapping[str, int], vcpus: int, nodes: int) -> dict[str, Any]:
    return {
        "compliant_vcpus": counts.get("compliant_vcpus", 0),
        "compliant_nodes": counts.get("compliant_nodes", 0),
        "compliant_share": _share(counts.get("compliant_vcpus", 0), vcpus),
        "compliant_node_share": _share(counts.get("compliant_nodes", 0), nodes),
        "noncompliant_pool_nodes": counts.get("noncompliant_pool_nodes", 0),
    }


def _noncompliant(
    session: Session, providers: list[str], allocated: ColumnElement[bool], compliant: ColumnElement[bool]
) -> list[dict[str, Any]]:
    """The Xinchuang pools' workloads that are not compliant, department by department."""
    if not providers:
        return []
    stmt = (
        select(
            NodeRow.provider,
            NodeRow.id,
            NodeRow.name,
            NodeRow.department,
            NodeRow.system,
            NodeRow.cpu_vendor,
            NodeRow.os_family,
            NodeRow.vcpus,
        )
        .where(allocated, NodeRow.provider.in_(providers), not_(compliant))
        .order_by(NodeRow.department, NodeRow.system, NodeRow.name, NodeRow.provider, NodeRow.id)
        .limit(LISTED)
    )
    return [
        {
            "provider": provider,
            "id": node_id,
            "name": name,
            "department": department or "",
            "system": system or "",
            "cpu_vendor": cpu_vendor or "",
            "os_family": os_family or "",
            "vcpus": int(vcpus or 0),
            "why": why_not(cpu_vendor or "", os_family or ""),
        }
        for provider, node_id, name, department, system, cpu_vendor, os_family, vcpus in session.execute(stmt)
    ]
