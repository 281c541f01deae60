"""The lab estate straight into an inventory DB, without HTTP: seed -> records -> sync_all.

The fake provider hands out the seeded servers and hypervisors as base records, so the real
sync path writes nodes, hosts, utilization, provider status and the capacity sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from inventory.config import GanyunConfig, parse_config
from inventory.store import Store, open_store
from inventory.sync import sync_all
from lab import catalog as cat
from lab.history import write_history
from lab.seed import Cloud, Estate, build_estate, utilization
from providers.base import Capability, Host, Node, ProviderSpec, State, Utilization

_STATES = {"ACTIVE": State.RUNNING, "SHUTOFF": State.STOPPED, "PAUSED": State.SUSPENDED,
           "SUSPENDED": State.SUSPENDED, "ERROR": State.ERROR}  # fmt: skip


class SeedProvider:
    features = frozenset({Capability.HOSTS, Capability.UTILIZATION})

    def __init__(self, cloud: Cloud) -> None:
        self.name = cloud.name
        self.cloud = cloud

    def list_nodes(self) -> Sequence[Node]:
        c = self.cloud
        flavors = {f.id: f for f in c.flavors}
        return [
            Node(provider=c.name, id=s.id, name=s.name, state=_STATES.get(s.status, State.UNKNOWN),
                 vcpus=flavors[s.flavor_id].vcpus, ram_mb=flavors[s.flavor_id].ram_mb,
                 disk_gb=flavors[s.flavor_id].disk_gb, arch=c.arch, cpu_vendor=c.cpu_vendor, host=s.host,
                 size=s.flavor_id, image=s.image_id, ips=(s.ip,),
                 created_at=datetime.fromisoformat(s.created.replace("Z", "+00:00")), tags=dict(s.metadata))
            for s in c.servers
        ]  # fmt: skip

    def get_node(self, node_id: str) -> Node:
        return next(n for n in self.list_nodes() if n.id == node_id)

    def list_hosts(self) -> Sequence[Host]:
        c = self.cloud
        return [
            Host(provider=c.name, id=h.id, name=h.hostname, state=State.RUNNING, vcpus=h.vcpus,
                 ram_mb=h.memory_mb, disk_gb=h.local_gb, arch=h.arch, cpu_vendor=c.cpu_vendor, rack=h.rack)
            for h in c.hypervisors
        ]  # fmt: skip

    def list_utilization(self) -> Sequence[Utilization]:
        return [Utilization(self.name, s.id, *utilization(s.id)) for s in self.cloud.servers]


def lab_config(estate: Estate, directory: Path, history: bool = True) -> GanyunConfig:
    data: dict[str, Any] = {
        "database": "sqlite:///inv.db",
        "centers": [{"id": x.id, "name": x.name, "role": x.role, "site": x.site} for x in cat.CENTERS],
        "providers": [{"name": c.name, "driver": "seed", "center": c.center, "pool": c.pool} for c in estate.clouds],
        "capacity": {
            "overcommit": {"default": {"cpu": 4.0, "ram": 1.0}, "xinchuang": {"cpu": 2.0, "ram": 1.0}},
            "rack": {"hosts_per_rack": 16, "kw_per_rack": 8.0, "kw_per_host": 0.45},
        },
    }
    if history:
        data["capacity"]["history_file"] = "history.json"
    return parse_config(data, base_dir=str(directory))


def build_lab_db(directory: Path, scale: str = "small", history: bool = True) -> tuple[GanyunConfig, Store, Estate]:
    estate = build_estate(scale)
    directory.mkdir(parents=True, exist_ok=True)
    if history:
        write_history(directory, estate)
    config = lab_config(estate, directory, history)
    store = open_store(config.database_url)
    clouds = {c.name: c for c in estate.clouds}

    def factory(spec: ProviderSpec) -> Any:
        return SeedProvider(clouds[spec.name])

    sync_all(config, store, factory=factory)
    return config, store, estate
