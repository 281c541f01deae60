"""Who is reading: the account behind every call of the service layer.

A Viewer carries the account's name, role and scope (inventory.scope.Scope). The console builds
it from its session (re-read from the accounts table on every run), the CLI runs as a
city-wide operator (the OS user), and the REST API from its token's account. The services
turn the scope into SQL (ownership.py); nothing else filters by department.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inventory.scope import Scope
from providers.errors import GanyunError


class CityWideOnly(GanyunError):
    """A scoped account asked for something only city-wide accounts may read (the audit log)."""

    exit_code = 1


@dataclass(frozen=True)
class Viewer:
    name: str
    role: str
    scope: Scope

    @classmethod
    def from_session(cls, user: Mapping[str, Any]) -> Viewer:
        """The console session's account; a session without a readable scope sees nothing."""
        raw = user.get("scope")
        scope = Scope()
        if isinstance(raw, Mapping):
            if raw.get("city") is True:
                scope = Scope.city_wide()
            elif isinstance(raw.get("departments"), list | tuple) and raw["departments"]:
                scope = Scope.of(str(d) for d in raw["departments"])
        return cls(str(user.get("name", "")), str(user.get("role", "")), scope)

    @classmethod
    def operator(cls) -> Viewer:
        """The CLI: the OS user (as the audit log names it), a city-wide operator."""
        from console.actions import current_actor

        return cls(current_actor(), "operator", Scope.city_wide())

    @property
    def city_wide(self) -> bool:
        return self.scope.city

    @property
    def departments(self) -> tuple[str, ...] | None:
        """None for a city-wide viewer; otherwise its departments (empty: it sees nothing)."""
        return None if self.scope.city else self.scope.departments

    def require_city_wide(self, what: str) -> None:
        if not self.scope.city:
            raise CityWideOnly(f"{what} is open to city-wide accounts only")
