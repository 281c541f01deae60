"""Who calls: `Authorization: Bearer` with an API token (console/api/tokens.py) or, when OIDC
is configured, an OIDC access token (oidc.py). Failed attempts are throttled exactly like
console sign-ins (console.throttle, the same table and settings), per client address and per
token id; a throttled caller gets 429 without its credential being looked at.
"""

from __future__ import annotations

import math

from console import clock, throttle
from console.account_models import LoginThrottle
from console.api import tokens
from console.api.oidc import OidcVerifier
from console.api.problems import Problem
from console.auth import oidc_settings
from console.services.viewer import Viewer
from console.settings import console_settings
from inventory.config import GanyunConfig
from inventory.store import Store

_CHALLENGE = 'Bearer realm="ganyun"'


class Authenticator:
    def __init__(self, store: Store, config: GanyunConfig) -> None:
        self.store = store
        self.settings = console_settings(config).login_throttle
        oidc = oidc_settings(config)
        self.oidc = OidcVerifier(store, oidc) if oidc is not None else None

    @staticmethod
    def _subject(credential: str) -> str:
        """What the per-account throttle key names: the token id (the part before the secret),
        or, for anything else, one key for every other credential."""
        if credential.startswith(tokens.PREFIX):
            return credential.rsplit("_", 1)[0][:64]
        return "oidc"

    def viewer(self, authorization: str | None, address: str | None) -> Viewer:
        scheme, _, credential = (authorization or "").partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Problem(401, "an 'Authorization: Bearer <token>' header is required",
                          {"WWW-Authenticate": _CHALLENGE})  # fmt: skip
        keys = throttle.keys_for(self._subject(credential), address, self.settings)
        now = clock.now()
        wait = throttle.wait_seconds(self.store, keys, now)
        if wait > 0:
            raise Problem(429, "too many failed attempts; retry later", {"Retry-After": str(math.ceil(wait))})
        if credential.startswith(tokens.PREFIX):
            account = tokens.resolve(self.store, credential)
        else:
            account = self.oidc.account(credential) if self.oidc is not None else None
        if account is None:
            throttle.record_failure(self.store, keys, now, self.settings)
            raise Problem(401, "the token is unknown, expired or revoked",
                          {"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'})  # fmt: skip
        if self._has_failures(keys):
            throttle.record_success(self.store, keys)
        return Viewer(account.name, account.role, account.scope)

    def _has_failures(self, keys: list[throttle.ThrottleKey]) -> bool:
        """Clearing the account key is a write: done only when a failure is on record."""
        with self.store.session() as session:
            return any(session.get(LoginThrottle, k.key) is not None for k in keys if k.is_account)
