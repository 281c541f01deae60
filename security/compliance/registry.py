"""Discover the checks: checks/<id>/<id>.py (an `execute(ctx)` generator) beside
checks/<id>/<id>.metadata.json. Metadata is validated so a broken check fails loudly.

Metadata says what a check is (title, severity, level, risk, remediation); which clauses it
decides is said only by the frameworks (frameworks/*.json, security/compliance/frameworks.py),
so metadata naming frameworks or clauses is refused rather than left to drift."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from providers.errors import ConfigError
from security.compliance.facts import AuditContext
from security.compliance.types import SEVERITIES, Result

CHECKS_DIR = Path(__file__).with_name("checks")
_REQUIRED = ("id", "title", "severity", "min_level", "resource_type", "risk", "remediation")


@dataclass(frozen=True)
class CheckMeta:
    id: str
    title: dict[str, str]
    severity: str
    min_level: int
    resource_type: str
    risk: dict[str, str]
    remediation: dict[str, str]

    def text(self, field: str, lang: str) -> str:
        values: dict[str, str] = getattr(self, field)
        return values["en" if lang.startswith("en") else "zh"]


@dataclass(frozen=True)
class Check:
    meta: CheckMeta
    execute: Callable[[AuditContext], Iterable[Result]]


def load_meta(path: Path) -> CheckMeta:
    """A check's metadata file, validated: every field present, a known severity, zh and en texts."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ConfigError(f"{path.name}: missing {', '.join(missing)}")
    extra = sorted(set(data) - set(_REQUIRED))
    if extra:
        hint = " (clauses are mapped in frameworks/*.json only)" if {"frameworks", "clauses"} & set(extra) else ""
        raise ConfigError(f"{path.name}: unknown field {', '.join(extra)}{hint}")
    if data["severity"] not in SEVERITIES:
        raise ConfigError(f"{path.name}: severity must be one of {', '.join(SEVERITIES)}")
    for field in ("title", "risk", "remediation"):
        if set(data[field]) != {"zh", "en"}:
            raise ConfigError(f"{path.name}: {field} needs zh and en")
    return CheckMeta(**{k: data[k] for k in _REQUIRED})


@cache
def load_checks() -> dict[str, Check]:
    checks: dict[str, Check] = {}
    for folder in sorted(p for p in CHECKS_DIR.iterdir() if p.is_dir() and not p.name.startswith("_")):
        name = folder.name
        meta_path = folder / f"{name}.metadata.json"
        if not (folder / f"{name}.py").exists() or not meta_path.exists():
            raise ConfigError(f"check folder {name} needs {name}.py and {name}.metadata.json")
        meta = load_meta(meta_path)
        if meta.id != name:
            raise ConfigError(f"{meta_path.name}: id '{meta.id}' differs from its folder")
        module = importlib.import_module(f"security.compliance.checks.{name}.{name}")
        checks[name] = Check(meta=meta, execute=module.execute)
    return checks
