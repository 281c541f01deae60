"""The capacity queries: every figure starts as one of these GROUP BYs (a handful of rows per
provider, department, host or day reach Python, never the 100,000 nodes).

Allocation follows Nova's placement: a node holds its resources unless it is terminated or
failed before it got a host (an errored node that sits on a host still holds them).
The sections (pools.py, showback.py) and the rollups (provider_rollups.py, daily_rollups.py)
build on these; nothing here imports another capacity module but the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, not_, or_, select
from sqlalchemy.orm import Session

from inventory.config import GanyunConfig
from inventory.models import CapacitySample, HostRow, NodeRow, ProviderStatus
from providers.base import State

RESOURCES = ("vcpus", "ram_mb", "disk_gb")
XINCHUANG = "xinchuang"
LEGACY = "legacy"


def allocated_clause() -> ColumnElement[bool]:
    """Nodes that hold resources on their hypervisor."""
    return and_(
        NodeRow.state != State.TERMINATED.value,
        not_(and_(NodeRow.state == State.ERROR.value, or_(NodeRow.host == "", NodeRow.host.is_(None)))),
    )


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


def hosts_holding(session: Session, departments: Sequence[str]) -> set[tuple[str, str]]:
    """(provider, host) of every hypervisor that holds an allocated node of `departments`."""
    stmt = (
        select(NodeRow.provider, NodeRow.host)
        .where(allocated_clause(), NodeRow.department.in_(list(departments)))
        .distinct()
    )
    return {(p, h) for p, h in session.connection().execute(stmt) if h}


def host_usage(session: Session, providers: Sequence[str] | None = None) -> HostUsage:
    """(provider, host) -> (nodes, vcpus, ram_mb) that the host's allocated nodes hold."""
    # Every group has a node, so the sums are never NULL; the columns are integers.
    rows = session.connection().execute(host_usage_query(providers))
    return {(p, h): (n, v, r) for h, p, n, v, r in rows}


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


def trend_groups(
    session: Session, window: DayWindow | None = None, departments: Sequence[str] | None = None
) -> list[TrendGroup]:
    """The Xinchuang trend's groups from capacity_samples (on the days of `window`, of
    `departments` or every department)."""
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
    if departments is not None:
        stmt = stmt.where(CapacitySample.department.in_(list(departments)))
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
