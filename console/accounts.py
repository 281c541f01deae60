"""Console accounts as a service: create, change role or scope, disable, reset, list.

`ganyun users ...` and the lab's account creation call these functions; the console only
reads accounts (console.auth signs in, console.sessions re-checks every run). Nothing here
imports Streamlit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from console import clock
from console.account_models import User
from console.passwords import check_strength, hash_password
from inventory.scope import Scope
from inventory.store import Store
from providers.errors import ConfigError

ROLES = ("operator", "security_officer", "planner", "auditor", "admin")
# Letters of any script (CJK names), digits and . _ - @: names appear in tables and the audit log.
_NAME = re.compile(r"^[\w.@-]{1,128}$")


@dataclass(frozen=True)
class Identity:
    """The signed-in user as the console keeps it in session state."""

    name: str
    role: str
    display_name: str = ""
    source: str = "local"
    scope: Scope = field(default_factory=Scope)
    epoch: int = 0

    def as_session(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "display_name": self.display_name or self.name,
            "source": self.source,
            "scope": self.scope.to_dict(),
            "epoch": self.epoch,
        }


@dataclass(frozen=True)
class Account:
    name: str
    display_name: str
    role: str
    source: str
    active: bool
    scope: Scope
    epoch: int
    created_at: datetime | None
    last_login: datetime | None

    def identity(self) -> Identity:
        return Identity(self.name, self.role, self.display_name, self.source, self.scope, self.epoch)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "role": self.role,
            "source": self.source,
            "active": self.active,
            "scope": self.scope.to_dict(),
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "last_login": self.last_login.isoformat() if self.last_login else None,
        }


def check_role(role: str) -> None:
    if role not in ROLES:
        raise ConfigError(f"unknown role '{role}' (one of {', '.join(ROLES)})")


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ConfigError(f"account name {name!r}: 1-128 letters, digits, '.', '_', '-' or '@'")


def _account(user: User) -> Account:
    scope = Scope(city=True) if user.city_wide else Scope(departments=tuple(user.departments or ()))
    return Account(
        name=user.username,
        display_name=user.display_name or user.username,
        role=user.role,
        source=user.source,
        active=user.active,
        scope=scope,
        epoch=user.session_epoch or 0,
        created_at=clock.aware(user.created_at),
        last_login=clock.aware(user.last_login),
    )


def _apply_scope(user: User, scope: Scope) -> None:
    if scope.empty:
        raise ConfigError("an account needs --city or at least one --scope DEPARTMENT")
    user.city_wide = scope.city
    user.departments = [] if scope.city else list(scope.departments)


def _local(session: Session, name: str) -> User:
    user = session.get(User, name)
    if user is None:
        raise ConfigError(f"no account named '{name}'")
    return user


def save_local(
    store: Store,
    name: str,
    role: str,
    scope: Scope,
    password: str,
    *,
    display_name: str = "",
    replace: bool = False,
) -> Account:
    """Create a local account; with `replace`, overwrite one of the same name (the lab re-run)."""
    check_name(name)
    check_role(role)
    check_strength(password)
    hashed = hash_password(password)
    with store.write_lock, store.session() as session:
        user = session.get(User, name)
        if user is not None and not replace:
            raise ConfigError(f"account '{name}' already exists (use set-role, set-scope or reset-password)")
        if user is None:
            user = User(username=name, created_at=clock.now(), session_epoch=0)
            session.add(user)
        else:
            user.session_epoch = (user.session_epoch or 0) + 1
        user.role = role
        user.display_name = display_name or name
        user.password_hash = hashed
        user.source = "local"
        user.active = True
        _apply_scope(user, scope)
        session.flush()
        return _account(user)


def set_role(store: Store, name: str, role: str) -> Account:
    check_role(role)
    with store.write_lock, store.session() as session:
        user = _local(session, name)
        if user.source != "local":
            raise ConfigError(f"account '{name}' takes its role from the identity platform")
        user.role = role
        return _account(user)


def set_scope(store: Store, name: str, scope: Scope) -> Account:
    with store.write_lock, store.session() as session:
        user = _local(session, name)
        if user.source != "local":
            raise ConfigError(f"account '{name}' takes its scope from the identity platform")
        _apply_scope(user, scope)
        return _account(user)


def set_active(store: Store, name: str, active: bool) -> Account:
    """Disable (every session of the account ends on its next run) or enable an account."""
    with store.write_lock, store.session() as session:
        user = _local(session, name)
        if user.active and not active:
            user.session_epoch = (user.session_epoch or 0) + 1
        user.active = active
        return _account(user)


def reset_password(store: Store, name: str, password: str) -> Account:
    """A new password; sessions signed in with the old one end on their next run."""
    check_strength(password)
    hashed = hash_password(password)
    with store.write_lock, store.session() as session:
        user = _local(session, name)
        if user.source != "local":
            raise ConfigError(f"account '{name}' signs in through the identity platform; it has no password")
        user.password_hash = hashed
        user.session_epoch = (user.session_epoch or 0) + 1
        return _account(user)


def get_account(store: Store, name: str) -> Account | None:
    with store.session() as session:
        user = session.get(User, name)
        return _account(user) if user is not None else None


def list_accounts(store: Store) -> list[Account]:
    with store.session() as session:
        return [_account(u) for u in session.scalars(select(User).order_by(User.username))]


def password_hash_of(store: Store, name: str) -> tuple[Account, str] | None:
    """The account and its stored hash, for console.auth only."""
    with store.session() as session:
        user = session.get(User, name)
        return (_account(user), user.password_hash) if user is not None else None


def record_login(store: Store, name: str, at: datetime) -> None:
    with store.write_lock, store.session() as session:
        user = session.get(User, name)
        if user is not None:
            user.last_login = at


def sync_oidc(store: Store, name: str, display_name: str, role: str, scope: Scope) -> Account:
    """The row of an OIDC account, created on first sign-in and kept in step with its claims.

    An administrator's `users disable` stays in force: the claims never re-enable an account.
    A local account of the same name is never taken over by the identity platform.
    """
    check_role(role)
    with store.write_lock, store.session() as session:
        user = session.get(User, name)
        if user is None:
            user = User(
                username=name, created_at=clock.now(), source="oidc", password_hash="", active=True, session_epoch=0
            )
            session.add(user)
        elif user.source != "oidc":
            raise ConfigError(f"account '{name}' is a local account; the identity platform cannot sign in as it")
        user.display_name = display_name or name
        user.role = role
        user.city_wide = scope.city
        user.departments = [] if scope.city else list(scope.departments)
        session.flush()
        return _account(user)
