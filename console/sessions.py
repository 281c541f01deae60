"""Console sessions: idle and absolute expiry, and the account re-read on every run.

The session dict in Streamlit's session state is only a claim of who signed in and when. Each
run checks it against the clock and against the accounts table: a session past its idle or
absolute limit ends, and a disabled account, a reset password (the epoch moves on) or a
removed account ends it too. Role, scope and display name always come from the database (for
OIDC accounts, from the current token's claims), so a demotion takes effect on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console import accounts
from console.accounts import Identity
from console.settings import ConsoleSettings
from inventory.store import Store

IDLE = "idle"
EXPIRED = "expired"
REVOKED = "revoked"


@dataclass(frozen=True)
class Checked:
    user: dict[str, Any] | None
    ended: str = ""  # IDLE, EXPIRED or REVOKED when user is None


def start(identity: Identity, now: datetime) -> dict[str, Any]:
    return {**identity.as_session(), "login_at": now.isoformat(), "seen_at": now.isoformat()}


def _time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def check(
    store: Store,
    user: dict[str, Any],
    now: datetime,
    settings: ConsoleSettings,
    oidc_identity: Identity | None = None,
) -> Checked:
    """The session as it stands now, or why it ended. `oidc_identity` is what the current OIDC
    token says (role and scope from its claims); None when there is no valid token."""
    login_at, seen_at = _time(user.get("login_at")), _time(user.get("seen_at"))
    if login_at is None or seen_at is None or now - login_at >= settings.max_age:
        return Checked(None, EXPIRED)
    if now - seen_at >= settings.idle_timeout:
        return Checked(None, IDLE)
    account = accounts.get_account(store, str(user.get("name", "")))
    if account is None or not account.active or account.source != user.get("source"):
        return Checked(None, REVOKED)
    if account.source == "oidc":
        if oidc_identity is None or oidc_identity.name != account.name:
            return Checked(None, REVOKED)
        if (oidc_identity.role, oidc_identity.scope, oidc_identity.display_name) != (
            account.role,
            account.scope,
            account.display_name,
        ):
            account = accounts.sync_oidc(
                store, account.name, oidc_identity.display_name, oidc_identity.role, oidc_identity.scope
            )
    elif account.epoch != user.get("epoch"):
        return Checked(None, REVOKED)
    return Checked({**account.identity().as_session(), "login_at": login_at.isoformat(), "seen_at": now.isoformat()})
