"""Real bytes for the lab: image files, server disks and application data, made lazily.

Layout under the lab dir D (the migration engineer relies on it):
  D/images/<cloud>/<image-id>.<disk_format>   Glance image files
  D/disks/<cloud>/<server-id>.qcow2           server disks
  D/appdata/<cloud>/<server-id>/              small application data for replatform copies
Nothing exists until something asks for it, so a 100,000-node lab costs no disk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

DISK_BYTES = 4 * 1024 * 1024
CONTENT_BYTES = 64 * 1024
FORMATS = ("qcow2", "raw", "vmdk")


class DiskError(RuntimeError):
    """A disk image could not be made (qemu-img missing or failing)."""


def image_path(lab_dir: Path, cloud: str, image_id: str, disk_format: str) -> Path:
    return lab_dir / "images" / cloud / f"{image_id}.{disk_format}"


def disk_path(lab_dir: Path, cloud: str, server_id: str) -> Path:
    return lab_dir / "disks" / cloud / f"{server_id}.qcow2"


def appdata_path(lab_dir: Path, cloud: str, server_id: str) -> Path:
    return lab_dir / "appdata" / cloud / server_id


def content(label: str) -> bytes:
    """Deterministic disk content: a readable label, then a SHA-256 stream seeded by it."""
    head = f"GANYUN-LAB-DISK {label}\n".encode()
    out = bytearray(head)
    block = hashlib.sha256(head).digest()
    while len(out) < CONTENT_BYTES:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:CONTENT_BYTES])


def _qemu_img() -> str:
    exe = shutil.which("qemu-img")
    if exe is None:
        raise DiskError("qemu-img is not installed (Debian package qemu-utils)")
    return exe


def convert(src: Path, src_format: str, dest: Path, dest_format: str) -> None:
    """qemu-img convert into `dest` atomically (a reader never sees half a file)."""
    if src_format == dest_format:
        _atomic_copy(src, dest)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        proc = subprocess.run(
            [_qemu_img(), "convert", "-f", src_format, "-O", dest_format, str(src), str(tmp)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise DiskError(f"qemu-img convert failed: {proc.stderr.strip()[:200]}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def make_disk(dest: Path, disk_format: str, label: str) -> Path:
    """A small real disk image of `disk_format` whose first 64 KiB are deterministic."""
    if disk_format not in FORMATS:
        raise DiskError(f"unsupported disk format '{disk_format}'")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".mk-") as tmpdir:
        raw = Path(tmpdir) / "disk.raw"
        with raw.open("wb") as handle:
            handle.write(content(label))
            handle.truncate(DISK_BYTES)
        convert(raw, "raw", dest, disk_format)
    return dest


def ensure_image_file(lab_dir: Path, cloud: str, image_id: str, disk_format: str) -> Path:
    path = image_path(lab_dir, cloud, image_id, disk_format)
    if not path.exists():
        make_disk(path, disk_format, f"image {cloud}/{image_id}")
    return path


def ensure_server_disk(lab_dir: Path, cloud: str, server_id: str, base: tuple[Path, str] | None = None) -> Path:
    """The server's disk; a server booted from an uploaded image starts as a copy of that image."""
    path = disk_path(lab_dir, cloud, server_id)
    if path.exists():
        return path
    if base is not None and base[0].exists():
        convert(base[0], base[1], path, "qcow2")
    else:
        make_disk(path, "qcow2", f"server {cloud}/{server_id}")
    return path


def ensure_appdata(lab_dir: Path, cloud: str, server_id: str, system: str = "", role: str = "") -> Path:
    """A few small files an application would keep: config, records, a version stamp."""
    root = appdata_path(lab_dir, cloud, server_id)
    if (root / "VERSION").exists():
        return root
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "app.conf").write_text(
        f"[app]\nsystem = {system}\nrole = {role}\nserver_id = {server_id}\n", encoding="utf-8"
    )
    digest = hashlib.sha256(server_id.encode()).hexdigest()
    rows = ["id,code,amount"] + [f"{i},{digest[i % 56 : i % 56 + 8]},{(i * 37) % 1000}" for i in range(200)]
    (root / "data" / "records.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    # VERSION last: its presence means the directory is complete.
    (root / "VERSION").write_text("1\n", encoding="utf-8")
    return root


def file_digests(path: Path) -> tuple[int, str, str]:
    """(size, md5 hex, sha512 hex), as Glance reports checksum and os_hash_value."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha512()
    size = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    return size, md5.hexdigest(), sha.hexdigest()
