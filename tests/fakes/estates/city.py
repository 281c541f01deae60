"""The city estate the console tests share: three centers, four clouds (one failing), one user per role."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from console import accounts
from inventory.config import GanyunConfig, parse_config
from inventory.scope import Scope
from inventory.store import Store, open_store
from inventory.sync import sync_all
from providers.base import Host, State
from tests.fakes.provider import UNAVAILABLE, FakeCloud, factory, make_node

PASSWORD = "correct-horse-battery"


@dataclass
class Estate:
    config: GanyunConfig
    store: Store
    clouds: dict[str, FakeCloud]
    dir: Path


def estate_config(dr: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "database": "sqlite:///inv.db",
        "centers": [
            {"id": "gz-prod", "name": "赣州政务云生产中心", "role": "production", "site": "ganzhou"},
            {"id": "gz-dr", "name": "同城灾备中心", "role": "same-city-dr", "site": "ganzhou"},
            {"id": "nc-dr", "name": "异地灾备中心", "role": "remote-dr", "site": "nanchang"},
        ],
        "providers": [
            {"name": "hw-gov", "driver": "fake", "center": "gz-prod"},
            {"name": "xc-pool", "driver": "fake", "center": "gz-prod", "pool": "xinchuang"},
            {"name": "dr-cloud", "driver": "fake", "center": "gz-dr"},
            {"name": "ali-gov", "driver": "fake", "center": "nc-dr"},
        ],
        "systems": [{"name": "社保系统", "center": "gz-prod", "rto_s": 10}],
    }
    if dr:
        # Described as any cluster is; nothing runs there (the page only spawns the CLI).
        data["dr"] = {"clusters": {c: {"site": site, "ssh": {"connection": "local"},
                                       "postgres": {"host": "127.0.0.1", "port": 5432 + i},
                                       "node": {"data_dir": f"/nonexistent/{c}", "conf_file": f"/nonexistent/{c}.conf",
                                                "application_name": f"site_{i}"}}
                                   for i, (c, site) in enumerate([("gz-prod", "ganzhou"), ("gz-dr", "ganzhou"),
                                                                  ("nc-dr", "nanchang")])}}  # fmt: skip
    return data


def build_estate(tmp_path: Path, nodes_per_cloud: int = 6, dr: bool = False) -> Estate:
    config = parse_config(estate_config(dr), base_dir=str(tmp_path))
    clouds = {
        "hw-gov": FakeCloud(nodes=[make_node("hw-gov", i) for i in range(nodes_per_cloud)],
                            hosts=[Host(provider="hw-gov", id="h1", name="host-1", state=State.RUNNING, vcpus=64,
                                        ram_mb=262144, disk_gb=4000)]),
        "xc-pool": FakeCloud(nodes=[make_node("xc-pool", i, arch="aarch64", cpu_vendor="Kunpeng",
                                              os_family="Kylin") for i in range(nodes_per_cloud // 2)]),
        "dr-cloud": FakeCloud(nodes=[make_node("dr-cloud", i) for i in range(2)]),
        "ali-gov": FakeCloud(nodes=[make_node("ali-gov", i) for i in range(3)]),
    }
    store = open_store(config.database_url)
    sync_all(config, store, factory=factory(clouds))
    # Second sync: one VM resized (change history) and one cloud down (red, stale).
    clouds["hw-gov"].nodes[0] = replace(clouds["hw-gov"].nodes[0], vcpus=8)
    clouds["ali-gov"].fail_nodes = UNAVAILABLE
    sync_all(config, store, factory=factory(clouds))
    for role in accounts.ROLES:
        accounts.save_local(store, role, role, Scope.city_wide(), PASSWORD)
    return Estate(config, store, clouds, tmp_path)
