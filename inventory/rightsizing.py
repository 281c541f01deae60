"""Rightsizing from 30-day utilization, in the ManageIQ style: three levels of aggressiveness.

conservative sizes for the 95th percentile CPU with wide headroom, moderate for the 95th
percentile with less, aggressive for the average. Suggestions only shrink: a busy node is a
capacity question for its pool, not a rightsizing one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from inventory.capacity import allocated_clause
from inventory.config import GanyunConfig
from inventory.models import NodeRow, UtilizationRow

# Idle: barely any CPU over 30 days and little memory touched.
IDLE_CPU_AVG_PCT = 7.0
IDLE_RAM_AVG_PCT = 40.0
VCPU_STEPS = (1, 2, 4, 8, 16, 32, 64, 128)
RAM_STEP_MB = 1024
TOP = 50


@dataclass(frozen=True)
class Level:
    cpu_metric: str  # "p95" or "avg"
    cpu_target_pct: float  # utilization the suggested size should run at
    ram_headroom: float  # multiplier on average memory in use


LEVELS: dict[str, Level] = {
    "conservative": Level("p95", 60.0, 1.5),
    "moderate": Level("p95", 80.0, 1.25),
    "aggressive": Level("avg", 80.0, 1.1),
}


def suggest(vcpus: int, ram_mb: int, cpu_avg: float, cpu_p95: float, ram_avg: float, level: Level) -> tuple[int, int]:
    """(vcpus, ram_mb) for a node at this level, never above the current size."""
    busy = cpu_p95 if level.cpu_metric == "p95" else cpu_avg
    needed = vcpus * busy / level.cpu_target_pct
    cpu = next((s for s in VCPU_STEPS if s >= needed), VCPU_STEPS[-1])
    ram = math.ceil(ram_mb * ram_avg / 100.0 * level.ram_headroom / RAM_STEP_MB) * RAM_STEP_MB
    return min(vcpus, max(1, cpu)), min(ram_mb, max(RAM_STEP_MB, ram))


def _suggested(level: Level) -> tuple[Any, Any]:
    """SQL expressions for `suggest` at this level: (vcpus, ram_mb), computed in the database."""
    busy = UtilizationRow.cpu_p95_pct if level.cpu_metric == "p95" else UtilizationRow.cpu_avg_pct
    needed = NodeRow.vcpus * busy / level.cpu_target_pct
    step = case(*((needed <= s, s) for s in VCPU_STEPS), else_=VCPU_STEPS[-1])
    cpu = case((step > NodeRow.vcpus, NodeRow.vcpus), else_=step)
    in_use = NodeRow.ram_mb * UtilizationRow.ram_avg_pct / 100.0 * level.ram_headroom / RAM_STEP_MB
    ram = cast(func.ceil(in_use), Integer) * RAM_STEP_MB
    ram = case((ram < RAM_STEP_MB, RAM_STEP_MB), else_=ram)
    mem = case((ram > NodeRow.ram_mb, NodeRow.ram_mb), else_=ram)
    return cpu, mem


def _measured(stmt: Any) -> Any:
    return (
        stmt.select_from(NodeRow)
        .join(UtilizationRow, and_(UtilizationRow.provider == NodeRow.provider, UtilizationRow.node_id == NodeRow.id))
        .where(allocated_clause())
    )


def rightsizing(session: Session, config: GanyunConfig, level: str = "moderate", top: int = TOP) -> dict[str, Any]:
    """Counts per level, reclaimable resources, idle nodes and the largest suggestions.

    Two aggregate queries: the sums over every measured node, and the top suggestions of the
    chosen level; no per-node work in Python (100,000 nodes stay in the database).
    """
    if level not in LEVELS:
        from providers.base import ConfigError

        raise ConfigError(f"rightsizing level '{level}': one of {', '.join(LEVELS)}")
    idle = and_(UtilizationRow.cpu_avg_pct < IDLE_CPU_AVG_PCT, UtilizationRow.ram_avg_pct < IDLE_RAM_AVG_PCT)
    columns: list[Any] = [
        func.count(),
        func.coalesce(func.sum(case((idle, 1), else_=0)), 0),
        func.coalesce(func.sum(case((idle, NodeRow.vcpus), else_=0)), 0),
        func.coalesce(func.sum(case((idle, NodeRow.ram_mb), else_=0)), 0),
    ]
    for lv in LEVELS.values():
        cpu, mem = _suggested(lv)
        columns += [
            func.coalesce(func.sum(case((or_(cpu < NodeRow.vcpus, mem < NodeRow.ram_mb), 1), else_=0)), 0),
            func.coalesce(func.sum(NodeRow.vcpus - cpu), 0),
            func.coalesce(func.sum(NodeRow.ram_mb - mem), 0),
        ]
    row = [int(v or 0) for v in session.execute(_measured(select(*columns))).one()]
    summary = {
        name: {"oversized": row[4 + 3 * i], "vcpus_reclaimable": row[5 + 3 * i], "ram_mb_reclaimable": row[6 + 3 * i]}
        for i, name in enumerate(LEVELS)
    }
    cpu, mem = _suggested(LEVELS[level])
    stmt = _measured(
        select(
            NodeRow.provider, NodeRow.id, NodeRow.name, NodeRow.department, NodeRow.system, NodeRow.vcpus,
            NodeRow.ram_mb, UtilizationRow.cpu_avg_pct, UtilizationRow.cpu_p95_pct, UtilizationRow.ram_avg_pct,
            cpu, mem, idle,
        )
    ).where(or_(cpu < NodeRow.vcpus, mem < NodeRow.ram_mb))  # fmt: skip
    stmt = stmt.order_by((NodeRow.vcpus - cpu).desc(), (NodeRow.ram_mb - mem).desc(), NodeRow.name).limit(top)
    keys = ("provider", "id", "name", "department", "system", "vcpus", "ram_mb", "cpu_avg_pct", "cpu_p95_pct",
            "ram_avg_pct", "suggested_vcpus", "suggested_ram_mb", "idle")  # fmt: skip
    suggestions = []
    for values in session.execute(stmt):
        entry = dict(zip(keys, values, strict=True))
        entry["suggested_vcpus"] = int(entry["suggested_vcpus"])
        entry["suggested_ram_mb"] = int(entry["suggested_ram_mb"])
        entry["idle"] = bool(entry["idle"])
        suggestions.append(entry)
    return {
        "level": level,
        "measured_nodes": row[0],
        "idle": {"nodes": row[1], "vcpus": row[2], "ram_mb": row[3]},
        "levels": summary,
        "top": suggestions,
        "thresholds": {"idle_cpu_avg_pct": IDLE_CPU_AVG_PCT, "idle_ram_avg_pct": IDLE_RAM_AVG_PCT},
    }
