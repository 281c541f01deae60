"""Two sites, three centers (两地三中心): centers and roles, systems placed in them and the
replication links between them; from the config and the inventory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select

from inventory.config import CenterConfig, GanyunConfig
from inventory.dr_config import DrConfig
from inventory.models import NodeRow, ProviderStatus
from inventory.store import Store

# The city's standard layout, used when the config names no centers.
DEFAULT_CENTERS = (
    CenterConfig(id="gz-prod", name="赣州政务云生产中心", role="production", site="ganzhou"),
    CenterConfig(id="gz-dr", name="同城灾备中心", role="same-city-dr", site="ganzhou"),
    CenterConfig(id="nc-dr", name="异地灾备中心", role="remote-dr", site="nanchang"),
)


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


def _links(dr: DrConfig, centers: tuple[CenterConfig, ...]) -> tuple[Link, ...]:
    home = dr.home_center or next((c.id for c in centers if c.role == "production"), "")
    sync = next((c.id for c in centers if c.role == "same-city-dr"), "")
    remote = dr.remote_center or next((c.id for c in centers if c.role == "remote-dr"), "")
    links = []
    if home and sync:
        links.append(Link(home, sync, "sync"))
    if home and remote:
        links.append(Link(home, remote, "async", dr.remote_delay_s))
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
