"""The generic libcloud path (libcloud's Dummy driver) and the registry's lazy, checked dispatch:
a table of names, aliases as data, capabilities declared by each adapter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from inventory.config import parse_config
from inventory.models import HostRow, NodeRow, ProviderStatus, ResourceRow, UtilizationRow
from inventory.store import open_store
from inventory.sync import sync_all
from providers import capabilities, registry
from providers.base import Capability, Provider, ProviderSpec, State
from providers.errors import ConfigError, NotFound
from providers.libcloud_adapter import LibcloudAdapter
from providers.registry import create_provider


def _dummy(n: int = 0) -> LibcloudAdapter:
    adapter = create_provider(ProviderSpec(name="dummy-cloud", driver="dummy", options={"creds": str(n)}))
    assert type(adapter) is LibcloudAdapter and isinstance(adapter, Provider)
    return adapter


def test_generic_listing_and_actions() -> None:
    adapter = _dummy()
    nodes = adapter.list_nodes()
    assert [n.id for n in nodes] == ["1", "2"]
    assert all(n.state == State.RUNNING and n.provider == "dummy-cloud" for n in nodes)
    assert nodes[1].ips == ("127.0.0.1",) and nodes[1].extra == {"foo": "bar"}
    sizes = adapter.list_sizes()
    images = adapter.list_images()
    assert sizes and images and all(s.ram_mb > 0 for s in sizes)
    created = adapter.create_node("dummy-new", sizes[0].id, images[0].id)
    assert (created.size, created.ram_mb, created.disk_gb) == ("s1", 2048, 160)
    assert created.id in {n.id for n in adapter.list_nodes()}
    adapter.destroy_node(created.id)
    assert created.id not in {n.id for n in adapter.list_nodes()}


def test_node_without_id_is_a_bad_response() -> None:
    from providers.errors import BadResponse

    with pytest.raises(BadResponse, match="without an id"):
        _dummy(3).list_nodes()  # libcloud turns the Dummy driver's node id 0 into None


def test_generic_unsupported_calls_are_not_found() -> None:
    adapter = _dummy()
    # Declared for every libcloud driver; the Dummy driver lacks them: NotFound at run time.
    for call in (adapter.list_networks, adapter.list_volumes, adapter.list_security_groups):
        with pytest.raises(NotFound) as info:
            call()
        assert info.value.provider == "dummy-cloud" and "not supported" in info.value.detail
    # libcloud has no hypervisor listing: not declared, and asking for it is NotFound too.
    assert Capability.HOSTS not in adapter.features
    with pytest.raises(NotFound, match=r"dummy-cloud: list_hosts: not offered"):
        capabilities.listing(adapter, capabilities.Kind.HOST)
    with pytest.raises(NotFound, match="not supported"):
        adapter.start_node("1")
    with pytest.raises(NotFound, match="no node"):
        adapter.get_node("nope")
    with pytest.raises(NotFound):
        adapter.create_node("x", "no-such-size", "i1")


def test_unknown_driver_and_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        create_provider(ProviderSpec(name="x", driver="frobnicloud"))
    message = str(info.value)
    assert message.startswith("providers[x].driver: unknown provider driver 'frobnicloud'")
    assert all(name in message for name in ("kubernetes", "openstack", "vsphere", "k8s", "vcenter", "ecs"))
    assert "libcloud" in message
    with pytest.raises(ConfigError, match=r"providers\[x\]\.driver: empty"):
        create_provider(ProviderSpec(name="x", driver="  "))
    with pytest.raises(ConfigError, match=r"providers\[x\]"):
        create_provider(ProviderSpec(name="x", driver="dummy", options={"no_such_option": 1}))


def test_aliases_are_data_and_reach_the_right_adapter() -> None:
    assert registry.canonical(" ECS ") == "aliyun_ecs" and registry.canonical("VMware") == "vsphere"
    assert registry.adapter_class("k8s").__name__ == "KubernetesAdapter"
    assert registry.adapter_class("kubevirt") is registry.adapter_class("kubernetes")
    assert registry.adapter_class("vcenter").__name__ == "VSphereAdapter"
    assert registry.adapter_class("openstack").__name__ == "OpenStackAdapter"
    # Any other libcloud compute driver: the generic adapter, under libcloud's own name.
    assert registry.adapter_class("cloudstack") is LibcloudAdapter
    ecs = create_provider(ProviderSpec(name="a", driver="ecs", key="k", secret="s", options={"region": "cn-hangzhou"}))
    assert type(ecs) is LibcloudAdapter and ecs.spec.driver == "aliyun_ecs"
    assert type(ecs.driver).__name__ == "ECSDriver"


def test_every_adapter_declares_capabilities_and_defines_what_it_declares() -> None:
    for name in [*registry.ADAPTERS, "dummy"]:
        cls = registry.adapter_class(name)
        declared = cls.features
        assert isinstance(declared, frozenset) and declared <= set(Capability), name
        for capability, facet in capabilities.FACETS.items():
            defined = [m for m in facet.methods if callable(getattr(cls, m, None))]
            if capability in declared:
                assert defined == list(facet.methods), f"{name} declares {capability} without {facet.methods}"
            else:
                # Methods of a capability nobody may call (undeclared) would be dead code or a
                # forgotten declaration.
                assert defined != list(facet.methods), f"{name} implements {capability} without declaring it"


def test_declared_capabilities_per_adapter() -> None:
    assert registry.features("kubernetes") == {
        Capability.HOSTS, Capability.VOLUMES, Capability.SNAPSHOTS, Capability.UTILIZATION,
        Capability.TLS_SECRETS, Capability.POWER,
    }  # fmt: skip
    openstack = registry.features("openstack")
    assert {Capability.NODE_DELTA, Capability.VOLUME_DELTA, Capability.EXPORT_IMAGE} <= openstack
    assert registry.features("openstack") > registry.features("dummy")  # OpenStack adds to the generic set
    vsphere = registry.features("vmware")
    assert {Capability.NODE_DELTA, Capability.WATERMARK, Capability.CLUSTERS} <= vsphere
    assert not {Capability.CREATE_NODE, Capability.IMPORT_IMAGE, Capability.TLS_SECRETS} & vsphere


def test_a_missing_capability_is_not_found_naming_provider_and_call() -> None:
    adapter = _dummy()
    assert capabilities.EXPORT_IMAGE.of(adapter) is None
    with pytest.raises(NotFound) as info:
        capabilities.EXPORT_IMAGE.require(adapter, "export_image")
    assert (info.value.provider, info.value.call) == ("dummy-cloud", "export_image")
    assert capabilities.POWER.require(adapter, "start_node") is adapter


def test_an_adapter_added_by_one_table_line_syncs_end_to_end(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(registry.ADAPTERS, "tablecloud", "tests.providers.tablecloud:TableCloudAdapter")
    options = {"nodes": 4, "hosts": 2}
    data = {
        "database": "sqlite:///inv.db",
        "centers": [{"id": "gz-prod", "name": "生产中心", "role": "production", "site": "ganzhou"}],
        "providers": [{"name": "tc", "driver": "TableCloud", "center": "gz-prod", "options": options}],
    }
    config = parse_config(data, base_dir=str(tmp_path))
    store = open_store(config.database_url)
    first = sync_all(config, store)  # no factory: the registry builds the adapter
    assert first.status == "ok" and first.results[0].counts == {"node": 4, "host": 2, "volume": 4}
    with store.session() as s:
        assert sorted(s.scalars(select(NodeRow.id))) == ["tc-0", "tc-1", "tc-2", "tc-3"]
        assert s.scalar(select(NodeRow.department).where(NodeRow.id == "tc-0")) == "市大数据局"
        assert len(s.scalars(select(HostRow.id)).all()) == 2
        assert len(s.scalars(select(ResourceRow.id).where(ResourceRow.kind == "volume")).all()) == 4
        assert len(s.scalars(select(UtilizationRow.node_id)).all()) == 4
        assert s.get(ProviderStatus, "tc").driver == "TableCloud"
    # Second sync: the declared NODE_DELTA is asked; only the listed change and deletion apply.
    data["providers"][0]["options"] = {**options, "changed": [1], "deleted": [3]}
    second = sync_all(parse_config(data, base_dir=str(tmp_path)), store)
    assert second.status == "ok" and second.results[0].changed == 1 and second.results[0].removed == 1
    with store.session() as s:
        assert sorted(s.scalars(select(NodeRow.id))) == ["tc-0", "tc-1", "tc-2"]
        assert s.scalar(select(NodeRow.vcpus).where(NodeRow.id == "tc-1")) == 8


def test_sdks_are_imported_lazily() -> None:
    code = (
        "import sys, providers.registry, providers.base\n"
        "assert 'libcloud' not in sys.modules and 'kubernetes' not in sys.modules\n"
        "from providers.base import ProviderSpec\n"
        "providers.registry.create_provider(ProviderSpec(name='d', driver='dummy', options={'creds': '1'}))\n"
        "assert 'libcloud' in sys.modules and 'kubernetes' not in sys.modules, 'kubernetes imported for libcloud'\n"
        "assert 'pyVmomi' not in sys.modules and 'providers.kubernetes_adapter' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
