"""Console accounts: local users with scrypt-hashed passwords, roles, and OIDC settings.

Nothing here imports Streamlit: the CLI (`ganyun lab up`, `ganyun console`) and tests use it
too. Roles are checked again on every action by console.frame.require_role; this module only
stores who is who.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from inventory.config import GanyunConfig
from inventory.models import Base
from inventory.store import Store
from providers.base import ConfigError, GanyunError

ROLES = ("operator", "security_officer", "planner", "auditor", "admin")
ACCOUNTS_FILE = "accounts.txt"
SECRETS_DIR = ".ganyun-console"

# scrypt cost: ~50 ms per check here, enough to make offline guessing expensive.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_MIN_PASSWORD = 10
# Lock an account for a while after repeated failures (online guessing).
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=5)


class User(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(32), default="auditor")
    # local accounts hold a scrypt hash; OIDC accounts hold "" and never log in with a password.
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    source: Mapped[str] = mapped_column(String(16), default="local")
    active: Mapped[bool] = mapped_column(default=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_login: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class LoginError(GanyunError):
    """Sign-in refused; `reason` is "invalid" (same for unknown user and bad password) or "locked"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """The signed-in user as the console keeps it in session state."""

    name: str
    role: str
    display_name: str = ""
    source: str = "local"

    def as_session(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "display_name": self.display_name or self.name,
                "source": self.source}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ConfigError(f"unknown role '{role}' (one of {', '.join(ROLES)})")


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite gives naive datetimes back even for timezone=True columns.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def set_user(store: Store, username: str, password: str, role: str, display_name: str = "") -> None:
    """Create a local account or reset its password and role."""
    _check_role(role)
    if not username.strip():
        raise ConfigError("username must not be empty")
    if len(password) < _MIN_PASSWORD:
        raise ConfigError(f"password must have at least {_MIN_PASSWORD} characters")
    hashed = hash_password(password)
    with store.write_lock, store.session() as session:
        user = session.get(User, username)
        if user is None:
            user = User(username=username, created_at=_now())
            session.add(user)
        user.role = role
        user.display_name = display_name or user.display_name or username
        user.password_hash = hashed
        user.source = "local"
        user.active = True
        user.failed_attempts = 0
        user.locked_until = None


def get_user(store: Store, username: str) -> Identity | None:
    with store.session() as session:
        user = session.get(User, username)
        if user is None or not user.active:
            return None
        return Identity(user.username, user.role, user.display_name, user.source)


def list_users(store: Store) -> list[Identity]:
    with store.session() as session:
        rows = session.scalars(select(User).order_by(User.username)).all()
        return [Identity(u.username, u.role, u.display_name, u.source) for u in rows if u.active]


def authenticate(store: Store, username: str, password: str) -> Identity:
    """The identity for a good password; LoginError (one message for every failure) otherwise."""
    failure = LoginError("invalid", "invalid username or password")
    with store.write_lock, store.session() as session:
        user = session.get(User, username)
        if user is None or not user.active or user.source != "local":
            # Spend the same time as a real check so that timing does not reveal usernames.
            verify_password(password, _DUMMY_HASH)
            raise failure
        now = _now()
        locked_until = _aware(user.locked_until)
        if locked_until is not None and locked_until > now:
            raise LoginError("locked", "account locked after repeated failures; try again later")
        if not verify_password(password, user.password_hash):
            user.failed_attempts += 1
            if user.failed_attempts >= MAX_FAILURES:
                user.locked_until = now + LOCKOUT
                user.failed_attempts = 0
            session.commit()
            raise failure
        user.failed_attempts = 0
        user.locked_until = None
        user.last_login = now
        return Identity(user.username, user.role, user.display_name, user.source)


_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def _write_private(path: Path, text: str) -> None:
    """Create the file 0600 from the start: the secret is never world-readable, not even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def create_lab_accounts(lab_dir: str | os.PathLike[str], config: GanyunConfig) -> Path:
    """One account per role (username = role name), passwords in D/accounts.txt (0600)."""
    from inventory.store import open_store

    store = open_store(config.database_url)
    try:
        lines = ["# ganyun console accounts of this lab: username password role", ""]
        for role in ROLES:
            password = secrets.token_urlsafe(12)
            set_user(store, role, password, role, display_name=role)
            lines.append(f"{role} {password} {role}")
    finally:
        store.dispose()
    path = Path(lab_dir) / ACCOUNTS_FILE
    _write_private(path, "\n".join(lines) + "\n")
    return path


def read_accounts(path: str | os.PathLike[str]) -> dict[str, str]:
    """username -> password from an accounts.txt (tests and the browser check read it)."""
    out: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            out[parts[0]] = parts[1]
    return out


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
