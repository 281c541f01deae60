"""Dynamic Ansible inventory (`--list` with `_meta.hostvars`, `--host NAME`).

Host names are `provider.name`, unique and stable:
- a name that is not plain letters (CJK too), digits, `_`, `.` or `-` becomes a readable alias
  (the provider part too: a provider may be called anything);
- nodes that would share a host name (two VMs named alike in one cloud) keep it for the oldest
  (created first, then id) and give every other one a short suffix of its own id digest, which
  does not change as long as the node exists; each collision is reported as a warning.
`--host` resolves names through the same table, so a provider name with a dot or a unicode
name works as well as any other.

Live nodes only: nodes that are terminated, or that belong to a provider whose last sync failed
(its data is stale), are left out unless asked for (`include_stale`); those then carry
`ganyun_stale: true`.

Groups: provider, center, pool, department, system, arch, os_family and state, with names made
safe for Ansible (letters, digits, underscores); the original value is kept in hostvars.
Every host variable is marked unsafe (`{"__ansible_unsafe": ...}`): ansible-core 2.19 templates
strings in host variables, and a VM name or tag is the tenant's text, never a template.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.models import NodeRow, ProviderStatus
from inventory.tenant_text import ansible_unsafe, plain_host_name
from providers.base import State

_UNSAFE = re.compile(r"[^0-9A-Za-z_\u4e00-\u9fff]+")
_HOST_CHARS = re.compile(r"[^0-9A-Za-z_.\-\u4e00-\u9fff]+")
_OLDEST = datetime.min.replace(tzinfo=UTC)


def group_name(field: str, value: str) -> str:
    """Ansible group names must be valid identifiers; CJK letters are identifiers in Python 3."""
    cleaned = _UNSAFE.sub("_", value).strip("_") or "none"
    return f"{field}_{cleaned}"


def _digest(text: str, size: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:size]


def _part(text: str, fallback: str) -> str:
    """A plain host-name part: the text itself when plain, else a readable alias with a digest
    of the original (so two different odd names never meet in one alias)."""
    if plain_host_name(text):
        return text
    readable = _HOST_CHARS.sub("_", text.replace("..", "_")).strip("_.-")[:60] or fallback
    return f"{readable}-{_digest(text, 10)}"


def base_name(row: NodeRow) -> str:
    """`provider.name`, each part plain (see the module docstring); not yet unique."""
    return f"{_part(row.provider, 'cloud')}.{_part(row.name, 'vm')}"


@dataclass(frozen=True)
class Collision:
    """`count` nodes share the host name `name`: the oldest keeps it, the others get a suffix."""

    name: str
    count: int


@dataclass
class Hosts:
    """The inventory's hosts: name -> row, and one warning per collision."""

    rows: dict[str, NodeRow] = field(default_factory=dict)
    warnings: list[Collision] = field(default_factory=list)
    stale: set[str] = field(default_factory=set)


def _created(row: NodeRow) -> datetime:
    at = row.created_at
    if at is None:
        return _OLDEST
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def name_hosts(rows: Iterable[NodeRow]) -> tuple[dict[str, NodeRow], list[Collision]]:
    """Unique host names for `rows`: the oldest node keeps its base name, the others get
    `-<8 hex of their id>`; one warning per base name that several nodes share."""
    by_base: dict[str, list[NodeRow]] = defaultdict(list)
    for row in rows:
        by_base[base_name(row)].append(row)
    named: dict[str, NodeRow] = {}
    warnings: list[Collision] = []
    for base, members in by_base.items():
        members.sort(key=lambda r: (_created(r), r.id))
        named.setdefault(base, members[0])
        if len(members) > 1:
            warnings.append(Collision(base, len(members)))
        for row in members[1:]:
            size = 8
            name = f"{base}-{_digest(f'{row.provider}/{row.id}', size)}"
            while name in named or name in by_base:  # practically never; still never two hosts in one
                size += 2
                name = f"{base}-{_digest(f'{row.provider}/{row.id}', size)}"
            named[name] = row
    return named, warnings


def collect_hosts(session: Session, include_stale: bool = False) -> Hosts:
    """Every node the inventory offers to Ansible, under its unique host name."""
    stale_providers = {p.name for p in session.scalars(select(ProviderStatus)) if p.stale or p.status == "failed"}
    chosen: list[NodeRow] = []
    stale: set[tuple[str, str]] = set()
    for row in session.scalars(select(NodeRow).execution_options(yield_per=2000)):
        gone = row.state == State.TERMINATED.value or row.provider in stale_providers
        if gone and not include_stale:
            continue
        if gone:
            stale.add((row.provider, row.id))
        chosen.append(row)
    rows, warnings = name_hosts(chosen)
    out = Hosts(rows=rows, warnings=warnings)
    out.stale = {name for name, row in rows.items() if (row.provider, row.id) in stale}
    return out


def _hostvars(row: NodeRow, center: str, pool: str, stale: bool) -> dict[str, Any]:
    ips = [ip for ip in (row.ips or []) if isinstance(ip, str)]
    return {
        "ansible_host": ips[0] if ips else "",
        "ganyun_provider": row.provider,
        "ganyun_id": row.id,
        "ganyun_name": row.name,
        "ganyun_state": row.state,
        "ganyun_stale": stale,
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


def build_inventory(session: Session, include_stale: bool = False) -> tuple[dict[str, Any], list[Collision]]:
    """The `--list` answer and the collision warnings."""
    providers = {p.name: p for p in session.scalars(select(ProviderStatus))}
    hosts = collect_hosts(session, include_stale)
    groups: dict[str, set[str]] = defaultdict(set)
    hostvars: dict[str, dict[str, Any]] = {}
    for name, row in hosts.rows.items():
        status = providers.get(row.provider)
        center = status.center if status else ""
        pool = status.pool if status else ""
        hostvars[name] = ansible_unsafe(_hostvars(row, center, pool, name in hosts.stale))
        values = {
            "provider": row.provider,
            "center": center,
            "pool": pool,
            "department": row.department,
            "system": row.system,
            "arch": row.arch,
            "os_family": row.os_family,
            "state": row.state,
        }
        for group_field, value in values.items():
            if value:
                groups[group_name(group_field, value)].add(name)
    inventory: dict[str, Any] = {
        "_meta": {"hostvars": hostvars},
        "all": {"children": sorted(["ungrouped", *groups])},
        "ungrouped": {"hosts": []},
    }
    for group, members in groups.items():
        inventory[group] = {"hosts": sorted(members)}
    return inventory, hosts.warnings


def host_vars(session: Session, name: str, include_stale: bool = False) -> dict[str, Any] | None:
    """The `--host NAME` answer, or None when no host has that name."""
    hosts = collect_hosts(session, include_stale)
    row = hosts.rows.get(name)
    if row is None:
        return None
    status = session.get(ProviderStatus, row.provider)
    center, pool = (status.center, status.pool) if status else ("", "")
    return dict(ansible_unsafe(_hostvars(row, center, pool, name in hosts.stale)))
