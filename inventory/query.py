"""Read the inventory back as plain records, with `K=V` filters as the CLI and console use."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, cast, func, select
from sqlalchemy.orm import Session

from inventory.models import ChangeEvent, HostRow, NodeRow, ProviderStatus, ResourceRow
from providers.errors import ConfigError

LIST_KINDS = ("nodes", "hosts", "volumes", "images", "sizes", "snapshots", "networks", "security_groups", "clusters")
RESOURCE_KIND = {
    "volumes": "volume",
    "images": "image",
    "sizes": "size",
    "snapshots": "snapshot",
    "networks": "network",
    "security_groups": "security_group",
    "clusters": "cluster",
}
# Filters that are not columns but come from the provider's configuration.
PROVIDER_FIELDS = ("center", "pool")


def parse_filters(pairs: Sequence[str]) -> dict[str, str]:
    """`--where department=市人社局 --where arch=x86_64` -> {"department": ..., "arch": ...}."""
    filters: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--where '{pair}': expected KEY=VALUE")
        filters[key.strip()] = value.strip()
    return filters


def apply_filters(stmt: Select[Any], model: Any, filters: dict[str, str]) -> Select[Any]:
    conditions = []
    for key, value in filters.items():
        if key in PROVIDER_FIELDS:
            sub = select(ProviderStatus.name).where(getattr(ProviderStatus, key) == value)
            conditions.append(model.provider.in_(sub))
        elif key in model.__table__.c:
            column = model.__table__.c[key]
            conditions.append(cast(column, String) == value)
        elif key.startswith("tag.") and hasattr(model, "tags"):
            conditions.append(model.tags[key[4:]].as_string() == value)
        else:
            raise ConfigError(f"--where: unknown field '{key}'")
    return stmt.where(and_(*conditions)) if conditions else stmt


def provider_states(session: Session) -> dict[str, ProviderStatus]:
    return {row.name: row for row in session.scalars(select(ProviderStatus))}


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _row_dict(row: Any, kind: str, statuses: dict[str, ProviderStatus]) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind}
    for column in row.__table__.columns:
        if column.name == "fingerprint":
            continue
        out[column.name] = _iso(getattr(row, column.name))
    status = statuses.get(row.provider)
    out["center"] = status.center if status else ""
    out["pool"] = status.pool if status else ""
    out["stale"] = bool(status and status.stale)
    return out


def iter_records(
    session: Session,
    kind: str,
    filters: dict[str, str] | None = None,
    limit: int | None = None,
    where: Sequence[ColumnElement[bool]] = (),
    by_key: bool = False,
) -> Iterator[dict[str, Any]]:
    """Records of one kind as JSON-ready dicts (nodes carry department, system, mlps_level);
    `where` adds conditions on the kind's table (the service layer's scope). Ordered by
    provider and name, or with `by_key` by the primary key, which pages through the index."""
    filters = filters or {}
    statuses = provider_states(session)
    if kind == "nodes":
        model: Any = NodeRow
    elif kind == "hosts":
        model = HostRow
    elif kind in RESOURCE_KIND:
        model = ResourceRow
    else:
        raise ConfigError(f"--kind: unknown kind '{kind}' (one of {', '.join((*LIST_KINDS, 'certificates'))})")
    stmt = select(model)
    if model is ResourceRow:
        stmt = stmt.where(ResourceRow.kind == RESOURCE_KIND[kind])
        data_filters = {
            k: v for k, v in filters.items() if k not in ResourceRow.__table__.c and k not in PROVIDER_FIELDS
        }
        column_filters = {k: v for k, v in filters.items() if k not in data_filters}
        stmt = apply_filters(stmt, model, column_filters)
    else:
        data_filters = {}
        stmt = apply_filters(stmt, model, filters)
    if where:
        stmt = stmt.where(*where)
    stmt = stmt.order_by(model.provider, model.id) if by_key else stmt.order_by(model.provider, model.name, model.id)
    if limit:
        stmt = stmt.limit(limit)
    for row in session.execute(stmt.execution_options(yield_per=2000)).scalars():
        if model is ResourceRow:
            record = {**row.data, **_row_dict(row, row.kind, statuses)}
            record.pop("data", None)
            if any(str(record.get(k, "")) != v for k, v in data_filters.items()):
                continue
            yield record
        else:
            yield _row_dict(row, kind.rstrip("s"), statuses)


def history(session: Session, provider: str, kind: str, resource_id: str) -> list[dict[str, Any]]:
    stmt = (
        select(ChangeEvent)
        .where(ChangeEvent.provider == provider, ChangeEvent.kind == kind, ChangeEvent.resource_id == resource_id)
        .order_by(ChangeEvent.at, ChangeEvent.id)
    )
    return [{"at": _iso(e.at), "change": e.change, "fields": e.fields, "name": e.name} for e in session.scalars(stmt)]


def count_by(session: Session, column: str) -> dict[str, int]:
    """Node counts grouped by a node column, or by center/pool through the provider status."""
    if column in PROVIDER_FIELDS:
        group = getattr(ProviderStatus, column)
        stmt = (
            select(group, func.count())
            .select_from(NodeRow)
            .join(ProviderStatus, ProviderStatus.name == NodeRow.provider)
            .group_by(group)
        )
    else:
        group = NodeRow.__table__.c[column]
        stmt = select(group, func.count()).group_by(group)
    return {str(key): int(n) for key, n in session.execute(stmt)}
