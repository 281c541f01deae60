"""A generated OpenStack cloud of N servers (Nova pages of 1000) for scale tests and benchmarks."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.providers.replay_server import Answer, catalog

JSON = {"Content-Type": "application/json"}
PAGE = 1000


class BigCloud:
    def __init__(self, servers: int, flavors: int = 10, images: int = 20, hypervisors: int = 50) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.flavors = [
            {
                "id": f"f{i}",
                "name": f"c{i + 1}m{2 * (i + 1)}",
                "vcpus": i + 1,
                "ram": 2048 * (i + 1),
                "disk": 40,
                "swap": "",
            }
            for i in range(flavors)
        ]
        self.images = [
            {
                "id": f"img{i}",
                "name": f"image-{i}",
                "status": "active",
                "architecture": "aarch64" if i % 2 else "x86_64",
                "os_distro": ["kylin", "uos", "openeuler", "centos"][i % 4],
                "disk_format": "qcow2",
            }
            for i in range(images)
        ]
        self.hypervisors = [
            {
                "id": i,
                "hypervisor_hostname": f"host-{i:03d}",
                "state": "up",
                "status": "enabled",
                "vcpus": 96,
                "memory_mb": 524288,
                "local_gb": 7200,
                "vcpus_used": 0,
                "memory_mb_used": 0,
                "local_gb_used": 0,
                "running_vms": 0,
                "cpu_info": json.dumps({"arch": "aarch64", "vendor": "HiSilicon", "model": "Kunpeng-920"}),
            }
            for i in range(hypervisors)
        ]
        self.servers = [
            {
                "id": f"srv-{i:06d}",
                "name": f"vm-{i}",
                "status": "ACTIVE",
                "flavor": {"id": f"f{i % flavors}"},
                "image": {"id": f"img{i % images}"},
                "addresses": {"net": [{"addr": f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}", "version": 4}]},
                "metadata": {"department": "市公安局", "system": "雪亮工程视频平台", "mlps_level": "3"},
                "OS-EXT-SRV-ATTR:hypervisor_hostname": f"host-{i % hypervisors:03d}",
                "created": "2026-01-01T00:00:00Z",
                "updated": "2026-01-02T00:00:00Z",
                "hostId": f"{i % hypervisors:056x}",
                "tenant_id": "p",
                "user_id": "u",
                "links": [{"rel": "self", "href": f"/v2.1/servers/srv-{i:06d}"}],
            }
            for i in range(servers)
        ]
        self._index = {s["id"]: n for n, s in enumerate(self.servers)}

    def route(self, method: str, url: str, body: bytes, base: str) -> Answer:
        parts = urlsplit(url)
        path, query = parts.path.rstrip("/"), parse_qs(parts.query)
        with self.lock:
            self.calls[path] += 1
        if path == "/identity/v3/auth/tokens":
            token = {
                "token": {
                    "expires_at": "2999-01-01T00:00:00Z",
                    "catalog": catalog(base),
                    "project": {"id": "p", "name": "demo"},
                    "user": {"id": "u", "name": "demo"},
                }
            }
            return 201, {**JSON, "X-Subject-Token": "tok"}, json.dumps(token).encode()
        c = "/compute/v2.1"
        body_out: Any
        if path == f"{c}/servers/detail":
            start = self._index[query["marker"][0]] + 1 if "marker" in query else 0
            page = self.servers[start : start + PAGE]
            body_out = {"servers": page}
            if start + PAGE < len(self.servers):
                body_out["servers_links"] = [
                    {"rel": "next", "href": f"{base}{c}/servers/detail?marker={page[-1]['id']}"}
                ]
        elif path == f"{c}/flavors/detail":
            body_out = {"flavors": self.flavors}
        elif path.endswith("/os-extra_specs"):
            body_out = {
                "extra_specs": {"capabilities:cpu_info:arch": "aarch64", "capabilities:cpu_info:vendor": "Kunpeng"}
            }
        elif path == f"{c}/os-hypervisors/detail":
            body_out = {"hypervisors": self.hypervisors}
        elif path == "/image/v2/images":
            body_out = {"images": self.images}
        else:
            return 404, dict(JSON), b'{"itemNotFound": {"code": 404, "message": "not here"}}'
        return 200, dict(JSON), json.dumps(body_out).encode()
