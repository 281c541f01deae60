"""Read the inventory through the PropertyCollector, and follow VM changes with WaitForUpdatesEx.

`fetch` reads every object of the given types under the root folder, with only the properties
ganyun maps, in one RetrievePropertiesEx over a ContainerView (plus continuation pages): never
one lazy read per object, which is slow on vCenter and which the simulator cannot always answer.

`ChangeTracker` is how vSphere clients follow changes: a private PropertyCollector with one
filter over all VMs. Its first WaitForUpdatesEx (version "") returns every VM and a version; the
next one, given that version, returns only what changed since (enter, modify, leave). The
tracker keeps the VMs' properties as the updates leave them, so a change to one property still
yields the whole record. Filters and versions live in the vCenter session: a new session starts
with a full listing. A later process that adopts the session (`Session.adopt`) continues the
same collector from its last version (`export` / `adopt`); it reads the VMs' properties anew
once, since those lived in the earlier process (`complete`).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyVmomi import vim, vmodl

from providers.errors import GanyunError
from providers.vsphere.session import Session

PC = vmodl.query.PropertyCollector
Props = dict[str, Any]

VM_PATHS = (
    "name",
    "parent",
    "config.template",
    "config.guestId",
    "config.guestFullName",
    "config.instanceUuid",
    "config.uuid",
    "config.createDate",
    "config.annotation",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.hardware.device",
    "summary.config.vmPathName",
    "runtime.powerState",
    "runtime.connectionState",
    "runtime.host",
    "guest.guestId",
    "guest.guestFullName",
    "guest.hostName",
    "guest.ipAddress",
    "guest.net",
    "guest.toolsRunningStatus",
    "datastore",
    "network",
    "customValue",
    "snapshot",
)
HOST_PATHS = (
    "name",
    "parent",
    "hardware.cpuPkg",
    "hardware.cpuInfo",
    "hardware.memorySize",
    "hardware.systemInfo",
    "summary.quickStats",
    "runtime.connectionState",
    "runtime.powerState",
    "runtime.inMaintenanceMode",
    "config.product",
    "datastore",
    "customValue",
)
OTHER_PATHS: dict[type, tuple[str, ...]] = {
    vim.Datastore: (
        "name",
        "summary.capacity",
        "summary.freeSpace",
        "summary.type",
        "summary.url",
        "summary.accessible",
        "summary.multipleHostAccess",
        "host",
    ),
    vim.ClusterComputeResource: ("name", "parent", "host", "summary", "configurationEx"),
    vim.ComputeResource: ("name", "parent", "host"),
    vim.Datacenter: ("name", "parent", "datastore"),
    vim.Folder: ("name", "parent"),
    vim.Network: ("name", "summary.accessible", "host", "vm"),
    vim.dvs.DistributedVirtualPortgroup: (
        "config.distributedVirtualSwitch",
        "config.defaultPortConfig",
        "config.uplink",
    ),
    vim.DistributedVirtualSwitch: ("name",),
}


@dataclass
class Inventory:
    """Properties by object type and moref id, plus the custom attribute names by key."""

    objects: dict[str, dict[str, Props]] = field(default_factory=dict)
    fields: dict[int, str] = field(default_factory=dict)

    def of(self, kind: str) -> dict[str, Props]:
        return self.objects.get(kind, {})

    def find(self, moid: str, *kinds: str) -> Props:
        for kind in kinds:
            props = self.objects.get(kind, {}).get(moid)
            if props is not None:
                return props
        return {}


def type_name(obj: Any) -> str:
    """vim.VirtualMachine -> "VirtualMachine"; a DVPG is still a "Network" here."""
    if isinstance(obj, vim.Network):
        return "Network"
    if isinstance(obj, vim.DistributedVirtualSwitch):
        return "DistributedVirtualSwitch"
    return str(type(obj).__name__.rsplit(".", 1)[-1])


def _view_spec(content: Any, types: Sequence[type]) -> tuple[Any, Any]:
    view = content.viewManager.CreateContainerView(content.rootFolder, list(types), True)
    traverse = PC.TraversalSpec(name="view", path="view", skip=False, type=vim.view.ContainerView)
    return view, PC.ObjectSpec(obj=view, skip=True, selectSet=[traverse])


def _props(content: Any, types: Iterable[type]) -> list[Any]:
    specs = []
    for kind in types:
        paths = VM_PATHS if kind is vim.VirtualMachine else HOST_PATHS if kind is vim.HostSystem else OTHER_PATHS[kind]
        specs.append(PC.PropertySpec(type=kind, pathSet=list(paths)))
    return specs


def fetch(session: Session, call: str, types: Sequence[type], objects: Sequence[Any] = ()) -> Inventory:
    """Every object of `types` (or just `objects`), the custom attribute names included."""

    def run(content: Any) -> Inventory:
        view = None
        try:
            if objects:
                object_specs = [PC.ObjectSpec(obj=o, skip=False) for o in objects]
            else:
                view, spec = _view_spec(content, types)
                object_specs = [spec]
            object_specs.append(PC.ObjectSpec(obj=content.customFieldsManager, skip=False))
            prop_specs = [*_props(content, types), PC.PropertySpec(type=vim.CustomFieldsManager, pathSet=["field"])]
            filter_spec = PC.FilterSpec(objectSet=object_specs, propSet=prop_specs)
            collector = content.propertyCollector
            result = collector.RetrievePropertiesEx([filter_spec], PC.RetrieveOptions(maxObjects=1000))
            inventory = Inventory()
            while result is not None:
                _add(inventory, result.objects or [])
                token = result.token
                result = collector.ContinueRetrievePropertiesEx(token) if token else None
            return inventory
        finally:
            if view is not None:
                view.Destroy()

    return session.call(call, run)


def _add(inventory: Inventory, objects: Iterable[Any]) -> None:
    for oc in objects:
        props = {p.name: p.val for p in oc.propSet or []}
        if isinstance(oc.obj, vim.CustomFieldsManager):
            inventory.fields = {int(f.key): str(f.name) for f in props.get("field") or []}
            continue
        kind = type_name(oc.obj)
        props["_type"] = type(oc.obj).__name__.rsplit(".", 1)[-1]
        props["_obj"] = oc.obj
        inventory.objects.setdefault(kind, {})[str(oc.obj._moId)] = props


# --------------------------------------------------------------------------- change tracking


@dataclass(frozen=True, slots=True)
class Watermark:
    """Which tracker, which of its answers and vCenter's version: "vsphere:<token>:<seq>:<version>"."""

    token: str
    seq: int
    version: str

    def __str__(self) -> str:
        return f"vsphere:{self.token}:{self.seq}:{self.version}"

    @classmethod
    def parse(cls, text: object) -> Watermark | None:
        if not isinstance(text, str) or not text.startswith("vsphere:"):
            return None
        parts = text.split(":", 3)
        if len(parts) != 4 or not parts[2].isdigit():
            return None
        return cls(parts[1], int(parts[2]), parts[3])


@dataclass
class Changes:
    changed: list[str]
    deleted: list[str]


class ChangeTracker:
    """A private PropertyCollector following every VM; see the module docstring."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.lock = threading.Lock()
        self.token = ""
        self.seq = 0
        self.version = ""
        self.generation = -1
        self.vms: dict[str, Props] = {}
        self._collector: Any = None
        self._partial = False

    @property
    def partial(self) -> bool:
        """Adopted from another process: the collector's changes are known, the VMs are not."""
        return self._partial

    def export(self) -> dict[str, Any] | None:
        """What lets a later process continue this tracker in the same vCenter session."""
        with self.lock:
            if not self.alive() or self._collector is None:
                return None
            return {
                "collector": str(self._collector._moId),
                "token": self.token,
                "seq": self.seq,
                "version": self.version,
            }

    def adopt(self, saved: Mapping[str, Any]) -> bool:
        """Continue the collector an earlier process made in this (adopted) session."""
        collector, token, version = (
            str(saved.get("collector") or ""),
            str(saved.get("token") or ""),
            saved.get("version"),
        )
        if not collector or not token or not isinstance(version, str) or not isinstance(saved.get("seq"), int):
            return False
        with self.lock:
            if self.alive():
                return False
            self._collector = PC(collector, self.session.stub())
            self.generation = self.session.generation
            self.token, self.seq, self.version = token, int(saved["seq"]), version
            self.vms = {}
            self._partial = True
            return True

    def complete(self, vms: dict[str, Props]) -> None:
        """Every VM's properties, read anew after an adopted tracker's first changes."""
        with self.lock:
            self.vms = vms
            self._partial = False

    @property
    def watermark(self) -> Watermark | None:
        return Watermark(self.token, self.seq, self.version) if self.token else None

    def alive(self) -> bool:
        return bool(self.token) and self.generation == self.session.generation

    def start(self, call: str) -> dict[str, Props]:
        """A new collector and filter; every VM as of the returned version."""

        def run(content: Any) -> dict[str, Props]:
            self._destroy()
            collector = content.propertyCollector.CreatePropertyCollector()
            _view, spec = _view_spec(content, [vim.VirtualMachine])
            filter_spec = PC.FilterSpec(objectSet=[spec], propSet=_props(content, [vim.VirtualMachine]))
            collector.CreateFilter(filter_spec, partialUpdates=False)
            self._collector = collector
            self.generation = self.session.generation
            self.vms = {}
            version = self._drain(collector, "", set(), set())
            self.token, self.seq, self.version = uuid.uuid4().hex, 0, version
            self._partial = False
            return self.vms

        with self.lock:
            return self.session.call(call, run)

    def changes(self, call: str, since: Watermark) -> Changes | None:
        """What changed since `since`, or None when `since` is not this tracker's last answer
        (another session, another process, or a sync whose write did not land)."""
        with self.lock:
            if not self.alive() or since != self.watermark:
                return None
            generation = self.session.generation
            changed: set[str] = set()
            deleted: set[str] = set()

            def run(content: Any) -> str:
                if self.session.generation != generation:
                    raise _Expired
                return self._drain(self._collector, self.version, changed, deleted)

            try:
                version = self.session.call(call, run)
            except _Expired:
                self.token = ""
                return None
            self.seq += 1
            self.version = version
            return Changes(sorted(changed - deleted), sorted(deleted))

    def _drain(self, collector: Any, version: str, changed: set[str], deleted: set[str]) -> str:
        """Apply WaitForUpdatesEx answers until none is pending; the last version."""
        options = PC.WaitOptions(maxWaitSeconds=0)
        while True:
            update = collector.WaitForUpdatesEx(version, options)
            if update is None:
                return version
            version = str(update.version)
            for filter_update in update.filterSet or []:
                for object_update in filter_update.objectSet or []:
                    self._apply(object_update, changed, deleted)
            if not update.truncated:
                return version

    def _apply(self, update: Any, changed: set[str], deleted: set[str]) -> None:
        moid = str(update.obj._moId)
        if update.kind == "leave":
            self.vms.pop(moid, None)
            deleted.add(moid)
            return
        props = self.vms.setdefault(moid, {"_type": "VirtualMachine", "_obj": update.obj})
        for change in update.changeSet or []:
            if change.op in ("remove", "indirectRemove"):
                props.pop(change.name, None)
            else:
                props[change.name] = change.val
        changed.add(moid)
        deleted.discard(moid)

    def _destroy(self) -> None:
        collector, self._collector = self._collector, None
        self.token = ""
        if collector is not None and self.generation == self.session.generation:
            # It dies with its session anyway.
            with contextlib.suppress(Exception):
                collector.DestroyPropertyCollector()


class _Expired(GanyunError):
    """The session was replaced while the tracker waited: its filter is gone."""


_TRACKERS: weakref.WeakKeyDictionary[Session, ChangeTracker] = weakref.WeakKeyDictionary()
_TRACKERS_LOCK = threading.Lock()


def tracker_for(session: Session) -> ChangeTracker:
    """The one change tracker of a session (shared by the adapters using that session)."""
    with _TRACKERS_LOCK:
        tracker = _TRACKERS.get(session)
        if tracker is None:
            tracker = _TRACKERS[session] = ChangeTracker(session)
        return tracker


def snapshot_tree(vm: Mapping[str, Any]) -> list[Any]:
    """Every snapshot of a VM, depth first."""
    info = vm.get("snapshot")
    out: list[Any] = []
    stack = list(getattr(info, "rootSnapshotList", None) or [])
    while stack:
        node = stack.pop(0)
        out.append(node)
        stack[0:0] = list(node.childSnapshotList or [])
    return out
