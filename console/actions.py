"""Append user actions to the tamper-evident audit log (security/audit.py) when it exists."""

from __future__ import annotations

import getpass
from typing import Any

from inventory.config import GanyunConfig


def current_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def record_action(config: GanyunConfig, action: str, details: dict[str, Any], actor: str | None = None) -> None:
    try:
        from security import audit
    except ImportError:  # the audit log lands with the compliance area
        return
    appender = getattr(audit, "append_action", None)
    if appender is not None:
        appender(config, actor or current_actor(), action, details)
