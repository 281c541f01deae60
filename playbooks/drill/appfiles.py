"""The application data directory replicated to the DR centers: mirror and SM3 manifests."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def sm3_file(path: Path) -> str:
    digest = hashlib.new("sm3")
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(root: Path) -> dict[str, str]:
    """{relative path: SM3 hex} of every file under root."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): sm3_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def digest(root: Path) -> str:
    """One SM3 over the sorted manifest: equal digests mean equal trees."""
    text = "\n".join(f"{k}\t{v}" for k, v in manifest(root).items())
    return hashlib.new("sm3", text.encode("utf-8")).hexdigest()


def mirror(source: Path, dest: Path) -> bool:
    """rsync --delete in miniature: copy new or changed files, drop extra ones; True if changed."""
    want, have = manifest(source), manifest(dest)
    changed = False
    for rel, sm3 in want.items():
        if have.get(rel) != sm3:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.ganyun-tmp")
            shutil.copy2(source / rel, tmp)
            os.replace(tmp, target)
            changed = True
    for rel in set(have) - set(want):
        (dest / rel).unlink()
        changed = True
    return changed
