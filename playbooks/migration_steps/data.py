"""Replatform's data: where a VM's application data lives, the copy, and its SM3 proof."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inventory.config import GanyunConfig
from inventory.tenant_text import path_component
from playbooks.migration_steps.context import StepContext
from providers.errors import GanyunError

CONFIG_FILE = "app.conf"  # written by the application role on the target, never copied


def data_dir(config: GanyunConfig, provider: str, node_id: str) -> Path:
    """Where a VM's application data lives: `migration.appdata_dir`, a path with {provider} and {id}."""
    provider = path_component(provider, "provider name")
    node_id = path_component(node_id, "node id")
    template = str(config.migration.get("appdata_dir") or "")
    if not template:
        raise GanyunError("migration.appdata_dir is not configured: cannot locate application data")
    return config.resolve_path(template.format(provider=provider, id=node_id))


def source_data(ctx: StepContext) -> Path:
    path = data_dir(ctx.config, str(ctx.item["source_provider"]), str(ctx.item["source_id"]))
    if not path.exists():
        raise ctx.fail("copy_data", f"source data directory {path} does not exist")
    return path


def sm3_digest(data: bytes) -> str:
    try:
        from security.sm import sm3
    except ImportError:
        return hashlib.new("sm3", data).hexdigest()
    return sm3(data).hex()


def manifest(root: Path) -> dict[str, str]:
    """SM3 of every data file under root (the role-managed config excluded)."""
    out: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel != CONFIG_FILE:
            out[rel] = sm3_digest(path.read_bytes())
    return out


def manifest_digest(files: Mapping[str, str]) -> str:
    return sm3_digest("\n".join(f"{k} {v}" for k, v in sorted(files.items())).encode())


def step_copy_data(ctx: StepContext) -> dict[str, Any]:
    src = Path(str(ctx.state["source_data_dir"]))
    dest = Path(str(ctx.state["target_data_dir"]))
    before = manifest(src)
    for rel in before:
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, out)
    if "corrupt_copy" in ctx.faults and ctx.config.lab:
        # Lab fault injection: flip a byte in the copy, as a bad network or disk would.
        first = dest / sorted(before)[0]
        data = bytearray(first.read_bytes())
        data[-1] ^= 0xFF
        first.write_bytes(bytes(data))
    return {"source_sm3": manifest_digest(before), "files": len(before)}


def step_verify(ctx: StepContext) -> dict[str, Any]:
    src_digest = manifest_digest(manifest(Path(str(ctx.state["source_data_dir"]))))
    dest_digest = manifest_digest(manifest(Path(str(ctx.state["target_data_dir"]))))
    if src_digest != ctx.state.get("source_sm3") or dest_digest != src_digest:
        raise ctx.fail("verify", f"SM3 checksum mismatch: source {src_digest[:16]}..., target {dest_digest[:16]}...")
    return {"target_sm3": dest_digest}
