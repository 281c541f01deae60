"""总览 Overview: counts per center, cloud and pool; sync status; Xinchuang progress; risks; expiring certs.

Every figure is a GROUP BY in the database (console/services, within the signed-in account's
scope), cached per (account, database, latest sync run) with a TTL.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from console.frame import CACHE_TTL_S, get_config, get_store, guarded, store_for, sync_marker, t, viewer
from console.navigation import EVERY_ROLE, PageSpec
from console.services import certificates, compliance, inventory
from console.services.viewer import Viewer

PAGE = PageSpec("console.page_overview", ":material/dashboard:", roles=EVERY_ROLE, order=10)

EXPIRY_DAYS = 30


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def node_counts(who: Viewer, url: str, marker: tuple[int, str]) -> list[dict[str, Any]]:
    """Nodes, vCPUs and RAM per provider (with its center and pool)."""
    return inventory.node_counts(store_for(url), who)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def host_count(who: Viewer, url: str, marker: tuple[int, str]) -> int:
    return inventory.host_count(store_for(url), who)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def sync_status(who: Viewer, url: str, marker: tuple[int, str]) -> list[dict[str, Any]]:
    return inventory.sync_status(store_for(url), who)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def pool_trend(who: Viewer, url: str, marker: tuple[int, str]) -> list[dict[str, Any]]:
    """vCPUs per pool per day from the capacity samples: the Xinchuang share over time."""
    return inventory.pool_trend(store_for(url), who)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def top_risks(who: Viewer, url: str, marker: tuple[int, str], limit: int = 10) -> list[dict[str, Any]]:
    return compliance.top_risks(store_for(url), who, limit)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def expiring_certs(who: Viewer, url: str, marker: tuple[int, str], days: int = EXPIRY_DAYS) -> list[dict[str, Any]]:
    return certificates.expiring(store_for(url), who, days)


def _center_name(center_id: str) -> str:
    center = get_config().center(center_id)
    return center.name if center else (center_id or "-")


def _red_rows(row: pd.Series) -> list[str]:
    bad = row.get("_bad", False)
    return ["background-color: #fdd; color: #a00" if bad else "" for _ in row]


def render() -> None:
    st.title(t("console.page_overview"))
    url = get_config().database_url
    marker = sync_marker(get_store())
    who = viewer()
    counts = node_counts(who, url, marker)
    total = sum(r["nodes"] for r in counts)
    xc_nodes = sum(r["nodes"] for r in counts if r["pool"] == "xinchuang")
    total_vcpus = sum(r["vcpus"] for r in counts)
    xc_vcpus = sum(r["vcpus"] for r in counts if r["pool"] == "xinchuang")
    statuses = sync_status(who, url, marker)
    bad = [s for s in statuses if s["status"] in ("failed", "never") or s["stale"]]

    cols = st.columns(5)
    cols[0].metric(t("console.metric_nodes"), f"{total:,}")
    cols[1].metric(t("console.metric_hosts"), f"{host_count(who, url, marker):,}")
    cols[2].metric(t("console.metric_providers"), len(statuses))
    cols[3].metric(t("console.metric_xinchuang"), f"{(xc_vcpus / total_vcpus if total_vcpus else 0):.1%}")
    cols[4].metric(t("console.metric_failed"), len(bad))
    if marker[0] == 0:
        st.info(t("console.no_sync_yet"))

    left, right = st.columns(2)
    with left:
        st.subheader(t("console.by_center"))
        by_center: dict[str, int] = {}
        for r in counts:
            by_center[_center_name(r["center"])] = by_center.get(_center_name(r["center"]), 0) + r["nodes"]
        frame = pd.DataFrame(
            {t("console.col_center"): list(by_center), t("console.col_nodes"): list(by_center.values())}
        )
        st.dataframe(frame, hide_index=True, width="stretch")
    with right:
        st.subheader(t("console.by_pool"))
        by_pool: dict[str, int] = {}
        for r in counts:
            label = t(f"console.pool_{r['pool']}")
            by_pool[label] = by_pool.get(label, 0) + r["nodes"]
        frame = pd.DataFrame({t("console.col_pool"): list(by_pool), t("console.col_nodes"): list(by_pool.values())})
        st.dataframe(frame, hide_index=True, width="stretch")

    st.subheader(t("console.by_cloud"))
    cloud = pd.DataFrame(
        [
            {
                t("console.col_provider"): r["provider"],
                t("console.col_center"): _center_name(r["center"]),
                t("console.col_pool"): t(f"console.pool_{r['pool']}"),
                t("console.col_nodes"): r["nodes"],
                "vCPU": r["vcpus"],
                t("console.col_ram_gb"): r["ram_gb"],
            }
            for r in sorted(counts, key=lambda r: -r["nodes"])
        ]
    )
    st.dataframe(cloud, hide_index=True, width="stretch")

    st.subheader(t("console.sync_status"))
    if bad:
        st.error(t("console.sync_bad", names=", ".join(s["provider"] for s in bad)))
    table = pd.DataFrame(
        [
            {
                t("console.col_provider"): s["provider"],
                t("console.col_status"): t(f"console.status_{s['status']}"),
                t("console.col_stale"): t("console.yes") if s["stale"] else t("console.no"),
                t("console.col_last_success"): s["last_success"],
                t("console.col_error"): s["error"],
                "_bad": s in bad,
            }
            for s in statuses
        ]
    )
    if not table.empty:
        st.dataframe(
            table.style.apply(_red_rows, axis=1), hide_index=True, width="stretch", column_config={"_bad": None}
        )

    st.subheader(t("console.xinchuang_progress"))
    share = xc_vcpus / total_vcpus if total_vcpus else 0.0
    st.progress(
        min(max(share, 0.0), 1.0), text=t("console.xinchuang_share", share=f"{share:.1%}", nodes=xc_nodes, total=total)
    )
    trend = pool_trend(who, url, marker)
    if trend:
        frame = pd.DataFrame(trend)
        wide = frame.pivot_table(index="day", columns="pool", values="vcpus", aggfunc="sum").fillna(0)
        if "xinchuang" in wide:
            wide["share"] = wide["xinchuang"] / wide.sum(axis=1).where(lambda s: s > 0, 1)
            share_frame = wide.reset_index()[["day", "share"]]
            chart = (
                alt.Chart(share_frame)
                .mark_line()
                .encode(
                    x=alt.X("day:T", title=t("console.col_day")),
                    y=alt.Y("share:Q", title=t("console.metric_xinchuang"), axis=alt.Axis(format="%")),
                )
            )
            st.altair_chart(chart, width="stretch")

    left, right = st.columns(2)
    with left:
        st.subheader(t("console.top_risks"))
        risks = guarded(t("console.page_compliance"), lambda: top_risks(who, url, marker))
        if risks:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            t("console.col_check"): r["check_id"],
                            t("console.col_severity"): r["severity"],
                            t("console.col_count"): r["count"],
                        }
                        for r in risks
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
        elif risks is not None:
            st.caption(t("console.no_audit_yet"))
    with right:
        st.subheader(t("console.expiring_certs", days=EXPIRY_DAYS))
        certs = guarded(t("console.page_certificates"), lambda: expiring_certs(who, url, marker))
        if certs:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            t("console.col_subject"): c["subject"],
                            t("console.col_key_type"): c["key_type"],
                            t("console.col_not_after"): c["not_after"],
                            t("console.col_days_left"): c["days_left"],
                        }
                        for c in certs
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
        elif certs is not None:
            st.caption(t("console.no_expiring"))


# Streamlit runs a page as __main__; importing it (tests, benchmarks) does not render.
if __name__ == "__main__":
    render()
