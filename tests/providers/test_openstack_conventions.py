"""The estate's OpenStack conventions, mapped by the adapter, against a small served cloud.

The served JSON has the shapes of real Nova/Glance/Cinder/Neutron answers; the values follow
the conventions of our lab and of real government clouds: server metadata tags, flavor
extra specs `capabilities:cpu_info:*`, Glance `architecture`/`os_distro`, hypervisor
`cpu_info`, aggregate `rack`, Cinder encryption types.
Actions (create/start/stop/metadata/createImage/import/export) are checked on the same cloud.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from providers.base import ProviderSpec, State
from providers.errors import AuthError, BadResponse
from providers.libcloud_openstack import OpenStackAdapter
from providers.registry import create_provider
from tests.providers.replay_server import Answer, catalog, serve

JSON = {"Content-Type": "application/json"}


def _j(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return status, {**JSON, **(headers or {})}, json.dumps(body).encode()


class Cloud:
    """In-memory state of a two-host Xinchuang cloud; `route` answers like Nova & co."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.images: dict[str, dict[str, Any]] = {
            "img-kylin": {
                "id": "img-kylin",
                "name": "Kylin-Server-V10-SP3",
                "status": "active",
                "architecture": "aarch64",
                "os_distro": "kylin",
                "os_version": "V10SP3",
                "disk_format": "qcow2",
                "container_format": "bare",
                "size": 1024,
                "visibility": "public",
            },
            "img-centos": {
                "id": "img-centos",
                "name": "CentOS-7.9-x86_64",
                "status": "active",
                "disk_format": "qcow2",
                "container_format": "bare",
                "size": 2048,
            },
        }
        self.files: dict[str, bytes] = {}
        self.tombstones: list[dict[str, Any]] = []
        self.servers: dict[str, dict[str, Any]] = {}
        for i in range(6):
            kunpeng = i % 2 == 0
            self.servers[f"s{i}"] = {
                "id": f"s{i}",
                "name": f"rsj-app-{i}",
                "status": ["ACTIVE", "SHUTOFF", "ERROR"][i % 3],
                "flavor": {"id": "k4" if kunpeng else "x4"},
                "image": {"id": "img-kylin" if kunpeng else "img-centos"} if i != 5 else "",
                "addresses": {"gov-net": [{"addr": f"10.20.0.{i + 10}", "version": 4, "OS-EXT-IPS:type": "fixed"}]},
                "metadata": {"department": "市人社局", "system": "社保系统", "mlps_level": "3", "owner": "张三"},
                "OS-EXT-SRV-ATTR:hypervisor_hostname": "kp-node-01" if kunpeng else "hg-node-01",
                "OS-EXT-SRV-ATTR:host": "kp-node-01" if kunpeng else "hg-node-01",
                "OS-EXT-AZ:availability_zone": "nova",
                "created": "2026-03-01T08:00:00Z",
                "security_groups": [{"name": "default"}],
            }
        self.flavors = {
            "k4": {"id": "k4", "name": "kp.c4m8", "vcpus": 4, "ram": 8192, "disk": 50, "swap": ""},
            "x4": {"id": "x4", "name": "hg.c4m8", "vcpus": 4, "ram": 8192, "disk": 50, "swap": ""},
        }
        self.specs = {
            "k4": {"capabilities:cpu_info:arch": "aarch64", "capabilities:cpu_info:vendor": "Kunpeng"},
            "x4": {},  # vendor must then come from the host's cpu_info
        }

    def route(self, method: str, url: str, body: bytes, base: str) -> Answer:
        parts = urlsplit(url)
        path, query = parts.path.rstrip("/"), parse_qs(parts.query)
        with self.lock:
            self.calls.append(f"{method} {path}")
            return self._route(method, path, query, body, base)

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes, base: str) -> Answer:
        if path == "/identity/v3/auth/tokens":
            return _j(
                {
                    "token": {
                        "expires_at": "2999-01-01T00:00:00Z",
                        "catalog": catalog(base),
                        "project": {"id": "p", "name": "demo"},
                        "user": {"id": "u", "name": "demo"},
                    }
                },
                201,
                {"X-Subject-Token": "tok"},
            )
        c = "/compute/v2.1"
        if path == f"{c}/servers/detail" and "changes-since" in query:
            since = query["changes-since"][0]
            changed = [v for v in self.servers.values() if v.get("updated", v["created"]) >= since]
            return _j({"servers": changed + [v for v in self.tombstones if v["updated"] >= since]})
        if path == f"{c}/servers/detail":
            # Two pages, like Nova with limit=4.
            ordered = sorted(self.servers)
            start = ordered.index(query["marker"][0]) + 1 if "marker" in query else 0
            page = ordered[start : start + 4]
            out: dict[str, Any] = {"servers": [self.servers[s] for s in page]}
            if start + 4 < len(ordered):
                out["servers_links"] = [{"rel": "next", "href": f"{base}{c}/servers/detail?marker={page[-1]}"}]
            return _j(out)
        if path == f"{c}/servers" and method == "POST":
            req = json.loads(body)["server"]
            sid = f"s{len(self.servers)}"
            self.servers[sid] = {
                "id": sid,
                "name": req["name"],
                "status": "ACTIVE",
                "flavor": {"id": req["flavorRef"]},
                "image": {"id": req["imageRef"]},
                "addresses": {"n": [{"addr": n.get("fixed_ip", "10.0.0.9")} for n in req.get("networks", [])]},
                "metadata": req.get("metadata", {}),
                "created": "2026-11-01T00:00:00Z",
            }
            return _j({"server": {"id": sid}}, 202)
        if path.startswith(f"{c}/servers/"):
            rest = path.removeprefix(f"{c}/servers/").split("/")
            server = self.servers.get(rest[0])
            if server is None:
                return _j({"itemNotFound": {"code": 404, "message": "no such server"}}, 404)
            if len(rest) == 1 and method == "GET":
                return _j({"server": server})
            if len(rest) == 1 and method == "DELETE":
                gone = self.servers.pop(rest[0])
                self.tombstones.append({**gone, "status": "DELETED", "updated": "2026-11-02T00:00:00Z"})
                return 204, {}, b""
            if rest[1:] == ["metadata"] and method == "POST":
                server["metadata"].update(json.loads(body)["metadata"])
                return _j({"metadata": server["metadata"]})
            if rest[1:] == ["action"]:
                action = json.loads(body)
                if "os-stop" in action:
                    server["status"] = "SHUTOFF"
                elif "os-start" in action:
                    server["status"] = "ACTIVE"
                elif "createImage" in action:
                    iid = f"img-of-{rest[0]}"
                    self.images[iid] = {
                        "id": iid,
                        "name": action["createImage"]["name"],
                        "status": "active",
                        "disk_format": "qcow2",
                        "architecture": "aarch64",
                        "os_distro": "kylin",
                    }
                    return 202, {"Location": f"{base}/image/v2/images/{iid}"}, b""
                return 202, {}, b""
        if path == f"{c}/flavors/detail":
            return _j({"flavors": list(self.flavors.values())})
        if path.startswith(f"{c}/flavors/") and path.endswith("/os-extra_specs"):
            return _j({"extra_specs": self.specs[path.split("/")[-2]]})
        if path == f"{c}/flavors/k4":
            return _j({"flavor": self.flavors["k4"]})
        if path == f"{c}/os-hypervisors/detail":
            return _j(
                {
                    "hypervisors": [
                        {
                            "id": 1,
                            "hypervisor_hostname": "kp-node-01",
                            "state": "up",
                            "status": "enabled",
                            "vcpus": 96,
                            "vcpus_used": 12,
                            "memory_mb": 524288,
                            "memory_mb_used": 24576,
                            "local_gb": 7200,
                            "local_gb_used": 150,
                            "running_vms": 3,
                            "service": {"host": "kp-node-01"},
                            "cpu_info": json.dumps({"arch": "aarch64", "vendor": "HiSilicon", "model": "Kunpeng-920"}),
                        },
                        {
                            "id": 2,
                            "hypervisor_hostname": "hg-node-01",
                            "state": "up",
                            "status": "disabled",
                            "vcpus": 128,
                            "vcpus_used": 12,
                            "memory_mb": 524288,
                            "memory_mb_used": 24576,
                            "local_gb": 7200,
                            "local_gb_used": 150,
                            "running_vms": 3,
                            "service": {"host": "hg-node-01"},
                            "cpu_info": json.dumps(
                                {"arch": "x86_64", "vendor": "HygonGenuine", "model": "Hygon C86 7285"}
                            ),
                        },
                    ]
                }
            )
        if path == f"{c}/os-aggregates":
            return _j(
                {
                    "aggregates": [
                        {"id": 1, "name": "rack-gz-prod-R07", "hosts": ["kp-node-01"], "metadata": {"rack": "R07"}}
                    ]
                }
            )
        if path == "/image/v2/images" and method == "GET":
            return _j({"images": list(self.images.values())})
        if path == "/image/v2/images" and method == "POST":
            rec = json.loads(body)
            iid = f"img-up-{len(self.images)}"
            self.images[iid] = {**rec, "id": iid, "status": "queued"}
            return _j(self.images[iid], 201)
        if path.startswith("/image/v2/images/"):
            rest = path.removeprefix("/image/v2/images/").split("/")
            image = self.images.get(rest[0])
            if image is None:
                return _j({"code": 404, "title": "Not Found"}, 404)
            if rest[1:] == ["file"] and method == "PUT":
                self.files[rest[0]] = body
                image.update(
                    status="active",
                    size=len(body),
                    checksum=hashlib.md5(body).hexdigest(),
                    os_hash_algo="sha512",
                    os_hash_value=hashlib.sha512(body).hexdigest(),
                )
                return 204, {}, b""
            if rest[1:] == ["file"]:
                return 200, {"Content-Type": "application/octet-stream"}, self.files[rest[0]]
            if method == "DELETE":
                del self.images[rest[0]]
                return 204, {}, b""
            return _j(image)
        v = "/volume/v2/9c4693dce56b493b9b83197d900f7fba"
        if path == f"{v}/volumes/detail":
            return _j(
                {
                    "volumes": [
                        {
                            "id": "v1",
                            "name": "rsj-db-data",
                            "status": "in-use",
                            "size": 500,
                            "volume_type": "sm4-encrypted",
                            "encrypted": True,
                            "bootable": "false",
                            "attachments": [{"server_id": "s0", "device": "/dev/vdb"}],
                            "metadata": {"department": "市人社局"},
                        },
                        {
                            "id": "v2",
                            "name": "rsj-logs",
                            "status": "available",
                            "size": 100,
                            "volume_type": "standard",
                            "encrypted": False,
                            "bootable": "true",
                            "attachments": [],
                        },
                    ]
                }
            )
        if path == f"{v}/types":
            return _j({"volume_types": [{"id": "t-sm4", "name": "sm4-encrypted"}, {"id": "t-std", "name": "standard"}]})
        if path == f"{v}/types/t-sm4/encryption":
            return _j(
                {
                    "volume_type_id": "t-sm4",
                    "provider": "luks",
                    "cipher": "sm4-xts",
                    "key_size": 256,
                    "control_location": "front-end",
                }
            )
        if path == f"{v}/types/t-std/encryption":
            return _j({})
        if path == "/network/v2.0/security-groups":
            return _j(
                {
                    "security_groups": [
                        {
                            "id": "sg1",
                            "name": "default",
                            "security_group_rules": [
                                {
                                    "direction": "ingress",
                                    "protocol": "tcp",
                                    "port_range_min": 22,
                                    "port_range_max": 22,
                                    "remote_ip_prefix": "0.0.0.0/0",
                                    "ethertype": "IPv4",
                                },
                                {
                                    "direction": "egress",
                                    "protocol": None,
                                    "port_range_min": None,
                                    "port_range_max": None,
                                    "remote_ip_prefix": None,
                                    "ethertype": "IPv4",
                                },
                            ],
                        }
                    ]
                }
            )
        if path == "/network/v2.0/ports":
            return _j(
                {"ports": [{"id": "p1", "device_id": "s0", "device_owner": "compute:nova", "security_groups": ["sg1"]}]}
            )
        return _j({"itemNotFound": {"code": 404, "message": path}}, 404)


@pytest.fixture()
def cloud() -> Iterator[tuple[Cloud, OpenStackAdapter]]:
    state = Cloud()
    base, stop = serve(state.route)
    spec = ProviderSpec(
        name="xc-kunpeng",
        driver="openstack",
        key="demo",
        secret="pw",
        timeout_s=10,
        options={
            "ex_force_auth_url": f"{base}/identity",
            "ex_force_auth_version": "3.x_password",
            "ex_tenant_name": "demo",
            "ex_domain_name": "Default",
            "ex_force_service_region": "RegionOne",
        },
    )
    adapter = create_provider(spec)
    assert isinstance(adapter, OpenStackAdapter)
    yield state, adapter
    stop()


def test_nodes_carry_arch_vendor_os_tags_and_host(cloud: tuple[Cloud, OpenStackAdapter]) -> None:
    state, adapter = cloud
    nodes = {n.id: n for n in adapter.list_nodes()}
    assert set(nodes) == set(state.servers)  # both pages
    kp, hg, no_image = nodes["s0"], nodes["s1"], nodes["s5"]
    assert (kp.arch, kp.cpu_vendor, kp.os_family, kp.host) == ("aarch64", "Kunpeng", "Kylin", "kp-node-01")
    # x4 has no extra specs: arch from the host's cpu_info, vendor normalized from HygonGenuine.
    assert (hg.arch, hg.cpu_vendor, hg.os_family) == ("x86_64", "Hygon", "CentOS")
    assert (kp.department, kp.system, kp.mlps_level, kp.tags["owner"]) == ("市人社局", "社保系统", 3, "张三")
    assert (kp.vcpus, kp.ram_mb, kp.disk_gb, kp.size, kp.image) == (4, 8192, 50, "k4", "img-kylin")
    assert kp.ips == ("10.20.0.10",)
    assert [nodes[f"s{i}"].state for i in range(3)] == [State.RUNNING, State.STOPPED, State.ERROR]
    assert no_image.image == "" and no_image.os_family == ""  # boot from volume
    # No call per server: extra specs once per flavor, hypervisors once.
    assert state.calls.count("GET /compute/v2.1/flavors/k4/os-extra_specs") == 1
    assert state.calls.count("GET /compute/v2.1/os-hypervisors/detail") == 1
    assert not any(c.startswith("GET /compute/v2.1/servers/s") for c in state.calls)


def test_hosts_with_usage_vendor_and_rack(cloud: tuple[Cloud, OpenStackAdapter]) -> None:
    _, adapter = cloud
    hosts = {h.name: h for h in adapter.list_hosts()}
    kp, hg = hosts["kp-node-01"], hosts["hg-node-01"]
    assert (kp.arch, kp.cpu_vendor, kp.cpu_model, kp.rack) == ("aarch64", "Kunpeng", "Kunpeng-920", "R07")
    assert (kp.vcpus, kp.vcpus_used, kp.ram_mb, kp.ram_mb_used, kp.disk_gb_used, kp.running_vms) == (
        96,
        12,
        524288,
        24576,
        150,
        3,
    )
    assert (hg.cpu_vendor, hg.rack, hg.state) == ("Hygon", "", State.STOPPED)


def test_volumes_encryption_and_security_groups(cloud: tuple[Cloud, OpenStackAdapter]) -> None:
    _, adapter = cloud
    vols = {v.id: v for v in adapter.list_volumes()}
    assert (vols["v1"].encrypted, vols["v1"].encryption_cipher, vols["v1"].attached_to) == (True, "sm4-xts", ("s0",))
    assert vols["v1"].extra["encryption_provider"] == "luks" and vols["v1"].tags == {"department": "市人社局"}
    assert (vols["v2"].encrypted, vols["v2"].encryption_cipher, vols["v2"].bootable) == (False, "", True)
    (group,) = adapter.list_security_groups()
    assert group.attached_to == ("s0",)
    ssh = next(r for r in group.rules if r.direction == "ingress")
    assert (ssh.protocol, ssh.port_min, ssh.port_max, ssh.remote_cidr) == ("tcp", 22, 22, "0.0.0.0/0")


def test_node_actions(cloud: tuple[Cloud, OpenStackAdapter]) -> None:
    state, adapter = cloud
    node = adapter.create_node(
        "rsj-new",
        "k4",
        "img-kylin",
        network_ids=["net-1"],
        metadata={"department": "市人社局"},
        fixed_ips=["10.20.0.99"],
    )
    assert (node.name, node.arch, node.cpu_vendor, node.ips, node.department) == (
        "rsj-new",
        "aarch64",
        "Kunpeng",
        ("10.20.0.99",),
        "市人社局",
    )
    adapter.stop_node(node.id)
    assert adapter.get_node(node.id).state == State.STOPPED
    adapter.start_node(node.id)
    assert adapter.get_node(node.id).state == State.RUNNING
    adapter.set_node_metadata(node.id, {"system": "社保系统"})
    assert adapter.get_node(node.id).tags == {"department": "市人社局", "system": "社保系统"}
    image = adapter.create_snapshot(node.id, "rsj-new-snap")
    assert (image.name, image.arch, image.os_family) == ("rsj-new-snap", "aarch64", "Kylin")
    adapter.delete_image(image.id)
    assert image.id not in state.images
    adapter.destroy_node(node.id)
    assert node.id not in state.servers


def test_import_and_export_image(cloud: tuple[Cloud, OpenStackAdapter], tmp_path: Path) -> None:
    state, adapter = cloud
    src = tmp_path / "disk.qcow2"
    src.write_bytes(b"QFI\xfb" + bytes(range(256)) * 64)
    image = adapter.import_image("uos-migrated", str(src), "qcow2", {"architecture": "aarch64", "os_distro": "uos"})
    assert (image.state, image.size_bytes, image.arch, image.os_family) == (
        State.RUNNING,
        src.stat().st_size,
        "aarch64",
        "UOS",
    )
    dest = tmp_path / "out" / "copy.qcow2"
    assert adapter.export_image(image.id, str(dest)) == str(dest)
    assert dest.read_bytes() == src.read_bytes()
    # A corrupted download is refused and leaves no file behind.
    state.files[image.id] = b"corrupted"
    bad = tmp_path / "bad.qcow2"
    with pytest.raises(BadResponse, match="checksum"):
        adapter.export_image(image.id, str(bad))
    assert not bad.exists()


def test_forbidden_enrichment_does_not_fail_nodes(cloud: tuple[Cloud, OpenStackAdapter]) -> None:
    state, adapter = cloud
    original = state._route

    def no_admin(method: str, path: str, query: dict[str, list[str]], body: bytes, base: str) -> Answer:
        if "os-hypervisors" in path or "os-extra_specs" in path:
            return _j({"forbidden": {"code": 403, "message": "policy"}}, 403)
        return original(method, path, query, body, base)

    state._route = no_admin  # type: ignore[method-assign]
    nodes = {n.id: n for n in adapter.list_nodes()}
    # Without extra specs and host cpu_info, arch still comes from the Kylin image property.
    assert nodes["s0"].arch == "aarch64" and nodes["s0"].cpu_vendor == ""
    with pytest.raises(AuthError):
        adapter.list_hosts()


def test_node_changes_since(cloud: tuple[Cloud, OpenStackAdapter]) -> None:
    state, adapter = cloud
    state.servers["s1"]["updated"] = "2026-11-01T12:00:00Z"
    adapter.destroy_node("s2")
    changed, deleted = adapter.list_node_changes(datetime(2026, 10, 31, tzinfo=UTC))
    assert [n.id for n in changed] == ["s1"] and deleted == ["s2"]
    assert changed[0].arch == "x86_64" and changed[0].cpu_vendor == "Hygon"  # enriched like a full listing
    assert not any(c.startswith("GET /compute/v2.1/servers/s") for c in state.calls)
    assert adapter.list_node_changes(datetime(2026, 12, 1, tzinfo=UTC)) == ([], [])
