"""Real VMDK files for the simulator's datastores, made with qemu-img.

Each disk has the capacity vCenter reports (sparse: a 40 GB disk is a 5 MB file with ~100 KB
on disk) and a recognizable first megabyte: a header naming the VM and disk, then seeded bytes.
A migration that downloads, converts and compares them therefore compares real content.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab.vsphere.build import SimulatorError

CONTENT_BYTES = 1 << 20


def content(label: str) -> bytes:
    """The first megabyte of the disk called `label`."""
    header = f"ganyun lab vSphere disk {label}\n".encode()
    body = random.Random(hashlib.sha256(label.encode()).digest()).randbytes(CONTENT_BYTES - len(header))
    return header + body


def make_vmdk(dest: Path, capacity_bytes: int, label: str) -> None:
    """A monolithic sparse VMDK of `capacity_bytes` that starts with `content(label)`."""
    qemu_img = shutil.which("qemu-img")
    if qemu_img is None:
        raise SimulatorError("qemu-img is not installed (Debian package qemu-utils)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    raw = dest.with_name(f".{dest.name}.raw")
    try:
        with raw.open("wb") as handle:
            handle.write(content(label))
            handle.truncate(capacity_bytes)
        proc = subprocess.run(
            [qemu_img, "convert", "-q", "-f", "raw", "-O", "vmdk", str(raw), str(dest)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        raw.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise SimulatorError(f"qemu-img convert {dest.name}: {proc.stderr.strip()[:200]}")


def make_all(disks: Iterable[tuple[Path, int, str]]) -> None:
    """Make every (path, capacity, label) disk, a few at a time."""
    jobs = list(disks)
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for future in [pool.submit(make_vmdk, path, size, label) for path, size, label in jobs]:
            future.result()
