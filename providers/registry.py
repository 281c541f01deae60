"""Config entry -> adapter, imported lazily by driver name.

`kubernetes` gets the kubernetes client adapter, `vsphere` the pyVmomi adapter, `openstack`
the OpenStack-aware libcloud adapter, any other name the generic libcloud adapter for that
compute driver. SDKs are
imported only when a provider of that kind is actually built.
"""

from __future__ import annotations

from providers.base import Provider, ProviderSpec
from providers.errors import ConfigError
from providers.masking import SECRETS


def create_provider(spec: ProviderSpec) -> Provider:
    """Build the adapter for one provider; an unknown driver is a ConfigError naming it.

    Its credentials join the process's secret mask first, wherever the spec came from (a
    collector process receives it over a pipe)."""
    SECRETS.remember_credential(spec.key, spec.secret)
    driver = spec.driver.strip().lower()
    if not driver:
        raise ConfigError(f"providers[{spec.name}].driver: empty driver name")
    if driver in ("kubernetes", "k8s", "kubevirt"):
        from providers.kubernetes_adapter import KubernetesAdapter

        adapter: Provider = KubernetesAdapter(spec)
        return adapter
    if driver in ("vsphere", "vcenter", "vmware"):
        from providers.vsphere.adapter import VSphereAdapter

        vsphere: Provider = VSphereAdapter(spec)
        return vsphere
    from providers.libcloud_adapter import LibcloudAdapter, load_driver_class

    cls = load_driver_class(driver)  # raises ConfigError for names libcloud does not know
    if driver == "openstack":
        from providers.libcloud_openstack import OpenStackAdapter

        return OpenStackAdapter(spec)
    del cls
    return LibcloudAdapter(spec)
