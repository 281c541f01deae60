"""Per-provider capacity rollups (capacity_rollups): what the report needs from a provider's nodes, computed in
the sync transaction that wrote them (ManageIQ's metric rollups, for the inventory).

A rollup holds one provider's allocation per (department, system), its usage per hypervisor
and its rightsizing measurement (every level's sums and best TOP suggestions). The report
then reads a few hundred rows per provider instead of grouping 100,000 nodes and joining
their utilization; the figures are the same queries, restricted to one provider, so the two
paths agree by construction (tests/inventory/capacity/test_rollups.py compares them).

A rollup is used only when it is current:
- sync rewrites a provider's rollup whenever it wrote anything of that provider, or found
  its rollup missing or computed with other parameters (`PARAMS`);
- any other write to nodes, hosts or utilization through a session drops every rollup
  (rollup_guard.py), and providers whose nodes have no current rollup are
  computed live, as before rollups existed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from inventory.capacity import rightsizing as rs
from inventory.capacity.models import CapacityRollup
from inventory.capacity.queries import AllocationRow, HostUsage, allocation_rows, host_usage
from inventory.models import NodeRow

# Bumped whenever the payload's shape changes: older rows are then ignored and rewritten.
ROLLUP_FORMAT = 2


def _params() -> str:
    """The format and every threshold a rollup's figures depend on (none comes from the config)."""
    levels = {name: (lv.cpu_metric, lv.cpu_target_pct, lv.ram_headroom) for name, lv in rs.LEVELS.items()}
    basis = (ROLLUP_FORMAT, levels, rs.IDLE_CPU_AVG_PCT, rs.IDLE_RAM_AVG_PCT, rs.VCPU_STEPS, rs.RAM_STEP_MB, rs.TOP)
    return hashlib.blake2b(repr(basis).encode(), digest_size=16).hexdigest()


PARAMS = _params()


def compute(session: Session, provider: str) -> dict[str, Any]:
    """The rollup of `provider` from what is stored now."""
    only = [provider]
    return {
        "allocation": [list(row[1:]) for row in allocation_rows(session, only)],
        "host_usage": [[host, *usage] for (_p, host), usage in host_usage(session, only).items()],
        "rightsizing": rs.measure(session, only, list(rs.LEVELS), rs.TOP),
    }


def refresh(session: Session, provider: str, now: datetime) -> None:
    """Rewrite `provider`'s rollup; called in the transaction that wrote its inventory."""
    payload = orjson.dumps(compute(session, provider)).decode()
    session.execute(delete(CapacityRollup).where(CapacityRollup.provider == provider))
    session.execute(insert(CapacityRollup).values(provider=provider, params=PARAMS, computed_at=now, payload=payload))


def is_current(session: Session, provider: str) -> bool:
    params = session.scalar(select(CapacityRollup.params).where(CapacityRollup.provider == provider))
    return params == PARAMS


def providers_with_nodes(session: Session) -> list[str]:
    """Every provider that has nodes, by one index seek each (the primary key leads with it),
    where SELECT DISTINCT would read all 100,000 index entries."""
    found: list[str] = []
    following = select(func.min(NodeRow.provider))
    while (name := session.scalar(following.where(NodeRow.provider > found[-1]) if found else following)) is not None:
        found.append(name)
    return found


@dataclass(frozen=True)
class Coverage:
    """Which providers' figures come from rollups, and which must be computed live."""

    payloads: dict[str, dict[str, Any]]
    # Providers with nodes but no current rollup; None: no rollup at all, compute every provider.
    missing: list[str] | None

    @property
    def live(self) -> bool:
        return self.missing is None or bool(self.missing)

    def allocation(self, session: Session) -> list[AllocationRow]:
        rows: list[AllocationRow] = [
            (provider, dept, system, n, v, r, d)
            for provider, payload in self.payloads.items()
            for dept, system, n, v, r, d in payload["allocation"]
        ]
        return rows + allocation_rows(session, self.missing) if self.live else rows

    def host_usage(self, session: Session) -> HostUsage:
        usage: HostUsage = {
            (provider, host): (n, v, r)
            for provider, payload in self.payloads.items()
            for host, n, v, r in payload["host_usage"]
        }
        if self.live:
            usage.update(host_usage(session, self.missing))
        return usage


def coverage(session: Session) -> Coverage:
    """The current rollups of every provider that has nodes; the rest are `missing`."""
    stored = dict(
        session.execute(
            select(CapacityRollup.provider, CapacityRollup.payload).where(CapacityRollup.params == PARAMS)
        ).all()
    )
    if not stored:
        return Coverage({}, None)
    payloads: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for provider in providers_with_nodes(session):
        try:
            payloads[provider] = orjson.loads(stored[provider])
        except (KeyError, orjson.JSONDecodeError):
            missing.append(provider)  # no rollup, or a damaged one: computed live
    return Coverage(payloads, missing)
