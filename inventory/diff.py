"""Apply one complete listing of one kind to the inventory: insert, update, remove, and
record change events with the fields that changed.

Rows carry a fingerprint of their content so an unchanged resource costs one comparison,
not a read and a write; that is what makes a second sync with nothing changed cheap.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from inventory.models import ChangeEvent, HostRow, NodeRow, ResourceRow
from providers.base import TAG_DEPARTMENT, TAG_MLPS_LEVEL, TAG_OWNER, TAG_SYSTEM, Host, Kind, Node, Record

STAMP_COLUMNS = frozenset({"fingerprint", "first_seen", "updated_at"})
_CHUNK = 500


@dataclass
class Outcome:
    added: int = 0
    changed: int = 0
    removed: int = 0


def node_row(node: Node) -> dict[str, Any]:
    level = node.tags.get(TAG_MLPS_LEVEL, "")
    return {
        "provider": node.provider,
        "id": node.id,
        "name": node.name,
        "state": node.state.value,
        "vcpus": node.vcpus,
        "ram_mb": node.ram_mb,
        "disk_gb": node.disk_gb,
        "arch": node.arch,
        "cpu_vendor": node.cpu_vendor,
        "os_family": node.os_family,
        "ips": list(node.ips),
        "host": node.host,
        "image": node.image,
        "size": node.size,
        "created_at": node.created_at,
        "department": node.tags.get(TAG_DEPARTMENT, ""),
        "system": node.tags.get(TAG_SYSTEM, ""),
        "mlps_level": int(level) if str(level).isdigit() else None,
        "owner": node.tags.get(TAG_OWNER, ""),
        "tags": dict(node.tags),
        "extra": dict(node.extra),
    }


def host_row(host: Host) -> dict[str, Any]:
    return {
        "provider": host.provider,
        "id": host.id,
        "name": host.name,
        "state": host.state.value,
        "vcpus": host.vcpus,
        "ram_mb": host.ram_mb,
        "disk_gb": host.disk_gb,
        "vcpus_used": host.vcpus_used,
        "ram_mb_used": host.ram_mb_used,
        "disk_gb_used": host.disk_gb_used,
        "arch": host.arch,
        "cpu_vendor": host.cpu_vendor,
        "cpu_model": host.cpu_model,
        "rack": host.rack,
        "power_kw": host.power_kw,
        "cpu_util_pct": host.cpu_util_pct,
        "running_vms": host.running_vms,
        "extra": dict(host.extra),
    }


def resource_row(record: Record) -> dict[str, Any]:
    return {
        "kind": record.KIND.value,
        "provider": record.provider,
        "id": record.id,
        "name": record.name,
        "state": record.state.value,
        "data": record.to_dict(),
    }


def _plain(value: Any) -> Any:
    """JSON-safe copy of adapter extras (which may hold datetimes or tuples)."""
    return json.loads(dumps(value))


_ENCODER = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """The one JSON encoding used for storage, fingerprints and comparisons."""
    if not value:
        return "[]" if isinstance(value, list | tuple) else "{}" if isinstance(value, dict) else _ENCODER.encode(value)
    return _ENCODER.encode(value)


JSON_COLUMNS = frozenset({"ips", "tags", "extra", "data"})


def prepare(row: dict[str, Any]) -> dict[str, str]:
    """Serialize a row's JSON columns once and fingerprint the row from the same strings."""
    encoded = {k: dumps(v) for k, v in row.items() if k in JSON_COLUMNS}
    # repr of a tuple runs in C; the JSON columns enter as their canonical encoding.
    content = tuple(encoded.get(k, v) for k, v in row.items() if k not in STAMP_COLUMNS)
    row["fingerprint"] = hashlib.blake2b(repr(content).encode(), digest_size=20).hexdigest()
    return encoded


def fingerprint(row: dict[str, Any]) -> str:
    copy = dict(row)
    prepare(copy)
    return str(copy["fingerprint"])


def _bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]], encoded: list[dict[str, str]]) -> None:
    """Insert many rows. On SQLite, straight to the driver's executemany with the JSON already
    serialized: the ORM path re-encodes every JSON value and costs several times as much."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        for chunk in _chunks(rows, 5000):
            connection.execute(insert(table), list(chunk))
        return
    columns = [c for c in table.columns if c.name in rows[0]]
    processors = {c.name: c.type.bind_processor(connection.dialect) for c in columns}
    for row, enc in zip(rows, encoded, strict=True):
        row.update(enc)
        for name, process in processors.items():
            if process is not None and name not in enc and row[name] is not None:
                row[name] = process(row[name])
    pick = operator.itemgetter(*(c.name for c in columns))
    params = [pick(row) for row in rows]
    names = ", ".join(f'"{c.name}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    connection.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', params)


def _table_for(kind: Kind) -> tuple[Table, Any]:
    if kind is Kind.NODE:
        return NodeRow.__table__, node_row  # type: ignore[return-value]
    if kind is Kind.HOST:
        return HostRow.__table__, host_row  # type: ignore[return-value]
    return ResourceRow.__table__, resource_row  # type: ignore[return-value]


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def apply_listing(
    session: Session,
    provider: str,
    kind: Kind,
    records: Sequence[Record],
    *,
    now: datetime,
    run_id: int | None,
    record_added: bool = True,
    deleted: Sequence[str] | None = None,
) -> Outcome:
    """Make the stored rows of (provider, kind) equal to `records`, a complete listing.

    With `deleted` given, `records` is a delta (what changed since the last sync, as Nova's
    changes-since answers): rows not mentioned stay, and only the ids the provider itself
    reported deleted are removed.
    """
    table, to_row = _table_for(kind)
    scope = [table.c.provider == provider]
    if table is ResourceRow.__table__:
        scope.append(table.c.kind == kind.value)
    existing: dict[str, str] = dict(session.execute(select(table.c.id, table.c.fingerprint).where(and_(*scope))).all())
    new_rows: dict[str, dict[str, Any]] = {}
    encodings: dict[str, dict[str, str]] = {}
    for record in records:
        row = to_row(record)
        encodings[record.id] = prepare(row)
        new_rows[record.id] = row

    added_ids = [i for i in new_rows if i not in existing]
    changed_ids = [i for i, row in new_rows.items() if i in existing and existing[i] != row["fingerprint"]]
    if deleted is None:
        removed_ids = [i for i in existing if i not in new_rows]
    else:
        removed_ids = [i for i in dict.fromkeys(deleted) if i in existing and i not in new_rows]
    events: list[dict[str, Any]] = []

    if added_ids:
        rows = [{**new_rows[i], "first_seen": now, "updated_at": now} for i in added_ids]
        _bulk_insert(session, table, rows, [encodings[i] for i in added_ids])
        if record_added:
            events += [_event(now, run_id, provider, kind, i, new_rows[i]["name"], "added", {}) for i in added_ids]

    if changed_ids:
        old_rows: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(changed_ids):
            for row in session.execute(select(table).where(and_(*scope, table.c.id.in_(chunk)))).mappings():
                old_rows[row["id"]] = dict(row)
        updates = []
        for i in changed_ids:
            new = new_rows[i]
            fields = _changed_fields(old_rows.get(i, {}), new)
            events.append(_event(now, run_id, provider, kind, i, new["name"], "changed", fields))
            updates.append({**{f"b_{k}": v for k, v in new.items()}, "b_updated_at": now})
        values: dict[str, Any] = {
            c: bindparam(f"b_{c}") for c in new_rows[changed_ids[0]] if c not in ("provider", "id", "kind")
        }
        values["updated_at"] = bindparam("b_updated_at")
        where = [table.c.provider == bindparam("b_provider"), table.c.id == bindparam("b_id")]
        if table is ResourceRow.__table__:
            where.append(table.c.kind == bindparam("b_kind"))
        session.connection().execute(update(table).where(and_(*where)).values(values), updates)

    if removed_ids:
        names = dict(
            session.execute(
                select(table.c.id, table.c.name).where(and_(*scope, table.c.id.in_(removed_ids[:_CHUNK])))
            ).all()
        )
        for chunk in _chunks(removed_ids):
            session.execute(delete(table).where(and_(*scope, table.c.id.in_(chunk))))
        events += [_event(now, run_id, provider, kind, i, names.get(i, ""), "removed", {}) for i in removed_ids]

    for chunk in _chunks(events, 5000):
        session.connection().execute(insert(ChangeEvent), list(chunk))
    return Outcome(added=len(added_ids), changed=len(changed_ids), removed=len(removed_ids))


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    for key, value in new.items():
        if key in STAMP_COLUMNS:
            continue
        before = old.get(key)
        if _normalize(key, before) != _normalize(key, value):
            changed[key] = [_plain(before), _plain(value)]
    return changed


def _normalize(key: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat()
    if key in JSON_COLUMNS:
        return dumps(value)
    return value


def _event(
    at: datetime,
    run_id: int | None,
    provider: str,
    kind: Kind,
    rid: str,
    name: str,
    change: str,
    fields: dict[str, Any],
) -> dict[str, Any]:
    return {
        "at": at,
        "sync_run_id": run_id,
        "provider": provider,
        "kind": kind.value,
        "resource_id": rid,
        "name": name,
        "change": change,
        "fields": fields,
    }
