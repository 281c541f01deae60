"""What the console's AppTests share: where the app and its pages are, a logged-in session, finders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console import clock, sessions
from console.accounts import Identity
from inventory.scope import Scope
from tests.fakes.estates.city import Estate

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "console" / "app_pages"
APP = ROOT / "console" / "app.py"
# The scope a city-wide account's session carries (console.accounts.Identity.as_session).
CITY = {"city": True, "departments": []}


def session_for(at: Any, estate: Estate, role: str | None) -> None:
    """What the router leaves in session state after a login."""
    at.session_state["ganyun_config"] = estate.config
    if role is not None:
        at.session_state["user"] = sessions.start(Identity(role, role, role, "local", Scope.city_wide()), clock.now())


def texts(at: Any, kind: str = "markdown") -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def audit_entries(estate: Estate, action: str) -> list[dict[str, Any]]:
    from security import audit

    _, rows = audit.search(estate.store, action=action, limit=1000)
    return rows


def button(at: Any, label: str) -> Any:
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r} in {[b.label for b in at.button]}"
    return matches[0]
