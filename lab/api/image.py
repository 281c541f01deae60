"""Glance v2: images (list, show, register, patch, delete) and their files (upload, download).

Timing as real Glance has it: once its data is in (an upload, a Nova snapshot) an image goes
queued -> saving -> active over the cloud's `image_seconds`, and a share (`image_failures`)
ends `killed` instead; `settle_image` moves an image along when it is next read.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

from lab import disks
from lab.api.cloud import CloudRuntime
from lab.api.http import ApiError, Reply, Request, new_uuid, paginate, stamp_now
from lab.seed import Image

GLANCE_DEFAULT_LIMIT = 25
SAVING_AFTER_S = 1.0  # a snapshot is queued at most this long before Glance starts saving it


def begin_saving(rt: CloudRuntime, image: Image) -> None:
    """The image's data is in: it becomes active (or killed) now or over `image_seconds`.
    The caller holds rt.lock and persists the image."""
    final = "killed" if rt.image_failures.should_fail(rt.faults.image_failures) else "active"
    seconds = rt.faults.image_seconds
    if seconds <= 0:
        _finish(rt, image, final)
        return
    now = time.monotonic()
    snapshot = image.properties.get("image_type") == "snapshot"
    image.status = "queued" if snapshot else "saving"
    saving_at = now + min(SAVING_AFTER_S, seconds / 4) if snapshot else now
    rt.image_until[image.id] = (saving_at, now + seconds, final)


def settle_image(rt: CloudRuntime, image: Image) -> None:
    """queued -> saving -> active (or killed) as the image's time has come."""
    pending = rt.image_until.get(image.id)
    if pending is None:
        return
    saving_at, done_at, final = pending
    now = time.monotonic()
    if now < saving_at:
        return
    with rt.lock:
        if now >= done_at:
            rt.image_until.pop(image.id, None)
            _finish(rt, image, final)
        elif image.status == "queued":
            image.status = "saving"
        else:
            return
        if image.id in rt.images:
            rt.persist("images", image.id, image)


def _finish(rt: CloudRuntime, image: Image, status: str) -> None:
    image.status = status
    if status == "killed":
        # What Glance had received is gone with the failed save.
        rt.image_file(image).unlink(missing_ok=True)
        image.size = image.checksum = image.os_hash_value = None


_IMAGE_CORE = (
    "name",
    "disk_format",
    "container_format",
    "visibility",
    "min_disk",
    "min_ram",
    "protected",
    "tags",
    "id",
)
_IMAGE_READONLY = ("status", "size", "checksum", "created_at", "updated_at", "file", "self", "schema", "owner")


def _image_json(rt: CloudRuntime, image: Image) -> dict[str, Any]:
    settle_image(rt, image)
    digests = rt.image_digests(image) if image.status != "killed" else None
    size, md5, sha = digests if digests else (image.size, image.checksum, image.os_hash_value)
    out: dict[str, Any] = {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "visibility": image.visibility,
        "protected": False,
        "tags": [],
        "container_format": "bare",
        "disk_format": image.disk_format,
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "size": size,
        "virtual_size": disks.DISK_BYTES if digests else None,
        "checksum": md5,
        "os_hash_algo": "sha512" if sha else None,
        "os_hash_value": sha,
        "owner": rt.cloud.project_id,
        "created_at": image.created,
        "updated_at": image.created,
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
        "architecture": image.architecture,
        "os_distro": image.os_distro,
        "os_version": image.os_version,
    }
    for key, value in image.properties.items():
        out.setdefault(key, value)
    return out


def handle(rt: CloudRuntime, parts: list[str], req: Request) -> Reply:
    method = req.method
    if parts == ["images"] and method == "GET":
        order = list(rt.images)
        page, marker = paginate(req, order, GLANCE_DEFAULT_LIMIT)
        payload: dict[str, Any] = {
            "images": [_image_json(rt, rt.images[i]) for i in page],
            "first": "/v2/images",
            "schema": "/v2/schemas/images",
        }
        if marker:
            payload["next"] = (
                f"/v2/images?{urlencode({'marker': marker, 'limit': req.arg('limit', str(GLANCE_DEFAULT_LIMIT))})}"
            )
        return Reply.json(200, payload)
    if parts == ["images"] and method == "POST":
        return _register_image(rt, req)
    if len(parts) < 2 or parts[0] != "images":
        raise ApiError(404, "The resource could not be found.")
    image = rt.images.get(parts[1])
    if image is None:
        raise ApiError(404, f"No image found with ID {parts[1]}")
    sub = parts[2:]
    if not sub and method == "GET":
        return Reply.json(200, _image_json(rt, image))
    if not sub and method == "DELETE":
        with rt.lock:
            rt.images.pop(image.id, None)
            rt.image_until.pop(image.id, None)
            rt.image_file(image).unlink(missing_ok=True)
            rt.persist("images", image.id, None)
        return Reply(204)
    if not sub and method == "PATCH":
        return _patch_image(rt, image, req)
    if sub == ["file"] and method == "PUT":
        return _upload(rt, image, req)
    if sub == ["file"] and method == "GET":
        settle_image(rt, image)
        if image.status != "active":
            return Reply(204)
        try:
            path = disks.ensure_image_file(rt.lab.lab_dir, rt.name, image.id, image.disk_format)
        except disks.DiskError as exc:
            raise ApiError(503, str(exc)) from None
        digests = rt.image_digests(image)
        headers = {"Content-Type": "application/octet-stream"}
        if digests:
            headers["Content-MD5"] = digests[1]
        return Reply(200, headers=headers, file=path)
    raise ApiError(404, "The resource could not be found.")


def _register_image(rt: CloudRuntime, req: Request) -> Reply:
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    fmt = str(body.get("disk_format") or "")
    if fmt and fmt not in disks.FORMATS:
        raise ApiError(400, f"Invalid disk format '{fmt}' (lab supports {', '.join(disks.FORMATS)})")
    image_id = str(body.get("id") or "") or new_uuid(secrets.token_hex(16), "9")
    if image_id in rt.images:
        raise ApiError(409, f"Image with identifier {image_id} already exists!")
    props = {k: str(v) for k, v in body.items() if k not in (*_IMAGE_CORE, *_IMAGE_READONLY)}
    image = Image(
        id=image_id,
        name=str(body.get("name") or ""),
        architecture=props.pop("architecture", ""),
        os_distro=props.pop("os_distro", ""),
        os_version=props.pop("os_version", ""),
        os_family="",
        disk_format=fmt or "raw",
        created=stamp_now(),
        min_disk=int(body.get("min_disk") or 0),
        min_ram=int(body.get("min_ram") or 0),
        status="queued",
        visibility=str(body.get("visibility") or "private"),
        properties=props,
    )
    with rt.lock:
        rt.images[image.id] = image
        rt.persist("images", image.id, image)
    return Reply.json(201, _image_json(rt, image), {"Location": f"/v2/images/{image.id}"})


def _patch_image(rt: CloudRuntime, image: Image, req: Request) -> Reply:
    ops = req.json()
    if not isinstance(ops, list):
        raise ApiError(400, "body must be a JSON patch (a list of operations)")
    with rt.lock:
        for op in ops:
            key = str(op.get("path", "")).lstrip("/")
            if key in _IMAGE_READONLY or not key:
                raise ApiError(403, f"Attribute '{key}' is read-only.")
            if op.get("op") in ("add", "replace"):
                value = op.get("value")
                if key in ("name", "architecture", "os_distro", "os_version", "visibility"):
                    setattr(image, key, str(value))
                elif key in ("min_disk", "min_ram"):
                    setattr(image, key, int(value))
                else:
                    image.properties[key] = str(value)
            elif op.get("op") == "remove":
                image.properties.pop(key, None)
        rt.persist("images", image.id, image)
    return Reply.json(200, _image_json(rt, image))


def _upload(rt: CloudRuntime, image: Image, req: Request) -> Reply:
    settle_image(rt, image)
    if image.status != "queued":
        raise ApiError(409, f"Image {image.id} already has data (status {image.status}).")
    upload = req.body
    dest = rt.image_file(image)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.upload")
    tmp.write_bytes(upload)
    tmp.replace(dest)
    size, md5, sha = disks.file_digests(dest)
    with rt.lock:
        image.size, image.checksum, image.os_hash_value = size, md5, sha
        begin_saving(rt, image)
        rt.persist("images", image.id, image)
    return Reply(204)
