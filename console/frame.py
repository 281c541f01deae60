"""What every Streamlit page shares: config, store, the signed-in user, roles, i18n, actions.

Pages are thin: they read through the service layer (console/services/, which applies the
signed-in account's scope) and never query the database or call adapters themselves. No I/O
at import time.

Roles are enforced here, on the server: `require_role` stops the script run before an action
whatever the browser sent, and `run_action` checks the role again, records the action in the
audit log with the user as actor, and shows the outcome.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import streamlit as st

from console import jobs
from console.actions import record_action
from console.i18n import t as _t
from console.services import inventory as services_inventory
from console.services.viewer import Viewer
from inventory.config import GanyunConfig, load_config
from inventory.store import Store, open_store
from providers.errors import GanyunError
from providers.masking import shorten

PAGE_SIZES = (25, 50, 100, 200)
CACHE_TTL_S = 60
JOB_REFRESH_S = 2.0

_log = logging.getLogger(__name__)
T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def store_for(url: str) -> Store:
    """The store of a database URL: one engine per URL for the whole server (engines are
    thread-safe); cached reads take the URL as part of their key."""
    return open_store(url)


def get_config() -> GanyunConfig:
    if "ganyun_config" not in st.session_state:
        st.session_state["ganyun_config"] = load_config()
    config: GanyunConfig = st.session_state["ganyun_config"]
    return config


def get_store() -> Store:
    return store_for(get_config().database_url)


def lang() -> str:
    return str(st.session_state.get("lang", "zh-CN"))


def t(key: str, **params: Any) -> str:
    return _t(key, lang(), **params)


def current_user() -> dict[str, Any] | None:
    user = st.session_state.get("user")
    return user if isinstance(user, dict) else None


def viewer() -> Viewer:
    """The signed-in account as the service layer takes it (role and scope re-read from the
    accounts table on every run); nobody signed in sees nothing."""
    return Viewer.from_session(current_user() or {})


def client_address() -> str | None:
    """The TCP peer of this browser session (None on loopback); login throttling keys on it."""
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def actor() -> str:
    user = current_user()
    return f"console:{user['name']}" if user else "console:anonymous"


def has_role(*roles: str) -> bool:
    """admin holds every role; the auditor is read-only and is never granted an action."""
    user = current_user()
    if user is None:
        return False
    return user.get("role") == "admin" or user.get("role") in roles


def require_role(*roles: str) -> None:
    """Server-side guard for an action: stops the script run unless the user holds a role."""
    if not has_role(*roles):
        user = current_user() or {}
        record(get_config(), "console.denied", {"roles": list(roles), "role": user.get("role", "")})
        st.error(t("console.forbidden"))
        st.stop()


def record(config: GanyunConfig, action: str, details: dict[str, Any]) -> None:
    try:
        record_action(config, action, details, actor=actor())
    except Exception:
        _log.exception("audit log append failed for %s", action)
        st.warning(t("console.audit_failed"))


def run_action(action: str, roles: Sequence[str], details: dict[str, Any], handler: Callable[[], T]) -> T | None:
    """Check the role, run the handler, record the action (allowed or refused) in the audit log.

    Returns the handler's result, or None when refused or failed (the error is shown).
    """
    config = get_config()
    if not has_role(*roles):
        user = current_user() or {}
        record(config, "console.denied", {"action": action, "role": user.get("role", "")})
        st.error(t("console.forbidden"))
        return None
    try:
        result = handler()
    except GanyunError as exc:
        record(config, action, {**details, "ok": False, "error": str(exc)})
        st.error(t("console.action_failed", error=str(exc)))
        return None
    record(config, action, {**details, "ok": True})
    return result


def sync_marker(store: Store) -> tuple[int, str]:
    """Latest sync run id and finish time: part of every cached aggregate's key, so a new sync
    invalidates the cache before its TTL runs out."""
    return services_inventory.sync_marker(store)


def guarded(label: str, fn: Callable[[], T]) -> T | None:
    """Call another area's service function; a missing area or empty table never breaks a page."""
    try:
        return fn()
    except ImportError:
        st.info(t("console.area_missing", area=label))
    except Exception as exc:
        _log.exception("%s failed", label)
        st.warning(t("console.area_failed", area=label, error=shorten(str(exc), 200)))
    return None


def page_window(total: int, key: str) -> tuple[int, int]:
    """Page size and number controls; returns (offset, limit) for a query done in the database."""
    left, right, info = st.columns([1, 1, 2])
    size = int(left.selectbox(t("console.page_size"), PAGE_SIZES, key=f"{key}_size"))
    pages = max(1, math.ceil(total / size))
    page = int(right.number_input(t("console.page"), min_value=1, max_value=pages, value=1, step=1, key=f"{key}_page"))
    page = min(max(page, 1), pages)
    info.caption(t("console.page_info", page=page, pages=pages, total=total))
    return (page - 1) * size, size


def paginate(rows: Sequence[T], key: str) -> Sequence[T]:
    """One page of rows already in memory (small lists: drills, certificates of a page)."""
    offset, limit = page_window(len(rows), key)
    return rows[offset : offset + limit]


def show_job(key: str, output_label: str) -> None:
    """How the background command a page started under session key `key` stands: running,
    done, or failed with the CLI's one-line error; its output below. While it runs, the block
    refreshes itself so that the end shows without a click."""
    job = st.session_state.get(key)
    if not isinstance(job, jobs.Job):
        return

    def render() -> None:
        result = jobs.outcome(job)
        if result.running:
            st.info(t("console.job_running", label=job.label))
        elif result.failed:
            st.error(t("console.job_failed", label=job.label, code=result.code, error=result.error or "-"))
        else:
            st.success(t("console.job_done", label=job.label))
        if job.log.exists():
            with st.expander(output_label, expanded=result.failed):
                st.code(job.log.read_text(encoding="utf-8", errors="replace")[-4000:] or "…")

    if jobs.outcome(job).running:
        st.fragment(render, run_every=JOB_REFRESH_S)()
    else:
        render()
