"""灾备 DR: the two-site three-center topology, drill history against RTO/RPO targets, start a drill.

A drill is started as `ganyun drill run --scenario S --yes --json` in the background (the
CLI contract of DESIGN.md), so the console never blocks on it and the drill writes its own
history; this page only reads that history.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import MetaData, Table, func, inspect, select

from console.frame import CACHE_TTL_S, _store, get_config, get_store, guarded, paginate, run_action, sync_marker, t
from inventory.config import CONFIG_ENV, GanyunConfig
from inventory.models import ProviderStatus
from providers.base import ConfigError

SCENARIOS = ("switchover", "failover", "failback", "remote-failover")
_ROLE_COLOR = {"production": "#1f77b4", "same-city-dr": "#2ca02c", "remote-dr": "#ff7f0e"}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def providers_by_center(url: str, marker: tuple[int, str]) -> list[dict[str, Any]]:
    with _store(url).session() as session:
        rows = session.execute(select(ProviderStatus.center, ProviderStatus.pool, func.count())
                               .group_by(ProviderStatus.center, ProviderStatus.pool))
        return [{"center": c, "pool": p, "providers": int(n)} for c, p, n in rows]


def topology_dot(config: GanyunConfig, providers: list[dict[str, Any]]) -> str:
    """Graphviz DOT: one cluster per site, a node per center, sync/async replication edges."""
    lines = ['digraph G {', 'rankdir=LR; node [shape=box, style="rounded,filled", fontname="sans-serif"];']
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
            lines.append(f'"{_q(c.id)}" [label="{_q(label)}", fillcolor="{_ROLE_COLOR.get(c.role, "#ccc")}33"];')
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
def drill_history(url: str, limit: int = 200) -> list[dict[str, Any]]:
    """Rows of the DR area's drill_runs table, newest first; [] while that area has not landed.

    Read by reflection so that this page does not depend on that area's model names.
    """
    store = _store(url)
    if not inspect(store.engine).has_table("drill_runs"):
        return []
    table = Table("drill_runs", MetaData(), autoload_with=store.engine)
    order = table.c.id.desc() if "id" in table.c else None
    stmt = select(table)
    if order is not None:
        stmt = stmt.order_by(order)
    with store.engine.connect() as conn:
        return [{k: _plain(v) for k, v in row._mapping.items()} for row in conn.execute(stmt.limit(limit))]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dict | list):
        return str(value)[:200]
    return value


def _first(row: dict[str, Any], *names: str) -> Any:
    return next((row[n] for n in names if n in row and row[n] is not None), None)


def judged(rows: list[dict[str, Any]], config: GanyunConfig) -> list[dict[str, Any]]:
    """Measured RTO/RPO beside their targets (from the run, else dr.rto_target_s, else 10 s / 0)."""
    default_rto = float(config.dr.get("rto_target_s", 10.0))
    default_rpo = float(config.dr.get("rpo_target_rows", config.dr.get("rpo_target_s", 0)))
    out = []
    for row in rows:
        rto = _first(row, "rto_s", "rto_seconds", "rto")
        rpo = _first(row, "rpo_rows", "rpo_rows_lost", "rows_lost", "rpo_s", "rpo")
        rto_target = _first(row, "rto_target_s", "rto_target") or default_rto
        rpo_target = _first(row, "rpo_target_rows", "rpo_target_s", "rpo_target") or default_rpo
        met = None
        if rto is not None and rpo is not None:
            met = float(rto) <= float(rto_target) and float(rpo) <= float(rpo_target)
        out.append({
            t("console.col_id"): _first(row, "id"),
            t("console.col_scenario"): _first(row, "scenario", "kind"),
            t("console.col_started"): _first(row, "started_at", "at"),
            t("console.col_status"): _first(row, "status", "outcome"),
            "RTO (s)": rto, t("console.col_rto_target"): rto_target,
            "RPO": rpo, t("console.col_rpo_target"): rpo_target,
            t("console.col_met"): "" if met is None else (t("console.yes") if met else t("console.no")),
        })
    return out


def start_drill(config: GanyunConfig, scenario: str) -> Path:
    """Spawn the drill CLI in the background; its output goes to a log file beside the config."""
    if scenario not in SCENARIOS:
        raise ConfigError(f"unknown scenario '{scenario}'")
    if not config.dr:
        raise ConfigError(t("console.no_dr"))
    config_file = os.environ.get(CONFIG_ENV, "")
    if not config_file:
        raise ConfigError(t("console.no_config_path"))
    log_dir = config.resolve_path("drills")
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"console-{datetime.now(UTC):%Y%m%dT%H%M%S}-{scenario}.log"
    with log.open("wb") as out:
        subprocess.Popen(
            [sys.executable, "-m", "console", "--config", config_file, "drill", "run", "--scenario", scenario,
             "--yes", "--json"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    return log


def render() -> None:
    st.title(t("console.page_dr"))
    config = get_config()
    url = config.database_url
    st.subheader(t("console.topology"))
    if config.centers:
        st.graphviz_chart(topology_dot(config, providers_by_center(url, sync_marker(get_store()))))
    else:
        st.info(t("console.no_centers"))

    st.subheader(t("console.drill_history"))
    rows = guarded(t("console.page_dr"), lambda: drill_history(url))
    if rows:
        st.dataframe(pd.DataFrame(paginate(judged(rows, config), "dr_hist")), hide_index=True, width="stretch")
    elif rows is not None:
        st.caption(t("console.no_drills"))

    st.subheader(t("console.start_drill"))
    # Shown to everyone: the role is checked on the server when the button is pressed.
    with st.form("drill"):
        scenario = st.selectbox(t("console.col_scenario"), SCENARIOS, key="drill_scenario",
                                format_func=lambda s: t("console.scenario_" + s.replace("-", "_")))
        confirm = st.checkbox(t("console.drill_confirm"), key="drill_confirm")
        go = st.form_submit_button(t("console.start_drill"))
    if go:
        if not confirm:
            st.warning(t("console.confirm_first"))
        else:
            log = run_action("drill.start", ["operator"], {"scenario": scenario},
                             lambda: start_drill(config, scenario))
            if log is not None:
                st.session_state["drill_log"] = str(log)
                st.success(t("console.drill_started", scenario=scenario))
    log_path = st.session_state.get("drill_log")
    if log_path and Path(log_path).exists():
        with st.expander(t("console.drill_output"), expanded=True):
            st.code(Path(log_path).read_text(encoding="utf-8", errors="replace")[-4000:] or "…")


# Streamlit runs a page as __main__; importing it (tests, benchmarks) does not render.
if __name__ == "__main__":
    render()
