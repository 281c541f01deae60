"""Dynamic Ansible inventory (`--list` with `_meta.hostvars`, `--host NAME`).

Groups: provider, center, pool, department, system, arch and os_family, with names made
safe for Ansible (letters, digits, underscores); the original value is kept in hostvars.
Every host variable is marked unsafe (`{"__ansible_unsafe": ...}`): ansible-core 2.19 templates
strings in host variables, and a VM name or tag is the tenant's text, never a template.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.models import NodeRow, ProviderStatus
from inventory.tenant_text import ansible_unsafe, plain_host_name

_UNSAFE = re.compile(r"[^0-9A-Za-z_\u4e00-\u9fff]+")
_HOST_CHARS = re.compile(r"[^0-9A-Za-z_.\-\u4e00-\u9fff]+")


def group_name(field: str, value: str) -> str:
    """Ansible group names must be valid identifiers; CJK letters are identifiers in Python 3."""
    cleaned = _UNSAFE.sub("_", value).strip("_") or "none"
    return f"{field}_{cleaned}"


def host_name(row: NodeRow) -> str:
    """`provider.name`; a name that is not plain letters, digits, `_`, `.` or `-` is replaced by
    a readable alias made unique by a digest of the node id."""
    # Names repeat across clouds; provider-qualified names stay unique and readable.
    if plain_host_name(row.name):
        return f"{row.provider}.{row.name}"
    readable = _HOST_CHARS.sub("_", row.name.replace("..", "_")).strip("_.-")[:60] or "vm"
    digest = hashlib.sha256(row.id.encode("utf-8")).hexdigest()[:10]
    return f"{row.provider}.{readable}-{digest}"


def _hostvars(row: NodeRow, center: str, pool: str) -> dict[str, Any]:
    ips = [ip for ip in (row.ips or []) if isinstance(ip, str)]
    return {
        "ansible_host": ips[0] if ips else "",
        "ganyun_provider": row.provider,
        "ganyun_id": row.id,
        "ganyun_name": row.name,
        "ganyun_state": row.state,
        "ganyun_center": center,
        "ganyun_pool": pool,
        "ganyun_department": row.department,
        "ganyun_system": row.system,
        "ganyun_mlps_level": row.mlps_level,
        "ganyun_arch": row.arch,
        "ganyun_cpu_vendor": row.cpu_vendor,
        "ganyun_os_family": row.os_family,
        "ganyun_vcpus": row.vcpus,
        "ganyun_ram_mb": row.ram_mb,
        "ganyun_disk_gb": row.disk_gb,
        "ganyun_ips": ips,
    }


def build_inventory(session: Session) -> dict[str, Any]:
    providers = {p.name: p for p in session.scalars(select(ProviderStatus))}
    groups: dict[str, set[str]] = defaultdict(set)
    hostvars: dict[str, dict[str, Any]] = {}
    for row in session.scalars(select(NodeRow).execution_options(yield_per=2000)):
        status = providers.get(row.provider)
        center = status.center if status else ""
        pool = status.pool if status else ""
        name = host_name(row)
        hostvars[name] = ansible_unsafe(_hostvars(row, center, pool))
        values = {
            "provider": row.provider,
            "center": center,
            "pool": pool,
            "department": row.department,
            "system": row.system,
            "arch": row.arch,
            "os_family": row.os_family,
        }
        for field, value in values.items():
            if value:
                groups[group_name(field, value)].add(name)
    inventory: dict[str, Any] = {
        "_meta": {"hostvars": hostvars},
        "all": {"children": sorted(["ungrouped", *groups])},
        "ungrouped": {"hosts": []},
    }
    for name, members in groups.items():
        inventory[name] = {"hosts": sorted(members)}
    return inventory


def _row_of(session: Session, name: str) -> NodeRow | None:
    provider, _, node_name = name.partition(".")
    rows = session.scalars(select(NodeRow).where(NodeRow.provider == provider, NodeRow.name == node_name))
    row = next((r for r in rows if host_name(r) == name), None)
    if row is not None:
        return row
    # An alias: the readable part before the digest is not the stored name; compare them all.
    return next(
        (r for r in session.scalars(select(NodeRow).where(NodeRow.provider == provider)) if host_name(r) == name),
        None,
    )


def host_vars(session: Session, name: str) -> dict[str, Any]:
    row = _row_of(session, name)
    if row is None:
        return {}
    status = session.get(ProviderStatus, row.provider)
    return dict(ansible_unsafe(_hostvars(row, status.center if status else "", status.pool if status else "")))
