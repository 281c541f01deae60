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


def _idle() -> Any:
    """Nearly idle: both thresholds below, as the idle figures and each suggestion's flag count it."""
    return and_(UtilizationRow.cpu_avg_pct < IDLE_CPU_AVG_PCT, UtilizationRow.ram_avg_pct < IDLE_RAM_AVG_PCT)


def _measured(stmt: Any) -> Any:
    return (
        stmt.select_from(NodeRow)
        .join(UtilizationRow, and_(UtilizationRow.provider == NodeRow.provider, UtilizationRow.node_id == NodeRow.id))
        .where(allocated_clause())
    )


# Reclaimable vCPUs of the chosen level counted at these floors in the summary pass: the top
# query then reads only nodes with more vCPUs than the highest floor that still holds `top`.
RECLAIM_FLOORS = (1, 2, 4, 8, 16, 32, 64)


def _summary_query(chosen: str) -> Any:
    """One pass over the measured nodes: counts and sums of every level, plus how many nodes
    the chosen level frees at least RECLAIM_FLOORS[i] vCPUs on.

    The same arithmetic as `_suggested`, staged so that SQLite evaluates each expression once
    per node: written as one expression, every use of a level's suggestion re-evaluated its
    whole CASE chain (about 30 times per node). The inner query computes the raw needs, the
    middle one the suggested steps; OFFSET 0 keeps both from being flattened into the
    aggregate (SQLite and PostgreSQL alike run them as a pipeline, nothing is materialized).
    """
    idle = _idle()
    needs: list[Any] = [NodeRow.vcpus.label("v"), NodeRow.ram_mb.label("r"), case((idle, 1), else_=0).label("idle")]
    for i, lv in enumerate(LEVELS.values()):
        busy = UtilizationRow.cpu_p95_pct if lv.cpu_metric == "p95" else UtilizationRow.cpu_avg_pct
        in_use = NodeRow.ram_mb * UtilizationRow.ram_avg_pct / 100.0 * lv.ram_headroom / RAM_STEP_MB
        needs += [
            (NodeRow.vcpus * busy / lv.cpu_target_pct).label(f"n{i}"),
            (cast(func.ceil(in_use), Integer) * RAM_STEP_MB).label(f"m{i}"),
        ]
    inner = _measured(select(*needs)).offset(0).subquery("needs")
    steps: list[Any] = [inner.c.v, inner.c.r, inner.c.idle]
    for i in range(len(LEVELS)):
        need, ram = inner.c[f"n{i}"], inner.c[f"m{i}"]
        steps += [
            case(*((need <= s, s) for s in VCPU_STEPS), else_=VCPU_STEPS[-1]).label(f"s{i}"),
            case((ram < RAM_STEP_MB, RAM_STEP_MB), else_=ram).label(f"m{i}"),
        ]
    mid = select(*steps).offset(0).subquery("steps")
    v, r, idle_flag = mid.c.v, mid.c.r, mid.c.idle

    def total(expr: Any) -> Any:
        return func.coalesce(func.sum(expr), 0)

    columns: list[Any] = [func.count(), total(idle_flag), total(idle_flag * v), total(idle_flag * r)]
    for i in range(len(LEVELS)):
        # The suggestion is min(current, step): it frees current - step where the step is smaller.
        step, ram = mid.c[f"s{i}"], mid.c[f"m{i}"]
        columns += [
            total(case((or_(step < v, ram < r), 1), else_=0)),
            total(case((step < v, v - step), else_=0)),
            total(case((ram < r, r - ram), else_=0)),
        ]
    step = mid.c[f"s{list(LEVELS).index(chosen)}"]
    columns += [total(case((and_(step < v, v - step >= floor), 1), else_=0)) for floor in RECLAIM_FLOORS]
    return select(*columns)


def rightsizing(session: Session, config: GanyunConfig, level: str = "moderate", top: int = TOP) -> dict[str, Any]:
    """Counts per level, reclaimable resources, idle nodes and the largest suggestions.

    Two aggregate queries: the sums over every measured node, and the top suggestions of the
    chosen level; no per-node work in Python (100,000 nodes stay in the database).
    """
    if level not in LEVELS:
        from providers.base import ConfigError

        raise ConfigError(f"rightsizing level '{level}': one of {', '.join(LEVELS)}")
    row = [int(v or 0) for v in session.connection().execute(_summary_query(level)).one()]
    summary = {
        name: {"oversized": row[4 + 3 * i], "vcpus_reclaimable": row[5 + 3 * i], "ram_mb_reclaimable": row[6 + 3 * i]}
        for i, name in enumerate(LEVELS)
    }
    at_least = dict(zip(RECLAIM_FLOORS, row[4 + 3 * len(LEVELS) :], strict=True))
    idle = _idle()
    cpu, mem = _suggested(LEVELS[level])
    stmt = _measured(
        select(
            NodeRow.provider, NodeRow.id, NodeRow.name, NodeRow.department, NodeRow.system, NodeRow.vcpus,
            NodeRow.ram_mb, UtilizationRow.cpu_avg_pct, UtilizationRow.cpu_p95_pct, UtilizationRow.ram_avg_pct,
            cpu, mem, idle,
        )
    ).where(or_(cpu < NodeRow.vcpus, mem < NodeRow.ram_mb))  # fmt: skip
    # The list is ordered by vCPUs freed first: when `top` nodes free at least `floor` vCPUs,
    # every node of the list does, so it has more than `floor` vCPUs (a suggestion keeps one).
    # That plain column test lets the database skip the suggestion arithmetic for the rest.
    floor = max((f for f, n in at_least.items() if top > 0 and n >= top), default=0)
    if floor:
        stmt = stmt.where(NodeRow.vcpus > floor)
    stmt = stmt.order_by((NodeRow.vcpus - cpu).desc(), (NodeRow.ram_mb - mem).desc(), NodeRow.name).limit(top)
    keys = ("provider", "id", "name", "department", "system", "vcpus", "ram_mb", "cpu_avg_pct", "cpu_p95_pct",
            "ram_avg_pct", "suggested_vcpus", "suggested_ram_mb", "idle")  # fmt: skip
    suggestions = []
    for values in session.connection().execute(stmt):
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
