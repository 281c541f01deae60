"""`ganyun providers test`: can each configured provider be reached with its credentials, and
which kinds may its account list?

Checked in the order a sync meets them: the credential reference resolves (vault entry,
environment), the adapter is built from the config, the cloud answers a node listing (which
also proves the credentials: a refused login is an AuthError), then each kind the adapter
declares is listed once; a kind the account may not read (403/404) is reported, not fatal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inventory.config import ProviderConfig
from inventory.credentials import CredentialSource, provider_spec
from providers import capabilities
from providers.base import Provider, ProviderSpec
from providers.errors import AuthError, GanyunError, NotFound, ProviderError
from providers.masking import mask


@dataclass
class ProviderCheck:
    name: str
    # ok | credentials (no credential, or refused) | config (adapter cannot be built) | unreachable
    status: str
    reason: str = ""
    listable: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.name,
            "status": self.status,
            "reason": self.reason,
            "listable": self.listable,
            "refused": self.refused,
        }


def _default_factory(spec: ProviderSpec) -> Provider:
    from providers.registry import create_provider

    provider: Provider = create_provider(spec)
    return provider


def check_provider(
    pc: ProviderConfig,
    vault: CredentialSource | None,
    factory: Callable[[ProviderSpec], Provider] | None = None,
) -> ProviderCheck:
    try:
        spec = provider_spec(pc, vault)
    except GanyunError as exc:
        return ProviderCheck(pc.name, "credentials", mask(str(exc)))
    try:
        adapter = (factory or _default_factory)(spec)
    except GanyunError as exc:
        return ProviderCheck(pc.name, "config", mask(str(exc)))
    try:
        adapter.list_nodes()
    except AuthError as exc:
        return ProviderCheck(pc.name, "credentials", mask(exc.detail))
    except ProviderError as exc:
        return ProviderCheck(pc.name, "unreachable", mask(exc.detail))
    result = ProviderCheck(pc.name, "ok", listable=["node"])
    for kind, capability in capabilities.LISTED_KINDS.items():
        if capability not in adapter.features:
            continue
        try:
            capabilities.listing(adapter, kind)
        except (AuthError, NotFound) as exc:
            result.refused[kind.value] = mask(exc.detail)
            continue
        except ProviderError as exc:
            result.refused[kind.value] = mask(exc.detail)
            continue
        result.listable.append(kind.value)
    return result
