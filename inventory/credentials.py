"""Turn a provider's `credentials:` reference into libcloud's key and secret.

`env:PREFIX` reads $PREFIX_KEY and $PREFIX_SECRET; `vault:NAME` asks the credential source
the caller hands over (security.vault.VaultCredentials: the vault is cryptography, a layer
this package does not import). Values never appear in messages: only the reference that
failed does. Every value resolved here joins the process's secret mask
(providers/masking.py), so an endpoint that echoes it back cannot put it into a stored,
printed or logged message.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

from inventory.config import ProviderConfig
from providers.base import ProviderSpec
from providers.errors import ConfigError
from providers.masking import SECRETS


class CredentialSource(Protocol):
    def get(self, name: str) -> tuple[str, str]: ...


def resolve_env(prefix: str, provider: str) -> tuple[str, str]:
    key_var, secret_var = f"{prefix}_KEY", f"{prefix}_SECRET"
    key, secret = os.environ.get(key_var), os.environ.get(secret_var)
    if key is None or secret is None:
        missing = " and ".join(v for v, val in ((key_var, key), (secret_var, secret)) if val is None)
        raise ConfigError(f"providers[{provider}].credentials: environment variable {missing} is not set")
    return key, secret


def resolve(provider: ProviderConfig, vault: CredentialSource | None = None) -> tuple[str, str]:
    key, secret = _lookup(provider, vault)
    SECRETS.remember_credential(key, secret)
    return key, secret


def _lookup(provider: ProviderConfig, vault: CredentialSource | None) -> tuple[str, str]:
    ref = provider.credentials
    if not ref:
        return "", ""
    scheme, _, name = ref.partition(":")
    if scheme == "env":
        return resolve_env(name, provider.name)
    if vault is None:
        raise ConfigError(f"providers[{provider.name}].credentials: '{ref}' needs the vault, and none was opened")
    try:
        return vault.get(name)
    except KeyError:
        raise ConfigError(f"providers[{provider.name}].credentials: no vault entry '{name}'") from None


def provider_spec(provider: ProviderConfig, vault: CredentialSource | None = None) -> ProviderSpec:
    key, secret = resolve(provider, vault)
    return ProviderSpec(
        name=provider.name,
        driver=provider.driver,
        key=key,
        secret=secret,
        options=dict(provider.options),
        center=provider.center,
        pool=provider.pool,
        timeout_s=provider.timeout_s,
        prometheus=provider.prometheus.model_dump() if provider.prometheus is not None else None,
    )


# --------------------------------------------------------------------------- adapter sessions


@runtime_checkable
class SessionKeeper(Protocol):
    """A credential source that also keeps an adapter's session state between syncs (the
    vault: the state holds a session id, a credential, so never the database or a file)."""

    def load_session(self, provider: str) -> str | None: ...
    def save_session(self, provider: str, state: str | None) -> None: ...


def load_session(vault: CredentialSource | None, provider: str) -> str | None:
    """The session state an adapter left at the end of the last sync (vSphere: its session id
    and change collector); None when there is none or no vault to hold it."""
    return vault.load_session(provider) if isinstance(vault, SessionKeeper) else None


def save_session(vault: CredentialSource | None, provider: str, state: str | None) -> None:
    """Keep (or, with None, forget) an adapter's session state. Without a vault that keeps
    sessions the next sync simply lists everything."""
    if isinstance(vault, SessionKeeper):
        vault.save_session(provider, state)
