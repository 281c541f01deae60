"""The deterministic lab estate: `build_estate(scale) -> Estate`, pure and HTTP-free.

Tests and other areas (capacity history, TLS endpoints, DR) call this directly to get the
same data the lab server serves. Each cloud draws from its own seeded `random.Random`, so
a cloud's content does not depend on which other clouds the scale has.
"""

from __future__ import annotations

import ipaddress
import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lab import catalog as cat
from lab.vsphere import estate as vmware

DEFAULT_SEED = 20231215  # the day the city's plan was issued
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Target share of a pool's capacity in use after seeding: legacy clouds are nearly full, the
# Xinchuang pools have real but finite headroom for migrations.
TARGET_FILL = {"legacy": 0.82, "xinchuang": 0.55}
OVERCOMMIT_CPU = {"legacy": 4.0, "xinchuang": 2.0}
MIN_HOSTS = 3
HOSTS_PER_RACK = 16
# The city's e-government extranet (政务外网): one segment every cloud reaches, where services
# are published on floating IPs. An address belongs to one cloud at a time (lab/api/network.py).
EXTRANET_NAME = "gov-extranet"
EXTRANET_CIDR = ipaddress.ip_network("100.64.0.0/20")
_EXTRANET_SEEDED_PER_CLOUD = 64
# The VMware VLANs the city extended into the Hygon pool for the move off vSphere.
_EXTENDED_VLANS_TO = "xc-hygon"
# Workloads that moved into a Xinchuang pool as they were (a foreign guest OS on domestic
# CPUs): the pool counts them, the 信创 policy does not. (cloud, image key, servers).
_MOVED_AS_IS: dict[str, tuple[str, int]] = {"xc-kunpeng": ("centos79", 3), "xc-hygon": ("win2019", 2)}


@dataclass(slots=True)
class Flavor:
    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    extra_specs: dict[str, str]


@dataclass(slots=True)
class Image:
    id: str
    name: str
    architecture: str
    os_distro: str
    os_version: str
    os_family: str
    disk_format: str
    created: str
    min_disk: int = 0
    min_ram: int = 0
    status: str = "active"
    visibility: str = "public"
    properties: dict[str, str] = field(default_factory=dict)
    size: int | None = None
    checksum: str | None = None
    os_hash_value: str | None = None


@dataclass(slots=True)
class Hypervisor:
    id: str
    hostname: str
    host_ip: str
    arch: str
    vendor: str
    model: str
    sockets: int
    cores: int
    threads: int
    vcpus: int
    memory_mb: int
    local_gb: int
    rack: str
    az: str
    load: tuple[float, float, float]
    uptime_days: int


@dataclass(slots=True)
class Server:
    id: str
    name: str
    flavor_id: str
    image_id: str
    host: str  # hypervisor hostname
    az: str
    status: str
    created: str
    metadata: dict[str, str]
    network_index: int
    ip: str
    port_id: str
    security_groups: tuple[str, ...]
    role: str
    updated: str = ""
    fault: dict[str, str] | None = None


@dataclass(slots=True)
class VolumeType:
    id: str
    name: str
    encryption_provider: str = ""
    encryption_cipher: str = ""
    encryption_id: str = ""


@dataclass(slots=True)
class Volume:
    id: str
    name: str
    size_gb: int
    volume_type: str  # type name, as Cinder lists it
    server_id: str | None
    device: str
    bootable: bool
    created: str
    az: str
    metadata: dict[str, str]
    updated: str = ""  # set when the lab changes the volume (detach), as Cinder's updated_at


@dataclass(slots=True)
class Snapshot:
    id: str
    name: str
    volume_id: str
    size_gb: int
    created: str


@dataclass(slots=True)
class Network:
    id: str
    name: str
    subnet_id: str
    cidr: str
    gateway: str
    external: bool = False
    shared: bool = False


@dataclass(slots=True)
class SecurityRule:
    id: str
    direction: str
    protocol: str | None
    port_min: int | None
    port_max: int | None
    remote_ip_prefix: str | None
    ethertype: str = "IPv4"


@dataclass(slots=True)
class SecurityGroup:
    id: str
    name: str
    description: str
    rules: list[SecurityRule]


@dataclass(slots=True)
class FloatingIp:
    id: str
    address: str
    network_id: str
    port_id: str | None = None
    fixed_ip: str = ""
    created: str = ""


@dataclass(slots=True)
class Aggregate:
    id: int
    name: str
    az: str
    hosts: list[str]
    metadata: dict[str, str]


@dataclass(slots=True)
class Cloud:
    name: str
    index: int
    center: str
    pool: str
    region: str
    project_id: str
    project_name: str
    domain: str
    user: str
    arch: str
    cpu_vendor: str
    flavors: list[Flavor]
    images: list[Image]
    hypervisors: list[Hypervisor]
    aggregates: list[Aggregate]
    servers: list[Server]
    volume_types: list[VolumeType]
    volumes: list[Volume]
    snapshots: list[Snapshot]
    networks: list[Network]
    security_groups: list[SecurityGroup]
    floating_ips: list[FloatingIp] = field(default_factory=list)


@dataclass(slots=True)
class Estate:
    scale: str
    seed: int
    now: datetime
    centers: tuple[cat.CenterSpec, ...]
    clouds: list[Cloud]

    def cloud(self, name: str) -> Cloud:
        for c in self.clouds:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def node_count(self) -> int:
        return sum(len(c.servers) for c in self.clouds)


def default_now() -> datetime:
    """Today at midnight UTC: stable for a day, so a lab built twice today is identical."""
    today = datetime.now(UTC).date()
    return datetime(today.year, today.month, today.day, tzinfo=UTC)


def cloud_specs(scale: str) -> tuple[cat.CloudSpec, ...]:
    if scale not in cat.SCALES:
        raise ValueError(f"unknown scale '{scale}' (one of {', '.join(cat.SCALES)})")
    return cat.NAMED_CLOUDS + (cat.EXTRA_CLOUDS if scale == "large" else ())


def nodes_per_cloud(scale: str) -> dict[str, int]:
    specs = cloud_specs(scale)
    total = cat.SCALE_NODES[scale]
    if scale == "large":
        return {s.name: total // len(specs) for s in specs}
    return {s.name: round(total * s.weight) for s in specs}


def build_estate(scale: str = "small", seed: int = DEFAULT_SEED, now: datetime | None = None) -> Estate:
    """The whole estate for a scale. Same (scale, seed, now) -> same estate, byte for byte."""
    anchor = now or default_now()
    counts = nodes_per_cloud(scale)
    codes: dict[str, int] = {}
    rack_counters: dict[str, int] = {c.id: 0 for c in cat.CENTERS}
    clouds = [
        _Builder(spec, index, seed, anchor, codes, rack_counters).build(counts[spec.name])
        for index, spec in enumerate(cloud_specs(scale))
    ]
    return Estate(scale=scale, seed=seed, now=anchor, centers=cat.CENTERS, clouds=clouds)


# --------------------------------------------------------------------------- building


@dataclass(frozen=True, slots=True)
class _Planted:
    """Systems placed on purpose: 市人社局's x86 CentOS systems, candidates for xc-kunpeng."""

    cloud: str
    code: str
    roles: tuple[tuple[str, int], ...]
    images: tuple[str, ...]  # image keys cycled over the nodes


_PLANTED: tuple[_Planted, ...] = (
    _Planted("gov-huawei", "sbjb", (("web", 2), ("app", 4), ("db", 3)), ("centos79",)),
    _Planted("gov-inspur", "jycy", (("web", 1), ("app", 3), ("db", 2)), ("centos79", "centos85")),
    _Planted(
        "gov-huawei",
        "rsgg",
        (("web", 3), ("app", 6), ("db", 3)),
        ("win2016", "rhel79", "centos79", "centos79"),
    ),
    _Planted("county-h3c", "ldjc", (("web", 1), ("app", 2), ("db", 2)), ("centos79",)),
)
_PLANTED_CODES = {p.code for p in _PLANTED}
_SYSTEMS_BY_CODE = {s.code: s for s in cat.CITY_SYSTEMS}

_ROLE_FLAVORS: dict[str, tuple[tuple[str, float], ...]] = {
    "web": (("c2m4", 0.5), ("c4m8", 0.5)),
    "app": (("c4m8", 0.45), ("c4m16", 0.2), ("c8m16", 0.3), ("c16m64", 0.05)),
    "db": (("c8m16", 0.3), ("c8m32", 0.45), ("c16m64", 0.25)),
}
_STATUSES = (("ACTIVE", 0.90), ("SHUTOFF", 0.07), ("PAUSED", 0.01), ("SUSPENDED", 0.01), ("ERROR", 0.01))
SERVERS_PER_NETWORK = 1000


def _uuid(rng: random.Random) -> str:
    """A version-4 UUID string from the seeded generator (uuid.UUID is 3x slower at 100k)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def _ts(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    x = rng.random() * sum(w for _, w in weighted)
    for value, weight in weighted:
        x -= weight
        if x <= 0:
            return value
    return weighted[-1][0]


class _Builder:
    def __init__(
        self,
        spec: cat.CloudSpec,
        index: int,
        seed: int,
        now: datetime,
        codes: dict[str, int],
        rack_counters: dict[str, int],
    ) -> None:
        self.spec = spec
        self.index = index
        self.seed = seed
        self.now = now
        self.codes = codes
        self.rack_counters = rack_counters
        # A string seed is hashed with SHA-512 by `random`, independent of PYTHONHASHSEED.
        self.rng = random.Random(f"ganyun-lab:{seed}:{spec.name}")
        self.servers: list[Server] = []
        self.volumes: list[Volume] = []
        self.snapshots: list[Snapshot] = []
        center = next(c for c in cat.CENTERS if c.id == spec.center)
        self.region = cat.SITE_REGION[center.site]
        self.image_specs = cat.XINCHUANG_IMAGES if spec.pool == "xinchuang" else cat.LEGACY_IMAGES
        self.image_ids: dict[str, str] = {}

    # -- static parts

    def _flavors(self) -> list[Flavor]:
        model = self.spec.host_model
        return [
            Flavor(
                id=f.id,
                name=f"{f.id}.{model.flavor_vendor.lower()}",
                vcpus=f.vcpus,
                ram_mb=f.ram_mb,
                disk_gb=f.disk_gb,
                extra_specs={
                    "capabilities:cpu_info:arch": model.arch,
                    "capabilities:cpu_info:vendor": model.flavor_vendor,
                    "hw:cpu_policy": "shared",
                },
            )
            for f in cat.FLAVORS
        ]

    def _images(self) -> list[Image]:
        arch = self.spec.host_model.arch
        # County clouds came from VMware: their images are vmdk; Xinchuang pools use qcow2/raw.
        fmt = "vmdk" if self.spec.name.startswith("county-") else "qcow2"
        images = []
        for n, spec in enumerate(self.image_specs):
            image_id = _uuid(self.rng)
            self.image_ids[spec.key] = image_id
            created = self.now - timedelta(days=400 + 30 * n)
            images.append(
                Image(
                    id=image_id,
                    name=spec.name if arch == "x86_64" or spec.windows else f"{spec.name}-aarch64",
                    architecture=arch,
                    os_distro=spec.os_distro,
                    os_version=spec.os_version,
                    os_family=spec.os_family,
                    disk_format="raw" if self.spec.pool == "xinchuang" and n % 2 else fmt,
                    created=_ts(created),
                    min_disk=40,
                    properties={"hw_firmware_type": "uefi" if arch == "aarch64" else "bios"},
                )
            )
        return images

    def _networks(self, server_count: int) -> list[Network]:
        rng = self.rng
        ext_net = ipaddress.ip_network(f"172.16.{self.index}.0/24")
        nets = [Network(_uuid(rng), "ext-net", _uuid(rng), str(ext_net), str(ext_net[1]), external=True, shared=True)]
        for k in range(max(1, math.ceil(server_count / SERVERS_PER_NETWORK)) + 1):
            cidr = ipaddress.ip_network(f"10.{10 + self.index}.{4 * k}.0/22")
            nets.append(Network(_uuid(rng), f"gov-net-{k + 1:02d}", _uuid(rng), str(cidr), str(cidr[1])))
        if self.spec.name == _EXTENDED_VLANS_TO:
            for name, subnet in vmware.VLAN_SUBNETS.items():
                cidr = ipaddress.ip_network(f"10.60.{subnet}.0/24")
                nets.append(
                    Network(self._fixed_uuid(name), name, self._fixed_uuid(f"{name}-subnet"), str(cidr), str(cidr[1]))
                )
        nets.append(
            Network(
                self._fixed_uuid("extranet"),
                EXTRANET_NAME,
                self._fixed_uuid("extranet-subnet"),
                str(EXTRANET_CIDR),
                str(EXTRANET_CIDR[1]),
                external=True,
                shared=True,
            )
        )
        return nets

    def _fixed_uuid(self, what: str) -> str:
        """An id that draws nothing from the cloud's generator: records added to the estate
        later must not move every record seeded after them."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ganyun-lab:{self.seed}:{self.spec.name}:{what}"))

    def _security_groups(self) -> list[SecurityGroup]:
        rng = self.rng

        def rule(direction: str, proto: str | None, lo: int | None, hi: int | None, cidr: str | None) -> SecurityRule:
            return SecurityRule(_uuid(rng), direction, proto, lo, hi, cidr)

        egress = rule("egress", None, None, None, None)
        groups = [
            ("default", "默认安全组", [egress, rule("ingress", "icmp", None, None, "10.0.0.0/8")]),
            ("web-public", "门户访问", [rule("ingress", "tcp", 443, 443, "0.0.0.0/0"),
                                       rule("ingress", "tcp", 80, 80, "0.0.0.0/0")]),
            ("ops-ssh", "运维SSH（内网）", [rule("ingress", "tcp", 22, 22, "10.0.0.0/8")]),
            ("db-internal", "数据库（内网）", [rule("ingress", "tcp", 3306, 3306, "10.0.0.0/8"),
                                              rule("ingress", "tcp", 5432, 5432, "10.0.0.0/8")]),
            # Planted problems for the compliance audit: management ports open to the world.
            ("ssh-open", "临时调试（待整改）", [rule("ingress", "tcp", 22, 22, "0.0.0.0/0")]),
            ("db-open", "数据库直连（待整改）", [rule("ingress", "tcp", 3306, 3306, "0.0.0.0/0")]),
        ]  # fmt: skip
        if self.spec.pool == "legacy":
            groups.append(("rdp-open", "远程桌面（待整改）", [rule("ingress", "tcp", 3389, 3389, "0.0.0.0/0")]))
        return [SecurityGroup(_uuid(rng), name, desc, rules) for name, desc, rules in groups]

    def _volume_types(self) -> list[VolumeType]:
        rng = self.rng
        types = [
            VolumeType(_uuid(rng), "sata"),
            VolumeType(_uuid(rng), "ssd"),
            VolumeType(_uuid(rng), "ssd-luks", "luks", "aes-xts-plain64", _uuid(rng)),
        ]
        if self.spec.pool == "xinchuang":
            types.append(VolumeType(_uuid(rng), "ssd-sm4", "luks", "sm4-xts", _uuid(rng)))
        return types

    # -- systems and nodes

    def _code(self, base: str) -> str:
        n = self.codes.get(base, 0) + 1
        self.codes[base] = n
        return base if n == 1 else f"{base}{n}"

    def _random_system(self) -> tuple[str, str, str, int]:
        """(department, system name, base code, mlps level) for this cloud."""
        rng = self.rng
        county_share = 0.8 if self.spec.county else 0.7 if self.spec.name == "county-h3c" else 0.2
        if rng.random() < county_share:
            county = self.spec.county or rng.choice(list(cat.COUNTY_CODES))
            suffix, code, mlps = rng.choice(cat.COUNTY_SYSTEM_TEMPLATES)
            return county, f"{county}{suffix}", f"{cat.COUNTY_CODES[county]}-{code}", mlps
        while True:
            s = rng.choice(cat.CITY_SYSTEMS)
            if s.code not in _PLANTED_CODES:
                return s.department, s.name, s.code, s.mlps

    def _add_system(
        self,
        department: str,
        system: str,
        base_code: str,
        mlps: int,
        roles: Sequence[tuple[str, int]],
        image_keys: Sequence[str] = (),
    ) -> None:
        rng = self.rng
        code = self._code(base_code)
        owner = rng.choice(cat.OWNERS)
        if not image_keys:
            primary = _pick(rng, [(s.key, s.weight) for s in self.image_specs])
            image_keys = (primary,)
        windows = {s.key for s in self.image_specs if s.windows}
        linux = [s.key for s in self.image_specs if not s.windows]
        # Older systems were built earlier; the whole system shares a creation window.
        base_days = int(365 * (1.0 - rng.random() ** 0.8))
        n = 0
        for role, count in roles:
            for i in range(count):
                key = image_keys[n % len(image_keys)]
                if len(image_keys) == 1 and rng.random() < 0.15:
                    key = rng.choice(linux)
                if role == "db" and key in windows:
                    key = linux[0]
                self._add_server(
                    name=f"{code}-{role}-{i + 1:02d}",
                    role=role,
                    image_key=key,
                    metadata={
                        "department": department,
                        "system": system,
                        "mlps_level": str(mlps),
                        "owner": owner,
                        "role": role,
                    },
                    days_ago=max(0, base_days - rng.randint(0, 20)),
                    mlps=mlps,
                    windows=key in windows,
                )
                n += 1

    def _add_server(
        self,
        name: str,
        role: str,
        image_key: str,
        metadata: dict[str, str],
        days_ago: int,
        mlps: int,
        windows: bool,
    ) -> None:
        rng = self.rng
        index = len(self.servers)
        created = self.now - timedelta(days=days_ago, seconds=rng.randint(0, 86399))
        groups = ["default"]
        if role == "web":
            groups.append("web-public")
        if role == "db":
            groups.append("db-open" if rng.random() < 0.05 else "db-internal")
        else:
            groups.append("ssh-open" if rng.random() < 0.03 else "ops-ssh")
        if windows and self.spec.pool == "legacy" and rng.random() < 0.25:
            groups.append("rdp-open")
        status = _pick(rng, _STATUSES)
        server = Server(
            id=_uuid(rng),
            name=name,
            flavor_id=_pick(rng, _ROLE_FLAVORS[role]),
            image_id=self.image_ids[image_key],
            host="",
            az="",
            status=status,
            created=_ts(created),
            metadata=metadata,
            network_index=index // SERVERS_PER_NETWORK,
            ip="",
            port_id=_uuid(rng),
            security_groups=tuple(groups),
            role=role,
            fault={"code": "500", "message": "No valid host was found."} if status == "ERROR" else None,
        )
        server.updated = server.created
        self.servers.append(server)
        self._add_volumes(server, created, mlps)

    def _add_volumes(self, server: Server, created: datetime, mlps: int) -> None:
        rng = self.rng
        count = {"db": 2, "app": 1, "web": 1 if rng.random() < 0.4 else 0}[server.role]
        for k in range(count):
            encrypted = rng.random() < (0.75 if mlps >= 3 else 0.2)
            if encrypted:
                vtype = "ssd-sm4" if self.spec.pool == "xinchuang" and rng.random() < 0.7 else "ssd-luks"
            else:
                vtype = "ssd" if server.role == "db" else rng.choice(("sata", "ssd"))
            size = {"db": rng.choice((200, 500, 1000)), "app": 100, "web": 50}[server.role]
            volume = Volume(
                id=_uuid(rng),
                name=f"{server.name}-data{k + 1}",
                size_gb=size,
                volume_type=vtype,
                server_id=server.id,
                device=f"/dev/vd{'bcdefg'[k]}",
                bootable=False,
                created=_ts(created + timedelta(minutes=5 + k)),
                az="",
                metadata={"system": server.metadata["system"]},
            )
            self.volumes.append(volume)
            if server.role == "db" and rng.random() < 0.15:
                snap_time = self.now - timedelta(days=rng.randint(0, 30), seconds=rng.randint(0, 86399))
                self.snapshots.append(Snapshot(_uuid(rng), f"{volume.name}-snap", volume.id, size, _ts(snap_time)))

    def _orphans(self) -> None:
        """A few detached volumes: forgotten disks are a classic showback finding."""
        rng = self.rng
        for k in range(max(1, len(self.servers) // 40)):
            created = self.now - timedelta(days=rng.randint(30, 360))
            self.volumes.append(
                Volume(_uuid(rng), f"orphan-{k + 1:03d}", rng.choice((50, 100, 200)), "sata", None, "", False,
                       _ts(created), "", {})
            )  # fmt: skip

    # -- hosts

    def _hypervisors(self, flavors: dict[str, Flavor]) -> tuple[list[Hypervisor], list[Aggregate]]:
        rng = self.rng
        model = self.spec.host_model
        pool = self.spec.pool
        vcpu_demand = sum(flavors[s.flavor_id].vcpus for s in self.servers)
        ram_demand = sum(flavors[s.flavor_id].ram_mb for s in self.servers)
        fill = TARGET_FILL[pool]
        by_cpu = vcpu_demand / (model.vcpus * OVERCOMMIT_CPU[pool] * fill)
        by_ram = ram_demand / (model.memory_mb * fill)
        count = max(MIN_HOSTS, math.ceil(max(by_cpu, by_ram)))
        base_ip = int(ipaddress.IPv4Address("192.168.0.0")) + 1024 * self.index
        hypervisors: list[Hypervisor] = []
        aggregates: list[Aggregate] = []
        for j in range(count):
            if j % HOSTS_PER_RACK == 0:
                self.rack_counters[self.spec.center] += 1
                label = f"R{self.rack_counters[self.spec.center]:02d}"
                az = f"{self.spec.center}-az{1 + (len(aggregates) % 2)}"
                aggregates.append(
                    Aggregate(
                        id=self.index * 1000 + len(aggregates) + 1,
                        name=f"rack-{self.spec.center}-{label}",
                        az=az,
                        hosts=[],
                        metadata={"rack": label, "availability_zone": az},
                    )
                )
            agg = aggregates[-1]
            hostname = f"{self.spec.name}-cn{j + 1:04d}"
            agg.hosts.append(hostname)
            load = round(rng.uniform(0.5, 24.0), 2)
            hypervisors.append(
                Hypervisor(
                    id=_uuid(rng),
                    hostname=hostname,
                    host_ip=str(ipaddress.IPv4Address(base_ip + j + 1)),
                    arch=model.arch,
                    vendor=model.cpu_vendor,
                    model=model.model,
                    sockets=model.sockets,
                    cores=model.cores,
                    threads=model.threads,
                    vcpus=model.vcpus,
                    memory_mb=model.memory_mb,
                    local_gb=model.local_gb,
                    rack=agg.metadata["rack"],
                    az=agg.az,
                    load=(load, round(load * 0.9, 2), round(load * 0.85, 2)),
                    uptime_days=rng.randint(3, 420),
                )
            )
        return hypervisors, aggregates

    def build(self, target: int) -> Cloud:
        rng = self.rng
        flavors = self._flavors()
        images = self._images()
        volume_types = self._volume_types()
        groups = self._security_groups()
        for planted in _PLANTED:
            if planted.cloud == self.spec.name:
                s = _SYSTEMS_BY_CODE[planted.code]
                self._add_system(s.department, s.name, s.code, s.mlps, planted.roles, planted.images)
        while len(self.servers) < target:
            department, system, code, mlps = self._random_system()
            roles = [("web", rng.randint(1, 3)), ("app", rng.randint(1, 4) + (mlps >= 3)), ("db", rng.randint(1, 2))]
            room = target - len(self.servers)
            trimmed: list[tuple[str, int]] = []
            for role, count in roles:
                take = min(count, room)
                room -= take
                if take:
                    trimmed.append((role, take))
            self._add_system(department, system, code, mlps, trimmed)
        self._orphans()
        flavor_map = {f.id: f for f in flavors}
        hypervisors, aggregates = self._hypervisors(flavor_map)
        networks = self._networks(len(self.servers))
        internal = [n for n in networks if not n.external]
        # Round robin over hosts spreads each system's nodes (anti-affinity, like a real scheduler).
        offset = rng.randrange(len(hypervisors))
        az_of = {h.hostname: h.az for h in hypervisors}
        net_base = [int(ipaddress.ip_network(n.cidr).network_address) for n in internal]
        for i, server in enumerate(self.servers):
            server.host = hypervisors[(i + offset) % len(hypervisors)].hostname
            server.az = az_of[server.host]
            server.ip = str(ipaddress.IPv4Address(net_base[server.network_index] + 10 + i % SERVERS_PER_NETWORK))
        server_az = {s.id: s.az for s in self.servers}
        default_az = hypervisors[0].az
        for volume in self.volumes:
            volume.az = server_az.get(volume.server_id or "", default_az)
        self._move_as_is(images)
        floating_ips = self._published(networks[-1])
        model = self.spec.host_model
        return Cloud(
            name=self.spec.name,
            index=self.index,
            center=self.spec.center,
            pool=self.spec.pool,
            region=self.region,
            project_id=uuid.UUID(int=rng.getrandbits(128), version=4).hex,
            project_name="gov-ops",
            domain="Default",
            user="ganyun",
            arch=model.arch,
            cpu_vendor=model.flavor_vendor,
            flavors=flavors,
            images=images,
            hypervisors=hypervisors,
            aggregates=aggregates,
            servers=self.servers,
            volume_types=volume_types,
            volumes=self.volumes,
            snapshots=self.snapshots,
            networks=networks,
            security_groups=groups,
            floating_ips=floating_ips,
        )

    def _move_as_is(self, images: list[Image]) -> None:
        """Some servers of a Xinchuang pool run the foreign OS they had before (_MOVED_AS_IS)."""
        moved = _MOVED_AS_IS.get(self.spec.name)
        if moved is None or not self.servers:
            return
        key, count = moved
        spec = next(s for s in cat.LEGACY_IMAGES if s.key == key)
        arch = self.spec.host_model.arch
        image = Image(
            id=self._fixed_uuid(f"image:{key}"),
            name=spec.name if arch == "x86_64" else f"{spec.name.removesuffix('-x86_64')}-{arch}",
            architecture=arch,
            os_distro=spec.os_distro,
            os_version=spec.os_version,
            os_family=spec.os_family,
            disk_format="qcow2",
            created=_ts(self.now - timedelta(days=600)),
            min_disk=40,
            properties={"hw_firmware_type": "uefi" if arch == "aarch64" else "bios"},
        )
        images.append(image)
        step = max(1, len(self.servers) // count)
        for k in range(min(count, len(self.servers))):
            server = self.servers[(7 + k * step) % len(self.servers)]
            server.image_id = image.id

    def _published(self, extranet: Network) -> list[FloatingIp]:
        """The planted systems' web servers are published on the extranet (a floating IP each)."""
        planted = {p.code for p in _PLANTED if p.cloud == self.spec.name}
        base = int(EXTRANET_CIDR.network_address) + 16 + _EXTRANET_SEEDED_PER_CLOUD * self.index
        out: list[FloatingIp] = []
        for server in self.servers:
            if server.role != "web" or server.name.rsplit("-", 2)[0] not in planted:
                continue
            if len(out) >= _EXTRANET_SEEDED_PER_CLOUD:
                break
            out.append(
                FloatingIp(
                    id=self._fixed_uuid(f"fip:{server.id}"),
                    address=str(ipaddress.IPv4Address(base + len(out))),
                    network_id=extranet.id,
                    port_id=server.port_id,
                    fixed_ip=server.ip,
                    created=server.created,
                )
            )
        return out


def utilization(server_id: str) -> tuple[float, float, float]:
    """30-day (cpu_avg_pct, cpu_p95_pct, ram_avg_pct) for a server, derived from its id.

    Derived rather than stored so that 100,000 nodes cost no memory; a fifth of the estate is
    nearly idle, which is what right-sizing reports should find.
    """
    rng = random.Random(server_id)
    idle = rng.random() < 0.2
    cpu_avg = rng.uniform(0.5, 6.0) if idle else rng.uniform(8.0, 65.0)
    cpu_p95 = min(100.0, cpu_avg * rng.uniform(1.3, 2.2))
    ram_avg = rng.uniform(10.0, 35.0) if idle else rng.uniform(35.0, 88.0)
    return round(cpu_avg, 1), round(cpu_p95, 1), round(ram_avg, 1)
