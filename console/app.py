"""The ganyun console: `streamlit run console/app.py` (or `ganyun console`).

The router draws the shared frame (language switch, login, user and role, logout) and then
runs one page of console/app_pages/ through st.navigation. Pages written by other areas
appear as soon as their file exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from console import auth
from console.frame import current_user, get_config, get_store, record, t
from console.i18n import LANGUAGES
from providers.base import GanyunError
from providers.masking import install_log_masking

_HERE = Path(__file__).resolve().parent
# (file, title key, icon); order is the order in the sidebar.
PAGES = (
    ("app_pages/overview.py", "console.page_overview", ":material/dashboard:"),
    ("app_pages/inventory.py", "console.page_inventory", ":material/dns:"),
    ("app_pages/capacity.py", "console.page_capacity", ":material/stacked_bar_chart:"),
    ("app_pages/migration.py", "console.page_migration", ":material/move_up:"),
    ("app_pages/dr.py", "console.page_dr", ":material/sync_alt:"),
    ("app_pages/certificates.py", "console.page_certificates", ":material/verified_user:"),
    ("app_pages/compliance.py", "console.page_compliance", ":material/rule:"),
    ("app_pages/audit.py", "console.page_audit", ":material/receipt_long:"),
)
_LANG_NAMES = {"zh-CN": "中文", "en": "English"}


def _language_switch() -> None:
    current = str(st.session_state.get("lang", "zh-CN"))
    choice = st.sidebar.selectbox(
        "语言 / Language", LANGUAGES, index=LANGUAGES.index(current) if current in LANGUAGES else 0,
        format_func=lambda code: _LANG_NAMES[code], key="lang_choice",
    )
    st.session_state["lang"] = choice


def _oidc_identity(oidc: dict[str, Any]) -> auth.Identity | None:
    """The identity behind Streamlit's OIDC cookie, with its role mapped from the claims."""
    if not st.user.is_logged_in:
        return None
    claims = st.user.to_dict()
    name = str(claims.get("preferred_username") or claims.get("email") or claims.get("sub") or "")
    role = auth.oidc_role(claims, oidc)
    if not name or role is None:
        st.error(t("console.oidc_no_role"))
        record(get_config(), "console.login_failed", {"user": name, "source": "oidc"})
        if st.button(t("console.logout")):
            st.logout()
        st.stop()
    return auth.Identity(name, role, str(claims.get("name") or name), "oidc")


def _sign_in(identity: auth.Identity) -> None:
    st.session_state["user"] = identity.as_session()
    record(get_config(), "console.login", {"user": identity.name, "role": identity.role,
                                            "source": identity.source})


def _login_page() -> None:
    config = get_config()
    try:
        oidc = auth.oidc_settings(config)
    except GanyunError as exc:
        st.error(str(exc))
        oidc = None
    if oidc is not None:
        identity = _oidc_identity(oidc)
        if identity is not None:
            _sign_in(identity)
            st.rerun()
    st.title(t("console.app_title"))
    st.subheader(t("console.login_title"))
    with st.form("login"):
        username = st.text_input(t("console.username"), key="login_user")
        password = st.text_input(t("console.password"), type="password", key="login_password")
        submitted = st.form_submit_button(t("console.login"))
    if submitted:
        try:
            identity = auth.authenticate(get_store(), username.strip(), password)
        except auth.LoginError as exc:
            record(config, "console.login_failed", {"user": username.strip(), "source": "local"})
            st.error(t(f"console.login_{exc.reason}"))
        else:
            _sign_in(identity)
            st.rerun()
    if oidc is not None and st.button(t("console.login_oidc")):
        st.login()


def _sidebar(user: dict[str, Any]) -> None:
    with st.sidebar:
        st.markdown(f"**{user.get('display_name') or user['name']}**")
        st.caption(t("console.signed_in_as", role=t(f"console.role_{user['role']}")))
        if st.button(t("console.logout"), key="logout"):
            record(get_config(), "console.logout", {"user": user["name"]})
            st.session_state.pop("user", None)
            if user.get("source") == "oidc":
                st.logout()
            st.rerun()


def main() -> None:
    install_log_masking()
    st.set_page_config(page_title="赣云 ganyun", page_icon=":material/cloud:", layout="wide")
    _language_switch()
    try:
        get_config()
    except GanyunError as exc:
        st.error(t("console.config_error", error=str(exc)))
        st.stop()
    user = current_user()
    if user is None:
        _login_page()
        return
    _sidebar(user)
    pages = [
        st.Page(str(_HERE / path), title=t(title), icon=icon)
        for path, title, icon in PAGES
        if (_HERE / path).exists()  # other areas' pages appear when their file lands
    ]
    st.navigation(pages).run()


main()
