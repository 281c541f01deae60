"""容量 Capacity: allocation and headroom, forecasts with intervals, rack fill, showback,
Xinchuang progress, rightsizing, migration headroom and the exports.

The page renders the capacity report of console/services/capacity.py (within the signed-in
account's scope); it is cached per (account, config, latest sync run) with a TTL, so re-runs
of the script do not recompute it. The exports are made from the same report.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from console.frame import CACHE_TTL_S, get_config, get_store, paginate, record, sync_marker, t, viewer
from console.navigation import EVERY_ROLE, PageSpec
from console.services import capacity
from console.services.viewer import Viewer
from inventory.capacity.api import export as ex
from inventory.config import GanyunConfig, parse_config

PAGE = PageSpec("console.page_capacity", ":material/stacked_bar_chart:", roles=EVERY_ROLE, order=30)


def label(key: str) -> str:
    return t(f"capacity.{key}")


def _config_key(config: GanyunConfig) -> tuple[str, str]:
    return json.dumps(config.model_dump(mode="json"), sort_keys=True, ensure_ascii=False), config.base_dir


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def load_report(who: Viewer, config_json: str, base_dir: str, marker: tuple[int, str]) -> dict[str, Any]:
    config = parse_config(json.loads(config_json), base_dir=base_dir)
    return capacity.report(get_store(), who, config)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def load_headroom(
    who: Viewer, config_json: str, base_dir: str, marker: tuple[int, str], where: tuple[str, ...]
) -> dict[str, Any]:
    from inventory.query import parse_filters

    filters = parse_filters(list(where))
    config = parse_config(json.loads(config_json), base_dir=base_dir)
    # The pools and forecasts are the page's cached report: only the selection is new work.
    report = load_report(who, config_json, base_dir, marker)
    return capacity.headroom(get_store(), who, config, filters, report["pools"], report["forecast"])


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def load_days(who: Viewer, marker: tuple[int, str], provider: str, node_id: str) -> list[dict[str, Any]]:
    return capacity.utilization_days(get_store(), who, provider, node_id)


def _history_chart(who: Viewer, marker: tuple[int, str], report: dict[str, Any]) -> None:
    """The daily CPU of one VM of the rightsizing list, against the idle threshold: a burst
    that the window's average hides shows here."""
    top = (report.get("rightsizing") or {}).get("top") or []
    if not top:
        return
    st.subheader(label("rs_history_title"))
    picked = st.selectbox(
        label("rs_history_select"),
        range(len(top)),
        format_func=lambda i: f"{top[i]['name']} ({top[i]['provider']})",
        key="cap_rs_vm",
    )
    vm = top[picked]
    days = load_days(who, marker, vm["provider"], vm["id"])
    if not days:
        st.info(label("rs_history_none"))
        return
    data = pd.DataFrame(days)
    data["day"] = pd.to_datetime(data["day"])
    line = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("day:T", title=label("col_day")),
            y=alt.Y("cpu_avg_pct:Q", title=label("col_cpu_avg_pct")),
            tooltip=["day:T", "cpu_avg_pct:Q", "ram_avg_pct:Q"],
        )
    )
    idle = (report.get("rightsizing") or {}).get("thresholds", {}).get("idle_cpu_avg_pct")
    chart = (
        line
        if idle is None
        else line
        + alt.Chart(pd.DataFrame({"idle": [idle]})).mark_rule(color="orange", strokeDash=[4, 4]).encode(y="idle:Q")
    )
    st.altair_chart(chart, width="stretch")
    st.caption(t("capacity.rs_history_caption", days=len(days), idle=idle if idle is not None else "-"))


def _frame(head: list[str], rows: list[list[Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[label(f"col_{h}") for h in head])


def _table(head: list[str], rows: list[list[Any]], key: str) -> None:
    st.dataframe(_frame(head, list(paginate(rows, key))), hide_index=True, width="stretch")


def _stale(report: dict[str, Any]) -> None:
    if report["stale"]:
        lines = [f"- {s['provider']}: {s['status']} — {label('last_success')} {s['last_success'] or '-'}"
                 for s in report["stale"]]  # fmt: skip
        st.error(label("stale_banner") + "\n" + "\n".join(lines))


def _metrics(report: dict[str, Any]) -> None:
    totals = report.get("totals") or {}
    cols = st.columns(6)
    cols[0].metric(label("col_alloc_vcpus"), f"{(totals.get('allocated') or {}).get('vcpus', 0):,}")
    cols[1].metric(label("col_used_vcpus_pct"), f"{(totals.get('used_pct') or {}).get('vcpus') or 0}%")
    cols[2].metric(label("col_free_vm_units"), f"{totals.get('free_vm_units', 0):,}")
    cols[3].metric(label("col_xc_share"), f"{report['xinchuang']['share']:.1%}")
    cols[4].metric(label("col_compliant_share"), f"{report['xinchuang'].get('compliant_share', 0.0):.1%}")
    cols[5].metric(label("col_rack_fill_pct"), f"{report['rack_summary']['fill_pct'] or 0}%")


def _forecast_tab(report: dict[str, Any]) -> None:
    _table(*ex.runout_rows(report), key="cap_runout")
    pools = [f["pool"] for f in report["forecast"]]
    if not pools:
        return
    pool = st.selectbox(label("pool_select"), pools, key="cap_fc_pool")
    resource = st.selectbox(label("resource_select"), ["vcpus", "ram_mb", "disk_gb"], key="cap_fc_res")
    fc = next(f for f in report["forecast"] if f["pool"] == pool)
    res = fc["resources"][resource]
    if not res["points"]:
        st.info(label("insufficient_history") if res["status"] == "insufficient_history" else res["status"])
        return
    frame = pd.DataFrame(res["points"], columns=["week", "mean", "lower", "upper"]).set_index("week")
    frame["capacity"] = res["capacity"]
    st.caption(f"{res['method']} · {int(res['level'] * 100)}%")
    st.line_chart(frame)


def _export_tab(report: dict[str, Any]) -> None:
    if st.button(label("prepare_exports"), key="cap_export"):
        record(get_config(), "capacity.export", {"formats": ["xlsx", "html", "json"]})
        with tempfile.TemporaryDirectory() as tmp:
            xlsx = ex.write_xlsx(report, Path(tmp) / "capacity.xlsx", label).read_bytes()
            html = ex.write_html(report, Path(tmp) / "capacity.html", label).read_bytes()
        st.download_button(label("export_xlsx"), xlsx, "capacity-report.xlsx",
                           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")  # fmt: skip
        st.download_button(label("export_html"), html, "capacity-report.html", "text/html")
    st.download_button(label("export_json"), json.dumps(report, ensure_ascii=False, default=str).encode("utf-8"),
                       "capacity-report.json", "application/json", key="cap_json")  # fmt: skip


def _headroom_tab(who: Viewer, config_key: tuple[str, str], marker: tuple[int, str]) -> None:
    text = st.text_area(label("headroom_where"), value="", key="cap_where")
    if not st.button(label("headroom_run"), key="cap_headroom"):
        return
    where = tuple(line.strip() for line in text.splitlines() if line.strip())
    from providers.errors import GanyunError

    try:
        hr = load_headroom(who, *config_key, marker, where)
    except GanyunError as exc:
        st.error(str(exc))
        return
    d = hr["demand"]
    st.subheader(t("capacity.headroom_title", nodes=d["nodes"], vcpus=d["vcpus"], ram_gb=d["ram_mb"] // ex.GIB))
    if not d["nodes"]:
        st.warning(label("headroom_none"))
    head, rows = ex.headroom_rows({"headroom": hr})
    st.dataframe(_frame(head, rows), hide_index=True, width="stretch")


def render() -> None:
    st.title(label("page_title"))
    config = get_config()
    marker = sync_marker(get_store())
    if marker[0] == 0:
        st.info(label("no_data"))
        return
    key = _config_key(config)
    who = viewer()
    report = load_report(who, *key, marker)
    _stale(report)
    _metrics(report)
    figs = ex.figures(report, label)
    tabs = st.tabs([label(k) for k in ("tab_allocation", "tab_forecast", "tab_racks", "tab_showback",
                                       "tab_xinchuang", "tab_rightsizing", "tab_headroom", "tab_export")])  # fmt: skip
    with tabs[0]:
        st.plotly_chart(figs["pools"], key="cap_pools_chart")
        _table(*ex.pool_overview_rows(report), key="cap_pools")
        st.plotly_chart(figs["centers"], key="cap_centers_chart")
        _table(*ex.rollup_rows(report["centers"], "center"), key="cap_centers")
        _table(*ex.host_rows(report), key="cap_hosts")
    with tabs[1]:
        _forecast_tab(report)
    with tabs[2]:
        st.plotly_chart(figs["racks"], key="cap_racks_chart")
        _table(*ex.rack_rows(report), key="cap_racks")
    with tabs[3]:
        st.plotly_chart(figs["departments"], key="cap_dept_chart")
        _table(*ex.department_rows(report), key="cap_depts")
        _table(*ex.system_rows(report), key="cap_systems")
    with tabs[4]:
        st.plotly_chart(figs["xinchuang"], key="cap_xc_chart")
        _table(*ex.xinchuang_rows(report, "center"), key="cap_xc_centers")
        _table(*ex.xinchuang_rows(report, "department"), key="cap_xc_depts")
        st.caption(label("noncompliant_title"))
        _table(*ex.noncompliant_rows(report, label), key="cap_xc_noncompliant")
    with tabs[5]:
        _table(*ex.rightsizing_level_rows(report, label), key="cap_rs_levels")
        _table(*ex.rightsizing_rows(report), key="cap_rs_top")
        _history_chart(who, marker, report)
    with tabs[6]:
        _headroom_tab(who, key, marker)
    with tabs[7]:
        _export_tab(report)


# Streamlit runs a page as __main__; importing it (tests, benchmarks) does not render.
if __name__ == "__main__":
    render()
