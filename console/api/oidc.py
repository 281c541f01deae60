"""OIDC access tokens as API credentials, when `console.oidc` is configured.

The token must be a JWT signed by a key of the identity platform's JWKS (found through its
discovery document), issued by its issuer, unexpired, and meant for ganyun: its `aud` holds
`console.oidc.api_audience` (default: the client id) or its `azp` is the client id. Role and
scope come from the same claims, mapped the same way, as a console sign-in
(console.auth.oidc_role and oidc_scope), and the account row follows them
(accounts.sync_oidc): an administrator's `users disable` stays in force.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from console import accounts, auth
from console.accounts import Account
from inventory.store import Store
from providers.errors import GanyunError

# Keys are fetched again after this long, or at once when a token names a key not yet known.
_KEYS_TTL_S = 3600.0
_REFETCH_MIN_S = 30.0
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
_TIMEOUT_S = 5.0


class OidcVerifier:
    def __init__(self, store: Store, oidc: dict[str, Any]) -> None:
        self.store = store
        self.oidc = oidc
        self.client_id = str(oidc["client_id"])
        self.audience = str(oidc.get("api_audience") or self.client_id)
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._issuer = ""
        self._fetched = 0.0

    def _refresh(self, force: bool) -> tuple[KeySet, str]:
        with self._lock:
            age = time.monotonic() - self._fetched
            if self._keys is None or age > _KEYS_TTL_S or (force and age > _REFETCH_MIN_S):
                metadata = requests.get(str(self.oidc["server_metadata_url"]), timeout=_TIMEOUT_S).json()
                jwks = requests.get(str(metadata["jwks_uri"]), timeout=_TIMEOUT_S).json()
                self._keys = KeySet.import_key_set(jwks)
                self._issuer = str(metadata["issuer"])
                self._fetched = time.monotonic()
            return self._keys, self._issuer

    def _claims(self, token: str) -> dict[str, Any] | None:
        try:
            keys, issuer = self._refresh(force=False)
            try:
                decoded = jwt.decode(token, keys, algorithms=_ALGORITHMS)
            except JoseError:
                keys, issuer = self._refresh(force=True)  # the platform may have rotated its keys
                decoded = jwt.decode(token, keys, algorithms=_ALGORITHMS)
            jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer}, exp={"essential": True}).validate(
                decoded.claims
            )
        except (JoseError, ValueError, KeyError, TypeError, requests.RequestException):
            return None
        claims = dict(decoded.claims)
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if self.audience not in audiences and claims.get("azp") != self.client_id:
            return None
        return claims

    def account(self, token: str) -> Account | None:
        """The account of a valid access token whose claims map to a role; None otherwise."""
        claims = self._claims(token)
        if claims is None:
            return None
        name = str(claims.get("preferred_username") or claims.get("email") or claims.get("sub") or "")
        role = auth.oidc_role(claims, self.oidc)
        if not name or role is None:
            return None
        try:
            account = accounts.sync_oidc(self.store, name, str(claims.get("name") or name), role,
                                         auth.oidc_scope(claims, self.oidc))  # fmt: skip
        except GanyunError:
            return None
        return account if account.active else None
