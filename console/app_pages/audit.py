"""审计 Audit: search the tamper-evident log and verify its chain."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from console import frame
from console.navigation import PageSpec
from console.services import audit

PAGE = PageSpec("console.page_audit", ":material/receipt_long:", roles=("auditor", "security_officer"), order=80)

PAGE_SIZE = 50
t = frame.t

config = frame.get_config()
store = frame.get_store()
who = frame.viewer()
st.title(t("audit.page_title"))
st.caption(t("audit.page_intro"))
if not who.city_wide:
    # The log records every department's actions: it stays with city-wide accounts.
    st.error(t("console.city_wide_only"))
    st.stop()

if st.button(t("audit.verify_button"), key="verify"):
    result = audit.verify(who, config)
    if result.ok:
        st.success(t("audit.verify_ok", entries=result.entries, checkpoints=result.checkpoints))
    else:
        st.error(t("audit.verify_bad", seq=result.first_bad, problem=result.problem, message=result.message))
    for warning in result.warnings:
        st.warning(warning)

c1, c2 = st.columns(2)
text = c1.text_input(t("audit.search_text"), key="audit_text")
action = c2.text_input(t("audit.search_action"), key="audit_action")
total, _ = audit.search(store, who, text=text, action=action, limit=1)
pages = max(1, -(-total // PAGE_SIZE))
page = int(st.number_input(t("audit.page"), min_value=1, max_value=pages, value=1, key="audit_page"))
total, rows = audit.search(store, who, text=text, action=action, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
if not rows:
    st.info(t("audit.no_entries"))
else:
    table = pd.DataFrame(
        [{**r, "details": json.dumps(r["details"], ensure_ascii=False), "hash": r["hash"][:16]} for r in rows]
    )
    st.dataframe(table, hide_index=True, width="stretch")
st.caption(t("audit.shown", total=total, shown=len(rows)))
