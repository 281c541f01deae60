"""灾备 DR: the two-site three-center topology, drill history against RTO/RPO targets, start a drill.

A drill is started as `ganyun drill run --scenario S --yes --json` in the background (the
CLI contract of DESIGN.md), so the console never blocks on it and the drill writes its own
history; this page only reads that history.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy import func, select

from console import jobs
from console.frame import (
    CACHE_TTL_S,
    _store,
    get_config,
    get_store,
    guarded,
    paginate,
    run_action,
    show_job,
    sync_marker,
    t,
)
from console.i18n import language
from inventory.config import CONFIG_ENV, GanyunConfig
from inventory.drill_models import DrillRun
from inventory.models import ProviderStatus
from playbooks.drill import history, scenarios
from playbooks.drill.report import ROLE_COLORS, timeline_rows, write_gap
from providers.errors import ConfigError

_ROLE_COLOR = {"production": "#1f77b4", "same-city-dr": "#2ca02c", "remote-dr": "#ff7f0e"}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def providers_by_center(url: str, marker: tuple[int, str]) -> list[dict[str, Any]]:
    with _store(url).session() as session:
        rows = session.execute(
            select(ProviderStatus.center, ProviderStatus.pool, func.count()).group_by(
                ProviderStatus.center, ProviderStatus.pool
            )
        )
        return [{"center": c, "pool": p, "providers": int(n)} for c, p, n in rows]


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
    config: GanyunConfig, providers: list[dict[str, Any]], live: dict[str, dict[str, Any]] | None = None
) -> str:
    """Graphviz DOT: one cluster per site, a node per center (with its database's live role when
    the DR clusters are configured), sync/async replication edges."""
    lines = ["digraph G {", 'rankdir=LR; node [shape=box, style="rounded,filled", fontname="sans-serif"];']
    sites: dict[str, list[Any]] = {}
    for center in config.centers:
        sites.setdefault(center.site, []).append(center)
    for i, (site, centers) in enumerate(sites.items()):
        lines.append(f'subgraph cluster_{i} {{ label="{_q(site)}"; style=dashed;')
        for c in centers:
            n = sum(p["providers"] for p in providers if p["center"] == c.id)
            systems = [s.name for s in config.systems if s.center == c.id][:4]
            label = f"{c.name}\\n{t('console.role_' + c.role.replace('-', '_'))}\\n{t('console.providers_n', n=n)}"
            if systems:
                label += "\\n" + "\\n".join(_q(s) for s in systems)
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


# The drill's own checks that the RTO/RPO columns summarise (playbooks/drill/engine.py::_checks).
_RTO_RPO_CHECKS = ("rto", "rpo_rows", "rpo_s")


@st.cache_data(ttl=10, show_spinner=False)
def drill_history(url: str, limit: int = 200) -> list[dict[str, Any]]:
    """Recorded drills (inventory/drill_models.py, written by playbooks/drill/history.py), newest first."""
    with _store(url).session() as session:
        runs = session.scalars(select(DrillRun).order_by(DrillRun.started_at.desc()).limit(limit)).all()
        return [_history_row(run) for run in runs]


def _history_row(run: DrillRun) -> dict[str, Any]:
    """One drill judged by what it recorded, not by today's config: targets may have changed since.

    Same-city drills allow no acknowledged row lost (rpo_rows); a remote failover may lose rows
    and is held to its data-loss window in seconds instead (rpo_s), so the RPO unit follows
    whichever target the drill was run with.
    """
    report = run.report or {}
    targets = report.get("targets") or {}
    if targets.get("rpo_rows") is not None:
        rpo_unit, rpo, rpo_target = "rows", run.rpo_rows_lost, targets["rpo_rows"]
    elif targets.get("rpo_s") is not None:
        rpo_unit, rpo, rpo_target = "s", (report.get("measurements") or {}).get("data_loss_window_s"), targets["rpo_s"]
    else:
        rpo_unit, rpo, rpo_target = "", None, None
    judged_checks = [c for c in report.get("checks") or [] if c.get("name") in _RTO_RPO_CHECKS]
    names = {c["name"] for c in judged_checks}
    # Only a drill that reached the fault has both an RTO and an RPO check; for the others
    # (refused, interrupted before the fault) "met" would be a verdict on half the question.
    met = all(c.get("met") for c in judged_checks) if "rto" in names and len(names) > 1 else None
    return {
        "id": run.id,
        "scenario": run.scenario,
        "started_at": run.started_at.isoformat(timespec="seconds") if run.started_at else None,
        "status": run.status,
        "rto_s": run.rto_s,
        "rto_target_s": run.rto_target_s,
        "rpo_unit": rpo_unit,
        "rpo": rpo,
        "rpo_target": rpo_target,
        "met": met,
    }


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
    st.subheader(t("console.topology"))
    if config.centers:
        live = guarded(t("console.page_dr"), lambda: live_roles(config, url)) if config.dr.configured else None
        st.graphviz_chart(topology_dot(config, providers_by_center(url, sync_marker(get_store())), live))
    else:
        st.info(t("console.no_centers"))

    st.subheader(t("console.drill_history"))
    rows = guarded(t("console.page_dr"), lambda: drill_history(url))
    if rows:
        st.dataframe(pd.DataFrame(paginate(judged(rows), "dr_hist")), hide_index=True, width="stretch")
    elif rows is not None:
        st.caption(t("console.no_drills"))
    if rows:
        run_id = st.selectbox(t("console.drill_timeline"), [r["id"] for r in rows], key="drill_run")
        report = guarded(t("console.page_dr"), lambda: history.report(get_store(), str(run_id)))
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
