"""灾备 DR: the two-site three-center topology, drill history against RTO/RPO targets, start a drill.

A drill is started as `ganyun drill run --scenario S --yes --json` in the background (the
CLI's own contract), so the console never blocks on it and the drill writes its own
history; this page only reads that history.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from console import jobs
from console.frame import (
    CACHE_TTL_S,
    get_config,
    get_store,
    guarded,
    paginate,
    run_action,
    show_job,
    store_for,
    sync_marker,
    t,
    viewer,
)
from console.i18n import language
from console.navigation import EVERY_ROLE, PageSpec
from console.services import drills, inventory
from console.services.viewer import Viewer
from inventory.config import CONFIG_ENV, GanyunConfig
from playbooks.drill import scenarios
from playbooks.drill.report import ROLE_COLORS, timeline_rows, write_gap
from providers.errors import ConfigError

PAGE = PageSpec("console.page_dr", ":material/sync_alt:", roles=EVERY_ROLE, order=50)

_ROLE_COLOR = {"production": "#1f77b4", "same-city-dr": "#2ca02c", "remote-dr": "#ff7f0e"}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def providers_by_center(who: Viewer, url: str, marker: tuple[int, str]) -> list[dict[str, Any]]:
    return inventory.providers_by_center(store_for(url), who)


@st.cache_data(ttl=5, show_spinner=False)
def live_roles(_config: GanyunConfig, key: str) -> dict[str, dict[str, Any]]:
    """Each DR member's role and timeline as its database reports it now (5 s snapshot)."""
    from playbooks.drill.cluster import ops_for

    ops = ops_for(_config)
    try:
        return {c: {"role": s.role, "timeline": s.timeline} for c, s in ops.status(timeout_s=2).items()}
    finally:
        close = getattr(ops, "close", None)
        if close is not None:
            close()


_LIVE_COLOR = {
    "primary": "#d62728",
    "standby": "#1f77b4",
    "fenced": "#7f7f7f",
    "down": "#7f7f7f",
    "unreachable": "#7f7f7f",
}


def topology_dot(
    config: GanyunConfig,
    providers: list[dict[str, Any]],
    systems: dict[str, list[str]],
    live: dict[str, dict[str, Any]] | None = None,
) -> str:
    """Graphviz DOT: one cluster per site, a node per center (with `systems`, per center, and its
    database's live role when the DR clusters are configured), sync/async replication edges."""
    lines = ["digraph G {", 'rankdir=LR; node [shape=box, style="rounded,filled", fontname="sans-serif"];']
    sites: dict[str, list[Any]] = {}
    for center in config.centers:
        sites.setdefault(center.site, []).append(center)
    for i, (site, centers) in enumerate(sites.items()):
        lines.append(f'subgraph cluster_{i} {{ label="{_q(site)}"; style=dashed;')
        for c in centers:
            n = sum(p["providers"] for p in providers if p["center"] == c.id)
            shown = systems.get(c.id, [])[:4]
            label = f"{c.name}\\n{t('console.role_' + c.role.replace('-', '_'))}\\n{t('console.providers_n', n=n)}"
            if shown:
                label += "\\n" + "\\n".join(_q(s) for s in shown)
            color = _ROLE_COLOR.get(c.role, "#ccc") + "33"
            member = (live or {}).get(c.id)
            if member is not None:
                timeline = f" TL{member['timeline']}" if member.get("timeline") else ""
                label += "\\n" + t("console.db_role", role=t("console.db_" + member["role"])) + timeline
                color = _LIVE_COLOR.get(member["role"], "#ccc") + "55"
            lines.append(f'"{_q(c.id)}" [label="{_q(label)}", fillcolor="{color}"];')
        lines.append("}")
    prod = [c for c in config.centers if c.role == "production"]
    for p in prod:
        for c in config.centers:
            if c.role == "same-city-dr":
                lines.append(f'"{_q(p.id)}" -> "{_q(c.id)}" [label="{t("console.repl_sync")}", penwidth=2];')
            elif c.role == "remote-dr":
                lines.append(f'"{_q(p.id)}" -> "{_q(c.id)}" [label="{t("console.repl_async")}", style=dashed];')
    lines.append("}")
    return "\n".join(lines)


def _q(text: str) -> str:
    return str(text).replace('"', "'")


@st.cache_data(ttl=10, show_spinner=False)
def drill_history(who: Viewer, url: str) -> list[dict[str, Any]]:
    """Recorded drills, newest first, judged by what each recorded (console/services/drills.py)."""
    return drills.history(store_for(url), who)


def _rpo_text(value: Any, unit: str) -> str:
    if value is None or not unit:
        return ""
    # Rows are whole numbers (no exponent for a big loss); seconds without trailing zeros.
    n = str(value) if isinstance(value, int) else f"{value:g}"
    return t("console.rpo_rows" if unit == "rows" else "console.rpo_seconds", n=n)


def judged(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Measured RTO/RPO beside the targets each drill was run with, and whether it met them."""
    return [
        {
            t("console.col_id"): row["id"],
            t("console.col_scenario"): row["scenario"],
            t("console.col_started"): row["started_at"],
            t("console.col_status"): row["status"],
            "RTO (s)": row["rto_s"],
            t("console.col_rto_target"): row["rto_target_s"],
            "RPO": _rpo_text(row["rpo"], row["rpo_unit"]),
            t("console.col_rpo_target"): _rpo_text(row["rpo_target"], row["rpo_unit"]),
            t("console.col_met"): "" if row["met"] is None else (t("console.yes") if row["met"] else t("console.no")),
        }
        for row in rows
    ]


def timeline_chart(report: dict[str, Any]) -> alt.LayerChart:
    """Each member's role over the drill (sampled every 100 ms), the write gap shaded, the
    acknowledged rows lost in the title."""
    rows = pd.DataFrame(timeline_rows(report))
    roles = list(ROLE_COLORS)
    bars = (
        alt.Chart(rows)
        .mark_bar()
        .encode(
            x=alt.X("start_s:Q", title=t("console.seconds_from_start")),
            x2="end_s:Q",
            y=alt.Y("center:N", title=None),
            color=alt.Color("role:N", scale=alt.Scale(domain=roles, range=[ROLE_COLORS[r] for r in roles])),
            tooltip=["center", "role", "timeline", "start_s", "end_s"],
        )
    )
    layers: list[alt.Chart] = []
    gap = write_gap(report)
    if gap is not None:
        layers.append(
            alt.Chart(pd.DataFrame([{"start_s": gap[0], "end_s": gap[1]}]))
            .mark_rect(color="#ffdd57", opacity=0.5)
            .encode(x="start_s:Q", x2="end_s:Q")
        )
    lost = (report.get("measurements") or {}).get("rows_lost")
    title = t(
        "console.timeline_title",
        scenario=scenario_title(str(report.get("scenario"))),
        gap=(report.get("measurements") or {}).get("write_gap_s"),
        lost="-" if lost is None else lost,
    )
    return alt.LayerChart(layer=[*layers, bars], title=title)


def scenario_title(name: str) -> str:
    return scenarios.get(name).title(language())


def start_drill(config: GanyunConfig, scenario: str) -> jobs.Job:
    """Spawn the drill CLI in the background; its output goes to a log file beside the config."""
    if scenario not in scenarios.names():
        raise ConfigError(f"unknown scenario '{scenario}'")
    if not config.dr.configured:
        raise ConfigError(t("console.no_dr"))
    config_file = os.environ.get(CONFIG_ENV, "")
    if not config_file:
        raise ConfigError(t("console.no_config_path"))
    log = config.resolve_path("drills") / f"console-{datetime.now(UTC):%Y%m%dT%H%M%S}-{scenario}.log"
    args = ["drill", "run", "--scenario", scenario, "--yes", "--json"]
    return jobs.start(scenario_title(scenario), config_file, args, log)


def render() -> None:
    st.title(t("console.page_dr"))
    config = get_config()
    url = config.database_url
    who = viewer()
    st.subheader(t("console.topology"))
    if config.centers:
        live = guarded(t("console.page_dr"), lambda: live_roles(config, url)) if config.dr.configured else None
        providers = providers_by_center(who, url, sync_marker(get_store()))
        st.graphviz_chart(topology_dot(config, providers, drills.topology_systems(get_store(), who, config), live))
    else:
        st.info(t("console.no_centers"))

    st.subheader(t("console.drill_history"))
    rows = guarded(t("console.page_dr"), lambda: drill_history(who, url))
    if rows:
        st.dataframe(pd.DataFrame(paginate(judged(rows), "dr_hist")), hide_index=True, width="stretch")
    elif rows is not None:
        st.caption(t("console.no_drills"))
    if rows:
        run_id = st.selectbox(t("console.drill_timeline"), [r["id"] for r in rows], key="drill_run")
        report = guarded(t("console.page_dr"), lambda: drills.report(get_store(), who, str(run_id)))
        if report and report.get("timeline", {}).get("segments"):
            st.altair_chart(timeline_chart(report), width="stretch")
        elif report is not None:
            st.caption(t("console.no_timeline"))

    st.subheader(t("console.start_drill"))
    # Shown to everyone: the role is checked on the server when the button is pressed.
    with st.form("drill"):
        scenario = st.selectbox(
            t("console.col_scenario"),
            scenarios.names(),
            key="drill_scenario",
            format_func=scenario_title,
        )
        confirm = st.checkbox(t("console.drill_confirm"), key="drill_confirm")
        go = st.form_submit_button(t("console.start_drill"))
    if go:
        if not confirm:
            st.warning(t("console.confirm_first"))
        else:
            job = run_action("drill.start", ["operator"], {"scenario": scenario}, lambda: start_drill(config, scenario))
            if job is not None:
                st.session_state["drill_job"] = job
                st.success(t("console.drill_started", scenario=scenario))
    show_job("drill_job", t("console.drill_output"))


# Streamlit runs a page as __main__; importing it (tests, benchmarks) does not render.
if __name__ == "__main__":
    render()
