"""Who acts, and appending what they did to the tamper-evident audit log (security/audit.py).

On the command line the actor is the operating-system account, never a name the caller types:
not an option, and not $USER or $LOGNAME either (getpass reads those first, and anyone sets
them). The kernel's audit login uid names the person who logged in, and survives `su` and
`sudo`; when it is unset (services, containers) the real uid names the account.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Any

from inventory.config import GanyunConfig

CLI_PREFIX = "cli:"
_LOGINUID = Path("/proc/self/loginuid")
_UNSET_LOGINUID = 4294967295


def _account(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def login_uid() -> int | None:
    """The audit login uid, or None where the kernel does not track one."""
    try:
        value = int(_LOGINUID.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    return None if value == _UNSET_LOGINUID else value


def current_actor() -> str:
    """`cli:<account>`: the person who logged in, else the account this process runs as."""
    uid = login_uid()
    return CLI_PREFIX + _account(os.getuid() if uid is None else uid)


def record_action(config: GanyunConfig, action: str, details: dict[str, Any], actor: str | None = None) -> None:
    """Append one action; the console passes its signed-in user, the CLI leaves `actor` unset."""
    from security import audit

    if actor is None:
        actor = current_actor()
        runs_as = _account(os.getuid())
        if actor != CLI_PREFIX + runs_as:
            details = {**details, "os_account": runs_as}
    audit.append_action(config, actor, action, details)
