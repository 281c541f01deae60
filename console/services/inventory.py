"""Inventory reads: records of every kind, the console's filtered and paged node and host
tables, a node's detail, and the overview's counts, each within the viewer's scope.

Nodes and hosts are filtered, sorted, counted and paged in the database (100,000 nodes on the
large lab); the other kinds are few per provider and go through inventory.query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, func, select, tuple_

from console.services import ownership
from console.services.viewer import Viewer
from inventory import query
from inventory.models import CapacitySample, HostRow, NodeRow, ProviderStatus, ResourceRow
from inventory.store import Store

NODE_COLUMNS = ("provider", "name", "state", "vcpus", "ram_mb", "disk_gb", "arch", "cpu_vendor", "os_family",
                "department", "system", "mlps_level", "host", "id")  # fmt: skip
HOST_COLUMNS = ("provider", "name", "state", "vcpus", "vcpus_used", "ram_mb", "ram_mb_used", "arch", "cpu_vendor",
                "os_family", "rack", "running_vms", "id")  # fmt: skip


def _model(kind: str) -> Any:
    return NodeRow if kind == "nodes" else HostRow


def _scope(viewer: Viewer, kind: str) -> list[ColumnElement[bool]]:
    clause = ownership.node_clause(viewer) if kind == "nodes" else ownership.host_clause(viewer)
    return [] if clause is None else [clause]


def records(
    store: Store, viewer: Viewer, kind: str, filters: Mapping[str, str] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """`inventory list`: records of one kind with `--where` filters (see inventory.query)."""
    filters = dict(filters or {})
    if kind == "certificates":
        from console.services import certificates

        rows = certificates.certificates(store, viewer)
        return [r for r in rows if all(str(r.get(k, "")) == v for k, v in filters.items())]
    with store.session() as session:
        if kind in ("nodes", "hosts") or viewer.departments is None:
            return list(query.iter_records(session, kind, filters, limit, where=_scope(viewer, kind)))
        return _owned_resources(session, viewer, kind, filters, limit)


def page_after(
    store: Store,
    viewer: Viewer,
    kind: str,
    filters: Mapping[str, str],
    after: tuple[str, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Nodes or hosts as `records` gives them, in primary-key order, the first `limit` after the
    key (provider, id): pages that read the index, however deep (the REST API's cursor)."""
    model = _model(kind)
    where = _scope(viewer, kind)
    if after is not None:
        where.append(tuple_(model.provider, model.id) > tuple_(*after))
    with store.session() as session:
        return list(query.iter_records(session, kind, dict(filters), limit, where=where, by_key=True))


def _owned_resources(
    session: Any, viewer: Viewer, kind: str, filters: dict[str, str], limit: int | None
) -> list[dict[str, Any]]:
    owner = ownership.ResourceOwnership(session, viewer)
    record_kind = query.RESOURCE_KIND.get(kind, kind)
    where = [ResourceRow.provider.in_(owner.providers)]
    if record_kind == "snapshot":
        owner.keep("volume", query.iter_records(session, "volumes", {}, None, where=where))
    kept = owner.keep(record_kind, query.iter_records(session, kind, filters, None, where=where))
    return kept[:limit] if limit else kept


def _conditions(model: Any, filters: Mapping[str, str], search: str) -> list[Any]:
    """The page's filters (query.apply_filters: the same as `--where`) and its name search."""
    where = query.apply_filters(select(model), model, dict(filters)).whereclause
    return [c for c in (where, model.name.contains(search, autoescape=True) if search else None) if c is not None]


def distinct_values(store: Store, viewer: Viewer, kind: str, field: str) -> list[str]:
    """The values a filter offers: those of the viewer's own nodes or hosts."""
    model = _model(kind)
    scope = _scope(viewer, kind)
    if field in query.PROVIDER_FIELDS:
        column = getattr(ProviderStatus, field)
        stmt = select(column).distinct()
        if scope:
            stmt = stmt.where(ProviderStatus.name.in_(select(model.provider).where(*scope)))
    elif field in model.__table__.c:
        stmt = select(model.__table__.c[field]).where(*scope).distinct().limit(500)
    else:
        return []
    with store.session() as session:
        return sorted(str(v) for v in session.scalars(stmt) if v not in (None, ""))


def count(store: Store, viewer: Viewer, kind: str, filters: Mapping[str, str], search: str) -> int:
    model = _model(kind)
    stmt = select(func.count()).select_from(model).where(*_conditions(model, filters, search), *_scope(viewer, kind))
    with store.session() as session:
        return int(session.scalar(stmt) or 0)


def rows(
    store: Store,
    viewer: Viewer,
    kind: str,
    filters: Mapping[str, str],
    search: str,
    sort: str,
    descending: bool,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """Matching nodes or hosts, filtered, sorted and cut in the database."""
    model = _model(kind)
    columns = NODE_COLUMNS if kind == "nodes" else HOST_COLUMNS
    order = model.__table__.c.get(sort, model.name)
    stmt = (
        select(*(model.__table__.c[c] for c in columns))
        .where(*_conditions(model, filters, search), *_scope(viewer, kind))
        .order_by(order.desc() if descending else order, model.provider, model.id)
        .offset(offset)
        .limit(limit)
    )
    with store.session() as session:
        return [dict(zip(columns, row, strict=True)) for row in session.execute(stmt)]


def node_history(store: Store, viewer: Viewer, provider: str, node_id: str) -> list[dict[str, Any]] | None:
    """A node's change history, oldest first; None when the node is not the viewer's."""
    found = node_detail(store, viewer, provider, node_id)
    return None if found is None else found[1]


def node_detail(
    store: Store, viewer: Viewer, provider: str, node_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """One node's stored record and its change history; None when it is not the viewer's."""
    stmt = select(NodeRow).where(NodeRow.provider == provider, NodeRow.id == node_id, *_scope(viewer, "nodes"))
    with store.session() as session:
        row = session.scalars(stmt).first()
        if row is None:
            return None
        record = {c.name: getattr(row, c.name) for c in NodeRow.__table__.columns if c.name != "fingerprint"}
        return record, query.history(session, provider, "node", node_id)


def departments(store: Store, viewer: Viewer) -> list[str]:
    """The departments that have nodes, among the viewer's."""
    scope = _scope(viewer, "nodes")
    stmt = select(NodeRow.department).where(NodeRow.department != "", *scope).distinct()
    with store.session() as session:
        return sorted(session.scalars(stmt))


# --------------------------------------------------------------------------- the overview


def node_counts(store: Store, viewer: Viewer) -> list[dict[str, Any]]:
    """Nodes, vCPUs and RAM per provider (with its center and pool)."""
    joined = NodeRow.provider == ProviderStatus.name
    scope = ownership.node_clause(viewer)
    stmt = (
        select(ProviderStatus.name, ProviderStatus.center, ProviderStatus.pool,
               func.count(NodeRow.id), func.coalesce(func.sum(NodeRow.vcpus), 0),
               func.coalesce(func.sum(NodeRow.ram_mb), 0))
        .select_from(ProviderStatus)
        .join(NodeRow, joined if scope is None else joined & scope, isouter=True)
        .group_by(ProviderStatus.name, ProviderStatus.center, ProviderStatus.pool)
    )  # fmt: skip
    with store.session() as session:
        return [{"provider": p, "center": c, "pool": pool, "nodes": int(n), "vcpus": int(v), "ram_gb": int(r) // 1024}
                for p, c, pool, n, v, r in session.execute(stmt)]  # fmt: skip


def host_count(store: Store, viewer: Viewer) -> int:
    stmt = select(func.count()).select_from(HostRow).where(*_scope(viewer, "hosts"))
    with store.session() as session:
        return int(session.scalar(stmt) or 0)


def sync_status(store: Store, viewer: Viewer) -> list[dict[str, Any]]:
    """Every provider's last sync: shared infrastructure, the same for every viewer."""
    del viewer
    with store.session() as session:
        rows = session.scalars(select(ProviderStatus).order_by(ProviderStatus.name)).all()
        return [{"provider": r.name, "center": r.center, "pool": r.pool, "status": r.status, "stale": r.stale,
                 "last_success": r.last_success.isoformat(timespec="seconds") if r.last_success else "",
                 "error": r.error[:160]} for r in rows]  # fmt: skip


def pool_trend(store: Store, viewer: Viewer) -> list[dict[str, Any]]:
    """vCPUs per pool per day from the capacity samples (of the viewer's departments)."""
    day = func.date(CapacitySample.at)
    departments = viewer.departments
    # Several syncs a day add several samples; the share stays right as every provider samples alike.
    stmt = select(day, CapacitySample.pool, func.sum(CapacitySample.vcpus)).group_by(day, CapacitySample.pool)
    if departments is not None:
        stmt = stmt.where(CapacitySample.department.in_(departments))
    with store.session() as session:
        return [{"day": str(d), "pool": p, "vcpus": int(v or 0)} for d, p, v in session.execute(stmt.order_by(day))]


def sync_marker(store: Store) -> tuple[int, str]:
    """Latest sync run id and finish time: part of every cached aggregate's key, so a new sync
    invalidates the cache before its TTL runs out."""
    from inventory.models import SyncRun

    with store.session() as session:
        row = session.execute(select(func.max(SyncRun.id), func.max(SyncRun.finished_at))).one()
    return int(row[0] or 0), str(row[1] or "")


def providers_by_center(store: Store, viewer: Viewer) -> list[dict[str, Any]]:
    """Providers per center and pool: shared infrastructure, the same for every viewer."""
    del viewer
    stmt = select(ProviderStatus.center, ProviderStatus.pool, func.count()).group_by(
        ProviderStatus.center, ProviderStatus.pool
    )
    with store.session() as session:
        return [{"center": c, "pool": p, "providers": int(n)} for c, p, n in session.execute(stmt)]


__all__ = [
    "HOST_COLUMNS",
    "NODE_COLUMNS",
    "count",
    "departments",
    "distinct_values",
    "host_count",
    "node_counts",
    "node_detail",
    "node_history",
    "page_after",
    "pool_trend",
    "providers_by_center",
    "records",
    "rows",
    "sync_marker",
    "sync_status",
]
