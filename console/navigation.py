"""Console pages declare themselves; the router lists the ones the signed-in role may open.

Each file of console/app_pages/ starts with

    PAGE = PageSpec("console.page_audit", ":material/receipt_long:", roles=("auditor", "security_officer"), order=80)

with literal arguments (or `roles=EVERY_ROLE`). A page file is a Streamlit script: importing
it would run it. So the router reads the declaration from the file's source (checked here)
and never executes a page to find out what it is; a new page is one new file. admin sees
every page.

Nothing here touches Streamlit or the disk at import time.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from console.accounts import ROLES
from providers.errors import ConfigError

__all__ = ["EVERY_ROLE", "PAGES_DIR", "Page", "PageSpec", "discover", "pages_for"]

PAGES_DIR = Path(__file__).resolve().with_name("app_pages")
# Every role but admin, who sees every page anyway.
EVERY_ROLE: tuple[str, ...] = tuple(r for r in ROLES if r != "admin")
ADMIN = "admin"


@dataclass(frozen=True)
class PageSpec:
    """What the router needs to list a page: its title (an i18n key), its icon, the roles that
    may open it, and its place in the sidebar (lower first)."""

    title_key: str
    icon: str
    roles: tuple[str, ...]
    order: int

    def allows(self, role: str | None) -> bool:
        return role == ADMIN or (role is not None and role in self.roles)


@dataclass(frozen=True)
class Page:
    """A discovered page: its file and its declaration."""

    path: Path
    spec: PageSpec

    @property
    def url_path(self) -> str:
        return self.path.stem


def _declaration(path: Path) -> PageSpec:
    """The `PAGE = PageSpec(...)` of one page file, read without running the page."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and [_name(t) for t in node.targets] == ["PAGE"]):
            continue
        call = node.value
        if not (isinstance(call, ast.Call) and _name(call.func) == "PageSpec"):
            break
        try:
            args = [_value(a) for a in call.args]
            kwargs = {str(k.arg): _value(k.value) for k in call.keywords}
            spec = PageSpec(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path.name}: PAGE = PageSpec(...) needs literal arguments ({exc})") from None
        return _checked(path, spec)
    raise ConfigError(f"{path.name}: a console page declares PAGE = PageSpec(title_key, icon, roles, order)")


def _checked(path: Path, spec: PageSpec) -> PageSpec:
    roles = tuple(spec.roles) if isinstance(spec.roles, list | tuple) else ()
    if not (isinstance(spec.title_key, str) and isinstance(spec.icon, str) and isinstance(spec.order, int)):
        raise ConfigError(f"{path.name}: PAGE = PageSpec(title_key: str, icon: str, roles: tuple, order: int)")
    if not roles or not all(isinstance(r, str) for r in roles):
        raise ConfigError(f"{path.name}: PAGE roles must list at least one role name")
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ConfigError(f"{path.name}: PAGE names unknown roles {', '.join(unknown)}")
    return PageSpec(spec.title_key, spec.icon, roles, spec.order)


def _value(node: ast.expr) -> Any:
    """A literal, or the one named constant pages may use for their roles."""
    if isinstance(node, ast.Name) and node.id == "EVERY_ROLE":
        return EVERY_ROLE
    return ast.literal_eval(node)


def _name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


@cache
def discover(directory: Path = PAGES_DIR) -> tuple[Page, ...]:
    """Every page of the directory in sidebar order (files starting with `_` are not pages)."""
    found = [Page(p, _declaration(p)) for p in sorted(directory.glob("*.py")) if not p.name.startswith("_")]
    return tuple(sorted(found, key=lambda page: (page.spec.order, page.path.name)))


def pages_for(role: str | None, pages: Sequence[Page] | None = None) -> list[Page]:
    """The pages this role may open, in sidebar order."""
    return [p for p in (discover() if pages is None else pages) if p.spec.allows(role)]
