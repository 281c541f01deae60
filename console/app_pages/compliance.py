"""合规 Compliance: scores by department/system/center, findings with evidence, waivers, exports."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from console import frame
from console.actions import record_action
from console.navigation import EVERY_ROLE, PageSpec
from console.services import compliance
from console.services.viewer import Viewer
from providers.errors import ConfigError
from security.compliance import engine, evidence, reports, waivers
from security.compliance.frameworks import PRIMARY, clauses_of, load_frameworks
from security.compliance.registry import load_checks

PAGE = PageSpec("console.page_compliance", ":material/rule:", roles=EVERY_ROLE, order=70)

PAGE_SIZE = 50
t = frame.t


@st.cache_data(ttl=60, show_spinner=False)
def _snapshot(who: Viewer, url: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    store = frame.store_for(url)
    return compliance.latest_audit(store, who), compliance.trend(store, who)


def _actor() -> str:
    user = frame.current_user() or {}
    return f"console:{user.get('name', '?')}"


def _run_audit(level: int) -> None:
    frame.require_role("security_officer", "auditor")
    config = frame.get_config()
    report = engine.run_audit(config, frame.get_store(), level, actor=_actor())
    record_action(config, "comply.audit", {"audit_id": report.audit_id, "level": level, "score": report.score},
                  actor=_actor())  # fmt: skip
    st.session_state["compliance_report"] = report
    _snapshot.clear()


config = frame.get_config()
store = frame.get_store()
who = frame.viewer()
st.title(t("comply.page_title"))
st.caption(t("comply.page_intro"))

with st.form("run_audit"):
    level = st.selectbox(t("comply.level"), [1, 2, 3, 4], index=2)
    if st.form_submit_button(t("comply.run_audit")):
        _run_audit(int(level))

audit, trend = _snapshot(who, config.database_url)
if audit is None:
    st.info(t("comply.no_audit"))
    st.stop()

lang = "en" if frame.lang().startswith("en") else "zh"
counts = audit.get("counts", {})
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("comply.score"), audit["score"])
c2.metric(t("comply.failed"), counts.get("FAIL", 0))
c3.metric(t("comply.col_manual"), counts.get("MANUAL", 0))
c4.metric(t("comply.level"), audit["level"])

tabs = st.tabs([t("comply.scores_by", dim=t(f"comply.dim_{d}")) for d in ("department", "system", "center")])
for tab, dim in zip(tabs, ("department", "system", "center"), strict=True):
    with tab:
        scores = audit.get("scores", {}).get(dim, {})
        frame_ = pd.DataFrame({"name": list(scores), "score": list(scores.values())})
        if not frame_.empty:
            st.bar_chart(frame_, x="name", y="score")
            st.dataframe(frame_.sort_values("score"), hide_index=True, width="stretch")

if len(trend) > 1:
    st.subheader(t("comply.trend"))
    # A department's trend has its scores only: an audit keeps no failure counts per department.
    series = [c for c in ("score", "failed") if any(p.get(c) is not None for p in trend)]
    st.line_chart(pd.DataFrame(trend), x="audit_id", y=series)

# ----------------------------------------------------------------- findings
st.subheader(t("comply.findings"))
titles = {cid: c.meta.title[lang] for cid, c in load_checks().items()}
clauses = {cid: ", ".join(clauses_of(cid)) for cid in titles}
statuses = st.multiselect(t("comply.status_filter"), ["FAIL", "WAIVED", "MANUAL", "PASS"], default=["FAIL"])
# Only the page on screen is read: an estate-wide audit has a finding per volume and endpoint.
shown, total = compliance.findings_page(store, who, statuses, offset=0, limit=0)[1:]
pages = max(1, -(-shown // PAGE_SIZE))
page = int(st.number_input(t("comply.page"), min_value=1, max_value=pages, value=1, key="findings_page"))
findings, _, _ = compliance.findings_page(store, who, statuses, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
rows = [
    {
        "check": titles.get(f["check_id"], f["check_id"]),
        "clauses": clauses.get(f["check_id"], ""),
        "severity": f["severity"],
        "status": f["status"],
        "resource": f["resource_name"],
        "department": f["department"],
        "system": f["system"],
        "evidence": json.dumps(f["evidence"], ensure_ascii=False),
        "first_seen": f["first_seen"][:19],
        "key": f["resource_key"],
    }
    for f in findings
]
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
st.caption(f"{shown} / {total}")

# ----------------------------------------------------------------- waivers
st.subheader(t("comply.waivers"))
all_waivers = compliance.waiver_list(store, who)
st.dataframe(pd.DataFrame(all_waivers), hide_index=True, width="stretch")
if frame.has_role("security_officer"):
    with st.form("request_waiver"):
        check_id = st.selectbox(t("comply.col_check"), sorted(titles), format_func=lambda c: f"{titles[c]} ({c})")
        resource_key = st.text_input(t("comply.resource_key"), value="*")
        reason = st.text_area(t("comply.reason"))
        expires = st.date_input(t("comply.expires"), value=date.today() + timedelta(days=90))
        if st.form_submit_button(t("comply.submit")):
            frame.require_role("security_officer")
            try:
                wid = waivers.request(
                    store,
                    {"check_id": check_id, "resource_key": resource_key, "reason": reason, "requested_by": _actor(),
                     "expires_at": datetime.combine(expires, time(23, 59), tzinfo=UTC)},
                    set(titles),
                )  # fmt: skip
            except ConfigError as exc:
                st.error(str(exc))
            else:
                record_action(config, "comply.waiver.request", {"id": wid, "check_id": check_id}, actor=_actor())
                st.success(t("comply.waiver_requested", id=wid))
    pending = [w for w in all_waivers if w["state"] == "requested"]
    if pending:
        st.markdown(f"**{t('comply.pending')}**")
    for w in pending:
        cols = st.columns([4, 1, 1])
        cols[0].write(f"#{w['id']} {w['check_id']} · {w['resource_key']} · {w['reason']} ({w['requested_by']})")
        for col, verb in ((cols[1], "approve"), (cols[2], "reject")):
            if col.button(t(f"comply.{verb}"), key=f"{verb}_{w['id']}"):
                frame.require_role("security_officer")
                try:
                    waivers.decide(store, int(w["id"]), _actor(), approve=verb == "approve")
                except ConfigError as exc:
                    st.error(str(exc))
                else:
                    record_action(config, f"comply.waiver.{verb}", {"id": w["id"]}, actor=_actor())
                    st.success(t("comply.done"))

# ----------------------------------------------------------------- evidence
st.subheader(t("comply.evidence"))
fw = load_frameworks()[PRIMARY]
manual = {r.subject: f"{r.id} {r.title[lang]}" for r in fw.requirements if r.manual}
st.dataframe(pd.DataFrame(compliance.evidence_list(store, who)), hide_index=True, width="stretch")
if frame.has_role("security_officer", "auditor"):
    with st.form("attach_evidence"):
        subject = st.selectbox(t("comply.subject"), list(manual), format_func=lambda s: manual[s])
        upload = st.file_uploader(t("comply.attach"))
        if st.form_submit_button(t("comply.submit")) and upload is not None:
            frame.require_role("security_officer", "auditor")
            ev_id = evidence.add(store, subject, upload.name, upload.getvalue(), added_by=_actor())
            record_action(config, "comply.evidence.add", {"id": ev_id, "subject": subject}, actor=_actor())
            st.success(t("comply.done"))

# ----------------------------------------------------------------- exports
report = st.session_state.get("compliance_report")
if isinstance(report, engine.AuditReport):
    st.subheader(t("comply.exports"))
    mimes = {"json": "application/json", "html": "text/html", "xlsx": "application/vnd.openxmlformats-officedocument"
             ".spreadsheetml.sheet", "csv": "text/csv"}  # fmt: skip
    cols = st.columns(len(reports.FORMATS))
    for col, fmt in zip(cols, reports.FORMATS, strict=True):
        col.download_button(fmt.upper(), compliance.render(store, who, report, fmt),
                            file_name=f"compliance-{report.audit_id}.{fmt}", mime=mimes[fmt],
                            key=f"export_{fmt}")  # fmt: skip
