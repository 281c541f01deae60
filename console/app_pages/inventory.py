"""资源 Inventory: filterable, sortable, paginated table; a node's detail and change history; export.

Nodes and hosts are filtered, sorted, counted and paged in the database (100,000 nodes on the
large lab); the other kinds are few per provider and go through inventory.query.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import String, and_, cast, func, select

from console.frame import CACHE_TTL_S, _store, get_config, get_store, page_window, sync_marker, t
from console.navigation import EVERY_ROLE, PageSpec
from inventory.models import HostRow, NodeRow, ProviderStatus
from inventory.query import LIST_KINDS, history, iter_records
from inventory.tenant_text import inert_cell

PAGE = PageSpec("console.page_inventory", ":material/dns:", roles=EVERY_ROLE, order=20)

NODE_COLUMNS = ("provider", "name", "state", "vcpus", "ram_mb", "disk_gb", "arch", "cpu_vendor", "os_family",
                "department", "system", "mlps_level", "host", "id")
HOST_COLUMNS = ("provider", "name", "state", "vcpus", "vcpus_used", "ram_mb", "ram_mb_used", "arch", "cpu_vendor",
                "rack", "running_vms", "id")
FILTER_FIELDS = ("center", "pool", "provider", "department", "system", "state", "arch", "os_family")
EXPORT_LIMIT = 200_000


def _model(kind: str) -> Any:
    return NodeRow if kind == "nodes" else HostRow


def _conditions(model: Any, filters: dict[str, str], search: str) -> list[Any]:
    conds: list[Any] = []
    for key, value in filters.items():
        if key in ("center", "pool"):
            sub = select(ProviderStatus.name).where(getattr(ProviderStatus, key) == value)
            conds.append(model.provider.in_(sub))
        elif key in model.__table__.c:
            conds.append(cast(model.__table__.c[key], String) == value)
    if search:
        conds.append(model.name.contains(search, autoescape=True))
    return conds


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def distinct_values(url: str, marker: tuple[int, str], kind: str, field: str) -> list[str]:
    model = _model(kind)
    with _store(url).session() as session:
        if field in ("center", "pool"):
            column = getattr(ProviderStatus, field)
            stmt = select(column).distinct()
        elif field in model.__table__.c:
            column = model.__table__.c[field]
            stmt = select(column).distinct().limit(500)
        else:
            return []
        return sorted(str(v) for v in session.scalars(stmt) if v not in (None, ""))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def count_of(url: str, marker: tuple[int, str], kind: str, filters: tuple[tuple[str, str], ...], search: str) -> int:
    model = _model(kind)
    conds = _conditions(model, dict(filters), search)
    stmt = select(func.count()).select_from(model)
    if conds:
        stmt = stmt.where(and_(*conds))
    with _store(url).session() as session:
        return int(session.scalar(stmt) or 0)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def page_of(url: str, marker: tuple[int, str], kind: str, filters: tuple[tuple[str, str], ...], search: str,
            sort: str, descending: bool, offset: int, limit: int) -> list[dict[str, Any]]:
    return query_rows(url, kind, filters, search, sort, descending, offset, limit)


def query_rows(url: str, kind: str, filters: tuple[tuple[str, str], ...], search: str,
               sort: str, descending: bool, offset: int, limit: int) -> list[dict[str, Any]]:
    """Matching rows, filtered, sorted and cut in the database (uncached: exports)."""
    model = _model(kind)
    columns = NODE_COLUMNS if kind == "nodes" else HOST_COLUMNS
    conds = _conditions(model, dict(filters), search)
    order = model.__table__.c.get(sort, model.name)
    stmt = select(*(model.__table__.c[c] for c in columns))
    if conds:
        stmt = stmt.where(and_(*conds))
    stmt = stmt.order_by(order.desc() if descending else order, model.provider, model.id)
    stmt = stmt.offset(offset).limit(limit)
    with _store(url).session() as session:
        return [dict(zip(columns, row, strict=True)) for row in session.execute(stmt)]


def _labels(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={c: t(f"inventory.col_{c}") if t(f"inventory.col_{c}") != f"inventory.col_{c}"
                                 else t(f"console.col_{c}") for c in frame.columns})


def to_xlsx(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False, sheet_name="inventory", engine="openpyxl")
    return buffer.getvalue()


def _node_detail(provider: str, node_id: str) -> None:
    with get_store().session() as session:
        row = session.get(NodeRow, (provider, node_id))
        events = history(session, provider, "node", node_id)
        if row is None:
            st.warning(t("inventory.node_not_found", provider=provider, node=node_id))
            return
        record = {c.name: getattr(row, c.name) for c in NodeRow.__table__.columns if c.name != "fingerprint"}
    st.subheader(t("console.node_detail", name=record["name"]))
    left, right = st.columns(2)
    left.json({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in record.items()}, expanded=False)
    with right:
        st.markdown(f"**{t('inventory.history_title')}**")
        if events:
            st.dataframe(pd.DataFrame([{t("console.col_at"): e["at"], t("console.col_change"): e["change"],
                                        t("console.col_fields"): ", ".join(sorted(e["fields"]))} for e in events]),
                         hide_index=True, width="stretch")
        else:
            st.caption(t("console.no_history"))


def render() -> None:
    st.title(t("console.page_inventory"))
    url = get_config().database_url
    marker = sync_marker(get_store())
    kind = st.selectbox(t("console.kind"), LIST_KINDS, format_func=lambda k: t(f"console.kind_{k}"), key="inv_kind")

    if kind not in ("nodes", "hosts"):
        records = _other_kind(kind)
        st.caption(t("console.rows", total=len(records)))
        offset, limit = page_window(len(records), "inv_other")
        frame = pd.DataFrame(records[offset : offset + limit])
        st.dataframe(frame, hide_index=True, width="stretch")
        return

    with st.expander(t("console.filters"), expanded=True):
        cols = st.columns(4)
        filters: dict[str, str] = {}
        for i, field in enumerate(FILTER_FIELDS):
            if kind == "hosts" and field in ("department", "system", "os_family"):
                continue
            options = ["", *distinct_values(url, marker, kind, field)]
            choice = cols[i % 4].selectbox(t(f"console.col_{field}"), options, key=f"inv_f_{kind}_{field}",
                                           format_func=lambda v: v or t("console.all"))
            if choice:
                filters[field] = choice
        search = st.text_input(t("console.search_name"), key=f"inv_search_{kind}").strip()
        columns = NODE_COLUMNS if kind == "nodes" else HOST_COLUMNS
        left, right = st.columns(2)
        sort = left.selectbox(t("console.sort_by"), columns, key=f"inv_sort_{kind}",
                              format_func=lambda c: t(f"console.col_{c}"))
        descending = right.toggle(t("console.descending"), key=f"inv_desc_{kind}")

    key = tuple(sorted(filters.items()))
    total = count_of(url, marker, kind, key, search)
    st.caption(t("console.rows", total=total))
    offset, limit = page_window(total, f"inv_{kind}")
    rows = page_of(url, marker, kind, key, search, sort, descending, offset, limit)
    frame = pd.DataFrame(rows, columns=list(NODE_COLUMNS if kind == "nodes" else HOST_COLUMNS))
    st.dataframe(_labels(frame), hide_index=True, width="stretch")

    export_cols = st.columns(2)
    export_cols[0].download_button(
        t("console.export_csv"), data=lambda: _export(url, marker, kind, key, search, sort, descending, "csv"),
        file_name=f"ganyun-{kind}.csv", mime="text/csv", key=f"inv_csv_{kind}")
    export_cols[1].download_button(
        t("console.export_xlsx"), data=lambda: _export(url, marker, kind, key, search, sort, descending, "xlsx"),
        file_name=f"ganyun-{kind}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"inv_xlsx_{kind}")

    if kind == "nodes" and rows:
        choices = {f"{r['provider']} / {r['name']} ({r['id']})": (r["provider"], r["id"]) for r in rows}
        picked = st.selectbox(t("console.pick_node"), ["", *choices], key="inv_node",
                              format_func=lambda v: v or t("console.none"))
        if picked:
            _node_detail(*choices[picked])


def _export(url: str, marker: tuple[int, str], kind: str, key: tuple[tuple[str, str], ...], search: str,
            sort: str, descending: bool, fmt: str) -> bytes:
    # Generated only when the user clicks (deferred download): no export work on every rerun.
    rows = query_rows(url, kind, key, search, sort, descending, 0, EXPORT_LIMIT)
    # Names and tags are a tenant's text: no cell may become a formula; numbers stay numbers.
    frame = _labels(pd.DataFrame(rows).map(inert_cell))
    if fmt == "csv":
        # BOM: Excel on Chinese Windows opens UTF-8 CSV correctly only with it. CRLF rows: the
        # csv writer then quotes any cell holding a lone CR, which Excel would take as a new row.
        return frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
    return to_xlsx(frame)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _other_kind_cached(url: str, marker: tuple[int, str], kind: str) -> list[dict[str, Any]]:
    with _store(url).session() as session:
        return [
            {k: v for k, v in r.items() if not isinstance(v, dict | list)}
            for r in iter_records(session, kind, limit=EXPORT_LIMIT)
        ]


def _other_kind(kind: str) -> list[dict[str, Any]]:
    return _other_kind_cached(get_config().database_url, sync_marker(get_store()), kind)


# Streamlit runs a page as __main__; importing it (tests, benchmarks) does not render.
if __name__ == "__main__":
    render()
