"""Apply one complete listing of one kind to the inventory: insert, update, remove, and
record change events with the fields that changed.

Work is split in two so that the CPU-heavy half can run wherever collection runs (a worker
process, see inventory/collector.py):
- `encoding.encode_listing` turns records into database-ready tuples with a content
  fingerprint (pure: no session, no SQLAlchemy, picklable result);
- `apply_listing` compares fingerprints with the stored ones and writes only the difference.
An unchanged resource then costs one string comparison, not a read and a write; that is what
makes a second sync with nothing changed cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import DateTime, Table, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from inventory.encoding import (
    HOST_COLUMNS,
    JSON_COLUMNS,
    NODE_COLUMNS,
    RESOURCE_COLUMNS,
    EncodedListing,
    dumps,
    encode_listing,
    plain,
)
from inventory.models import ChangeEvent, HostRow, NodeRow, ResourceRow
from providers.base import Kind, Record

STAMP_COLUMNS = frozenset({"fingerprint", "first_seen", "updated_at"})
_CHUNK = 500


@dataclass
class Outcome:
    added: int = 0
    changed: int = 0
    removed: int = 0


@dataclass(frozen=True)
class Layout:
    """Where one kind is stored and the order of its content columns (the fingerprint's order)."""

    table: Table
    columns: tuple[str, ...]
    per_kind: bool  # the shared resources table is also keyed by kind
    json_at: tuple[int, ...] = field(init=False)
    datetime_at: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        stored = tuple(c.name for c in self.table.columns if c.name not in STAMP_COLUMNS)
        if stored != self.columns:
            # A model gained or reordered a column the encoder does not fill: fail at import,
            # not with shifted values in the database.
            raise RuntimeError(f"{self.table.name}: encoder columns {self.columns} != table columns {stored}")
        object.__setattr__(self, "json_at", tuple(i for i, c in enumerate(self.columns) if c in JSON_COLUMNS))
        dated = tuple(i for i, c in enumerate(self.columns) if isinstance(self.table.c[c].type, DateTime))
        object.__setattr__(self, "datetime_at", dated)

    def as_dict(self, values: tuple[Any, ...]) -> dict[str, Any]:
        """Column -> Python value (JSON columns decoded), as SQLAlchemy binds and events show."""
        row = dict(zip(self.columns, values, strict=True))
        for i in self.json_at:
            row[self.columns[i]] = orjson.loads(values[i])
        return row


_NODES = Layout(NodeRow.__table__, NODE_COLUMNS, False)  # type: ignore[arg-type]
_HOSTS = Layout(HostRow.__table__, HOST_COLUMNS, False)  # type: ignore[arg-type]
_RESOURCES = Layout(ResourceRow.__table__, RESOURCE_COLUMNS, True)  # type: ignore[arg-type]


def layout_for(kind: Kind) -> Layout:
    if kind is Kind.NODE:
        return _NODES
    if kind is Kind.HOST:
        return _HOSTS
    return _RESOURCES


# --------------------------------------------------------------------------- applying


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sqlite_rows(
    connection: Connection, layout: Layout, rows: Sequence[tuple[Any, ...]], tail: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    """Tuples as the SQLite driver takes them: datetimes through the column type's processor
    (SQLAlchemy's storage format), JSON columns already text."""
    process = _datetime_processor(connection, layout.table) if layout.datetime_at else None
    if process is None:
        return [row + tail for row in rows]
    out = []
    for row in rows:
        as_list = list(row)
        for i in layout.datetime_at:
            if as_list[i] is not None:
                as_list[i] = process(as_list[i])
        out.append((*as_list, *tail))
    return out


def _datetime_processor(connection: Connection, table: Table) -> Callable[[Any], Any] | None:
    """SQLAlchemy's own conversion of a datetime for this dialect (the dialect's type, not the
    generic one, whose processor is None): raw inserts then store what ORM writes store."""
    column_type = table.c.first_seen.type
    process: Callable[[Any], Any] | None = column_type.dialect_impl(connection.dialect).bind_processor(
        connection.dialect
    )
    return process


def _insert(connection: Connection, layout: Layout, rows: list[tuple[Any, ...]], now: datetime) -> None:
    table = layout.table
    if connection.dialect.name == "sqlite":
        # Straight to the driver's executemany: the ORM path would re-encode every JSON value.
        # The two stamps are the same for every row: converted once, not per row by the driver.
        stamp = _datetime_processor(connection, table)
        now_db = stamp(now) if stamp is not None else now
        names = ", ".join(f'"{c}"' for c in (*layout.columns, "fingerprint", "first_seen", "updated_at"))
        marks = ", ".join("?" for _ in range(len(layout.columns) + 3))
        params = _sqlite_rows(connection, layout, rows, (now_db, now_db))
        connection.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', params)
        return
    dicts = [{**layout.as_dict(row[:-1]), "fingerprint": row[-1], "first_seen": now, "updated_at": now} for row in rows]
    for chunk in _chunks(dicts, 5000):
        connection.execute(insert(table), list(chunk))


def apply_listing(
    session: Session,
    provider: str,
    kind: Kind,
    records: Sequence[Record] | EncodedListing,
    *,
    now: datetime,
    run_id: int | None,
    record_added: bool = True,
    deleted: Sequence[str] | None = None,
    present: Collection[str] | None = None,
) -> Outcome:
    """Make the stored rows of (provider, kind) equal to `records`, a complete listing.

    With `deleted` or `present` given, `records` is a delta (what changed since the last sync)
    and rows it does not mention stay. Removed are then only the ids the provider reported
    deleted (Nova's changes-since) or the stored ids missing from `present`, the provider's
    complete list of ids (Cinder's summary listing).
    """
    listing = records if isinstance(records, EncodedListing) else encode_listing(kind, records)
    if deleted is not None and not deleted and not len(listing):
        return Outcome()  # an empty delta: nothing to read, nothing to write
    layout = layout_for(kind)
    table = layout.table
    scope = [table.c.provider == provider]
    if layout.per_kind:
        scope.append(table.c.kind == kind.value)
    existing: dict[str, str] = dict(session.execute(select(table.c.id, table.c.fingerprint).where(and_(*scope))).all())
    position = {rid: i for i, rid in enumerate(listing.ids)}
    added = [i for rid, i in position.items() if rid not in existing]
    changed = [i for rid, i in position.items() if rid in existing and existing[rid] != listing.fingerprints[i]]
    if present is not None:
        alive = set(present)
        removed_ids = [rid for rid in existing if rid not in alive and rid not in position]
    elif deleted is not None:
        removed_ids = [rid for rid in dict.fromkeys(deleted) if rid in existing and rid not in position]
    else:
        removed_ids = [rid for rid in existing if rid not in position]
    name_at = layout.columns.index("name")
    connection = session.connection()
    events: list[dict[str, Any]] = []

    if added:
        _insert(connection, layout, [(*listing.values[i], listing.fingerprints[i]) for i in added], now)
        if record_added:
            events += [
                _event(now, run_id, provider, kind, listing.ids[i], listing.values[i][name_at], "added", {})
                for i in added
            ]

    if changed:
        events += _update(session, layout, scope, listing, changed, now, run_id, provider, kind)

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
        connection.execute(insert(ChangeEvent), list(chunk))
    return Outcome(added=len(added), changed=len(changed), removed=len(removed_ids))


def count_stored(session: Session, provider: str, kind: Kind) -> int:
    """Rows stored for (provider, kind): the count to report after a delta was applied."""
    layout = layout_for(kind)
    table = layout.table
    scope = [table.c.provider == provider]
    if layout.per_kind:
        scope.append(table.c.kind == kind.value)
    return int(session.scalar(select(func.count()).select_from(table).where(and_(*scope))) or 0)


def _update(
    session: Session,
    layout: Layout,
    scope: list[Any],
    listing: EncodedListing,
    changed: list[int],
    now: datetime,
    run_id: int | None,
    provider: str,
    kind: Kind,
) -> list[dict[str, Any]]:
    """Rewrite changed rows; an event names the fields that differ. A row whose fingerprint
    moved while no field did (the encoding itself changed between versions) is rewritten
    without an event."""
    table = layout.table
    old_rows: dict[str, dict[str, Any]] = {}
    for chunk in _chunks([listing.ids[i] for i in changed]):
        for row in session.execute(select(table).where(and_(*scope, table.c.id.in_(chunk)))).mappings():
            old_rows[row["id"]] = dict(row)
    events = []
    updates = []
    for i in changed:
        new = layout.as_dict(listing.values[i])
        fields = _changed_fields(old_rows.get(listing.ids[i], {}), new)
        if fields:
            events.append(_event(now, run_id, provider, kind, listing.ids[i], new["name"], "changed", fields))
        updates.append(
            {**{f"b_{k}": v for k, v in new.items()}, "b_fingerprint": listing.fingerprints[i], "b_updated_at": now}
        )
    values: dict[str, Any] = {c: bindparam(f"b_{c}") for c in layout.columns if c not in ("provider", "id", "kind")}
    values["fingerprint"] = bindparam("b_fingerprint")
    values["updated_at"] = bindparam("b_updated_at")
    where = [table.c.provider == bindparam("b_provider"), table.c.id == bindparam("b_id")]
    if layout.per_kind:
        where.append(table.c.kind == bindparam("b_kind"))
    session.connection().execute(update(table).where(and_(*where)).values(values), updates)
    return events


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    for key, value in new.items():
        if key in STAMP_COLUMNS:
            continue
        before = old.get(key)
        if _normalize(key, before) != _normalize(key, value):
            changed[key] = [plain(before), plain(value)]
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
