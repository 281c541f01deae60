"""Records to database-ready rows, without a database: canonical JSON, one tuple of column
values per record in the stored column order, and a content fingerprint.

Kept free of SQLAlchemy so that collector processes (inventory/collector.py) import little;
inventory/diff.py binds these column orders to the tables and checks they match the models.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from providers.base import TAG_DEPARTMENT, TAG_MLPS_LEVEL, TAG_OWNER, TAG_SYSTEM, Host, Kind, Node, Record

JSON_COLUMNS = frozenset({"ips", "tags", "extra", "data"})

# orjson encodes ten times faster than the standard encoder: this runs for every JSON column
# of every row on every sync. Datetimes pass through to str() so stored text stays as before.
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_FALLBACK = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """The one JSON encoding used for storage, fingerprints and comparisons."""
    try:
        return orjson.dumps(value, default=_orjson_default, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits or keys orjson cannot sort: the standard encoder copes.
        return _FALLBACK.encode(value)


def _orjson_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def plain(value: Any) -> Any:
    """JSON-safe copy of adapter extras (which may hold datetimes or tuples)."""
    return json.loads(dumps(value))


# The content columns of each table, in the order the value tuples below follow (stamps
# `fingerprint`, `first_seen`, `updated_at` come after them).
NODE_COLUMNS = (
    "provider", "id", "name", "state", "vcpus", "ram_mb", "disk_gb", "arch", "cpu_vendor", "os_family", "ips",
    "host", "image", "size", "created_at", "department", "system", "mlps_level", "owner", "tags", "extra",
)  # fmt: skip
HOST_COLUMNS = (
    "provider", "id", "name", "state", "vcpus", "ram_mb", "disk_gb", "vcpus_used", "ram_mb_used", "disk_gb_used",
    "arch", "cpu_vendor", "cpu_model", "os_family", "rack", "power_kw", "cpu_util_pct", "running_vms", "extra",
)  # fmt: skip
RESOURCE_COLUMNS = ("kind", "provider", "id", "name", "state", "data")


def _node_values(node: Node) -> tuple[Any, ...]:
    tags = node.tags
    level = tags.get(TAG_MLPS_LEVEL, "")
    return (
        node.provider,
        node.id,
        node.name,
        node.state.value,
        node.vcpus,
        node.ram_mb,
        node.disk_gb,
        node.arch,
        node.cpu_vendor,
        node.os_family,
        dumps(node.ips),
        node.host,
        node.image,
        node.size,
        node.created_at,
        tags.get(TAG_DEPARTMENT, ""),
        tags.get(TAG_SYSTEM, ""),
        int(level) if str(level).isdigit() else None,
        tags.get(TAG_OWNER, ""),
        dumps(tags),
        dumps(node.extra),
    )


def _host_values(host: Host) -> tuple[Any, ...]:
    return (
        host.provider,
        host.id,
        host.name,
        host.state.value,
        host.vcpus,
        host.ram_mb,
        host.disk_gb,
        host.vcpus_used,
        host.ram_mb_used,
        host.disk_gb_used,
        host.arch,
        host.cpu_vendor,
        host.cpu_model,
        host.os_family,
        host.rack,
        host.power_kw,
        host.cpu_util_pct,
        host.running_vms,
        dumps(host.extra),
    )


def _resource_values(record: Record) -> tuple[Any, ...]:
    return (record.KIND.value, record.provider, record.id, record.name, record.state.value, dumps(record.to_dict()))


def columns_for(kind: Kind) -> tuple[str, ...]:
    return NODE_COLUMNS if kind is Kind.NODE else HOST_COLUMNS if kind is Kind.HOST else RESOURCE_COLUMNS


_VALUES: dict[Kind, Callable[[Any], tuple[Any, ...]]] = {Kind.NODE: _node_values, Kind.HOST: _host_values}


@dataclass
class EncodedListing:
    """A listing ready for the database: one tuple of content values per record (JSON columns
    as their canonical text) and its fingerprint. Plain data, so it crosses process boundaries."""

    kind: Kind
    ids: list[str]
    values: list[tuple[Any, ...]]
    fingerprints: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def encode_listing(kind: Kind, records: Sequence[Record]) -> EncodedListing:
    to_values: Callable[[Any], tuple[Any, ...]] = _VALUES.get(kind, _resource_values)
    values = [to_values(r) for r in records]
    # repr of a tuple of str/int/None/datetime runs in C and is stable across runs.
    fingerprints = [hashlib.blake2b(repr(v).encode(), digest_size=20).hexdigest() for v in values]
    return EncodedListing(kind, [r.id for r in records], values, fingerprints)
