"""VMware vCenter as a ganyun Provider, on pyVmomi (VMware's own SDK).

Config:
```yaml
- name: gov-vmware
  driver: vsphere                      # also: vcenter, vmware
  credentials: vault:gov-vmware        # key = vCenter user, secret = password
  options: {host: vcenter.example, port: 443, ca_cert: /etc/ganyun/vcenter-ca.pem}
```
Listings come from a few PropertyCollector round trips (properties.py); nodes also as changes
since a watermark (`list_node_changes`), the collector version of the last listing. vSphere
has no flavors and no security groups, and is a migration source here (no create or import):
the adapter does not declare those capabilities.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from pyVmomi import vim

from providers.base import (
    Capability,
    Cluster,
    Host,
    Image,
    Network,
    Node,
    ProviderSpec,
    Snapshot,
    State,
    Volume,
)
from providers.errors import NotFound
from providers.masking import SECRETS
from providers.vsphere import actions, records
from providers.vsphere.errors import vsphere_boundary
from providers.vsphere.properties import Inventory, Props, Watermark, fetch, tracker_for
from providers.vsphere.session import Endpoint, Session, session_for

T = TypeVar("T")
# Everything but the VMs, which come from the change tracker (or one fetch of their own).
PLACEMENT_TYPES = (
    vim.HostSystem,
    vim.Datastore,
    vim.ClusterComputeResource,
    vim.ComputeResource,
    vim.Datacenter,
    vim.Folder,
    vim.Network,
    vim.dvs.DistributedVirtualPortgroup,
    vim.DistributedVirtualSwitch,
)
# Listings that follow one another in a sync share one fetch this young.
REUSE_S = 10.0
DEFAULT_TASK_TIMEOUT_S = 600.0


class VSphereAdapter:
    """A Provider over one vCenter (or ESXi host)."""

    features = frozenset(
        {
            Capability.HOSTS,
            Capability.CLUSTERS,
            Capability.IMAGES,
            Capability.VOLUMES,
            Capability.SNAPSHOTS,
            Capability.NETWORKS,
            Capability.NODE_DELTA,
            Capability.WATERMARK,
            Capability.POWER,
            Capability.DESTROY_NODE,
            Capability.NODE_METADATA,
            Capability.NODE_SNAPSHOT,
            Capability.DATASTORE_FILES,
            Capability.SESSION_RESUME,
        }
    )

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.endpoint = Endpoint.from_spec(spec)
        self.task_timeout_s = float(spec.options.get("task_timeout_s") or DEFAULT_TASK_TIMEOUT_S)
        self._inventory: Inventory | None = None
        self._fetched_at = 0.0
        self._watermark: str | None = None

    @property
    def session(self) -> Session:
        return session_for(self.name, self.endpoint)

    # ------------------------------------------------------------------ reading

    def _read(self, call: str, fresh: bool = False) -> Inventory:
        """VMs and everything they sit on, one fetch reused by the listings of one sync."""
        if fresh or self._inventory is None or time.monotonic() - self._fetched_at > REUSE_S:
            self._inventory = fetch(self.session, call, (vim.VirtualMachine, *PLACEMENT_TYPES))
            self._fetched_at = time.monotonic()
        return self._inventory

    def _placement(self, call: str, vms: Mapping[str, Props]) -> Inventory:
        inventory = fetch(self.session, call, PLACEMENT_TYPES)
        inventory.objects["VirtualMachine"] = dict(vms)
        return inventory

    def _map(self, call: str, fn: Callable[[], T]) -> T:
        with vsphere_boundary(self.name, call):
            return fn()

    def _nodes(self, call: str, inventory: Inventory, ids: Sequence[str] | None = None) -> list[Node]:
        vms = inventory.of("VirtualMachine")
        chosen = vms.items() if ids is None else ((i, vms[i]) for i in ids if i in vms)
        return self._map(
            call,
            lambda: [
                records.node_record(self.name, inventory, moid, vm)
                for moid, vm in chosen
                if not vm.get("config.template")
            ],
        )

    def list_nodes(self) -> Sequence[Node]:
        """Every VM, through a new change tracker: its version is the watermark for the next
        `list_node_changes`, so no change between this listing and that call can be missed."""
        tracker = tracker_for(self.session)
        vms = tracker.start("list_nodes")
        inventory = self._placement("list_nodes", vms)
        self._inventory, self._fetched_at = inventory, time.monotonic()
        self._watermark = str(tracker.watermark) if tracker.watermark else None
        return self._nodes("list_nodes", inventory)

    def list_node_changes(self, since: datetime | str) -> tuple[list[Node], list[str]]:
        """VMs changed since the watermark `since`, and the ids of VMs gone since.

        NotFound when `since` is not this process's live tracker's last answer (a time from
        another provider kind, a watermark of an ended session or of a sync that did not
        finish): the caller then lists everything.
        """
        mark = Watermark.parse(since)
        tracker = tracker_for(self.session)
        changes = tracker.changes("list_node_changes", mark) if mark is not None else None
        if changes is None:
            raise NotFound(self.name, "list_node_changes", "no live collector version to continue from")
        if tracker.partial:
            # Adopted from an earlier process: the changes are known, the VMs' properties are not.
            tracker.complete(fetch(self.session, "list_node_changes", (vim.VirtualMachine,)).of("VirtualMachine"))
        vms = {moid: tracker.vms[moid] for moid in changes.changed if moid in tracker.vms}
        inventory = self._placement("list_node_changes", tracker.vms)
        self._inventory, self._fetched_at = inventory, time.monotonic()
        self._watermark = str(tracker.watermark)
        return self._nodes("list_node_changes", inventory, list(vms)), changes.deleted

    def watermark(self) -> str | None:
        """The collector version of the last node listing or delta, for `list_node_changes`."""
        return self._watermark

    def session_state(self) -> str | None:
        """What lets a later process continue this one's change tracking: the vCenter session
        id, the collector and its version. It holds a credential: the caller keeps it in the
        vault, nowhere else."""
        saved = tracker_for(self.session).export()
        session_id = self.session.session_id()
        if saved is None or not session_id:
            return None
        SECRETS.remember(session_id)
        return json.dumps({"endpoint": self._endpoint_id(), "session": session_id, **saved})

    def resume_session(self, state: str) -> bool:
        """Continue the session and collector of `session_state`; False (and a full listing
        next) when vCenter has ended that session, or the state is of another endpoint."""
        try:
            saved = json.loads(state)
        except ValueError:
            return False
        if not isinstance(saved, dict) or saved.get("endpoint") != self._endpoint_id():
            return False
        session_id = str(saved.get("session") or "")
        SECRETS.remember(session_id)
        return self.session.adopt(session_id) and tracker_for(self.session).adopt(saved)

    def _endpoint_id(self) -> str:
        return f"{self.endpoint.host}:{self.endpoint.port}:{self.endpoint.user}"

    def list_hosts(self) -> Sequence[Host]:
        inventory = self._read("list_hosts")
        return self._map(
            "list_hosts",
            lambda: [records.host_record(self.name, inventory, m, p) for m, p in inventory.of("HostSystem").items()],
        )

    def list_clusters(self) -> Sequence[Cluster]:
        inventory = self._read("list_clusters")
        items = inventory.of("ClusterComputeResource").items()
        return self._map(
            "list_clusters", lambda: [records.cluster_record(self.name, inventory, m, p) for m, p in items]
        )

    def list_networks(self) -> Sequence[Network]:
        inventory = self._read("list_networks")
        items = inventory.of("Network").items()
        mapped = self._map(
            "list_networks", lambda: [records.network_record(self.name, inventory, m, p) for m, p in items]
        )
        return [n for n in mapped if n is not None]

    def list_volumes(self) -> Sequence[Volume]:
        inventory = self._read("list_volumes")
        items = inventory.of("VirtualMachine").items()
        return self._map(
            "list_volumes",
            lambda: [v for m, vm in items for v in records.volume_records(self.name, inventory, m, vm)],
        )

    def list_images(self) -> Sequence[Image]:
        inventory = self._read("list_images")
        templates = [(m, vm) for m, vm in inventory.of("VirtualMachine").items() if vm.get("config.template")]
        return self._map(
            "list_images", lambda: [records.image_record(self.name, inventory, m, vm) for m, vm in templates]
        )

    def list_snapshots(self) -> Sequence[Snapshot]:
        inventory = self._read("list_snapshots")
        items = inventory.of("VirtualMachine").items()
        return self._map(
            "list_snapshots", lambda: [s for m, vm in items for s in records.snapshot_records(self.name, m, vm)]
        )

    def get_node(self, node_id: str) -> Node:
        vm = vim.VirtualMachine(node_id, self.session.stub())
        found = fetch(self.session, "get_node", (vim.VirtualMachine,), objects=[vm]).of("VirtualMachine")
        if node_id not in found:
            raise NotFound(self.name, "get_node", f"no VM {node_id}")
        inventory = self._placement("get_node", found)
        nodes = self._nodes("get_node", inventory, [node_id])
        if not nodes:
            raise NotFound(self.name, "get_node", f"{node_id} is a template, not a VM")
        return nodes[0]

    # ------------------------------------------------------------------ actions

    def _changed(self) -> None:
        self._inventory = None

    def start_node(self, node_id: str) -> None:
        actions.set_power(self.session, node_id, True, self.task_timeout_s)
        self._changed()

    def stop_node(self, node_id: str) -> None:
        actions.set_power(self.session, node_id, False, self.task_timeout_s)
        self._changed()

    def destroy_node(self, node_id: str) -> None:
        actions.destroy(self.session, node_id, self.task_timeout_s)
        self._changed()

    def create_snapshot(self, node_id: str, name: str) -> Image:
        """A VM snapshot (disks only), reported as an image of that VM."""
        snapshot_id = actions.create_snapshot(self.session, node_id, name, self.task_timeout_s)
        self._changed()
        return Image(
            provider=self.name,
            id=snapshot_id,
            name=name,
            state=State.RUNNING,
            extra={"kind": "vm-snapshot", "vm": node_id},
            disk_format="vmdk",
        )

    def delete_image(self, image_id: str) -> None:
        """Removes a VM snapshot made by `create_snapshot` (templates are not deleted here)."""
        actions.remove_snapshot(self.session, image_id, self.task_timeout_s)
        self._changed()

    def set_node_metadata(self, node_id: str, metadata: Mapping[str, str]) -> None:
        inventory = self._read("set_node_metadata", fresh=True)
        names: dict[str, str] = {}
        aliases = records.conventions()["attributes"]
        existing = set(inventory.fields.values())
        for key, spellings in aliases.items():
            site = next((s for s in spellings if s in existing), None)
            if site:
                names[key] = site
        actions.set_attributes(self.session, node_id, metadata, names)
        self._changed()

    def ex_download_datastore_file(
        self, datastore: str, path: str, dest: str | os.PathLike[str], datacenter_path: str
    ) -> int:
        """Copy one datastore file ("[datastore] path") to `dest`; the bytes written."""
        verify: bool | str = self.endpoint.ca_cert or self.endpoint.verify
        return actions.download(
            self.session, datacenter_path, datastore, path, dest, verify, max(self.endpoint.timeout_s, 60.0)
        )
