"""Rightsizing from 30-day utilization, in the ManageIQ style: three levels of aggressiveness.

conservative sizes for the 95th percentile CPU with wide headroom, moderate for the 95th
percentile with less, aggressive for the average. Suggestions only shrink: a busy node is a
capacity question for its pool, not a rightsizing one.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, and_, case, cast, exists, func, not_, or_, select
from sqlalchemy.orm import Session

from inventory.capacity.queries import allocated_clause
from inventory.models import NodeRow, UtilizationDayRow, UtilizationRow

# Idle: barely any CPU over 30 days and little memory touched, on the whole window and on
# each of its days where the daily history is kept.
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
    """Nearly idle: both thresholds below, as the idle figures and each suggestion's flag count it.

    Below over the window and on every day of it: a 30-day average hides a day's burst (a
    month-end batch), and a VM busy on any day is not one to switch off. The daily check is
    a lookup by the history's key, and only for nodes the averages already call idle."""
    busy_day = exists().where(
        UtilizationDayRow.provider == UtilizationRow.provider,
        UtilizationDayRow.node_id == UtilizationRow.node_id,
        or_(UtilizationDayRow.cpu_avg_pct >= IDLE_CPU_AVG_PCT, UtilizationDayRow.ram_avg_pct >= IDLE_RAM_AVG_PCT),
    )
    return and_(
        UtilizationRow.cpu_avg_pct < IDLE_CPU_AVG_PCT, UtilizationRow.ram_avg_pct < IDLE_RAM_AVG_PCT, not_(busy_day)
    )


def _measured(stmt: Any, providers: Sequence[str] | None, departments: Sequence[str] | None = None) -> Any:
    stmt = (
        stmt.select_from(NodeRow)
        .join(UtilizationRow, and_(UtilizationRow.provider == NodeRow.provider, UtilizationRow.node_id == NodeRow.id))
        .where(allocated_clause())
    )
    if departments is not None:
        stmt = stmt.where(NodeRow.department.in_(list(departments)))
    return stmt if providers is None else stmt.where(NodeRow.provider.in_(providers))


# Reclaimable vCPUs of the chosen level counted at these floors in the summary pass: the top
# query then reads only nodes with more vCPUs than the highest floor that still holds `top`.
RECLAIM_FLOORS = (1, 2, 4, 8, 16, 32, 64)


def _summary_query(
    chosen: Sequence[str], providers: Sequence[str] | None, departments: Sequence[str] | None = None
) -> Any:
    """One pass over the measured nodes (of `providers`): counts and sums of every level, plus
    how many nodes each `chosen` level frees at least RECLAIM_FLOORS[i] vCPUs on.

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
    inner = _measured(select(*needs), providers, departments).offset(0).subquery("needs")
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
    for name in chosen:
        step = mid.c[f"s{list(LEVELS).index(name)}"]
        columns += [total(case((and_(step < v, v - step >= floor), 1), else_=0)) for floor in RECLAIM_FLOORS]
    return select(*columns)


# A measurement of some providers' nodes, as `measure` returns it and a rollup stores it:
# {"measured": n, "idle": [nodes, vcpus, ram_mb], "levels": {level: [oversized, vcpus, ram_mb]},
#  "top": {level: [suggestion, ...]}} with each level's `top` largest suggestions, best first.
Measurement = dict[str, Any]
_KEYS = ("provider", "id", "name", "department", "system", "vcpus", "ram_mb", "cpu_avg_pct", "cpu_p95_pct",
         "ram_avg_pct", "suggested_vcpus", "suggested_ram_mb", "idle")  # fmt: skip


def check_level(level: str) -> None:
    if level not in LEVELS:
        from providers.errors import ConfigError

        raise ConfigError(f"rightsizing level '{level}': one of {', '.join(LEVELS)}")


def measure(
    session: Session,
    providers: Sequence[str] | None,
    levels: Sequence[str],
    top: int = TOP,
    departments: Sequence[str] | None = None,
) -> Measurement:
    """Sums of every level over the measured nodes of `providers` (None: every provider) and
    of `departments` (None: every department), and the `top` largest suggestions of each of
    `levels`.

    One aggregate query for the sums and one for the suggestions, ordered and cut in the
    database for one level; several levels (a provider's rollup) share one read of their
    candidates, ranked here. No other per-node work in Python.
    """
    row = [int(v or 0) for v in session.connection().execute(_summary_query(levels, providers, departments)).one()]
    floors = row[4 + 3 * len(LEVELS) :]
    width = len(RECLAIM_FLOORS)
    # Every node on a level's list frees more than that level's floor: see _top.
    lowest = {
        level: max((f for f, n in zip(RECLAIM_FLOORS, floors[i * width : (i + 1) * width], strict=True)
                    if top > 0 and n >= top), default=0)
        for i, level in enumerate(levels)
    }  # fmt: skip
    if len(levels) == 1:
        tops = {levels[0]: _top(session, providers, levels[0], top, lowest[levels[0]], departments)}
    else:
        tops = _tops_together(session, providers, levels, top, min(lowest.values()), departments)
    return {
        "measured": row[0],
        "idle": row[1:4],
        "levels": {name: row[4 + 3 * i : 7 + 3 * i] for i, name in enumerate(LEVELS)},
        "top": tops,
    }


_NODE_COLUMNS = (
    NodeRow.provider, NodeRow.id, NodeRow.name, NodeRow.department, NodeRow.system, NodeRow.vcpus, NodeRow.ram_mb,
    UtilizationRow.cpu_avg_pct, UtilizationRow.cpu_p95_pct, UtilizationRow.ram_avg_pct,
)  # fmt: skip


def _entry(values: Sequence[Any], cpu: Any, mem: Any, idle: Any) -> dict[str, Any]:
    return dict(zip(_KEYS, (*values, int(cpu), int(mem), bool(idle)), strict=True))


def _top(
    session: Session,
    providers: Sequence[str] | None,
    level: str,
    top: int,
    floor: int,
    departments: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The `top` suggestions of `level` that free the most, in `rank` order."""
    cpu, mem = _suggested(LEVELS[level])
    stmt = _measured(select(*_NODE_COLUMNS, cpu, mem, _idle()), providers, departments).where(
        or_(cpu < NodeRow.vcpus, mem < NodeRow.ram_mb)
    )
    # The list is ordered by vCPUs freed first: when `top` nodes free at least `floor` vCPUs,
    # every node of the list does, so it has more than `floor` vCPUs (a suggestion keeps one).
    # That plain column test lets the database skip the suggestion arithmetic for the rest.
    if floor:
        stmt = stmt.where(NodeRow.vcpus > floor)
    # The same order as `rank`, down to (provider, id): lists of different providers merge exactly.
    stmt = stmt.order_by(
        (NodeRow.vcpus - cpu).desc(), (NodeRow.ram_mb - mem).desc(), NodeRow.name, NodeRow.provider, NodeRow.id
    ).limit(top)
    width = len(_NODE_COLUMNS)
    return [_entry(row[:width], *row[width:]) for row in session.connection().execute(stmt)]


def _tops_together(
    session: Session,
    providers: Sequence[str] | None,
    levels: Sequence[str],
    top: int,
    floor: int,
    departments: Sequence[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """`_top` of several levels from one read of the nodes any of them shrinks (above the
    lowest of their floors), each level's list ranked by `rank`."""
    suggested = [_suggested(LEVELS[level]) for level in levels]
    stmt = _measured(
        select(*_NODE_COLUMNS, _idle(), *(column for pair in suggested for column in pair)), providers, departments
    ).where(or_(*(or_(cpu < NodeRow.vcpus, mem < NodeRow.ram_mb) for cpu, mem in suggested)))
    if floor:
        stmt = stmt.where(NodeRow.vcpus > floor)
    width = len(_NODE_COLUMNS)
    candidates: dict[str, list[dict[str, Any]]] = {level: [] for level in levels}
    for row in session.connection().execute(stmt):
        values, idle = row[:width], row[width]
        vcpus, ram_mb = values[5], values[6]
        for i, level in enumerate(levels):
            cpu, mem = row[width + 1 + 2 * i], row[width + 2 + 2 * i]
            if cpu < vcpus or mem < ram_mb:
                candidates[level].append(_entry(values, cpu, mem, idle))
    return {level: heapq.nsmallest(top, entries, key=rank) if top > 0 else [] for level, entries in candidates.items()}


def daily_history(
    session: Session, provider: str, node_id: str, departments: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """A node's daily CPU and memory averages, oldest first: [] when none are kept or when the
    node is not in `departments` (None: every department)."""
    stmt = (
        select(UtilizationDayRow.day, UtilizationDayRow.cpu_avg_pct, UtilizationDayRow.ram_avg_pct)
        .join(NodeRow, and_(NodeRow.provider == UtilizationDayRow.provider, NodeRow.id == UtilizationDayRow.node_id))
        .where(UtilizationDayRow.provider == provider, UtilizationDayRow.node_id == node_id)
        .order_by(UtilizationDayRow.day)
    )
    if departments is not None:
        stmt = stmt.where(NodeRow.department.in_(list(departments)))
    return [{"day": day, "cpu_avg_pct": cpu, "ram_avg_pct": ram} for day, cpu, ram in session.execute(stmt)]


def rank(entry: dict[str, Any]) -> tuple[int, int, str, str, str]:
    """Most vCPUs freed first, then most memory, then by name (and provider, id)."""
    freed_vcpus = entry["vcpus"] - entry["suggested_vcpus"]
    freed_ram = entry["ram_mb"] - entry["suggested_ram_mb"]
    return (-freed_vcpus, -freed_ram, entry["name"], entry["provider"], entry["id"])


def combine(measurements: Iterable[Measurement], level: str, top: int = TOP) -> dict[str, Any]:
    """The rightsizing section from measurements of disjoint sets of providers."""
    measured = 0
    idle = [0, 0, 0]
    levels = {name: [0, 0, 0] for name in LEVELS}
    candidates: list[dict[str, Any]] = []
    for m in measurements:
        measured += m["measured"]
        idle = [a + b for a, b in zip(idle, m["idle"], strict=True)]
        for name in LEVELS:
            levels[name] = [a + b for a, b in zip(levels[name], m["levels"][name], strict=True)]
        candidates += m["top"][level]
    return {
        "level": level,
        "measured_nodes": measured,
        "idle": dict(zip(("nodes", "vcpus", "ram_mb"), idle, strict=True)),
        "levels": {
            name: dict(zip(("oversized", "vcpus_reclaimable", "ram_mb_reclaimable"), sums, strict=True))
            for name, sums in levels.items()
        },
        # Each list holds its providers' best `top`: the best `top` of all are among them.
        "top": heapq.nsmallest(top, candidates, key=rank) if top > 0 else [],
        "thresholds": {"idle_cpu_avg_pct": IDLE_CPU_AVG_PCT, "idle_ram_avg_pct": IDLE_RAM_AVG_PCT},
    }
