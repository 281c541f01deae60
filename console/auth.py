"""Signing in to the console: local passwords with throttling, lab accounts, OIDC settings.

Nothing here imports Streamlit: the CLI (`ganyun lab up`, `ganyun console`) and tests use it
too. Every failure looks the same from outside: one message, whether the name is unknown, the
password wrong, the account disabled or the sign-in throttled, and unknown names cost the same
scrypt work as known ones. Roles and the active flag are re-read on every run by
console.sessions; this module only decides whether a sign-in succeeds.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from console import accounts, clock, throttle
from console.accounts import ROLES, Identity
from console.passwords import decoy_hash, generate_password, verify_password
from console.settings import ThrottleSettings
from inventory.config import GanyunConfig
from inventory.scope import Scope, department_name
from inventory.store import Store
from providers.errors import ConfigError, GanyunError

__all__ = ["ROLES", "Identity", "LoginError", "authenticate"]

ACCOUNTS_FILE = "accounts.txt"
SECRETS_DIR = ".ganyun-console"


class LoginError(GanyunError):
    """Sign-in refused. `reason` ("invalid" or "throttled") is for the audit log only: the user
    is shown the same text for every reason."""

    def __init__(self, reason: str) -> None:
        super().__init__("sign-in failed")
        self.reason = reason


def authenticate(
    store: Store, username: str, password: str, address: str | None, settings: ThrottleSettings
) -> Identity:
    """The identity for a good password from an address and account that are not throttled."""
    now = clock.now()
    keys = throttle.keys_for(username, address, settings)
    if throttle.wait_seconds(store, keys, now) > 0:
        raise LoginError("throttled")
    account, stored = accounts.password_hash_of(store, username) or (None, "")
    usable = account is not None and account.active and account.source == "local" and bool(stored)
    # Unknown, disabled and OIDC accounts are checked against a decoy of the same cost.
    matches = verify_password(password, stored if usable else decoy_hash())
    if account is None or not (usable and matches):
        throttle.record_failure(store, keys, now, settings)
        raise LoginError("invalid")
    throttle.record_success(store, keys)
    accounts.record_login(store, username, now)
    return account.identity()


def _write_private(path: Path, text: str) -> None:
    """Create the file 0600 from the start: the secret is never world-readable, not even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an existing file keeps its mode through O_CREAT
        handle.write(text)


def create_lab_accounts(lab_dir: str | os.PathLike[str], config: GanyunConfig) -> Path:
    """One city-wide account per role (username = role name), passwords in D/accounts.txt (0600)."""
    from inventory.store import open_store

    store = open_store(config.database_url)
    try:
        lines = ["# ganyun console accounts of this lab: username password role", ""]
        for role in ROLES:
            password = generate_password()
            accounts.save_local(store, role, role, Scope.city_wide(), password, display_name=role, replace=True)
            lines.append(f"{role} {password} {role}")
    finally:
        store.dispose()
    path = Path(lab_dir) / ACCOUNTS_FILE
    _write_private(path, "\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------- OIDC


def oidc_settings(config: GanyunConfig) -> dict[str, Any] | None:
    """`console.oidc` validated: None when OIDC is not configured.

    console:
      oidc:
        server_metadata_url: https://idp.example/.well-known/openid-configuration
        client_id: ganyun
        client_secret: env:GANYUN_OIDC_SECRET     # a reference, never inline
        redirect_uri: http://127.0.0.1:8501/oauth2callback
        role_claim: roles                          # claim holding the user's roles
        role_map: {yunwei: operator, mima: security_officer}
        scope_claim: ganyun_scope                  # claim holding departments (string or list)
        city_scope_value: city                     # the value in that claim meaning the whole city
    """
    oidc = config.console.get("oidc")
    if not oidc:
        return None
    if not isinstance(oidc, dict):
        raise ConfigError("console.oidc: must be a mapping")
    for key in ("server_metadata_url", "client_id", "client_secret", "redirect_uri"):
        if not str(oidc.get(key, "")).strip():
            raise ConfigError(f"console.oidc.{key}: required")
    secret_ref = str(oidc["client_secret"])
    if not secret_ref.startswith("env:"):
        raise ConfigError("console.oidc.client_secret: must be 'env:NAME'; secrets are never written inline")
    if not str(oidc["redirect_uri"]).endswith("/oauth2callback"):
        raise ConfigError("console.oidc.redirect_uri: must end with /oauth2callback")
    role_map = oidc.get("role_map", {})
    if not isinstance(role_map, dict):
        raise ConfigError("console.oidc.role_map: must be a mapping of claim value to role")
    for value, role in role_map.items():
        if role not in ROLES:
            raise ConfigError(f"console.oidc.role_map.{value}: unknown role '{role}'")
    for key in ("role_claim", "scope_claim", "city_scope_value"):
        if key in oidc and not (isinstance(oidc[key], str) and oidc[key].strip()):
            raise ConfigError(f"console.oidc.{key}: must be a non-empty string")
    return dict(oidc)


def oidc_role(claims: dict[str, Any], oidc: dict[str, Any]) -> str | None:
    """The highest-privilege mapped role found in the user's claims; None means no access."""
    raw = claims.get(str(oidc.get("role_claim", "roles")))
    values = [raw] if isinstance(raw, str) else list(raw or [])
    role_map: dict[str, str] = oidc.get("role_map", {})
    roles = {role_map[str(v)] for v in values if str(v) in role_map}
    # Order of precedence: admin first, auditor (read-only) last.
    for role in ("admin", "security_officer", "operator", "planner", "auditor"):
        if role in roles:
            return role
    return None


def oidc_scope(claims: dict[str, Any], oidc: dict[str, Any]) -> Scope:
    """The account's scope from its scope claim: the city value, or department names.

    A missing claim or one without usable names gives the empty scope (sees nothing).
    """
    raw = claims.get(str(oidc.get("scope_claim", "ganyun_scope")))
    values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    city_value = str(oidc.get("city_scope_value", "city"))
    if any(isinstance(v, str) and v.strip() == city_value for v in values):
        return Scope.city_wide()
    names: set[str] = set()
    for value in values:
        if not isinstance(value, str):
            continue
        try:
            names.add(department_name(value))
        except ConfigError:
            continue  # a malformed name in a token grants nothing
    return Scope(departments=tuple(sorted(names)))


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_streamlit_secrets(config: GanyunConfig, directory: Path) -> Path | None:
    """Streamlit's [auth] section for st.login, from console.oidc; None without OIDC.

    The file is 0600 and lives beside the config; the cookie secret is made once and kept.
    """
    oidc = oidc_settings(config)
    if oidc is None:
        return None
    env_name = str(oidc["client_secret"])[4:]
    client_secret = os.environ.get(env_name, "")
    if not client_secret:
        raise ConfigError(f"console.oidc.client_secret: ${env_name} is not set")
    cookie_file = directory / "cookie_secret"
    if cookie_file.exists():
        cookie_secret = cookie_file.read_text(encoding="utf-8").strip()
    else:
        cookie_secret = secrets.token_urlsafe(32)
        _write_private(cookie_file, cookie_secret)
    lines = [
        "[auth]",
        f"redirect_uri = {_toml_str(str(oidc['redirect_uri']))}",
        f"cookie_secret = {_toml_str(cookie_secret)}",
        f"client_id = {_toml_str(str(oidc['client_id']))}",
        f"client_secret = {_toml_str(client_secret)}",
        f"server_metadata_url = {_toml_str(str(oidc['server_metadata_url']))}",
    ]
    path = directory / "secrets.toml"
    _write_private(path, "\n".join(lines) + "\n")
    return path
