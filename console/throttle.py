"""Growing delays after failed sign-ins, per client address and per account, in the database.

Every console process (and every server of a PostgreSQL deployment) reads and writes the same
rows, so restarting the console or spreading users over processes buys an attacker nothing.

After `free_failures` failures for a key, each further failure blocks that key for
base * 2**k seconds, capped. Attempts made while blocked are refused without looking at the
password and are not counted: hammering does not lengthen the delay, and nobody can lock an
account for longer than the account cap. Failures are forgotten after `forget_after_s`.
A success clears the account's counter, never the address's: an attacker with an account of
their own cannot reset their address by signing in to it between guesses.

Account keys are a hash of the name as typed, whether or not the account exists, so the
throttle behaves the same for unknown names and leaks nothing about which accounts exist.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from console.account_models import LoginThrottle
from console.clock import aware
from console.settings import ThrottleSettings
from inventory.store import Store

UNKNOWN_ADDRESS = "local"


@dataclass(frozen=True)
class ThrottleKey:
    key: str
    cap_s: float
    is_account: bool


def address_key(address: str | None) -> str:
    """IPv4 per address; IPv6 per /64, the block one subscriber usually holds."""
    if not address:
        return f"addr:{UNKNOWN_ADDRESS}"
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return "addr:" + hashlib.sha256(address.encode("utf-8", "replace")).hexdigest()[:40]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"addr:{ip}"


def account_key(username: str) -> str:
    return "user:" + hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()[:40]


def keys_for(username: str, address: str | None, settings: ThrottleSettings) -> list[ThrottleKey]:
    return [
        ThrottleKey(address_key(address), settings.address_cap_s, is_account=False),
        ThrottleKey(account_key(username), settings.account_cap_s, is_account=True),
    ]


def delay_after(failures: int, cap_s: float, settings: ThrottleSettings) -> float:
    """Seconds a key is blocked after its `failures`-th failure."""
    excess = failures - settings.free_failures
    if excess <= 0:
        return 0.0
    # min() before the power would overflow for very many failures.
    return min(settings.base_delay_s * 2.0 ** min(excess - 1, 40), cap_s)


def wait_seconds(store: Store, keys: Sequence[ThrottleKey], now: datetime) -> float:
    """How long until a sign-in with these keys is looked at; 0 when it may proceed."""
    wait = 0.0
    with store.session() as session:
        for k in keys:
            row = session.get(LoginThrottle, k.key)
            blocked = aware(row.blocked_until) if row is not None else None
            if blocked is not None and blocked > now:
                wait = max(wait, (blocked - now).total_seconds())
    return wait


def record_failure(store: Store, keys: Sequence[ThrottleKey], now: datetime, settings: ThrottleSettings) -> None:
    forget = timedelta(seconds=settings.forget_after_s)
    for attempt in range(2):
        try:
            with store.write_lock, store.session() as session:
                for k in keys:
                    row = session.get(LoginThrottle, k.key, with_for_update=True)
                    if row is None:
                        row = LoginThrottle(key=k.key, failures=0)
                        session.add(row)
                    last = aware(row.last_failure)
                    if last is None or now - last > forget:
                        row.failures = 0
                    row.failures += 1
                    row.last_failure = now
                    delay = delay_after(row.failures, k.cap_s, settings)
                    row.blocked_until = now + timedelta(seconds=delay) if delay else None
                _prune(session, now - forget)
            return
        except IntegrityError:
            # Another process inserted the same key first: count again on top of its row.
            if attempt:
                raise


def record_success(store: Store, keys: Sequence[ThrottleKey]) -> None:
    with store.write_lock, store.session() as session:
        for k in keys:
            if k.is_account:
                row = session.get(LoginThrottle, k.key)
                if row is not None:
                    session.delete(row)


def _prune(session: Session, before: datetime) -> None:
    session.execute(
        delete(LoginThrottle).where(
            and_(
                LoginThrottle.last_failure < before,
                or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < before),
            )
        )
    )
