"""资源 Inventory: filterable, sortable, paginated table; a node's detail and change history; export.

Everything is read through console/services/inventory.py, within the signed-in account's
scope: nodes and hosts are filtered, sorted, counted and paged in the database (100,000
nodes on the large lab).
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import streamlit as st

from console.frame import CACHE_TTL_S, get_config, get_store, page_window, store_for, sync_marker, t, viewer
from console.navigation import EVERY_ROLE, PageSpec
from console.services import inventory
from console.services.inventory import HOST_COLUMNS, NODE_COLUMNS
from console.services.viewer import Viewer
from inventory.query import LIST_KINDS
from inventory.tenant_text import inert_cell

PAGE = PageSpec("console.page_inventory", ":material/dns:", roles=EVERY_ROLE, order=20)
FILTER_FIELDS = ("center", "pool", "provider", "department", "system", "state", "arch", "os_family")
EXPORT_LIMIT = 200_000


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def distinct_values(who: Viewer, url: str, marker: tuple[int, str], kind: str, field: str) -> list[str]:
    return inventory.distinct_values(store_for(url), who, kind, field)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def count_of(who: Viewer, url: str, marker: tuple[int, str], kind: str, filters: tuple[tuple[str, str], ...],
             search: str) -> int:  # fmt: skip
    return inventory.count(store_for(url), who, kind, dict(filters), search)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def page_of(who: Viewer, url: str, marker: tuple[int, str], kind: str, filters: tuple[tuple[str, str], ...],
            search: str, sort: str, descending: bool, offset: int, limit: int) -> list[dict[str, Any]]:  # fmt: skip
    return inventory.rows(store_for(url), who, kind, dict(filters), search, sort, descending, offset, limit)


def _labels(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(
        columns={
            c: t(f"inventory.col_{c}") if t(f"inventory.col_{c}") != f"inventory.col_{c}" else t(f"console.col_{c}")
            for c in frame.columns
        }
    )


def to_xlsx(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False, sheet_name="inventory", engine="openpyxl")
    return buffer.getvalue()


def _node_detail(who: Viewer, provider: str, node_id: str) -> None:
    found = inventory.node_detail(get_store(), who, provider, node_id)
    if found is None:
        st.warning(t("inventory.node_not_found", provider=provider, node=node_id))
        return
    record, events = found
    st.subheader(t("console.node_detail", name=record["name"]))
    left, right = st.columns(2)
    left.json({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in record.items()}, expanded=False)
    with right:
        st.markdown(f"**{t('inventory.history_title')}**")
        if events:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            t("console.col_at"): e["at"],
                            t("console.col_change"): e["change"],
                            t("console.col_fields"): ", ".join(sorted(e["fields"])),
                        }
                        for e in events
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
        else:
            st.caption(t("console.no_history"))


def render() -> None:
    st.title(t("console.page_inventory"))
    url = get_config().database_url
    marker = sync_marker(get_store())
    who = viewer()
    kind = st.selectbox(t("console.kind"), LIST_KINDS, format_func=lambda k: t(f"console.kind_{k}"), key="inv_kind")

    if kind not in ("nodes", "hosts"):
        records = _other_kind(who, kind)
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
            options = ["", *distinct_values(who, url, marker, kind, field)]
            choice = cols[i % 4].selectbox(
                t(f"console.col_{field}"),
                options,
                key=f"inv_f_{kind}_{field}",
                format_func=lambda v: v or t("console.all"),
            )
            if choice:
                filters[field] = choice
        search = st.text_input(t("console.search_name"), key=f"inv_search_{kind}").strip()
        columns = NODE_COLUMNS if kind == "nodes" else HOST_COLUMNS
        left, right = st.columns(2)
        sort = left.selectbox(
            t("console.sort_by"), columns, key=f"inv_sort_{kind}", format_func=lambda c: t(f"console.col_{c}")
        )
        descending = right.toggle(t("console.descending"), key=f"inv_desc_{kind}")

    key = tuple(sorted(filters.items()))
    total = count_of(who, url, marker, kind, key, search)
    st.caption(t("console.rows", total=total))
    offset, limit = page_window(total, f"inv_{kind}")
    rows = page_of(who, url, marker, kind, key, search, sort, descending, offset, limit)
    frame = pd.DataFrame(rows, columns=list(NODE_COLUMNS if kind == "nodes" else HOST_COLUMNS))
    st.dataframe(_labels(frame), hide_index=True, width="stretch")

    export_cols = st.columns(2)
    export_cols[0].download_button(
        t("console.export_csv"),
        data=lambda: export_rows(who, url, kind, key, search, sort, descending, "csv"),
        file_name=f"ganyun-{kind}.csv",
        mime="text/csv",
        key=f"inv_csv_{kind}",
    )
    export_cols[1].download_button(
        t("console.export_xlsx"),
        data=lambda: export_rows(who, url, kind, key, search, sort, descending, "xlsx"),
        file_name=f"ganyun-{kind}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"inv_xlsx_{kind}",
    )

    if kind == "nodes" and rows:
        choices = {f"{r['provider']} / {r['name']} ({r['id']})": (r["provider"], r["id"]) for r in rows}
        picked = st.selectbox(
            t("console.pick_node"), ["", *choices], key="inv_node", format_func=lambda v: v or t("console.none")
        )
        if picked:
            _node_detail(who, *choices[picked])


def export_rows(who: Viewer, url: str, kind: str, key: tuple[tuple[str, str], ...], search: str, sort: str,
            descending: bool, fmt: str) -> bytes:  # fmt: skip
    # Generated only when the user clicks (deferred download): no export work on every rerun.
    rows = inventory.rows(store_for(url), who, kind, dict(key), search, sort, descending, 0, EXPORT_LIMIT)
    # Names and tags are a tenant's text: no cell may become a formula; numbers stay numbers.
    frame = _labels(pd.DataFrame(rows).map(inert_cell))
    if fmt == "csv":
        # BOM: Excel on Chinese Windows opens UTF-8 CSV correctly only with it. CRLF rows: the
        # csv writer then quotes any cell holding a lone CR, which Excel would take as a new row.
        text: str = frame.to_csv(index=False, lineterminator="\r\n")
        return text.encode("utf-8-sig")
    return to_xlsx(frame)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _other_kind_cached(who: Viewer, url: str, marker: tuple[int, str], kind: str) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in r.items() if not isinstance(v, dict | list)}
        for r in inventory.records(store_for(url), who, kind, limit=EXPORT_LIMIT)
    ]


def _other_kind(who: Viewer, kind: str) -> list[dict[str, Any]]:
    return _other_kind_cached(who, get_config().database_url, sync_marker(get_store()), kind)


# Streamlit runs a page as __main__; importing it (tests, benchmarks) does not render.
if __name__ == "__main__":
    render()
