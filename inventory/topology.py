"""Two sites, three centers (两地三中心): centers and roles, systems placed in them, replication
links and the RTO/RPO targets drills are judged against; from the config and the inventory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select

from inventory.config import CenterConfig, GanyunConfig
from inventory.models import NodeRow, ProviderStatus
from inventory.store import Store

# The city's standard layout, used when the config names no centers.
DEFAULT_CENTERS = (
    CenterConfig(id="gz-prod", name="赣州政务云生产中心", role="production", site="ganzhou"),
    CenterConfig(id="gz-dr", name="同城灾备中心", role="same-city-dr", site="ganzhou"),
    CenterConfig(id="nc-dr", name="异地灾备中心", role="remote-dr", site="nanchang"),
)
SAME_CITY_RTO_TARGET_S = 10.0  # CloudNativePG asserts failover within 10 s in its own tests
REMOTE_RTO_TARGET_S = 60.0
REMOTE_RPO_TARGET_S = 30.0
SAME_CITY_SCENARIOS = ("switchover", "failover", "failback")
SCENARIOS = (*SAME_CITY_SCENARIOS, "remote-failover")


@dataclass(frozen=True, slots=True)
class Link:
    source: str
    target: str
    mode: str  # sync | async
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SystemPlacement:
    name: str
    center: str
    rto_s: float
    rpo_s: float
    nodes: int = 0


@dataclass(frozen=True, slots=True)
class Targets:
    """What one drill scenario must achieve."""

    scenario: str
    rto_s: float
    rpo_rows: int | None  # 0 for same-city: acknowledged rows may never be lost
    rpo_s: float | None  # remote: the window of data loss allowed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Topology:
    centers: tuple[CenterConfig, ...]
    links: tuple[Link, ...]
    systems: tuple[SystemPlacement, ...] = ()
    nodes_per_center: Mapping[str, int] = field(default_factory=dict)

    def by_role(self, role: str) -> CenterConfig | None:
        return next((c for c in self.centers if c.role == role), None)

    def center(self, center_id: str) -> CenterConfig | None:
        return next((c for c in self.centers if c.id == center_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "centers": [c.model_dump() for c in self.centers],
            "links": [asdict(link) for link in self.links],
            "systems": [asdict(s) for s in self.systems],
            "nodes_per_center": dict(self.nodes_per_center),
        }


def _links(dr: Mapping[str, Any], centers: tuple[CenterConfig, ...]) -> tuple[Link, ...]:
    home = str(dr.get("home_center") or next((c.id for c in centers if c.role == "production"), ""))
    sync = str(dr.get("sync_center") or next((c.id for c in centers if c.role == "same-city-dr"), ""))
    remote = str(dr.get("remote_center") or next((c.id for c in centers if c.role == "remote-dr"), ""))
    links = []
    if home and sync:
        links.append(Link(home, sync, "sync"))
    if home and remote:
        links.append(Link(home, remote, "async", float(dr.get("remote_delay_s", 0.0))))
    return tuple(links)


def _counts(store: Store) -> tuple[dict[str, int], dict[str, int]]:
    """Nodes per system and per center (through the provider's center) from the inventory."""
    with store.session() as session:
        per_system = {
            str(name): int(count)
            for name, count in session.execute(select(NodeRow.system, func.count()).group_by(NodeRow.system))
        }
        per_center = {
            str(center): int(count)
            for center, count in session.execute(
                select(ProviderStatus.center, func.count())
                .join(NodeRow, NodeRow.provider == ProviderStatus.name)
                .group_by(ProviderStatus.center)
            )
            if center
        }
    return per_system, per_center


def build(config: GanyunConfig, store: Store | None = None) -> Topology:
    centers = tuple(config.centers) or DEFAULT_CENTERS
    production = next((c.id for c in centers if c.role == "production"), "")
    per_system, per_center = _counts(store) if store is not None else ({}, {})
    systems = tuple(
        SystemPlacement(s.name, s.center or production, s.rto_s, s.rpo_s, per_system.get(s.name, 0))
        for s in config.systems
    )
    return Topology(centers, _links(config.dr, centers), systems, per_center)


def targets(config: GanyunConfig, scenario: str) -> Targets:
    """The scenario's targets: the dr section's, tightened by any stricter system target."""
    dr = config.dr
    if scenario in SAME_CITY_SCENARIOS:
        rto = float(dr.get("rto_target_s", SAME_CITY_RTO_TARGET_S))
        strict = [s.rto_s for s in config.systems if s.rto_s < rto]
        return Targets(scenario, min([rto, *strict]), 0, None)
    rto = float(dr.get("remote_rto_target_s", REMOTE_RTO_TARGET_S))
    rpo = float(dr.get("remote_rpo_target_s", REMOTE_RPO_TARGET_S))
    return Targets(scenario, rto, None, rpo)
