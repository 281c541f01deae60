"""Normalized records, states, capabilities and the core Provider protocol.

Everything that leaves providers/ is one of these types: adapters never hand out SDK
objects, so inventory, security and playbooks stay independent of libcloud and kubernetes.
What an adapter can do beyond listing nodes it declares as data (`features`); the protocol
of each capability is in providers/capabilities.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

import orjson


class State(StrEnum):
    """Normalized resource state, with libcloud's NodeState names."""

    RUNNING = "running"
    STOPPED = "stopped"
    PENDING = "pending"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    ERROR = "error"
    UNKNOWN = "unknown"


class Kind(StrEnum):
    """The kinds of record an adapter lists; also the inventory's table names."""

    NODE = "node"
    HOST = "host"
    SIZE = "size"
    IMAGE = "image"
    VOLUME = "volume"
    SNAPSHOT = "snapshot"
    NETWORK = "network"
    CLUSTER = "cluster"
    SECURITY_GROUP = "security_group"


class Capability(StrEnum):
    """What an adapter offers beyond `list_nodes` and `get_node`, declared in its `features`.

    Callers check the declaration (providers/capabilities.py) instead of probing for methods:
    an adapter that does not declare a capability does not have its methods.
    """

    # Listings of the other record kinds.
    HOSTS = "hosts"
    SIZES = "sizes"
    IMAGES = "images"
    VOLUMES = "volumes"
    SNAPSHOTS = "snapshots"
    NETWORKS = "networks"
    SECURITY_GROUPS = "security_groups"
    CLUSTERS = "clusters"
    # Changes since the last sync instead of complete listings.
    NODE_DELTA = "node_delta"
    VOLUME_DELTA = "volume_delta"
    WATERMARK = "watermark"  # the adapter's own marker for the next delta, instead of a time
    CLOUD_CLOCK = "cloud_clock"  # the cloud's own time (HTTP Date) at its first answer
    # Measurements and certificates.
    UTILIZATION = "utilization"
    TLS_SECRETS = "tls_secrets"
    # Actions (migration steps).
    POWER = "power"  # start_node, stop_node
    CREATE_NODE = "create_node"
    DESTROY_NODE = "destroy_node"
    NODE_METADATA = "node_metadata"
    NODE_SNAPSHOT = "node_snapshot"  # create_snapshot of a node, delete_image of that snapshot
    IMPORT_IMAGE = "import_image"  # import_image, delete_image of an imported image
    EXPORT_IMAGE = "export_image"
    IMAGE_LOOKUP = "image_lookup"  # get_image: one image with its current state
    FLOATING_IPS = "floating_ips"
    DATASTORE_FILES = "datastore_files"  # a node's disks are files to download (vSphere)
    # A server-side session (vSphere's change collector) that the next sync continues.
    SESSION_RESUME = "session_resume"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Record:
    """Fields every record has."""

    KIND: ClassVar[Kind]

    provider: str
    id: str
    name: str
    state: State = State.UNKNOWN
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as strings, datetimes as ISO 8601)."""
        out: dict[str, Any] = {"kind": self.KIND.value}
        try:
            # orjson walks the dataclass in C; sync turns every listed record into this dict.
            out.update(orjson.loads(orjson.dumps(self, default=_orjson_default, option=orjson.OPT_NON_STR_KEYS)))
        except orjson.JSONEncodeError:
            for f in dataclasses.fields(self):
                out[f.name] = _jsonable(getattr(self, f.name))
        return out


def _orjson_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(type(value).__name__)


def _jsonable(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Nested records such as SecurityRule: stored as objects, not as their repr().
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


# Tag keys of the estate's conventions: 单位, 业务系统, 等保级别, 负责人.
TAG_DEPARTMENT = "department"
TAG_SYSTEM = "system"
TAG_MLPS_LEVEL = "mlps_level"
TAG_OWNER = "owner"


@dataclass(frozen=True, slots=True)
class Node(Record):
    """A virtual machine or workload."""

    KIND: ClassVar[Kind] = Kind.NODE

    vcpus: int = 0
    ram_mb: int = 0
    disk_gb: int = 0
    arch: str = ""
    cpu_vendor: str = ""
    os_family: str = ""
    ips: tuple[str, ...] = ()
    host: str = ""
    image: str = ""
    size: str = ""
    created_at: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def department(self) -> str:
        return self.tags.get(TAG_DEPARTMENT, "")

    @property
    def system(self) -> str:
        return self.tags.get(TAG_SYSTEM, "")

    @property
    def mlps_level(self) -> int | None:
        raw = self.tags.get(TAG_MLPS_LEVEL, "")
        return int(raw) if raw.isdigit() else None


@dataclass(frozen=True, slots=True)
class Host(Record):
    """A hypervisor or a cluster node: physical capacity."""

    KIND: ClassVar[Kind] = Kind.HOST

    vcpus: int = 0
    ram_mb: int = 0
    disk_gb: int = 0
    vcpus_used: int = 0
    ram_mb_used: int = 0
    disk_gb_used: int = 0
    arch: str = ""
    cpu_vendor: str = ""
    cpu_model: str = ""
    os_family: str = ""  # the host's own operating system (ESXi, Kylin, openEuler, ...)
    rack: str = ""
    power_kw: float | None = None
    cpu_util_pct: float | None = None
    running_vms: int = 0


@dataclass(frozen=True, slots=True)
class Size(Record):
    KIND: ClassVar[Kind] = Kind.SIZE

    vcpus: int = 0
    ram_mb: int = 0
    disk_gb: int = 0
    arch: str = ""


@dataclass(frozen=True, slots=True)
class Image(Record):
    KIND: ClassVar[Kind] = Kind.IMAGE

    arch: str = ""
    os_family: str = ""
    os_version: str = ""
    disk_format: str = ""
    size_bytes: int = 0
    checksum: str = ""


@dataclass(frozen=True, slots=True)
class Volume(Record):
    KIND: ClassVar[Kind] = Kind.VOLUME

    size_gb: int = 0
    volume_type: str = ""
    attached_to: tuple[str, ...] = ()
    encrypted: bool | None = None
    encryption_cipher: str = ""
    bootable: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Snapshot(Record):
    KIND: ClassVar[Kind] = Kind.SNAPSHOT

    volume_id: str = ""
    size_gb: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Network(Record):
    KIND: ClassVar[Kind] = Kind.NETWORK

    cidrs: tuple[str, ...] = ()
    shared: bool = False
    external: bool = False


@dataclass(frozen=True, slots=True)
class SecurityRule:
    direction: str
    protocol: str
    port_min: int | None
    port_max: int | None
    remote_cidr: str


@dataclass(frozen=True, slots=True)
class SecurityGroup(Record):
    KIND: ClassVar[Kind] = Kind.SECURITY_GROUP

    rules: tuple[SecurityRule, ...] = ()
    attached_to: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Cluster(Record):
    KIND: ClassVar[Kind] = Kind.CLUSTER

    version: str = ""
    node_count: int = 0


@dataclass(frozen=True, slots=True)
class Utilization:
    """Measured use of one node over a window (not a listing record: no id/state of its own)."""

    provider: str
    node_id: str
    cpu_avg_pct: float
    cpu_p95_pct: float
    ram_avg_pct: float
    window_days: int = 30
    disk_used_pct: float | None = None  # share of the VM's disks in use now, where measured

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True, slots=True)
class DailyUtilization:
    """One node's average use over one day of the window (the day the period ends on, UTC)."""

    provider: str
    node_id: str
    day: date
    cpu_avg_pct: float
    ram_avg_pct: float | None = None  # None: no memory figure that day


# --------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What an adapter needs from one config entry, with credentials already resolved."""

    name: str
    driver: str
    key: str = ""
    secret: str = field(default="", repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    center: str = ""
    pool: str = "legacy"
    timeout_s: float = 30.0
    # Where utilization comes from instead of the adapter (providers/prometheus.py settings).
    prometheus: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a new node is asked to run: an availability zone, a host within it (clouds let
    only some accounts pick one), and scheduler hints relative to nodes already placed."""

    zone: str = ""
    host: str = ""
    different_host: tuple[str, ...] = ()
    same_host: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FloatingIp:
    """An address on an external network that follows whichever node it is attached to."""

    provider: str
    id: str
    address: str
    network_id: str = ""
    node_id: str = ""
    port_id: str = ""
    fixed_ip: str = ""


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class Provider(Protocol):
    """One backend: what every adapter has. List calls return complete listings or raise a
    ProviderError; everything else is declared in `features` (providers/capabilities.py)."""

    name: str
    features: frozenset[Capability]

    def list_nodes(self) -> Sequence[Node]: ...
    def get_node(self, node_id: str) -> Node: ...
