"""API tokens as a service: create (the token is returned once), list, revoke, and resolve a
presented token to its account.

A token is `gyn_<id>_<secret>`; the database keeps its SHA-256 only. The secret has 256 bits,
so a plain hash (no salt, no stretching) is enough: nobody can guess a preimage, and a stolen
copy of the table signs nobody in. The account behind a token is read again on every call, so
a disabled account, a changed role or a changed scope take effect on the next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from console import accounts, clock
from console.accounts import Account
from console.api.token_models import ApiToken
from inventory.store import Store
from providers.errors import ConfigError

PREFIX = "gyn_"
MAX_DAYS = 3650
DEFAULT_DAYS = 90
# last_used is written at most this often per token: a busy client must not turn reads into writes.
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"

    def to_dict(self, now: datetime) -> dict[str, object]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat(timespec="seconds") if value else None

        return {"id": self.id, "user": self.user, "state": self.state(now), "created_at": iso(self.created_at),
                "expires_at": iso(self.expires_at), "revoked_at": iso(self.revoked_at),
                "last_used": iso(self.last_used)}  # fmt: skip


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _info(row: ApiToken) -> TokenInfo:
    created, expires = clock.aware(row.created_at), clock.aware(row.expires_at)
    assert created is not None and expires is not None
    return TokenInfo(row.id, row.username, created, expires, clock.aware(row.revoked_at), clock.aware(row.last_used))


def create(store: Store, user: str, days: int = DEFAULT_DAYS) -> tuple[TokenInfo, str]:
    """A new token for an active account: (its record, the token itself, to be shown once)."""
    if not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"--expires-days: between 1 and {MAX_DAYS}")
    account = accounts.get_account(store, user)
    if account is None:
        raise ConfigError(f"no account named '{user}'")
    if not account.active:
        raise ConfigError(f"account '{user}' is disabled")
    token_id = secrets.token_hex(8)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    now = clock.now()
    row = ApiToken(id=token_id, token_hash=digest(token), username=user, created_at=now,
                   expires_at=now + timedelta(days=days))  # fmt: skip
    with store.write_lock, store.session() as session:
        session.add(row)
        session.flush()
        return _info(row), token


def list_tokens(store: Store, user: str | None = None) -> list[TokenInfo]:
    stmt = select(ApiToken).order_by(ApiToken.username, ApiToken.created_at)
    if user:
        stmt = stmt.where(ApiToken.username == user)
    with store.session() as session:
        return [_info(r) for r in session.scalars(stmt)]


def revoke(store: Store, token_id: str) -> TokenInfo:
    """Revoke a token by its id (the part after `gyn_`); revoking twice keeps the first time."""
    with store.write_lock, store.session() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise ConfigError(f"no API token with id '{token_id}'")
        if row.revoked_at is None:
            row.revoked_at = clock.now()
        return _info(row)


def resolve(store: Store, token: str) -> Account | None:
    """The active account of a valid, unexpired, unrevoked token; None for anything else."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    now = clock.now()
    with store.session() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest(token))).first()
        if row is None:
            return None
        info = _info(row)
    # The hash matched, so the token is the one stored; compare anyway in constant time.
    if info.state(now) != "active" or not secrets.compare_digest(digest(token), row.token_hash):
        return None
    account = accounts.get_account(store, info.user)
    if account is None or not account.active:
        return None
    if info.last_used is None or now - info.last_used > _TOUCH_EVERY:
        _touch(store, info.id, now)
    return account


def _touch(store: Store, token_id: str, now: datetime) -> None:
    with store.write_lock, store.session() as session:
        row = session.get(ApiToken, token_id)
        if row is not None:
            row.last_used = now


__all__ = ["PREFIX", "TokenInfo", "create", "digest", "list_tokens", "resolve", "revoke"]
