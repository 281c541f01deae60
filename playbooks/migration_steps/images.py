"""A VM's disks across to the target: from a cloud snapshot (Nova createImage, then a Glance
download) or from its datastore files (vSphere: power off, download the VMDKs), through
`qemu-img convert` checked by `qemu-img compare`, into the target's Glance.

Every image is waited for until it is active; one the cloud fails (`killed`) is deleted and
made again, up to `image_attempts`. Local file names come from indexes, never from what the
cloud calls its files.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from playbooks.migration_steps.context import FROM_TAG, RUN_TAG, StepContext
from playbooks.migration_steps.data import sm3_digest
from providers import capabilities
from providers.base import Image, Provider, State
from providers.errors import GanyunError, NotFound

# Disk formats qemu-img reads that a snapshot may come in; the format also names a file.
DISK_FORMATS = frozenset({"qcow2", "raw", "vmdk", "vdi", "vhdx", "qed"})
SNAPSHOT_PREFIX = "ganyun-mig-"
_DESCRIPTOR_HEAD = b"# Disk DescriptorFile"
_EXTENT = re.compile(
    r'^(?P<access>RW|RDONLY|NOACCESS)\s+(?P<size>\d+)\s+(?P<type>\w+)\s+"(?P<file>[^"]+)"(?P<rest>.*)$'
)
_UNSAFE_TEXT = re.compile(r"[\x00-\x1f\x7f]")


def qemu_img(*args: str) -> subprocess.CompletedProcess[str]:
    """qemu-img with its output kept: the caller words the failure for the step record."""
    exe = shutil.which("qemu-img")
    if exe is None:
        raise GanyunError("qemu-img is not installed (Debian package qemu-utils)")
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        timeout=3600,  # a whole disk image: bounded, but generously
        check=False,
    )


def ignore_missing(ctx: StepContext, what: str, call: Any) -> None:
    """Cleanup must be re-runnable: something already gone is fine."""
    try:
        ctx.call(what, call)
    except NotFound:
        return


def _find_image(provider: Provider, name: str, props: Mapping[str, str]) -> Image | None:
    for image in capabilities.IMAGES.require(provider, "list_images").list_images():
        if image.name == name and all(str(image.extra.get(k, "")) == v for k, v in props.items()):
            return image
    return None


def _await_image(ctx: StepContext, provider: Provider, image_id: str, what: str) -> Image | None:
    """The image once Glance is done with it (active, killed or gone); None when the provider
    cannot show one image (it then was usable when its call returned)."""
    if capabilities.IMAGE_LOOKUP.of(provider) is None:
        return None
    finished = (State.RUNNING, State.ERROR, State.TERMINATED)
    return ctx.wait(
        what,
        lambda: capabilities.IMAGE_LOOKUP.require(provider, "get_image").get_image(image_id),
        lambda image: image.state in finished,
        timeout_s=ctx.setting("image_timeout_s"),
        describe=lambda image: str(image.extra.get("status") or image.state.value),
    )


def _attempt(ctx: StepContext, counter: str, what: str, image: Image) -> int:
    """One more try after the cloud failed an image, or the step fails."""
    attempts = int(ctx.state.get(counter) or 1)
    status = str(image.extra.get("status") or image.state.value)
    if attempts >= int(ctx.setting("image_attempts")):
        raise ctx.fail(ctx.step, f"{what} {image.id} ended {status} {attempts} time(s)")
    ctx.remark(f"{what} {image.id} ended {status}: made again")
    ctx.note(
        f"{what} {image.id} ended {status}: making it again ({attempts + 1} of {ctx.setting('image_attempts'):.0f})",
        force=True,
    )
    return attempts + 1


# --------------------------------------------------------------------------- from a snapshot


def _snapshot_name(ctx: StepContext) -> str:
    return f"{SNAPSHOT_PREFIX}{ctx.run_id}-{ctx.item['name']}"


def _take_snapshot(ctx: StepContext) -> Image:
    source, source_id, name = ctx.source, str(ctx.item["source_id"]), _snapshot_name(ctx)
    return ctx.create_once(
        "snapshot",
        lambda: _find_image(source, name, {"instance_uuid": source_id}),
        lambda: capabilities.NODE_SNAPSHOT.require(source, "create_snapshot").create_snapshot(source_id, name),
    )


def step_snapshot(ctx: StepContext) -> dict[str, Any]:
    if ctx.state.get("snapshot_id"):
        return {}
    image = _take_snapshot(ctx)
    return {"snapshot_id": image.id, "snapshot_format": image.disk_format or "qcow2", "snapshot_attempts": 1}


def _disk_format(ctx: StepContext, step: str) -> str:
    fmt = str(ctx.state.get("snapshot_format") or "qcow2")
    if fmt not in DISK_FORMATS:
        raise ctx.fail(step, f"snapshot disk format {fmt!r} is not one of {', '.join(sorted(DISK_FORMATS))}")
    return fmt


def step_export(ctx: StepContext) -> dict[str, Any]:
    """Wait for the snapshot to become active (real Glance takes minutes), then download it."""
    fmt = _disk_format(ctx, "export")
    while True:
        snapshot_id = str(ctx.state["snapshot_id"])
        image = _await_image(ctx, ctx.source, snapshot_id, "snapshot image")
        if image is None or image.state == State.RUNNING:
            break
        attempts = _attempt(ctx, "snapshot_attempts", "snapshot image", image)
        ignore_missing(
            ctx,
            "export",
            partial(capabilities.NODE_SNAPSHOT.require(ctx.source, "delete_image").delete_image, snapshot_id),
        )
        ctx.save(snapshot_id="")
        ctx.save(snapshot_id=_take_snapshot(ctx).id, snapshot_attempts=attempts)
    dest = Path(str(ctx.state["work"])) / f"source.{fmt}"
    ctx.note("downloading the snapshot", force=True)
    ctx.call(
        "export",
        lambda: capabilities.EXPORT_IMAGE.require(ctx.source, "export_image").export_image(snapshot_id, str(dest)),
    )
    return {"export_path": str(dest)}


# --------------------------------------------------------------------------- from a datastore


def step_power_off(ctx: StepContext) -> dict[str, Any]:
    """The source stops first, so that its disk files stop changing; nothing else of it changes
    before the copy is verified (rollback powers it back on)."""
    source, source_id = ctx.source, str(ctx.item["source_id"])
    if ctx.call("power off", lambda: source.get_node(source_id)).state != State.STOPPED:
        ctx.call("power off", partial(capabilities.POWER.require(source, "stop_node").stop_node, source_id))
        ctx.wait_node(source, source_id, State.STOPPED, "power off", "power_timeout_s")
    return {"source_stopped": True}


def _datastore_path(ctx: StepContext, disk: Mapping[str, Any]) -> tuple[str, str]:
    """("datastore", "dir/file.vmdk") of a disk, refused when it is anything but a plain relative path."""
    datastore, path = str(disk.get("datastore") or ""), str(disk.get("path") or "")
    parts = PurePosixPath(path).parts
    if not datastore or not path or _UNSAFE_TEXT.search(datastore + path) or path.startswith("/") or ".." in parts:
        raise ctx.fail("download", f"disk file {datastore!r} {path!r} is not a datastore path ganyun reads")
    return datastore, path


def step_download(ctx: StepContext) -> dict[str, Any]:
    source = ctx.source
    if capabilities.DATASTORE_FILES.of(source) is None:
        raise ctx.fail("download", f"{ctx.item['source_provider']} offers no datastore files to download")
    source_id = str(ctx.item["source_id"])
    node = ctx.call("download", lambda: ctx.source.get_node(source_id))
    disks = [d for d in node.extra.get("disks") or [] if isinstance(d, Mapping)]
    if not disks:
        raise ctx.fail("download", "the source has no disks")
    datacenter = str(node.extra.get("datacenter_path") or "")
    work = Path(str(ctx.state["work"]))
    done = dict(ctx.state.get("downloaded") or {})
    for n, disk in enumerate(disks):
        if str(n) in done and Path(str(done[str(n)]["path"])).is_file():
            continue  # downloaded before a kill
        datastore, path = _datastore_path(ctx, disk)
        dest = work / f"disk-{n}.vmdk"
        ctx.note(f"downloading disk {n + 1} of {len(disks)}", force=True)
        size = ctx.call(
            "download",
            partial(
                capabilities.DATASTORE_FILES.require(source, "ex_download_datastore_file").ex_download_datastore_file,
                datastore,
                path,
                dest,
                datacenter,
            ),
        )
        size += _download_extents(ctx, source, datastore, path, dest, datacenter)
        done[str(n)] = {"path": str(dest), "bytes": size}
        ctx.save(downloaded=done)
    return {"downloaded": done}


def _download_extents(
    ctx: StepContext, source: Provider, datastore: str, path: str, descriptor: Path, datacenter: str
) -> int:
    """A VMDK that is a text descriptor (vSphere keeps the data in `-flat.vmdk` extents beside
    it): fetch each extent next to the local copy and point the descriptor at it. Bytes fetched."""
    with descriptor.open("rb") as handle:
        if not handle.read(len(_DESCRIPTOR_HEAD)).startswith(_DESCRIPTOR_HEAD):
            return 0
    lines = descriptor.read_text(encoding="utf-8", errors="strict").splitlines()
    fetched = 0
    out = []
    for line in lines:
        match = _EXTENT.match(line.strip())
        if match is None:
            out.append(line)
            continue
        remote = match.group("file")
        if "/" in remote or remote in (".", "..") or _UNSAFE_TEXT.search(remote):
            raise ctx.fail("download", f"extent {remote!r} of {path!r} is not a file beside its descriptor")
        local = descriptor.with_name(f"{descriptor.stem}-extent-{len(out)}.vmdk")
        remote_path = str(PurePosixPath(path).parent / remote)
        fetched += ctx.call(
            "download",
            partial(
                capabilities.DATASTORE_FILES.require(source, "ex_download_datastore_file").ex_download_datastore_file,
                datastore,
                remote_path,
                local,
                datacenter,
            ),
        )
        access, size, kind, rest = match.group("access", "size", "type", "rest")
        out.append(f'{access} {size} {kind} "{local.name}"{rest}')
    # Without blank lines: qemu-img 7.2 reads an extent line that follows an empty line twice
    # (a disk of double size); they mean nothing in a descriptor.
    descriptor.write_text("\n".join(line for line in out if line.strip()) + "\n", encoding="utf-8")
    return fetched


# --------------------------------------------------------------------------- convert, import


def _local_disks(ctx: StepContext) -> list[tuple[int, Path, str]]:
    """(index, file, format) of every disk fetched: the datastore's VMDKs, else the snapshot."""
    downloaded = ctx.state.get("downloaded") or {}
    if downloaded:
        return sorted((int(n), Path(str(d["path"])), "vmdk") for n, d in downloaded.items())
    return [(0, Path(str(ctx.state["export_path"])), _disk_format(ctx, "convert"))]


def step_convert(ctx: StepContext) -> dict[str, Any]:
    converted = dict(ctx.state.get("converted") or {})
    disks = _local_disks(ctx)
    for n, src, fmt in disks:
        if str(n) in converted and Path(str(converted[str(n)]["path"])).is_file():
            continue
        dest = src.with_name(f"target-{n}.qcow2")
        ctx.note(f"converting disk {n + 1} of {len(disks)}", force=True)
        proc = qemu_img("convert", "-f", fmt, "-O", "qcow2", str(src), str(dest))
        if proc.returncode != 0:
            raise ctx.fail("convert", f"qemu-img convert: {proc.stderr.strip()[:200]}")
        # Same guest bytes after conversion, or the rehost would boot a different disk.
        check = qemu_img("compare", "-f", fmt, "-F", "qcow2", str(src), str(dest))
        if check.returncode != 0:
            raise ctx.fail("convert", f"qemu-img compare: images differ ({check.stdout.strip()[:120]})")
        converted[str(n)] = {"path": str(dest), "sm3": sm3_digest(dest.read_bytes())}
        ctx.save(converted=converted)
    first = converted["0"]
    return {"converted": converted, "converted_path": first["path"], "converted_sm3": first["sm3"]}


def _image_name(ctx: StepContext, n: int) -> str:
    return f"ganyun-{ctx.item['name']}" if n == 0 else f"ganyun-{ctx.item['name']}-disk{n}"


def _upload(ctx: StepContext, n: int, path: str) -> Image:
    """The converted disk as an image of the target, found again after a kill; an image whose
    upload never arrived (queued, or killed) is replaced."""
    target, name = ctx.target, _image_name(ctx, n)
    mine = {FROM_TAG: ctx.key, RUN_TAG: str(ctx.run_id), "ganyun_disk": str(n)}
    props = {
        "architecture": str(ctx.item.get("arch") or "x86_64"),
        "os_distro": str(ctx.item.get("os_family") or "").lower(),
    }

    def find() -> Image | None:
        found = _find_image(target, name, mine)
        if found is not None and str(found.extra.get("status") or "") in ("queued", "killed"):
            ignore_missing(
                ctx, "import", partial(capabilities.IMPORT_IMAGE.require(target, "delete_image").delete_image, found.id)
            )
            return None
        return found

    return ctx.create_once(
        "import",
        find,
        lambda: capabilities.IMPORT_IMAGE.require(target, "import_image").import_image(
            name, path, "qcow2", properties={**props, **mine}
        ),
    )


def step_import(ctx: StepContext) -> dict[str, Any]:
    """Upload every converted disk and wait until the target's Glance has it active."""
    converted = ctx.state.get("converted") or {"0": {"path": str(ctx.state["converted_path"])}}
    imported = dict(ctx.state.get("imported") or {})
    for key in sorted(converted, key=int):
        n = int(key)
        while True:
            if not imported.get(key):
                ctx.note(f"uploading disk {n + 1} of {len(converted)}", force=True)
                imported[key] = _upload(ctx, n, str(converted[key]["path"])).id
                ctx.save(imported=imported)
            image = _await_image(ctx, ctx.target, str(imported[key]), f"image of disk {n + 1}")
            if image is None or image.state == State.RUNNING:
                break
            counter = f"import_attempts_{n}"
            ctx.save(**{counter: _attempt(ctx, counter, f"image of disk {n + 1}", image)})
            failed = str(imported[key])
            ignore_missing(
                ctx,
                "import",
                partial(capabilities.IMPORT_IMAGE.require(ctx.target, "delete_image").delete_image, failed),
            )
            imported[key] = ""
            ctx.save(imported=imported)
    return {"imported": imported, "image_id": imported["0"]}
