"""The lab estate straight into an inventory DB, without HTTP: seed -> records -> sync_all.

The fake provider hands out the seeded servers and hypervisors as base records, so the real
sync path writes nodes, hosts, utilization, provider status and the capacity sample.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from inventory.config import GanyunConfig, parse_config
from inventory.store import Store, open_store
from inventory.sync import sync_all
from lab import catalog as cat
from lab.history import write_history
from lab.seed import Cloud, Estate, build_estate, utilization
from providers.base import Capability, Host, Node, State, Utilization
from tests.fakes.provider import FakeCloud, factory

_STATES = {"ACTIVE": State.RUNNING, "SHUTOFF": State.STOPPED, "PAUSED": State.SUSPENDED,
           "SUSPENDED": State.SUSPENDED, "ERROR": State.ERROR}  # fmt: skip
# What the seeded clouds answer besides nodes: the hypervisors and each server's utilization.
SEEDED = frozenset({Capability.HOSTS, Capability.UTILIZATION})


def seeded(cloud: Cloud) -> FakeCloud:
    """The seeded servers and hypervisors of one lab cloud as base records."""
    flavors = {f.id: f for f in cloud.flavors}
    nodes = [
        Node(provider=cloud.name, id=s.id, name=s.name, state=_STATES.get(s.status, State.UNKNOWN),
             vcpus=flavors[s.flavor_id].vcpus, ram_mb=flavors[s.flavor_id].ram_mb,
             disk_gb=flavors[s.flavor_id].disk_gb, arch=cloud.arch, cpu_vendor=cloud.cpu_vendor, host=s.host,
             size=s.flavor_id, image=s.image_id, ips=(s.ip,),
             created_at=datetime.fromisoformat(s.created.replace("Z", "+00:00")), tags=dict(s.metadata))
        for s in cloud.servers
    ]  # fmt: skip
    hosts = [
        Host(provider=cloud.name, id=h.id, name=h.hostname, state=State.RUNNING, vcpus=h.vcpus,
             ram_mb=h.memory_mb, disk_gb=h.local_gb, arch=h.arch, cpu_vendor=cloud.cpu_vendor, rack=h.rack)
        for h in cloud.hypervisors
    ]  # fmt: skip
    used = [Utilization(cloud.name, s.id, *utilization(s.id)) for s in cloud.servers]
    return FakeCloud(nodes=nodes, hosts=hosts, utilization=used)


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
    clouds = {c.name: seeded(c) for c in estate.clouds}
    sync_all(config, store, factory=factory(clouds, SEEDED))
    return config, store, estate
