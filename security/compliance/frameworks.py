"""Frameworks as data: requirements, their strength per level (应/宜/可), and the checks that
decide them; a requirement no inventory data decides is MANUAL.

The frameworks are the only place that maps checks to clauses: reports, evidence subjects,
the console and `comply checks` read the mapping from here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from providers.errors import ConfigError

FRAMEWORKS_DIR = Path(__file__).with_name("frameworks")
PRIMARY = "gbt39786-2021"
STRENGTHS = ("应", "宜", "可")
STRENGTH_EN = {"应": "shall", "宜": "should", "可": "may"}


@dataclass(frozen=True)
class Requirement:
    framework: str
    section_id: str
    section_title: dict[str, str]
    id: str
    title: dict[str, str]
    strength: dict[int, str | None]
    checks: tuple[str, ...]

    @property
    def manual(self) -> bool:
        return not self.checks

    @property
    def subject(self) -> str:
        """The name evidence is attached under."""
        return f"{self.framework}:{self.id}"

    def applies(self, level: int) -> bool:
        return self.strength.get(level) is not None


@dataclass(frozen=True)
class Framework:
    id: str
    title: dict[str, str]
    note: dict[str, str]
    requirements: tuple[Requirement, ...]

    def at_level(self, level: int) -> Iterator[Requirement]:
        return (r for r in self.requirements if r.applies(level))

    def sections(self) -> list[tuple[str, dict[str, str]]]:
        seen: dict[str, dict[str, str]] = {}
        for r in self.requirements:
            seen.setdefault(r.section_id, r.section_title)
        return list(seen.items())


def _parse(data: dict[str, Any], origin: str) -> Framework:
    reqs: list[Requirement] = []
    for section in data.get("sections", []):
        for raw in section.get("requirements", []):
            strength = {int(k): v for k, v in raw["strength"].items()}
            bad = [v for v in strength.values() if v is not None and v not in STRENGTHS]
            if bad:
                raise ConfigError(f"{origin}: {raw['id']}: strength must be 应, 宜, 可 or null")
            checks = tuple(raw.get("checks", ()))
            if not checks and not raw.get("manual"):
                raise ConfigError(f"{origin}: {raw['id']} maps to no check and is not marked manual")
            reqs.append(
                Requirement(
                    framework=data["id"],
                    section_id=section["id"],
                    section_title=section["title"],
                    id=raw["id"],
                    title=raw["title"],
                    strength=strength,
                    checks=checks,
                )
            )
    return Framework(id=data["id"], title=data["title"], note=data.get("note", {}), requirements=tuple(reqs))


@cache
def load_frameworks() -> dict[str, Framework]:
    out: dict[str, Framework] = {}
    for path in sorted(FRAMEWORKS_DIR.glob("*.json")):
        fw = _parse(json.loads(path.read_text(encoding="utf-8")), path.name)
        out[fw.id] = fw
    return out


def unknown_checks(known: set[str]) -> list[str]:
    """`framework:requirement -> check` for every mapping that names a missing check."""
    return [
        f"{fw.id}:{req.id} -> {check}"
        for fw in load_frameworks().values()
        for req in fw.requirements
        for check in req.checks
        if check not in known
    ]


def unmapped_checks(known: set[str]) -> list[str]:
    """Checks no framework requirement names: they would run without deciding anything."""
    mapped = {check for fw in load_frameworks().values() for req in fw.requirements for check in req.checks}
    return sorted(known - mapped)


def clauses_of(check_id: str) -> list[str]:
    return [
        f"{fw.id}:{req.id}" for fw in load_frameworks().values() for req in fw.requirements if check_id in req.checks
    ]
