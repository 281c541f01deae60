"""证书 Certificates: expiry timeline, SM2 vs RSA/ECDSA mix, TLS/TLCP endpoints, issue or renew SM2.

Certificates and endpoints are read through console/services/certificates.py, within the
signed-in account's scope; issuing goes through security/ca.py and is allowed to security
officers only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from console.frame import CACHE_TTL_S, get_config, get_store, guarded, paginate, run_action, store_for, t, viewer
from console.navigation import EVERY_ROLE, PageSpec
from console.services import certificates as certificate_service
from console.services.viewer import Viewer
from inventory.config import GanyunConfig
from providers.errors import ConfigError

PAGE = PageSpec("console.page_certificates", ":material/verified_user:", roles=EVERY_ROLE, order=60)


def cert_marker(who: Viewer, url: str) -> tuple[int, str]:
    """Certificates change by scans, not syncs: key the cache on their count and last sighting."""
    return certificate_service.marker(store_for(url), who)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def key_mix(who: Viewer, url: str, marker: tuple[int, str]) -> list[dict[str, Any]]:
    return certificate_service.key_mix(store_for(url), who)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def certificates(who: Viewer, url: str, marker: tuple[int, str]) -> list[dict[str, Any]]:
    return certificate_service.certificates(store_for(url), who)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def endpoints(who: Viewer, url: str, marker: tuple[int, str]) -> list[dict[str, Any]]:
    return certificate_service.endpoints(store_for(url), who)


def issued_names(who: Viewer, config: GanyunConfig) -> list[str]:
    return certificate_service.issued_names(get_store(), who, config)


def issue(config: GanyunConfig, cn: str, sans: list[str], days: int, renew: str = "") -> dict[str, Any]:
    """Issue (or renew) a GM dual pair and record both certificates in the inventory."""
    from security import certs
    from security.ca import SmCa
    from security.cert_store import record_certificate

    ca = SmCa(certificate_service.ca_dir(config))
    if renew:
        if renew not in issued_names(viewer(), config):
            raise ConfigError(f"no issued certificate named {renew!r}")
        pair = ca.renew(ca.directory / "issued" / renew / "sign.pem", days)
    else:
        if not cn.strip():
            raise ConfigError(t("console.cn_required"))
        pair = ca.issue(cn.strip(), sans or None, days=days)
    with get_store().session() as session:
        for role, path in (("sign", pair.sign_cert), ("enc", pair.enc_cert)):
            record_certificate(session, certs.load_file(path)[0], path.resolve().as_uri(), role)
    return {"subject": pair.subject, "directory": str(pair.directory)}


def _timeline(rows: list[dict[str, Any]]) -> None:
    data = pd.DataFrame(
        [
            {
                "subject": r["subject"][:80],
                "not_after": r["not_after"],
                "key_type": r["key_type"],
                "days_left": r["days_left"],
            }
            for r in rows
            if r.get("not_after")
        ]
    )
    if data.empty:
        return
    data["not_after"] = pd.to_datetime(data["not_after"], utc=True)
    now = pd.DataFrame({"now": [pd.Timestamp(datetime.now(UTC))]})
    points = (
        alt.Chart(data)
        .mark_circle(size=70)
        .encode(
            x=alt.X("not_after:T", title=t("console.col_not_after")),
            y=alt.Y("key_type:N", title=t("console.col_key_type")),
            color=alt.Color("key_type:N", legend=None),
            tooltip=["subject", "not_after", "days_left"],
        )
    )
    rule = alt.Chart(now).mark_rule(color="red").encode(x="now:T")
    st.altair_chart(points + rule, width="stretch")


def render() -> None:
    st.title(t("console.page_certificates"))
    config = get_config()
    url = config.database_url
    who = viewer()
    marker = guarded(t("console.page_certificates"), lambda: cert_marker(who, url))
    if marker is not None:
        rows = certificates(who, url, marker)
        mix = key_mix(who, url, marker)
        cols = st.columns(3)
        cols[0].metric(t("console.metric_certs"), len(rows))
        cols[1].metric(t("console.metric_expired"), sum(1 for r in rows if r["expired"]))
        sm2 = sum(m["count"] for m in mix if m["key_type"].upper() == "SM2")
        cols[2].metric(t("console.metric_sm2_share"), f"{(sm2 / len(rows) if rows else 0):.0%}")
        if rows:
            st.subheader(t("console.expiry_timeline"))
            _timeline(rows)
            st.subheader(t("console.key_mix"))
            st.altair_chart(
                alt.Chart(pd.DataFrame(mix))
                .mark_bar()
                .encode(
                    x=alt.X("key_type:N", title=t("console.col_key_type")),
                    y=alt.Y("count:Q", title=t("console.col_count")),
                    color=alt.Color("key_type:N", legend=None),
                ),
                width="stretch",
            )
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            t("console.col_subject"): r["subject"],
                            t("console.col_key_type"): r["key_type"],
                            t("console.col_not_after"): r["not_after"],
                            t("console.col_days_left"): r["days_left"],
                            t("console.col_system"): r["system"],
                            t("console.col_seen_at"): ", ".join(r["seen_at"][:3]),
                        }
                        for r in paginate(rows, "cert_rows")
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
        else:
            st.info(t("console.no_certs"))
        st.subheader(t("console.endpoints"))
        eps = endpoints(who, url, marker)
        if eps:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            t("console.col_endpoint"): f"{e['host']}:{e['port']}",
                            t("console.col_system"): e["system"],
                            t("console.col_reachable"): t("console.yes") if e["reachable"] else t("console.no"),
                            "TLS": ", ".join(e["tls_versions"]),
                            "TLCP": t("console.yes") if e["tlcp"] else t("console.no"),
                            "RFC 8998": t("console.yes") if e["rfc8998"] else t("console.no"),
                        }
                        for e in paginate(eps, "cert_eps")
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
        else:
            st.caption(t("console.no_endpoints"))

    st.subheader(t("console.issue_title"))
    # Shown to everyone: the role is checked on the server when the button is pressed.
    with st.form("issue"):
        existing = guarded(t("console.page_certificates"), lambda: issued_names(who, config)) or []
        renew = st.selectbox(
            t("console.renew_which"),
            ["", *existing],
            key="cert_renew",
            format_func=lambda v: v or t("console.new_certificate"),
        )
        cn = st.text_input(t("console.cn"), key="cert_cn")
        sans = st.text_input(t("console.sans"), key="cert_sans")
        days = st.number_input(t("console.days"), min_value=1, max_value=3650, value=365, key="cert_days")
        go = st.form_submit_button(t("console.issue_button"))
    if go:
        san_list = [s.strip() for s in sans.split(",") if s.strip()]
        result = run_action(
            "certs.issue",
            ["security_officer"],
            {"cn": renew or cn.strip(), "renew": bool(renew), "days": int(days)},
            lambda: issue(config, cn, san_list, int(days), renew),
        )
        if result is not None:
            st.cache_data.clear()
            st.success(t("console.issued", subject=result["subject"], dir=result["directory"]))


# Streamlit runs a page as __main__; importing it (tests, benchmarks) does not render.
if __name__ == "__main__":
    render()
