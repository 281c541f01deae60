"""A small fixed estate for planning tests: one legacy cloud, two Xinchuang targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inventory.config import GanyunConfig, parse_config
from inventory.store import Store, open_store
from inventory.sync import sync_all
from providers.base import Capability, Host, Image, Network, Node, ProviderSpec, Size, Snapshot, State, Volume

FLAVORS = (("c2m4", 2, 4096, 40), ("c4m8", 4, 8192, 80), ("c8m16", 8, 16384, 100), ("c8m32", 8, 32768, 200))


@dataclass
class Listing:
    nodes: list[Node] = field(default_factory=list)
    hosts: list[Host] = field(default_factory=list)
    sizes: list[Size] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)


class ListingProvider:
    features = frozenset(
        {
            Capability.HOSTS,
            Capability.SIZES,
            Capability.IMAGES,
            Capability.VOLUMES,
            Capability.SNAPSHOTS,
            Capability.NETWORKS,
            Capability.SECURITY_GROUPS,
        }
    )

    def __init__(self, name: str, listing: Listing) -> None:
        self.name = name
        self.listing = listing

    def list_nodes(self) -> Sequence[Node]:
        return self.listing.nodes

    def get_node(self, node_id: str) -> Node:
        return next(n for n in self.listing.nodes if n.id == node_id)

    def list_hosts(self) -> Sequence[Host]:
        return self.listing.hosts

    def list_sizes(self) -> Sequence[Size]:
        return self.listing.sizes

    def list_images(self) -> Sequence[Image]:
        return self.listing.images

    def list_volumes(self) -> Sequence[Volume]:
        return self.listing.volumes

    def list_snapshots(self) -> Sequence[Snapshot]:
        return self.listing.snapshots

    def list_networks(self) -> Sequence[Network]:
        return self.listing.networks

    def list_security_groups(self) -> Sequence[Any]:
        return []


def node(provider: str, i: int, system: str, os_family: str = "CentOS", flavor: int = 1, **kw: Any) -> Node:
    _, vcpus, ram, disk = FLAVORS[flavor]
    base: dict[str, Any] = {
        "provider": provider,
        "id": f"{provider}-n{i}",
        "name": f"{system}-vm{i}",
        "state": State.RUNNING,
        "vcpus": vcpus,
        "ram_mb": ram,
        "disk_gb": disk,
        "arch": "x86_64",
        "cpu_vendor": "Intel",
        "os_family": os_family,
        "ips": (f"10.10.0.{10 + i}",),
        "host": "legacy-cn01",
        "image": f"{provider}-img-{os_family}",
        "tags": {"department": "市人社局", "system": system, "mlps_level": "3", "owner": "张伟"},
    }
    base.update(kw)
    return Node(**base)


def legacy_listing(name: str = "gov-huawei") -> Listing:
    nodes = [node(name, i, "社会保险经办系统") for i in range(4)]
    nodes += [node(name, 4 + i, "就业创业服务平台", flavor=2) for i in range(2)]
    nodes.append(node(name, 6, "就业创业服务平台", os_family="Windows"))
    nodes.append(node(name, 7, "不动产登记系统", tags={"department": "市自然资源局", "system": "不动产登记系统"}))
    nodes.append(node(name, 8, "社会保险经办系统", state=State.ERROR))
    images = [
        Image(provider=name, id=f"{name}-img-{os}", name=os, arch="x86_64", os_family=os, disk_format="qcow2")
        for os in ("CentOS", "Windows")
    ]
    volumes = [
        Volume(
            provider=name, id="vol-1", name="db-data", size_gb=200, volume_type="ssd-luks", attached_to=(f"{name}-n0",)
        )
    ]
    snapshots = [Snapshot(provider=name, id="snap-1", name="old", volume_id="vol-1", size_gb=200)]
    networks = [Network(provider=name, id=f"{name}-net", name="gov-net-01", cidrs=("10.10.0.0/22",))]
    hosts = [Host(provider=name, id="h1", name="legacy-cn01", vcpus=96, ram_mb=786432, disk_gb=7200, arch="x86_64")]
    return Listing(nodes=nodes, hosts=hosts, images=images, volumes=volumes, snapshots=snapshots, networks=networks)


def target_listing(name: str, arch: str, hosts: int = 3, vcpus: int = 64, ram_mb: int = 65536) -> Listing:
    sizes = [Size(provider=name, id=f, name=f, vcpus=c, ram_mb=r, disk_gb=d, arch=arch) for f, c, r, d in FLAVORS]
    host_list = [
        Host(
            provider=name,
            id=f"{name}-h{j}",
            name=f"{name}-cn{j:02d}",
            state=State.RUNNING,
            vcpus=vcpus,
            ram_mb=ram_mb,
            disk_gb=4000,
            arch=arch,
        )
        for j in range(hosts)
    ]
    images = [
        Image(provider=name, id=f"{name}-{os}", name=f"{os}-server", arch=arch, os_family=os, disk_format="qcow2")
        for os in ("Kylin", "openEuler", "UOS")
    ]
    networks = [
        Network(provider=name, id=f"{name}-ext", name="ext-net", cidrs=("172.16.3.0/24",), external=True),
        Network(provider=name, id=f"{name}-net", name="gov-net-01", cidrs=("10.13.0.0/22",)),
    ]
    volumes = [Volume(provider=name, id=f"{name}-v", name="x", size_gb=10, volume_type="ssd-sm4")]
    return Listing(hosts=host_list, sizes=sizes, images=images, networks=networks, volumes=volumes)


def make_config(tmp: Path, extra: dict[str, Any] | None = None) -> GanyunConfig:
    data: dict[str, Any] = {
        "database": f"sqlite:///{tmp / 'ganyun.db'}",
        "providers": [
            {"name": "gov-huawei", "driver": "fake"},
            {"name": "xc-kunpeng", "driver": "fake", "pool": "xinchuang"},
            {"name": "xc-hygon", "driver": "fake", "pool": "xinchuang"},
        ],
        "capacity": {"overcommit": {"default": {"cpu": 4.0}, "xinchuang": {"cpu": 2.0, "ram": 1.0, "disk": 1.0}}},
    }
    data.update(extra or {})
    return parse_config(data, base_dir=str(tmp))


def build_store(config: GanyunConfig, listings: dict[str, Listing]) -> Store:
    store = open_store(config.database_url)

    def factory(spec: ProviderSpec) -> ListingProvider:
        return ListingProvider(spec.name, listings[spec.name])

    sync_all(config, store, factory=factory)  # type: ignore[arg-type]
    return store


def default_listings() -> dict[str, Listing]:
    return {
        "gov-huawei": legacy_listing(),
        "xc-kunpeng": target_listing("xc-kunpeng", "aarch64"),
        "xc-hygon": target_listing("xc-hygon", "x86_64"),
    }
