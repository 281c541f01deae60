"""Rightsizing from 30-day utilization, in the ManageIQ style: three levels of aggressiveness.

conservative sizes for the 95th percentile CPU with wide headroom, moderate for the 95th
percentile with less, aggressive for the average. Suggestions only shrink: a busy node is a
capacity question for its pool, not a rightsizing one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
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


def rightsizing(session: Session, config: GanyunConfig, level: str = "moderate", top: int = TOP) -> dict[str, Any]:
    """Counts per level, reclaimable resources, idle nodes and the largest suggestions."""
    if level not in LEVELS:
        from providers.base import ConfigError

        raise ConfigError(f"rightsizing level '{level}': one of {', '.join(LEVELS)}")
    stmt = (
        select(
            NodeRow.provider, NodeRow.id, NodeRow.name, NodeRow.department, NodeRow.system, NodeRow.vcpus,
            NodeRow.ram_mb, UtilizationRow.cpu_avg_pct, UtilizationRow.cpu_p95_pct, UtilizationRow.ram_avg_pct,
        )
        .join(UtilizationRow, and_(UtilizationRow.provider == NodeRow.provider, UtilizationRow.node_id == NodeRow.id))
        .where(allocated_clause())
    )  # fmt: skip
    summary = {name: {"oversized": 0, "vcpus_reclaimable": 0, "ram_mb_reclaimable": 0} for name in LEVELS}
    idle = {"nodes": 0, "vcpus": 0, "ram_mb": 0}
    measured = 0
    suggestions: list[dict[str, Any]] = []
    chosen = LEVELS[level]
    # Streamed as plain tuples: only the joined columns, a few thousand rows at a time.
    for provider, node_id, name, dept, system, vcpus, ram, cpu_avg, cpu_p95, ram_avg in session.execute(
        stmt.execution_options(yield_per=5000)
    ):
        measured += 1
        if cpu_avg < IDLE_CPU_AVG_PCT and ram_avg < IDLE_RAM_AVG_PCT:
            idle["nodes"] += 1
            idle["vcpus"] += vcpus
            idle["ram_mb"] += ram
        for lname, lv in LEVELS.items():
            cpu, mem = suggest(vcpus, ram, cpu_avg, cpu_p95, ram_avg, lv)
            if cpu < vcpus or mem < ram:
                s = summary[lname]
                s["oversized"] += 1
                s["vcpus_reclaimable"] += vcpus - cpu
                s["ram_mb_reclaimable"] += ram - mem
                if lv is chosen:
                    suggestions.append(
                        {"provider": provider, "id": node_id, "name": name, "department": dept, "system": system,
                         "vcpus": vcpus, "ram_mb": ram, "cpu_avg_pct": cpu_avg, "cpu_p95_pct": cpu_p95,
                         "ram_avg_pct": ram_avg, "suggested_vcpus": cpu, "suggested_ram_mb": mem,
                         "idle": cpu_avg < IDLE_CPU_AVG_PCT and ram_avg < IDLE_RAM_AVG_PCT}
                    )  # fmt: skip
                    if len(suggestions) > 4 * top:
                        suggestions = _top(suggestions, top)
    return {
        "level": level,
        "measured_nodes": measured,
        "idle": idle,
        "levels": summary,
        "top": _top(suggestions, top),
        "thresholds": {"idle_cpu_avg_pct": IDLE_CPU_AVG_PCT, "idle_ram_avg_pct": IDLE_RAM_AVG_PCT},
    }


def _top(rows: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    rows.sort(key=lambda s: (-(s["vcpus"] - s["suggested_vcpus"]), -(s["ram_mb"] - s["suggested_ram_mb"]), s["name"]))
    return rows[:top]
