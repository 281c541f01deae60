"""One lab cloud's live state: the seeded estate, its overlay of changes, and the caches the
services render from. Service modules (compute, image, volume, network) read and
change it; nothing here knows their JSON shapes.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from lab import disks
from lab.faults import FailureCounter, Faults
from lab.seed import Cloud, Estate, FloatingIp, Image, Server, Volume
from lab.state import StateStore


def mac(port_id: str) -> str:
    """The MAC address of a port, derived from its id (Nova and Neutron show the same one)."""
    h = port_id.replace("-", "")
    return f"fa:16:3e:{h[0:2]}:{h[2:4]}:{h[4:6]}"


class LabBase:
    """What every cloud of one lab shares: the estate, its files and state, its URLs."""

    def __init__(self, estate: Estate, lab_dir: Path) -> None:
        self.estate = estate
        self.lab_dir = lab_dir
        self.base_url = "http://127.0.0.1"
        self.state = StateStore(lab_dir)
        # Floating addresses in use across the lab -> the cloud holding each: the extranet is
        # one segment, so an address released by one cloud may be claimed by another.
        self.addresses: dict[str, str] = {}
        self.address_lock = threading.Lock()

    def url(self, cloud: str, service: str) -> str:
        return f"{self.base_url}/{cloud}/{service}"


class CloudRuntime:
    """One cloud's live, mutable view of the estate plus its overlay of changes."""

    def __init__(self, lab: LabBase, cloud: Cloud) -> None:
        self.lab = lab
        self.cloud = cloud
        self.name = cloud.name
        self.lock = threading.RLock()
        self.faults = Faults()
        self.failures = FailureCounter()
        self.image_failures = FailureCounter()
        self.boot_failures = FailureCounter()
        self.flavors = {f.id: f for f in cloud.flavors}
        self.hypervisors = {h.id: h for h in cloud.hypervisors}
        self.hv_order = [h.id for h in cloud.hypervisors]
        self.hv_by_name = {h.hostname: h for h in cloud.hypervisors}
        self.networks = cloud.networks
        self.internal = [n for n in cloud.networks if not n.external]
        self.sg_by_name = {g.name: g for g in cloud.security_groups}
        self.volume_types = {t.id: t for t in cloud.volume_types}
        self.servers: dict[str, Server] = {s.id: s for s in cloud.servers}
        self.images: dict[str, Image] = {i.id: i for i in cloud.images}
        self.volumes: dict[str, Volume] = {v.id: v for v in cloud.volumes}
        self.build_until: dict[str, tuple[float, str]] = {}
        # Image id -> (saving from, done at, final status) on the monotonic clock.
        self.image_until: dict[str, tuple[float, float, str]] = {}
        self.floating_ips: dict[str, FloatingIp] = {f.id: f for f in cloud.floating_ips}
        # Deleted servers, kept as Nova keeps soft-deleted rows: `changes-since` reports them.
        self.tombstones: dict[str, Server] = {}
        self._apply_overlay(lab.state)
        self._server_order: list[str] | None = None
        self._usage: dict[str, tuple[int, int, int, int]] | None = None
        self.host_ids: dict[str, str] = {}
        self._digests: dict[str, tuple[float, int, str, str]] = {}
        # Rendered JSON per record: a 100,000-node listing then costs joins, not encoding.
        self.server_cache: dict[str, bytes] = {}
        self.volume_cache: dict[str, bytes] = {}
        self._vols: dict[str, list[str]] | None = None
        # Whole-cloud listings rebuilt per request otherwise (one dict per server): kept until
        # a server changes. Only the lab's own CPU is saved; answers stay the same.
        self.ports_cache: list[dict[str, Any]] | None = None

    # -- persistence

    def _apply_overlay(self, state: StateStore) -> None:
        for kind, table, cls in (
            ("servers", self.servers, Server),
            ("images", self.images, Image),
            ("volumes", self.volumes, Volume),
            ("tombstones", self.tombstones, Server),
            ("floatingips", self.floating_ips, FloatingIp),
        ):
            target: dict[str, Any] = table
            for record_id, record in state.overlay(self.name, kind).items():
                if record is None:
                    target.pop(record_id, None)
                else:
                    if kind in ("servers", "tombstones"):
                        record = {**record, "security_groups": tuple(record.get("security_groups", ()))}
                    target[record_id] = cls(**record)
        for server in self.servers.values():
            if server.status == "BUILD":
                # A restart mid-build: finish the build as the original request asked.
                wanted = "ERROR" if server.fault else "ACTIVE"
                self.build_until[server.id] = (0.0, wanted)
        for image in self.images.values():
            # A restart while Glance was saving (an upload, a snapshot): it finishes now.
            if image.status == "saving" or (
                image.status == "queued" and image.properties.get("image_type") == "snapshot"
            ):
                self.image_until[image.id] = (0.0, 0.0, "active")
        with self.lab.address_lock:
            for fip in self.floating_ips.values():
                self.lab.addresses[fip.address] = self.name

    def persist(self, kind: str, record_id: str, record: Any | None) -> None:
        data = dataclasses.asdict(record) if record is not None else None
        self.lab.state.put(self.name, kind, record_id, data)
        if kind == "servers":
            self.server_cache.pop(record_id, None)
            self.ports_cache = None
        elif kind == "volumes":
            self.volume_cache.pop(record_id, None)
            self._vols = None
            # The attached server's JSON lists its volumes: drop what may mention this one.
            if record is None:
                self.server_cache.clear()
            else:
                self.server_cache.pop(record.server_id or "", None)

    def changed(self) -> None:
        self._server_order = None
        self._usage = None
        self._vols = None
        self.ports_cache = None

    # -- derived views

    def server_order(self) -> list[str]:
        with self.lock:
            if self._server_order is None:
                self._server_order = list(self.servers)
            return self._server_order

    def usage(self) -> dict[str, tuple[int, int, int, int]]:
        """Per host: (vcpus_used, ram_mb_used, disk_gb_used, running_vms)."""
        with self.lock:
            if self._usage is None:
                usage: dict[str, list[int]] = {h: [0, 0, 0, 0] for h in self.hv_by_name}
                for s in self.servers.values():
                    f = self.flavors.get(s.flavor_id)
                    u = usage.get(s.host)
                    if f is None or u is None:
                        continue
                    u[0] += f.vcpus
                    u[1] += f.ram_mb
                    u[2] += f.disk_gb
                    u[3] += 1
                self._usage = {h: (u[0], u[1], u[2], u[3]) for h, u in usage.items()}
            return self._usage

    def floating_of(self, port_id: str) -> list[str]:
        """The floating addresses associated with a port (Nova lists them with the server)."""
        return [f.address for f in list(self.floating_ips.values()) if f.port_id == port_id]

    def volumes_of(self) -> dict[str, list[str]]:
        vols = self._vols
        if vols is None:
            vols = {}
            for v in list(self.volumes.values()):
                if v.server_id:
                    vols.setdefault(v.server_id, []).append(v.id)
            self._vols = vols
        return vols

    def image_file(self, image: Image) -> Path:
        return disks.image_path(self.lab.lab_dir, self.name, image.id, image.disk_format)

    def image_digests(self, image: Image) -> tuple[int, str, str] | None:
        path = self.image_file(image)
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None
        cached = self._digests.get(image.id)
        if cached is None or cached[0] != mtime:
            size, md5, sha = disks.file_digests(path)
            cached = (mtime, size, md5, sha)
            self._digests[image.id] = cached
        return cached[1], cached[2], cached[3]
