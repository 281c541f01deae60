"""Cinder v2 and v3 (one service, two versions): volumes, snapshots, volume types and their
encryption, and v3.60's time filters on volume listings. Read-only in the lab.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from lab.api.cloud import CloudRuntime
from lab.api.http import NOVA_MAX_LIMIT, ApiError, Reply, Request, cutoff, dumps, links, paginate, ts
from lab.seed import Volume


def volume_bytes(rt: CloudRuntime, volume: Volume) -> bytes:
    cached = rt.volume_cache.get(volume.id)
    if cached is None:
        with rt.lock:
            cached = dumps(_volume_json(rt, volume))
            rt.volume_cache[volume.id] = cached
    return cached


def warm(rt: CloudRuntime) -> None:
    for volume in list(rt.volumes.values()):
        volume_bytes(rt, volume)


_TIME_FILTERS = ("created_at", "updated_at")
_TIME_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "eq": operator.eq,
    "neq": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
}


def _volume_microversion(req: Request) -> tuple[int, int]:
    """`OpenStack-API-Version: volume 3.60` (the header name is case-insensitive); 3.0 if absent."""
    value = next((v for k, v in req.headers.items() if k.lower() == "openstack-api-version"), "")
    service, _, number = value.strip().partition(" ")
    if service != "volume" or not number:
        return (3, 0)
    major, _, minor = number.partition(".")
    try:
        return (int(major), int(minor or 0))
    except ValueError:
        raise ApiError(400, f"Version {number} is not supported by the API.") from None


def _volumes_in_time_window(rt: CloudRuntime, req: Request, version: str) -> list[str]:
    """Volume ids in listing order, narrowed by Cinder 3.60's `created_at` / `updated_at`
    filters (`?updated_at=gte:2026-11-29T08:00:00Z`); a volume never updated does not match
    an `updated_at` filter, as in Cinder where the column is NULL."""
    asked = [(key, req.arg(key)) for key in _TIME_FILTERS if key in req.query]
    if not asked:
        return list(rt.volumes)
    if version != "v3" or _volume_microversion(req) < (3, 60):
        keys = ", ".join(key for key, _ in asked)
        raise ApiError(400, f"Invalid filters {keys} are found in query options.")
    tests = []
    for key, raw in asked:
        name, _, moment = raw.partition(":")
        if name not in _TIME_OPERATORS or not moment:
            raise ApiError(400, f"Invalid {key} filter: {raw}")
        tests.append((key, _TIME_OPERATORS[name], cutoff(moment)))
    with rt.lock:
        volumes = list(rt.volumes.values())
    out = []
    for v in volumes:
        stamps = {"created_at": v.created, "updated_at": v.updated}
        if all(stamps[key] and compare(stamps[key], limit) for key, compare, limit in tests):
            out.append(v.id)
    return out


def _volume_json(rt: CloudRuntime, v: Volume) -> dict[str, Any]:
    server = rt.servers.get(v.server_id or "")
    vtype = next((t for t in rt.cloud.volume_types if t.name == v.volume_type), None)
    attachments = []
    if server is not None:
        attachments.append(
            {
                "id": v.id,
                "attachment_id": hashlib.md5(f"{v.id}{server.id}".encode(), usedforsecurity=False).hexdigest(),
                "volume_id": v.id,
                "server_id": server.id,
                "host_name": server.host,
                "device": v.device,
                "attached_at": v.created,
            }
        )
    return {
        "id": v.id,
        "name": v.name,
        "status": "in-use" if attachments else "available",
        "size": v.size_gb,
        "volume_type": v.volume_type,
        "availability_zone": v.az,
        "bootable": "true" if v.bootable else "false",
        "encrypted": bool(vtype and vtype.encryption_provider),
        "multiattach": False,
        "attachments": attachments,
        "metadata": v.metadata,
        "created_at": v.created,
        "updated_at": v.updated or None,
        "description": None,
        "snapshot_id": None,
        "source_volid": None,
        "replication_status": "disabled",
        "user_id": rt.cloud.user,
        "os-vol-tenant-attr:tenant_id": rt.cloud.project_id,
        "os-vol-host-attr:host": f"cinder-{rt.name}@ceph#{v.volume_type}",
        "links": [{"rel": "self", "href": f"{rt.lab.url(rt.name, 'volume/v2')}/{rt.cloud.project_id}/volumes/{v.id}"}],
    }


def handle(rt: CloudRuntime, parts: list[str], req: Request, version: str = "v2") -> Reply:
    if req.method != "GET":
        raise ApiError(405, "The lab's Cinder is read-only")
    head = parts[0] if parts else ""
    base = f"volume/{version}/{rt.cloud.project_id}"
    if head == "volumes":
        if parts[1:] in ([], ["detail"]):
            order = _volumes_in_time_window(rt, req, version)
            page, marker = paginate(req, order, NOVA_MAX_LIMIT)
            volumes = [v for v in (rt.volumes.get(i) for i in page) if v is not None]
            if parts[1:]:
                items = [volume_bytes(rt, v) for v in volumes]
            else:
                items = [dumps({"id": v.id, "name": v.name}) for v in volumes]
            path = f"{base}/volumes" + ("/detail" if parts[1:] else "")
            return Reply.listing("volumes", items, links(rt.lab, rt.name, path, req, marker, "volumes"))
        volume = rt.volumes.get(parts[1])
        if volume is None or len(parts) > 2:
            raise ApiError(404, f"Volume {parts[1]} could not be found.")
        return Reply.json(200, {"volume": _volume_json(rt, volume)})
    if head == "snapshots":
        snaps = {s.id: s for s in rt.cloud.snapshots if s.volume_id in rt.volumes}
        snap_items: list[dict[str, Any]] = [
            {
                "id": s.id,
                "name": s.name,
                "status": "available",
                "size": s.size_gb,
                "volume_id": s.volume_id,
                "created_at": s.created,
                "updated_at": None,
                "description": None,
                "metadata": {},
                "progress": "100%",
                "os-extended-snapshot-attributes:project_id": rt.cloud.project_id,
            }
            for s in snaps.values()
        ]
        if parts[1:] in ([], ["detail"]):
            page, marker = paginate(req, [i["id"] for i in snap_items], NOVA_MAX_LIMIT)
            wanted = set(page)
            path = f"{base}/snapshots" + ("/detail" if parts[1:] else "")
            return Reply.json(
                200,
                {
                    "snapshots": [i for i in snap_items if i["id"] in wanted],
                    **links(rt.lab, rt.name, path, req, marker, "snapshots"),
                },
            )
        found = [i for i in snap_items if i["id"] == parts[1]]
        if not found:
            raise ApiError(404, f"Snapshot {parts[1]} could not be found.")
        return Reply.json(200, {"snapshot": found[0]})
    if head == "types":

        def type_json(t: Any) -> dict[str, Any]:
            return {"id": t.id, "name": t.name, "is_public": True, "description": None,
                    "extra_specs": {"volume_backend_name": f"ceph-{t.name}"}}  # fmt: skip

        if len(parts) == 1:
            return Reply.json(200, {"volume_types": [type_json(t) for t in rt.cloud.volume_types]})
        vtype = rt.volume_types.get(parts[1])
        if vtype is None:
            raise ApiError(404, f"Volume type {parts[1]} could not be found.")
        if parts[2:] == ["encryption"]:
            if not vtype.encryption_provider:
                return Reply.json(200, {})
            return Reply.json(
                200,
                {
                    "volume_type_id": vtype.id,
                    "encryption_id": vtype.encryption_id,
                    "provider": vtype.encryption_provider,
                    "cipher": vtype.encryption_cipher,
                    "key_size": 256,
                    "control_location": "front-end",
                    "deleted": False,
                    "created_at": ts(rt.lab.estate.now - timedelta(days=500)),
                    "updated_at": None,
                    "deleted_at": None,
                },
            )
        if len(parts) == 2:
            return Reply.json(200, {"volume_type": type_json(vtype)})
    raise ApiError(404, "The resource could not be found.")
