"""A fake provider over an in-memory listing: what it can do is declared as data in `features`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
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
    Utilization,
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
    sizes: list[Size] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)
    security_groups: list[SecurityGroup] = field(default_factory=list)
    utilization: list[Utilization] = field(default_factory=list)
    tls_secrets: list[tuple[str, bytes]] = field(default_factory=list)
    fail_nodes: Exception | None = None
    # Listing kinds answered with 403; "networks-missing" answers the network listing with 404.
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
    """Every listing method exists; only what `features` declares is ever asked (as with a real adapter).

    `node_changes` is what a Nova-like changes-since answers (changed nodes, deleted ids);
    `changed_volumes` what a Cinder 3.60-like one answers (the ids present are the cloud's volumes).
    """

    def __init__(
        self,
        name: str,
        cloud: FakeCloud,
        features: Iterable[Capability] = LISTINGS,
        *,
        node_changes: tuple[list[Node], list[str]] = ([], []),
        changed_volumes: Sequence[Volume] = (),
    ) -> None:
        self.name = name
        self.cloud = cloud
        self.features = frozenset(features)
        self.node_changes = node_changes
        self.changed_volumes = list(changed_volumes)
        self.since: list[datetime] = []

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
        return list(self.cloud.sizes)

    def list_images(self) -> Sequence[Image]:
        return list(self.cloud.images)

    def list_volumes(self) -> Sequence[Volume]:
        self._guard("volumes")
        return list(self.cloud.volumes)

    def list_snapshots(self) -> Sequence[Snapshot]:
        return list(self.cloud.snapshots)

    def list_networks(self) -> Sequence[Network]:
        self._guard("networks")
        if "networks-missing" in self.cloud.forbidden:
            raise NotFound(self.name, "list_networks", "404 no network service")
        return list(self.cloud.networks)

    def list_security_groups(self) -> Sequence[SecurityGroup]:
        return list(self.cloud.security_groups)

    def list_utilization(self) -> Sequence[Utilization]:
        return list(self.cloud.utilization)

    def list_tls_secrets(self) -> list[tuple[str, bytes]]:
        return list(self.cloud.tls_secrets)

    def list_node_changes(self, since: datetime) -> tuple[list[Node], list[str]]:
        self.since.append(since)
        return self.node_changes

    def list_volume_changes(self, since: datetime) -> tuple[list[Volume], list[str]]:
        self._guard("volumes")
        self.since.append(since)
        return self.changed_volumes, [v.id for v in self.cloud.volumes]


def factory(
    clouds: Mapping[str, FakeCloud], features: Iterable[Capability] = LISTINGS
) -> Callable[[ProviderSpec], FakeProvider]:
    """The provider factory sync_all takes: one FakeProvider per configured name."""
    declared = frozenset(features)

    def make(spec: ProviderSpec) -> FakeProvider:
        return FakeProvider(spec.name, clouds[spec.name], declared)

    return make


UNAVAILABLE = Unavailable("x", "list_nodes", "HTTP 500")
