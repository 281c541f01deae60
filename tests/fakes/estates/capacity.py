"""A small fixed estate whose capacity figures are computed by hand in the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inventory.config import GanyunConfig, parse_config
from inventory.store import Store, open_store
from inventory.sync import sync_all
from providers.base import Host, State
from tests.fakes.provider import UNAVAILABLE, FakeCloud, factory, make_node

GB = 1024


@dataclass
class Small:
    config: GanyunConfig
    store: Store
    clouds: dict[str, FakeCloud]


def small_config(tmp_path: Path, database: str = "sqlite:///cap.db", **capacity: Any) -> GanyunConfig:
    data: dict[str, Any] = {
        "database": database,
        "centers": [
            {"id": "c1", "name": "生产中心", "role": "production", "site": "ganzhou"},
            {"id": "c2", "name": "同城灾备中心", "role": "same-city-dr", "site": "ganzhou"},
        ],
        "providers": [
            {"name": "leg-a", "driver": "fake", "center": "c1", "pool": "legacy"},
            {"name": "xc-a", "driver": "fake", "center": "c1", "pool": "xinchuang"},
            {"name": "leg-b", "driver": "fake", "center": "c2", "pool": "legacy"},
        ],
        "capacity": {
            "overcommit": {
                "default": {"cpu": 4.0, "ram": 1.0, "disk": 1.0},
                "xinchuang": {"cpu": 2.0, "ram": 1.0},
                "leg-a": {"cpu": 4.0, "ram": 1.5},
            },
            "vm_unit": {"vcpus": 4, "ram_mb": 8 * GB, "disk_gb": 100},
            "rack": {"hosts_per_rack": 10, "kw_per_rack": 5.0, "kw_per_host": 0.4},
            **capacity,
        },
    }
    return parse_config(data, base_dir=str(tmp_path))


def _host(provider: str, hid: str, rack: str, vcpus: int = 32, ram_gb: int = 128, disk: int = 2000,
          kw: float | None = None) -> Host:  # fmt: skip
    return Host(provider=provider, id=hid, name=hid, state=State.RUNNING, vcpus=vcpus, ram_mb=ram_gb * GB,
                disk_gb=disk, rack=rack, power_kw=kw)  # fmt: skip


def build_small(tmp_path: Path, stale: bool = True, database: str = "sqlite:///cap.db", **capacity: Any) -> Small:
    """leg-a: 2 hosts, 3 nodes (one errored without a host: holds nothing); xc-a: 1 host, 2 nodes;
    leg-b: 1 host, 1 node, and its second sync fails (stale)."""
    config = small_config(tmp_path, database, **capacity)
    clouds = {
        "leg-a": FakeCloud(
            nodes=[
                make_node("leg-a", 1, host="h1", tags={"department": "甲局", "system": "甲系统"}),
                make_node("leg-a", 2, host="h2", vcpus=8, ram_mb=16 * GB, disk_gb=200, state=State.STOPPED,
                          tags={"department": "乙局", "system": "乙系统"}),
                make_node("leg-a", 3, host="", vcpus=2, ram_mb=4 * GB, disk_gb=50, state=State.ERROR,
                          tags={"department": "甲局", "system": "甲系统"}),
            ],
            hosts=[_host("leg-a", "h1", "R01"), _host("leg-a", "h2", "R01")],
        ),
        "xc-a": FakeCloud(
            nodes=[make_node("xc-a", i, host="x1", arch="aarch64", cpu_vendor="Kunpeng", os_family="Kylin",
                             tags={"department": "甲局", "system": "甲系统"}) for i in (1, 2)],
            hosts=[_host("xc-a", "x1", "R02", vcpus=64, ram_gb=256, disk=4000, kw=0.5)],
        ),
        "leg-b": FakeCloud(
            nodes=[make_node("leg-b", 1, host="b1", tags={"department": "乙局", "system": "乙系统"})],
            hosts=[_host("leg-b", "b1", "R01")],
        ),
    }
    store = open_store(config.database_url)
    sync_all(config, store, factory=factory(clouds))
    if stale:
        clouds["leg-b"].fail_nodes = UNAVAILABLE
        sync_all(config, store, factory=factory(clouds))
    return Small(config, store, clouds)
