"""Who may see what: an account sees the whole city or a list of departments (单位).

Counties and districts are departments too (定南县). An account with neither sees nothing:
there is no silent default to the whole city. This module only describes a scope; the
service layer that pages, exports and the API call is where it is applied.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from providers.errors import ConfigError

MAX_DEPARTMENT_LENGTH = 128


@dataclass(frozen=True)
class Scope:
    city: bool = False
    departments: tuple[str, ...] = ()

    @classmethod
    def city_wide(cls) -> Scope:
        return cls(city=True)

    @classmethod
    def of(cls, departments: Iterable[str]) -> Scope:
        """Departments, cleaned, deduplicated and sorted; ConfigError for an empty or bad name."""
        names = sorted({department_name(d) for d in departments})
        if not names:
            raise ConfigError("a scope needs the whole city or at least one department")
        return cls(city=False, departments=tuple(names))

    @property
    def empty(self) -> bool:
        return not self.city and not self.departments

    def to_dict(self) -> dict[str, Any]:
        return {"city": self.city, "departments": list(self.departments)}


def department_name(value: str) -> str:
    """A department as typed by an administrator or sent in an identity claim: trimmed, no
    control characters (they would forge lines in tables and logs), bounded length."""
    name = unicodedata.normalize("NFC", str(value)).strip()
    if not name:
        raise ConfigError("department name must not be empty")
    if len(name) > MAX_DEPARTMENT_LENGTH:
        raise ConfigError(f"department name longer than {MAX_DEPARTMENT_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ConfigError(f"department name {name!r} contains control characters")
    return name
