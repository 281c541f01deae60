"""The part of the estate that still runs on VMware: `vsphere_estate(scale) -> VSphereEstate`.

Deterministic for a (scale, seed): the same names, guests and disks every time, so that a
restarted simulator serves the same vCenter. Departments and systems come from the lab catalog;
custom attributes carry them the way the city's vCenter does, under Chinese attribute names.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

from lab import catalog as cat

DATACENTER = "gz-prod-dc"
SWITCH = "gz-dvs01"
NETWORKS = ("VLAN101-业务网", "VLAN102-数据库网")
# Their subnets; the city extended both VLANs into the Hygon pool for the move (lab/seed.py),
# so a rehost there keeps each VM's address on a fixed-IP port.
VLAN_SUBNETS = {NETWORKS[0]: 101, NETWORKS[1]: 102}
DATASTORES = ("gz-vmw-ds01", "gz-vmw-ds02")
DATASTORE_CAPACITY_GB = 20480  # two 20 TB LUNs shared by every host
# The city's vCenter names its custom attributes in Chinese: 单位, 业务系统, 等保级别, 负责人.
ATTRIBUTES = {"department": "单位", "system": "业务系统", "mlps_level": "等保级别", "owner": "负责人"}
USERNAME = "administrator@vsphere.local"

# Per scale: (Intel hosts, Hygon hosts, VMs).
SIZES = {"small": (3, 2, 24), "city": (6, 4, 72), "large": (12, 8, 200)}


@dataclass(frozen=True, slots=True)
class GuestOS:
    """A guest as vCenter reports it: the configured id and VMware Tools' own name."""

    key: str
    guest_id: str
    full_name: str
    weight: float
    windows: bool = False


GUESTS: tuple[GuestOS, ...] = (
    GuestOS("centos79", "centos7_64Guest", "CentOS 7 (64-bit)", 0.40),
    GuestOS("centos85", "centos8_64Guest", "CentOS 8 (64-bit)", 0.08),
    GuestOS("rhel79", "rhel7_64Guest", "Red Hat Enterprise Linux 7 (64-bit)", 0.16),
    GuestOS("rhel86", "rhel8_64Guest", "Red Hat Enterprise Linux 8 (64-bit)", 0.10),
    GuestOS("win2016", "windows9Server64Guest", "Microsoft Windows Server 2016 (64-bit)", 0.14, True),
    GuestOS("win2019", "windows2019srv_64Guest", "Microsoft Windows Server 2019 (64-bit)", 0.12, True),
)
# Guests vCenter has no id for run as "other Linux"; only Tools' name tells what they are.
KYLIN_ON_HYGON = GuestOS("kylin10", "otherLinux64Guest", "Kylin Linux Advanced Server V10 (Sword)", 0.0)

# (cluster, vendor as HostCpuPackage.vendor, model string, sockets, cores, threads, MHz, memory MB, maker, model)
_CLUSTERS = (
    ("gz-vmw-cl01", "intel", "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", 2, 24, 2, 3000, 786432, "Inspur", "NF5280M5"),
    ("gz-vmw-cl02", "hygon", "Hygon C86 7285 32-core Processor", 2, 32, 2, 2000, 524288, "Sugon", "R6240H0"),
)  # fmt: skip
_ROLES = (("web", 2), ("app", 3), ("db", 2))
_ROLE_SIZES = {"web": (2, 4096), "app": (4, 8192), "db": (8, 16384)}
_SYSTEM_DISK_GB = 40
_DATA_DISK_GB = 100


@dataclass(slots=True)
class Disk:
    datastore: str
    path: str  # inside the datastore
    capacity_kb: int
    thin: bool = True


@dataclass(slots=True)
class VM:
    name: str
    host: str
    guest_id: str
    guest_full_name: str
    cpus: int
    memory_mb: int
    disks: list[Disk]
    network: str
    ip: str
    guest_hostname: str
    power_on: bool
    attributes: dict[str, str]


@dataclass(slots=True)
class HostSpec:
    name: str
    cpu_vendor: str
    cpu_model: str
    sockets: int
    cores: int
    threads: int
    mhz: int
    memory_mb: int
    vendor: str
    model: str
    product: str = "VMware ESXi 7.0.3 build-20036589"


@dataclass(slots=True)
class ClusterSpec:
    name: str
    hosts: list[HostSpec]


@dataclass(slots=True)
class VSphereEstate:
    datacenter: str
    switch: str
    networks: list[str]
    clusters: list[ClusterSpec]
    datastores: list[str]
    attributes: list[str]
    vms: list[VM] = field(default_factory=list)

    def seed(self, datastore_dirs: dict[str, str]) -> dict[str, Any]:
        """The simulator's seed file: this estate with each datastore's directory."""
        out = asdict(self)
        out["datastores"] = [
            {"name": n, "dir": datastore_dirs[n], "capacity_gb": DATASTORE_CAPACITY_GB} for n in self.datastores
        ]
        return out


def vsphere_estate(scale: str = "small", seed: int = 20231215) -> VSphereEstate:
    intel_hosts, hygon_hosts, vm_count = SIZES[scale]
    rng = random.Random(f"ganyun-lab-vsphere:{seed}:{scale}")
    clusters = []
    for (name, vendor, model, sockets, cores, threads, mhz, memory, maker, server), count in zip(
        _CLUSTERS, (intel_hosts, hygon_hosts), strict=True
    ):
        hosts = [
            HostSpec(f"esxi-{name[-4:]}-{i + 1:02d}.gz.gov.local", vendor, model, sockets, cores, threads, mhz,
                     memory, maker, server)
            for i in range(count)
        ]  # fmt: skip
        clusters.append(ClusterSpec(name, hosts))
    estate = VSphereEstate(
        datacenter=DATACENTER,
        switch=SWITCH,
        networks=list(NETWORKS),
        clusters=clusters,
        datastores=list(DATASTORES),
        attributes=list(ATTRIBUTES.values()),
    )
    intel = [h.name for h in clusters[0].hosts]
    hygon = [h.name for h in clusters[1].hosts]
    systems = [s for s in cat.CITY_SYSTEMS if s.mlps < 4]
    rng.shuffle(systems)
    per_system = sum(n for _, n in _ROLES)
    for n, system in enumerate(systems[: -(-vm_count // per_system)]):
        owner = rng.choice(cat.OWNERS)
        # One system in four was built on the Hygon cluster; some of those already run Kylin.
        on_hygon = n % 4 == 3
        code = f"vmw-{system.code}"
        for role, count in _ROLES:
            for i in range(count):
                if len(estate.vms) >= vm_count:
                    return estate
                guest = _guest(rng, role, on_hygon)
                name = f"{code}-{role}-{i + 1:02d}"
                estate.vms.append(
                    _vm(
                        name,
                        host=rng.choice(hygon if on_hygon else intel),
                        guest=guest,
                        role=role,
                        index=len(estate.vms),
                        power_on=rng.random() < 0.9,
                        attributes={
                            ATTRIBUTES["department"]: system.department,
                            ATTRIBUTES["system"]: system.name,
                            ATTRIBUTES["mlps_level"]: f"{system.mlps}级",
                            ATTRIBUTES["owner"]: owner,
                        },
                    )
                )
    return estate


def _guest(rng: random.Random, role: str, on_hygon: bool) -> GuestOS:
    if on_hygon and rng.random() < 0.5:
        return KYLIN_ON_HYGON
    x = rng.random() * sum(g.weight for g in GUESTS)
    for guest in GUESTS:
        x -= guest.weight
        if x <= 0:
            break
    # Databases run Linux here, as in the rest of the estate.
    return GUESTS[0] if role == "db" and guest.windows else guest


def _vm(name: str, host: str, guest: GuestOS, role: str, index: int, power_on: bool, attributes: dict[str, str]) -> VM:
    cpus, memory = _ROLE_SIZES[role]
    datastore = DATASTORES[index % len(DATASTORES)]
    disks = [Disk(datastore, str(PurePosixPath(name) / f"{name}.vmdk"), _SYSTEM_DISK_GB * 1024 * 1024)]
    if role == "db":
        disks.append(Disk(datastore, str(PurePosixPath(name) / f"{name}_1.vmdk"), _DATA_DISK_GB * 1024 * 1024))
    network = NETWORKS[1] if role == "db" else NETWORKS[0]
    subnet = VLAN_SUBNETS[network]
    return VM(
        name=name,
        host=host,
        guest_id=guest.guest_id,
        guest_full_name=guest.full_name,
        cpus=cpus,
        memory_mb=memory,
        disks=disks,
        network=network,
        ip=f"10.60.{subnet}.{10 + index}",
        guest_hostname=name,
        power_on=power_on,
        attributes=attributes,
    )
