"""What every Streamlit page shares: config, store, the signed-in user, roles, i18n.

Pages are thin (DESIGN.md house rule 7): they call service functions from inventory/,
security/ and playbooks/, never adapters. No I/O at import time.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.i18n import t as _t
from inventory.config import GanyunConfig, load_config
from inventory.store import Store, open_store

ROLES = ("operator", "security_officer", "planner", "auditor", "admin")


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    # One engine per database URL for the whole server: engines are thread-safe.
    return open_store(url)


def get_config() -> GanyunConfig:
    if "ganyun_config" not in st.session_state:
        st.session_state["ganyun_config"] = load_config()
    config: GanyunConfig = st.session_state["ganyun_config"]
    return config


def get_store() -> Store:
    return _store(get_config().database_url)


def lang() -> str:
    return str(st.session_state.get("lang", "zh-CN"))


def t(key: str, **params: Any) -> str:
    return _t(key, lang(), **params)


def current_user() -> dict[str, Any] | None:
    user = st.session_state.get("user")
    return user if isinstance(user, dict) else None


def has_role(*roles: str) -> bool:
    user = current_user()
    if user is None:
        return False
    return user.get("role") == "admin" or user.get("role") in roles


def require_role(*roles: str) -> None:
    """Server-side guard for an action: stops the script run unless the user holds a role."""
    if not has_role(*roles):
        st.error(t("console.forbidden"))
        st.stop()
