"""The protocol behind each Capability, and the one way callers reach it.

An adapter lists what it can do in `features` (a frozenset of Capability); each facet below
pairs a capability with the methods an adapter that declares it implements. Callers ask the
facet, never the adapter's attributes:

    hosts = capabilities.HOSTS.of(adapter)          # None when not declared
    if hosts is not None:
        listing = hosts.list_hosts()
    capabilities.EXPORT_IMAGE.require(source, "export_image").export_image(...)  # NotFound if not

A declared capability may still fail at run time (an account without the right, a driver
that lacks the call): that is a ProviderError from the call, as for any other call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, cast

from providers.base import (
    Capability,
    Cluster,
    FloatingIp,
    Host,
    Image,
    Kind,
    Network,
    Node,
    Placement,
    Provider,
    Record,
    SecurityGroup,
    Size,
    Snapshot,
    Utilization,
    Volume,
)
from providers.errors import NotFound

__all__ = [
    "CLOUD_CLOCK",
    "CLUSTERS",
    "CREATE_NODE",
    "DATASTORE_FILES",
    "DESTROY_NODE",
    "EXPORT_IMAGE",
    "FACETS",
    "FLOATING_IPS",
    "HOSTS",
    "IMAGES",
    "IMAGE_LOOKUP",
    "IMPORT_IMAGE",
    "LISTED_KINDS",
    "NETWORKS",
    "NODE_DELTA",
    "NODE_METADATA",
    "NODE_SNAPSHOT",
    "POWER",
    "SECURITY_GROUPS",
    "SESSION_RESUME",
    "SIZES",
    "SNAPSHOTS",
    "TLS_SECRETS",
    "UTILIZATION",
    "VOLUMES",
    "VOLUME_DELTA",
    "WATERMARK",
    "Facet",
    "listing",
]

# --------------------------------------------------------------------------- protocols


class ListsHosts(Provider, Protocol):
    def list_hosts(self) -> Sequence[Host]: ...


class ListsSizes(Provider, Protocol):
    def list_sizes(self) -> Sequence[Size]: ...


class ListsImages(Provider, Protocol):
    def list_images(self) -> Sequence[Image]: ...


class ListsVolumes(Provider, Protocol):
    def list_volumes(self) -> Sequence[Volume]: ...


class ListsSnapshots(Provider, Protocol):
    def list_snapshots(self) -> Sequence[Snapshot]: ...


class ListsNetworks(Provider, Protocol):
    def list_networks(self) -> Sequence[Network]: ...


class ListsSecurityGroups(Provider, Protocol):
    def list_security_groups(self) -> Sequence[SecurityGroup]: ...


class ListsClusters(Provider, Protocol):
    def list_clusters(self) -> Sequence[Cluster]: ...


class NodeDelta(Provider, Protocol):
    def list_node_changes(self, since: datetime | str) -> tuple[list[Node], list[str]]:
        """Nodes changed since `since` and the ids of nodes deleted since; NotFound when the
        adapter cannot answer from that point (the caller then lists everything)."""
        ...


class VolumeDelta(Provider, Protocol):
    def list_volume_changes(self, since: datetime) -> tuple[list[Volume], list[str]]:
        """Volumes changed since `since` and the ids of every volume present now."""
        ...


class Watermarked(Provider, Protocol):
    def watermark(self) -> str | None:
        """Where the next `list_node_changes` continues from, after the last node listing."""
        ...


class ReadsCloudClock(Provider, Protocol):
    def cloud_time(self) -> datetime | None:
        """The cloud's own time at its first answer to this adapter (the HTTP `Date` header),
        None before any answer or when the cloud sends none. A delta that starts here (less a
        margin) cannot miss a change made while the listing that followed was read."""
        ...


class MeasuresUtilization(Provider, Protocol):
    def list_utilization(self) -> Sequence[Utilization]: ...


class ListsTlsSecrets(Provider, Protocol):
    def list_tls_secrets(self) -> list[tuple[str, bytes]]:
        """(where, PEM certificate) of every TLS secret the account can read."""
        ...


class PowersNodes(Provider, Protocol):
    def start_node(self, node_id: str) -> None: ...
    def stop_node(self, node_id: str) -> None: ...


class CreatesNodes(Provider, Protocol):
    def create_node(
        self,
        name: str,
        size_id: str,
        image_id: str,
        network_ids: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
        fixed_ips: Sequence[str] = (),
        placement: Placement | None = None,
    ) -> Node: ...


class DestroysNodes(Provider, Protocol):
    def destroy_node(self, node_id: str) -> None: ...


class TagsNodes(Provider, Protocol):
    def set_node_metadata(self, node_id: str, metadata: Mapping[str, str]) -> None: ...


class SnapshotsNodes(Provider, Protocol):
    def create_snapshot(self, node_id: str, name: str) -> Image: ...
    def delete_image(self, image_id: str) -> None: ...


class ImportsImages(Provider, Protocol):
    def import_image(
        self, name: str, path: str, disk_format: str, properties: Mapping[str, str] | None = None
    ) -> Image: ...
    def delete_image(self, image_id: str) -> None: ...


class ExportsImages(Provider, Protocol):
    def export_image(self, image_id: str, dest_path: str) -> str: ...


class LooksUpImages(Provider, Protocol):
    def get_image(self, image_id: str) -> Image:
        """One image by id, with its current state: PENDING while the cloud is still saving
        it, RUNNING once usable, ERROR when the save failed (Glance's `killed`)."""
        ...


class ManagesFloatingIps(Provider, Protocol):
    """Allocate a floating IP (a given address where the network allows), attach it to a
    node, detach it, release it."""

    def list_floating_ips(self, node_id: str = "") -> Sequence[FloatingIp]: ...
    def create_floating_ip(self, network_id: str, address: str = "") -> FloatingIp: ...
    def attach_floating_ip(self, floating_ip_id: str, node_id: str) -> FloatingIp: ...
    def detach_floating_ip(self, floating_ip_id: str) -> None: ...
    def delete_floating_ip(self, floating_ip_id: str) -> None: ...


class DownloadsDatastoreFiles(Provider, Protocol):
    def ex_download_datastore_file(
        self, datastore: str, path: str, dest: str | os.PathLike[str], datacenter_path: str
    ) -> int:
        """Download one file of a datastore; the bytes written."""
        ...


class ResumesSession(Provider, Protocol):
    def session_state(self) -> str | None:
        """What lets the next sync continue this session (a credential: kept in the vault)."""
        ...

    def resume_session(self, state: str) -> bool:
        """Continue the session of `state`; False when the cloud has ended it."""
        ...


# --------------------------------------------------------------------------- facets

P = TypeVar("P", bound=Provider)


@dataclass(frozen=True)
class Facet(Generic[P]):
    """One capability and the protocol of the adapters that declare it."""

    capability: Capability
    protocol: type[Any]  # the protocol class (mypy does not take a Protocol as type[P])

    @property
    def methods(self) -> tuple[str, ...]:
        """The calls a declaring adapter must define (the protocol's own methods)."""
        return tuple(name for name, value in vars(self.protocol).items() if callable(value) and name[0] != "_")

    def of(self, provider: Provider) -> P | None:
        """`provider` as this capability's protocol when it declares it, else None."""
        return cast(P, provider) if self.capability in provider.features else None

    def require(self, provider: Provider, call: str) -> P:
        """`provider` as this capability's protocol, or NotFound naming the provider and call."""
        if self.capability not in provider.features:
            raise NotFound(provider.name, call, f"not offered by this provider (no {self.capability.value} capability)")
        return cast(P, provider)


HOSTS: Facet[ListsHosts] = Facet(Capability.HOSTS, ListsHosts)
SIZES: Facet[ListsSizes] = Facet(Capability.SIZES, ListsSizes)
IMAGES: Facet[ListsImages] = Facet(Capability.IMAGES, ListsImages)
VOLUMES: Facet[ListsVolumes] = Facet(Capability.VOLUMES, ListsVolumes)
SNAPSHOTS: Facet[ListsSnapshots] = Facet(Capability.SNAPSHOTS, ListsSnapshots)
NETWORKS: Facet[ListsNetworks] = Facet(Capability.NETWORKS, ListsNetworks)
SECURITY_GROUPS: Facet[ListsSecurityGroups] = Facet(Capability.SECURITY_GROUPS, ListsSecurityGroups)
CLUSTERS: Facet[ListsClusters] = Facet(Capability.CLUSTERS, ListsClusters)
NODE_DELTA: Facet[NodeDelta] = Facet(Capability.NODE_DELTA, NodeDelta)
VOLUME_DELTA: Facet[VolumeDelta] = Facet(Capability.VOLUME_DELTA, VolumeDelta)
WATERMARK: Facet[Watermarked] = Facet(Capability.WATERMARK, Watermarked)
CLOUD_CLOCK: Facet[ReadsCloudClock] = Facet(Capability.CLOUD_CLOCK, ReadsCloudClock)
UTILIZATION: Facet[MeasuresUtilization] = Facet(Capability.UTILIZATION, MeasuresUtilization)
TLS_SECRETS: Facet[ListsTlsSecrets] = Facet(Capability.TLS_SECRETS, ListsTlsSecrets)
POWER: Facet[PowersNodes] = Facet(Capability.POWER, PowersNodes)
CREATE_NODE: Facet[CreatesNodes] = Facet(Capability.CREATE_NODE, CreatesNodes)
DESTROY_NODE: Facet[DestroysNodes] = Facet(Capability.DESTROY_NODE, DestroysNodes)
NODE_METADATA: Facet[TagsNodes] = Facet(Capability.NODE_METADATA, TagsNodes)
NODE_SNAPSHOT: Facet[SnapshotsNodes] = Facet(Capability.NODE_SNAPSHOT, SnapshotsNodes)
IMPORT_IMAGE: Facet[ImportsImages] = Facet(Capability.IMPORT_IMAGE, ImportsImages)
EXPORT_IMAGE: Facet[ExportsImages] = Facet(Capability.EXPORT_IMAGE, ExportsImages)
IMAGE_LOOKUP: Facet[LooksUpImages] = Facet(Capability.IMAGE_LOOKUP, LooksUpImages)
FLOATING_IPS: Facet[ManagesFloatingIps] = Facet(Capability.FLOATING_IPS, ManagesFloatingIps)
DATASTORE_FILES: Facet[DownloadsDatastoreFiles] = Facet(Capability.DATASTORE_FILES, DownloadsDatastoreFiles)
SESSION_RESUME: Facet[ResumesSession] = Facet(Capability.SESSION_RESUME, ResumesSession)

FACETS: Mapping[Capability, Facet[Any]] = {
    f.capability: f
    for f in (
        HOSTS, SIZES, IMAGES, VOLUMES, SNAPSHOTS, NETWORKS, SECURITY_GROUPS, CLUSTERS, NODE_DELTA, VOLUME_DELTA,
        WATERMARK, CLOUD_CLOCK, UTILIZATION, TLS_SECRETS, POWER, CREATE_NODE, DESTROY_NODE, NODE_METADATA,
        NODE_SNAPSHOT, IMPORT_IMAGE, EXPORT_IMAGE, IMAGE_LOOKUP, FLOATING_IPS, DATASTORE_FILES, SESSION_RESUME,
    )
}  # fmt: skip

# The record kinds besides nodes that an adapter lists when it declares their capability.
LISTED_KINDS: Mapping[Kind, Capability] = {
    Kind.HOST: Capability.HOSTS,
    Kind.SIZE: Capability.SIZES,
    Kind.IMAGE: Capability.IMAGES,
    Kind.VOLUME: Capability.VOLUMES,
    Kind.SNAPSHOT: Capability.SNAPSHOTS,
    Kind.NETWORK: Capability.NETWORKS,
    Kind.SECURITY_GROUP: Capability.SECURITY_GROUPS,
    Kind.CLUSTER: Capability.CLUSTERS,
}


def listing(provider: Provider, kind: Kind) -> Sequence[Record]:
    """The complete listing of one kind; NotFound when the provider does not declare it."""
    call = f"list_{kind.value}s"
    if kind is Kind.NODE:
        return provider.list_nodes()
    if kind is Kind.HOST:
        return HOSTS.require(provider, call).list_hosts()
    if kind is Kind.SIZE:
        return SIZES.require(provider, call).list_sizes()
    if kind is Kind.IMAGE:
        return IMAGES.require(provider, call).list_images()
    if kind is Kind.VOLUME:
        return VOLUMES.require(provider, call).list_volumes()
    if kind is Kind.SNAPSHOT:
        return SNAPSHOTS.require(provider, call).list_snapshots()
    if kind is Kind.NETWORK:
        return NETWORKS.require(provider, call).list_networks()
    if kind is Kind.SECURITY_GROUP:
        return SECURITY_GROUPS.require(provider, call).list_security_groups()
    return CLUSTERS.require(provider, call).list_clusters()
