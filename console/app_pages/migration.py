"""迁移 Migration: assessment, plan review, per-VM run progress, run / rollback / finalize.

Runs, rollbacks and finalizations are started as the CLI in the background
(`ganyun migrate run|rollback|finalize ... --yes --json`), like the DR page does, so the
console never blocks on Ansible; progress is read back from the migration tables, and the
command's end (its exit code and one-line error) is shown by console.frame.show_job.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from console import jobs
from console.frame import (
    CACHE_TTL_S,
    get_config,
    get_store,
    guarded,
    lang,
    paginate,
    require_role,
    run_action,
    show_job,
    store_for,
    sync_marker,
    t,
    viewer,
)
from console.navigation import EVERY_ROLE, PageSpec
from console.services import inventory, migration
from console.services.viewer import Viewer
from inventory.config import CONFIG_ENV, GanyunConfig
from playbooks.migration import addresses_text
from providers.errors import ConfigError

PAGE = PageSpec("console.page_migration", ":material/move_up:", roles=EVERY_ROLE, order=40)

ACTIONS = ("run", "rollback", "finalize")


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def departments(who: Viewer, url: str, marker: tuple[int, str]) -> list[str]:
    return inventory.departments(store_for(url), who)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def assessment_rows(
    _config: GanyunConfig, who: Viewer, url: str, marker: tuple[int, str], department: str, language: str
) -> list[dict[str, Any]]:
    filters = {"department": department} if department else {}
    return migration.assessment(store_for(url), who, _config, filters, language)


@st.cache_data(ttl=5, show_spinner=False)
def runs(who: Viewer, url: str) -> list[dict[str, Any]]:
    return migration.runs(store_for(url), who, limit=50)


@st.cache_data(ttl=5, show_spinner=False)
def run_detail(who: Viewer, url: str, run_id: int) -> dict[str, Any]:
    return migration.run_detail(store_for(url), who, run_id)


def _config_file(config: GanyunConfig) -> str:
    path = os.environ.get(CONFIG_ENV, "") or str(Path(config.base_dir) / "ganyun.yaml")
    if not Path(path).is_file():
        raise ConfigError(t("console.no_config_path"))
    return path


def start_cli(config: GanyunConfig, action: str, argument: str) -> jobs.Job:
    """`ganyun migrate <action> <argument> --yes --json` in the background, output to a log file."""
    if action not in ACTIONS:
        raise ConfigError(f"unknown migration action '{action}'")
    config_file = _config_file(config)
    log = config.resolve_path("migration-logs") / f"console-{datetime.now(UTC):%Y%m%dT%H%M%S}-{action}.log"
    return jobs.start(t(f"migrate.{action}_job"), config_file, ["migrate", action, argument, "--yes", "--json"], log)


def _assessment(config: GanyunConfig) -> None:
    st.subheader(t("migrate.page_assess"))
    url = config.database_url
    marker = sync_marker(get_store())
    who = viewer()
    everyone = t("migrate.all")
    depts = [everyone] + (guarded(t("migrate.page_title"), lambda: departments(who, url, marker)) or [])
    choice = st.selectbox(t("migrate.col_department"), depts, key="mig_dept")
    dept = "" if choice == everyone else str(choice)
    st.session_state["mig_filter_dept"] = dept
    rows = guarded(t("migrate.page_assess"), lambda: assessment_rows(config, who, url, marker, dept, lang()))
    if not rows:
        st.caption(t("migrate.no_nodes"))
        return
    counts = Counter(r["strategy"] for r in rows)
    cols = st.columns(4)
    for col, name in zip(cols, ("rehost", "replatform", "retain", "retire"), strict=True):
        col.metric(t(f"migrate.strategy_{name}"), counts.get(name, 0))
    table = [
        {
            t("migrate.col_provider"): r["provider"],
            t("migrate.col_name"): r["name"],
            t("migrate.col_system"): r["system"],
            t("migrate.col_mlps"): r["mlps_level"],
            t("migrate.col_strategy"): t(f"migrate.strategy_{r['strategy']}"),
            t("migrate.col_target_os"): r["target_os_family"],
            t("migrate.col_reasons"): "; ".join(x["message"] for x in r["reasons"] if x["effect"] != "info"),
        }
        for r in rows
    ]
    st.dataframe(pd.DataFrame(paginate(table, "mig_assess")), hide_index=True, width="stretch")


def _plan(config: GanyunConfig) -> None:
    st.subheader(t("migrate.page_plan"))
    targets = sorted({p.pool for p in config.providers if p.pool == "xinchuang"}) + [
        p.name for p in config.providers if p.pool == "xinchuang"
    ]
    with st.form("mig_plan_form"):
        target = st.selectbox(t("migrate.col_target"), targets or ["xinchuang"], key="mig_target")
        wave_size = st.number_input(t("migrate.wave_size"), min_value=1, max_value=500, value=20, key="mig_wave_size")
        go = st.form_submit_button(t("migrate.make_plan"))
    if go:
        dept = str(st.session_state.get("mig_filter_dept") or "")
        filters = {"department": dept} if dept else {}

        def build() -> Any:
            return migration.build_plan(
                get_store(), viewer(), config, target, filters, wave_size=int(wave_size), lang=lang()
            )

        outcome = run_action("migrate.plan", ["operator", "planner"], {"target": target, **filters}, build)
        if outcome is not None:
            st.session_state["mig_plan"] = outcome.plan.model_dump(mode="json")
            st.session_state["mig_plan_fits"] = outcome.fits
            if not outcome.fits:
                from inventory.planning import shortfall_text

                st.session_state["mig_plan_short"] = shortfall_text(outcome, lang())
    plan = st.session_state.get("mig_plan")
    if not plan:
        return
    s = plan["summary"]
    cols = st.columns(4)
    cols[0].metric(t("migrate.vms"), s["vms"])
    cols[1].metric(t("migrate.lower_bound"), s["lower_bound_hosts"])
    cols[2].metric(t("migrate.hosts_used"), s["hosts_used"], delta=s["gap_hosts"], delta_color="inverse")
    cols[3].metric(t("migrate.waves"), len(plan["waves"]))
    if not st.session_state.get("mig_plan_fits", True):
        st.error(t("migrate.plan_does_not_fit", detail=st.session_state.get("mig_plan_short", "")))
        return
    items = [
        {
            t("migrate.col_wave"): i["wave"],
            t("migrate.col_name"): i["name"],
            t("migrate.col_system"): i["system"],
            t("migrate.col_strategy"): t(f"migrate.strategy_{i['strategy']}"),
            t("migrate.col_target"): i["target_provider"],
            t("migrate.col_host"): i["target_host"],
            t("migrate.col_size"): i["target_size"]["name"] or i["target_size"]["id"],
        }
        for i in plan["items"]
    ]
    st.dataframe(pd.DataFrame(paginate(items, "mig_plan_items")), hide_index=True, width="stretch")
    st.download_button(
        t("migrate.download_plan"),
        json.dumps(plan, ensure_ascii=False, indent=2),
        file_name="plan.json",
        mime="application/json",
        key="mig_download",
    )
    confirm = st.checkbox(t("migrate.run_confirm"), key="mig_run_confirm")
    if st.button(t("migrate.start_run"), key="mig_start_run"):
        require_role("operator")
        if not confirm:
            st.warning(t("console.confirm_first"))
            return

        def start() -> jobs.Job:
            path = config.resolve_path("migration-plans") / f"plan-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(plan, ensure_ascii=False, indent=2), encoding="utf-8")
            return start_cli(config, "run", str(path))

        job = run_action("migrate.run", ["operator"], {"target": plan["target"], "vms": s["vms"]}, start)
        if job is not None:
            st.session_state["mig_job"] = job
            st.success(t("migrate.started"))


def _progress(config: GanyunConfig) -> None:
    st.subheader(t("migrate.page_runs"))
    url = config.database_url
    who = viewer()
    all_runs = guarded(t("migrate.page_runs"), lambda: runs(who, url)) or []
    if not all_runs:
        st.caption(t("migrate.no_runs"))
        return
    run_id = st.selectbox(
        t("migrate.col_run"),
        [r["run_id"] for r in all_runs],
        key="mig_run",
        format_func=lambda i: next(
            f"#{r['run_id']} {r['target']} · {r['status']}" for r in all_runs if r["run_id"] == i
        ),
    )
    detail = run_detail(who, url, int(run_id))
    st.caption(t("migrate.status_title", run=detail["run_id"], target=detail["target"], status=detail["status"]))
    rows = [
        {
            t("migrate.col_name"): v["name"],
            t("migrate.col_strategy"): t(f"migrate.strategy_{v['strategy']}"),
            t("migrate.col_status"): t(f"migrate.vm_{v['status']}"),
            t("migrate.col_step"): v["step"],
            t("migrate.col_progress"): v["done"] / v["total"] if v["total"] else 0.0,
            t("migrate.col_target"): v["target"],
            t("migrate.col_addresses"): addresses_text(v["addresses"]),
            t("migrate.col_message"): v["message"],
        }
        for v in detail["vms"]
    ]
    st.dataframe(
        pd.DataFrame(paginate(rows, "mig_vms")),
        hide_index=True,
        width="stretch",
        column_config={t("migrate.col_progress"): st.column_config.ProgressColumn(min_value=0.0, max_value=1.0)},
    )
    left, right = st.columns(2)
    with left:
        confirm_rb = st.checkbox(t("migrate.rollback_confirm", run=run_id), key="mig_rb_confirm")
        if st.button(t("migrate.rollback"), key="mig_rollback"):
            _act(config, "rollback", int(run_id), confirm_rb)
    with right:
        ready = sum(1 for v in detail["vms"] if v["status"] == "cut_over")
        confirm_fin = st.checkbox(t("migrate.finalize_confirm", run=run_id, n=ready), key="mig_fin_confirm")
        if st.button(t("migrate.finalize"), key="mig_finalize"):
            _act(config, "finalize", int(run_id), confirm_fin)


def _act(config: GanyunConfig, action: str, run_id: int, confirmed: bool) -> None:
    require_role("operator")
    if not confirmed:
        st.warning(t("console.confirm_first"))
        return
    job = run_action(f"migrate.{action}", ["operator"], {"run": run_id}, lambda: start_cli(config, action, str(run_id)))
    if job is not None:
        st.session_state["mig_job"] = job
        st.success(t("migrate.started"))


def render() -> None:
    st.title(t("migrate.page_title"))
    config = get_config()
    _assessment(config)
    _plan(config)
    _progress(config)
    show_job("mig_job", t("migrate.output"))


# Streamlit runs a page as __main__; importing it (tests) does not render.
if __name__ == "__main__":
    render()
