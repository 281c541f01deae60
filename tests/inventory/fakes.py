"""An in-memory Provider for testing sync semantics without HTTP."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from providers.base import (
    Capability,
    Host,
    Image,
    Network,
    Node,
    ProviderSpec,
    SecurityGroup,
    Size,
    Snapshot,
    State,
    Volume,
)
from providers.errors import AuthError, NotFound, Unavailable


def make_node(provider: str, i: int, **kw: object) -> Node:
    base = Node(
        provider=provider,
        id=f"{provider}-n{i}",
        name=f"vm-{i}",
        state=State.RUNNING,
        vcpus=4,
        ram_mb=8192,
        disk_gb=100,
        arch="x86_64",
        cpu_vendor="Intel",
        os_family="CentOS",
        ips=(f"10.0.0.{i}",),
        host="host-1",
        image="img-1",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        tags={"department": "市人社局", "system": "社保系统", "mlps_level": "3", "owner": "ops"},
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@dataclass
class FakeCloud:
    """What a fake cloud holds and how it misbehaves."""

    nodes: list[Node] = field(default_factory=list)
    hosts: list[Host] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    fail_nodes: Exception | None = None
    forbidden: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)


LISTINGS = frozenset(
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


class FakeProvider:
    features = LISTINGS

    def __init__(self, name: str, cloud: FakeCloud) -> None:
        self.name = name
        self.cloud = cloud

    def _guard(self, kind: str) -> None:
        self.cloud.calls.append(kind)
        if kind in self.cloud.forbidden:
            raise AuthError(self.name, f"list_{kind}", "403 Forbidden")

    def get_node(self, node_id: str) -> Node:
        for node in self.cloud.nodes:
            if node.id == node_id:
                return node
        raise NotFound(self.name, "get_node", node_id)

    def list_nodes(self) -> Sequence[Node]:
        self.cloud.calls.append("nodes")
        if self.cloud.fail_nodes is not None:
            raise self.cloud.fail_nodes
        return list(self.cloud.nodes)

    def list_hosts(self) -> Sequence[Host]:
        self._guard("hosts")
        return list(self.cloud.hosts)

    def list_sizes(self) -> Sequence[Size]:
        return []

    def list_images(self) -> Sequence[Image]:
        return []

    def list_volumes(self) -> Sequence[Volume]:
        self._guard("volumes")
        return list(self.cloud.volumes)

    def list_snapshots(self) -> Sequence[Snapshot]:
        return []

    def list_networks(self) -> Sequence[Network]:
        self._guard("networks")
        if "networks-missing" in self.cloud.forbidden:
            raise NotFound(self.name, "list_networks", "404 no network service")
        return []

    def list_security_groups(self) -> Sequence[SecurityGroup]:
        return []


def factory(clouds: Mapping[str, FakeCloud]) -> Callable[[ProviderSpec], FakeProvider]:
    def make(spec: ProviderSpec) -> FakeProvider:
        return FakeProvider(spec.name, clouds[spec.name])

    return make


UNAVAILABLE = Unavailable("x", "list_nodes", "HTTP 500")


class DeltaProvider(FakeProvider):
    """A provider that answers changes-since like Nova: changed nodes and deleted ids."""

    features = LISTINGS | {Capability.NODE_DELTA}

    def __init__(self, name: str, cloud: FakeCloud, delta: tuple[list[Node], list[str]]) -> None:
        super().__init__(name, cloud)
        self.delta = delta
        self.since: list[datetime] = []

    def list_node_changes(self, since: datetime) -> tuple[list[Node], list[str]]:
        self.since.append(since)
        return self.delta


class VolumeDeltaProvider(FakeProvider):
    """A provider that answers volume changes like Cinder 3.60: changed volumes, ids present."""

    features = LISTINGS | {Capability.VOLUME_DELTA}

    def __init__(self, name: str, cloud: FakeCloud, changed: list[Volume]) -> None:
        super().__init__(name, cloud)
        self.changed = changed
        self.since: list[datetime] = []

    def list_volume_changes(self, since: datetime) -> tuple[list[Volume], list[str]]:
        self._guard("volumes")
        self.since.append(since)
        return self.changed, [v.id for v in self.cloud.volumes]
