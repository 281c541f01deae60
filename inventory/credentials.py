"""Turn a provider's `credentials:` reference into libcloud's key and secret.

`env:PREFIX` reads $PREFIX_KEY and $PREFIX_SECRET; `vault:NAME` reads the SM4-GCM vault.
Values never appear in messages: only the reference that failed does. Every value resolved
here joins the process's secret mask (providers/masking.py), so an endpoint that echoes it
back cannot put it into a stored, printed or logged message.
"""

from __future__ import annotations

import os
from typing import Protocol

from inventory.config import GanyunConfig, ProviderConfig
from providers.base import ProviderSpec
from providers.errors import ConfigError, GanyunError
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


def open_vault(config: GanyunConfig) -> CredentialSource:
    # Imported lazily: the vault lives with the other cryptography in security/.
    from security.vault import Vault

    vault: CredentialSource = Vault.open(config)
    return vault


def resolve(config: GanyunConfig, provider: ProviderConfig, vault: CredentialSource | None = None) -> tuple[str, str]:
    key, secret = _lookup(config, provider, vault)
    SECRETS.remember_credential(key, secret)
    return key, secret


def _lookup(config: GanyunConfig, provider: ProviderConfig, vault: CredentialSource | None) -> tuple[str, str]:
    ref = provider.credentials
    if not ref:
        return "", ""
    scheme, _, name = ref.partition(":")
    if scheme == "env":
        return resolve_env(name, provider.name)
    source = vault if vault is not None else open_vault(config)
    try:
        return source.get(name)
    except KeyError:
        raise ConfigError(f"providers[{provider.name}].credentials: no vault entry '{name}'") from None


def provider_spec(
    config: GanyunConfig, provider: ProviderConfig, vault: CredentialSource | None = None
) -> ProviderSpec:
    key, secret = resolve(config, provider, vault)
    return ProviderSpec(
        name=provider.name,
        driver=provider.driver,
        key=key,
        secret=secret,
        options=dict(provider.options),
        center=provider.center,
        pool=provider.pool,
        timeout_s=provider.timeout_s,
    )


# --------------------------------------------------------------------------- adapter sessions

SESSION_ENTRY = "{provider}.session"
SESSION_KEY = "adapter-session"


def load_session(config: GanyunConfig, provider: str) -> str | None:
    """The session state an adapter left at the end of the last sync (vSphere: its session id
    and change collector), from the vault; None when there is none or no vault to hold it."""
    try:
        from security.vault import Vault

        _key, state = Vault.open(config).get(SESSION_ENTRY.format(provider=provider))
    except (KeyError, GanyunError):
        return None
    return state


def save_session(config: GanyunConfig, provider: str, state: str | None) -> None:
    """Keep (or, with None, forget) an adapter's session state in the vault: it holds a
    credential, so never the database or a plain file. Without a usable vault the next sync
    simply lists everything."""
    try:
        from security.vault import Vault

        vault = Vault.open(config)
        name = SESSION_ENTRY.format(provider=provider)
        if state:
            vault.set(name, SESSION_KEY, state)
        elif name in vault.names():
            vault.delete(name)
    except GanyunError:
        return
