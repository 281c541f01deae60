"""The ganyun console: `streamlit run console/app.py` (or `ganyun console`).

The router draws the shared frame (language switch, login, user and role, logout) and then
runs one page of console/app_pages/ through st.navigation. Each page declares itself
(`PAGE = PageSpec(...)`, console/navigation.py); the navigation lists only the pages the
signed-in role may open, and the router checks the chosen page against the role again before
running it, so a page cannot be reached by its URL either.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from console import accounts, auth, clock, navigation, sessions
from console.frame import client_address, current_user, get_config, get_store, record, t
from console.i18n import LANGUAGES
from console.settings import ConsoleSettings, console_settings
from providers.errors import GanyunError
from providers.masking import install_log_masking

_LANG_NAMES = {"zh-CN": "中文", "en": "English"}


def _language_switch() -> None:
    current = str(st.session_state.get("lang", "zh-CN"))
    choice = st.sidebar.selectbox(
        "语言 / Language",
        LANGUAGES,
        index=LANGUAGES.index(current) if current in LANGUAGES else 0,
        format_func=lambda code: _LANG_NAMES[code],
        key="lang_choice",
    )
    st.session_state["lang"] = choice


def _oidc_identity(oidc: dict[str, Any]) -> auth.Identity | None:
    """What Streamlit's OIDC cookie says now: role and scope mapped from its claims.

    None without a cookie. With a cookie that maps to no role, the page stops with a message.
    """
    if not st.user.is_logged_in:
        return None
    claims = st.user.to_dict()
    name = str(claims.get("preferred_username") or claims.get("email") or claims.get("sub") or "")
    role = auth.oidc_role(claims, oidc)
    if not name or role is None:
        st.error(t("console.oidc_no_role"))
        record(get_config(), "console.login_failed", {"user": name, "source": "oidc", "reason": "no_role"})
        if st.button(t("console.logout")):
            st.logout()
        st.stop()
    return auth.Identity(name, role, str(claims.get("name") or name), "oidc", auth.oidc_scope(claims, oidc))


def _oidc() -> dict[str, Any] | None:
    try:
        return auth.oidc_settings(get_config())
    except GanyunError as exc:
        st.error(str(exc))
        return None


def _sign_in(identity: auth.Identity) -> None:
    st.session_state["user"] = sessions.start(identity, clock.now())
    record(get_config(), "console.login", {"user": identity.name, "role": identity.role, "source": identity.source})


def _sign_in_oidc(identity: auth.Identity) -> None:
    """First run with a fresh OIDC cookie: the account row follows the claims, unless disabled."""
    try:
        account = accounts.sync_oidc(get_store(), identity.name, identity.display_name, identity.role, identity.scope)
    except GanyunError:
        account = None
    if account is None or not account.active:
        record(get_config(), "console.login_failed", {"user": identity.name, "source": "oidc", "reason": "refused"})
        st.error(t("console.login_invalid"))
        if st.button(t("console.logout")):
            st.logout()
        st.stop()
    _sign_in(account.identity())


def _login_page(settings: ConsoleSettings) -> None:
    config = get_config()
    oidc = _oidc()
    if oidc is not None:
        identity = _oidc_identity(oidc)
        if identity is not None:
            _sign_in_oidc(identity)
            st.rerun()
    st.title(t("console.app_title"))
    st.subheader(t("console.login_title"))
    with st.form("login"):
        # Bounded: whatever is typed as a name goes to the audit log and the throttle.
        username = st.text_input(t("console.username"), key="login_user", max_chars=128)
        password = st.text_input(t("console.password"), type="password", key="login_password", max_chars=1024)
        submitted = st.form_submit_button(t("console.login"))
    if submitted:
        address = client_address()
        try:
            identity = auth.authenticate(get_store(), username.strip(), password, address, settings.login_throttle)
        except auth.LoginError as exc:
            record(
                config,
                "console.login_failed",
                {"user": username.strip(), "source": "local", "reason": exc.reason, "address": address or ""},
            )
            # One text for an unknown name, a wrong password and a throttled attempt.
            st.error(t("console.login_invalid"))
        else:
            _sign_in(identity)
            st.rerun()
    if oidc is not None and st.button(t("console.login_oidc")):
        st.login()


def _current_session(settings: ConsoleSettings) -> dict[str, Any] | None:
    """The signed-in user re-checked against the clock and the accounts table, or None."""
    user = current_user()
    if user is None:
        return None
    oidc_identity = None
    if user.get("source") == "oidc":
        oidc = _oidc()
        oidc_identity = _oidc_identity(oidc) if oidc is not None else None
    checked = sessions.check(get_store(), user, clock.now(), settings, oidc_identity)
    if checked.user is not None:
        st.session_state["user"] = checked.user
        return checked.user
    st.session_state.pop("user", None)
    record(get_config(), "console.session_end", {"user": user.get("name", ""), "reason": checked.ended})
    if user.get("source") == "oidc" and st.user.is_logged_in:
        st.logout()  # else the identity platform's cookie would sign the user straight back in
    st.info(t(f"console.session_{checked.ended}"))
    return None


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
        settings = console_settings(get_config())
    except GanyunError as exc:
        st.error(t("console.config_error", error=str(exc)))
        st.stop()
    user = _current_session(settings)
    if user is None:
        _login_page(settings)
        return
    _sidebar(user)
    _run_page(user)


def _run_page(user: dict[str, Any]) -> None:
    """Navigation over the pages this role may open; the chosen one is checked once more
    before it runs (a URL of any other page resolves to the default page, never to it)."""
    role = str(user.get("role", ""))
    entries = [
        (st.Page(str(p.path), title=t(p.spec.title_key), icon=p.spec.icon, url_path=p.url_path), p)
        for p in navigation.pages_for(role)
    ]
    if not entries:
        st.error(t("console.forbidden"))
        st.stop()
    chosen = st.navigation([entry for entry, _ in entries])
    page = next(p for entry, p in entries if entry is chosen)
    if not page.spec.allows(role):
        record(get_config(), "console.denied", {"page": page.url_path, "role": role})
        st.error(t("console.forbidden"))
        st.stop()
    chosen.run()


main()
