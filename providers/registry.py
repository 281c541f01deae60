"""Config `driver:` name -> adapter class, as data, imported only when a provider is built.

`ADAPTERS` maps a name to "module:Class"; `ALIASES` maps other spellings to a name. A name in
neither that libcloud knows as a compute driver gets the generic libcloud adapter, so any
libcloud cloud works without new code. SDKs are imported only when an adapter of that kind
is loaded. Adding a cloud: one adapter module and one line in ADAPTERS (see ARCHITECTURE.md).
"""

from __future__ import annotations

import dataclasses
import importlib
from functools import cache
from typing import Any

from providers.base import Capability, Provider, ProviderSpec
from providers.errors import ConfigError
from providers.masking import SECRETS

__all__ = ["ADAPTERS", "ALIASES", "GENERIC", "adapter_class", "canonical", "create_provider", "features"]

ADAPTERS: dict[str, str] = {
    "kubernetes": "providers.kubernetes_adapter:KubernetesAdapter",
    "libvirt": "providers.libvirt_adapter:LibvirtAdapter",
    "openstack": "providers.libcloud_openstack:OpenStackAdapter",
    "vsphere": "providers.vsphere.adapter:VSphereAdapter",
}
ALIASES: dict[str, str] = {
    "k8s": "kubernetes",
    "kubevirt": "kubernetes",
    "vcenter": "vsphere",
    "vmware": "vsphere",
    # libcloud's own names for these clouds
    "ecs": "aliyun_ecs",
    "aliyun": "aliyun_ecs",
    "aws": "ec2",
}
# Every other libcloud compute driver name.
GENERIC = "providers.libcloud_adapter:LibcloudAdapter"


def canonical(driver: str) -> str:
    """The registry's name for a config `driver:` value (case and aliases folded)."""
    name = driver.strip().lower()
    return ALIASES.get(name, name)


def adapter_class(driver: str) -> type[Any]:
    """The adapter class for a driver name; ConfigError naming it and the known ones."""
    name = canonical(driver)
    if not name:
        raise ConfigError("empty driver name")
    target = ADAPTERS.get(name)
    if target is None:
        from providers.libcloud_adapter import is_libcloud_driver

        if not is_libcloud_driver(name):
            known = ", ".join(sorted({*ADAPTERS, *ALIASES}))
            raise ConfigError(
                f"unknown provider driver '{driver}': not one of {known}, nor a libcloud compute driver name"
            )
        target = GENERIC
    return _load(target)


@cache
def _load(target: str) -> type[Any]:
    module_name, _, class_name = target.partition(":")
    cls: type[Any] = getattr(importlib.import_module(module_name), class_name)
    return cls


def features(driver: str) -> frozenset[Capability]:
    """What adapters of this driver declare, without building one (no connection made)."""
    declared: frozenset[Capability] = adapter_class(driver).features
    return declared


def create_provider(spec: ProviderSpec) -> Provider:
    """Build the adapter for one provider; an unknown driver is a ConfigError naming it.

    Its credentials join the process's secret mask first, wherever the spec came from (a
    collector process receives it over a pipe)."""
    SECRETS.remember_credential(spec.key, spec.secret)
    try:
        cls = adapter_class(spec.driver)
    except ConfigError as exc:
        raise ConfigError(f"providers[{spec.name}].driver: {exc}") from None
    name = canonical(spec.driver)
    adapter: Provider = cls(spec if name == spec.driver else dataclasses.replace(spec, driver=name))
    return adapter
