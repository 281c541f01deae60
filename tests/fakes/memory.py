"""An in-memory cloud with the optional abilities a migration drives: power, create and destroy,
metadata, image import and lookup, datastore downloads, floating IPs. What it offers is declared as
data (`features`); the steps ask only for what is declared. Knobs make it misbehave the way real
clouds do: a build that goes to ERROR, a refused host request, an address claim refused once."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from providers.base import Capability, FloatingIp, Image, Network, Node, Placement, State
from providers.errors import AuthError, NotFound, ProviderError

EVERY_ABILITY = frozenset(
    {
        Capability.POWER,
        Capability.CREATE_NODE,
        Capability.DESTROY_NODE,
        Capability.NODE_METADATA,
        Capability.IMAGES,
        Capability.IMPORT_IMAGE,
        Capability.IMAGE_LOOKUP,
        Capability.DATASTORE_FILES,
        Capability.NETWORKS,
        Capability.FLOATING_IPS,
    }
)


class MemoryCloud:
    def __init__(self, name: str, features: Iterable[Capability] = EVERY_ABILITY) -> None:
        self.name = name
        self.features = frozenset(features)
        self.nodes: dict[str, Node] = {}
        self.images: dict[str, Image] = {}
        self.files: dict[str, Path] = {}  # datastore path -> local file
        self.reads: dict[str, int] = {}  # image id -> polls before it is active
        self.fips: dict[str, FloatingIp] = {}
        self.networks: list[Network] = []
        self.boot_state = State.RUNNING  # ERROR: every build fails, as when no host is valid
        self.refuse_host = False  # a host in the request is refused, as Nova's policy does
        self.place_on = ""  # the host the scheduler picks when none is asked for
        self.fail_claims = 0  # floating-IP claims refused before one succeeds
        self.created = 0
        self.requests: list[Placement | None] = []

    # nodes
    def list_nodes(self) -> Sequence[Node]:
        return list(self.nodes.values())

    def get_node(self, node_id: str) -> Node:
        if node_id not in self.nodes:
            raise NotFound(self.name, "get_node", node_id)
        return self.nodes[node_id]

    def create_node(
        self,
        name: str,
        size_id: str,
        image_id: str,
        network_ids: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
        fixed_ips: Sequence[str] = (),
        placement: Placement | None = None,
    ) -> Node:
        self.requests.append(placement)
        if placement is not None and placement.host and self.refuse_host:
            raise AuthError(self.name, "create_node", "Policy doesn't allow forced_host (HTTP 403)")
        self.created += 1
        failed = self.boot_state == State.ERROR
        node = Node(
            provider=self.name,
            id=f"{self.name}-new{self.created}",
            name=name,
            state=self.boot_state,
            host=self.place_on or (placement.host if placement else "") or "cn1",
            ips=tuple(fixed_ips) or ("10.13.0.50",),
            tags=dict(metadata or {}),
            extra={"fault": "No valid host was found."} if failed else {},
        )
        self.nodes[node.id] = node
        return node

    def set_node_metadata(self, node_id: str, metadata: Mapping[str, str]) -> None:
        node = self.get_node(node_id)
        self.nodes[node_id] = replace(node, tags={**node.tags, **metadata})

    def stop_node(self, node_id: str) -> None:
        self.nodes[node_id] = replace(self.get_node(node_id), state=State.STOPPED)

    def start_node(self, node_id: str) -> None:
        self.nodes[node_id] = replace(self.get_node(node_id), state=State.RUNNING)

    def destroy_node(self, node_id: str) -> None:
        del self.nodes[self.get_node(node_id).id]

    # images: an import is active after two reads, as Glance is after its task
    def list_images(self) -> Sequence[Image]:
        return list(self.images.values())

    def import_image(
        self, name: str, path: str, disk_format: str, properties: Mapping[str, str] | None = None
    ) -> Image:
        image = Image(self.name, f"img-{len(self.images) + 1}", name, State.PENDING,
                      extra={**(properties or {}), "status": "saving", "path": path}, disk_format=disk_format)  # fmt: skip
        self.images[image.id] = image
        self.reads[image.id] = 2
        return image

    def get_image(self, image_id: str) -> Image:
        image = self.images[image_id]
        self.reads[image_id] -= 1
        if self.reads[image_id] <= 0:
            image = self.images[image_id] = replace(
                image, state=State.RUNNING, extra={**image.extra, "status": "active"}
            )
        return image

    def delete_image(self, image_id: str) -> None:
        if self.images.pop(image_id, None) is None:
            raise NotFound(self.name, "delete_image", image_id)

    # datastore
    def ex_download_datastore_file(self, datastore: str, path: str, dest: Any, datacenter_path: str) -> int:
        source = self.files[f"[{datastore}] {path}"]
        shutil.copyfile(source, dest)
        return source.stat().st_size

    # floating IPs
    def list_networks(self) -> Sequence[Network]:
        return self.networks

    def list_floating_ips(self, node_id: str = "") -> Sequence[FloatingIp]:
        return [f for f in self.fips.values() if not node_id or f.node_id == node_id]

    def create_floating_ip(self, network_id: str, address: str = "") -> FloatingIp:
        if self.fail_claims:
            self.fail_claims -= 1
            raise ProviderError(self.name, "create_floating_ip", "address not allocatable (HTTP 409)")
        fip = FloatingIp(self.name, f"fip-{address}", address, network_id)
        self.fips[fip.id] = fip
        return fip

    def attach_floating_ip(self, floating_ip_id: str, node_id: str) -> FloatingIp:
        self.fips[floating_ip_id] = replace(self.fips[floating_ip_id], node_id=node_id)
        return self.fips[floating_ip_id]

    def detach_floating_ip(self, floating_ip_id: str) -> None:
        self.fips[floating_ip_id] = replace(self.fips[floating_ip_id], node_id="")

    def delete_floating_ip(self, floating_ip_id: str) -> None:
        del self.fips[floating_ip_id]
