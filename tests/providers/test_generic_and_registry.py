"""The generic libcloud path (libcloud's Dummy driver) and the registry's lazy, checked dispatch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from providers.base import Provider, ProviderSpec, State
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
    for call in (adapter.list_hosts, adapter.list_networks, adapter.list_volumes, adapter.list_security_groups):
        with pytest.raises(NotFound) as info:
            call()
        assert info.value.provider == "dummy-cloud" and "not supported" in info.value.detail
    with pytest.raises(NotFound, match="not supported"):
        adapter.start_node("1")
    with pytest.raises(NotFound, match="no node"):
        adapter.get_node("nope")
    with pytest.raises(NotFound):
        adapter.create_node("x", "no-such-size", "i1")


def test_unknown_driver_and_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="frobnicloud"):
        create_provider(ProviderSpec(name="x", driver="frobnicloud"))
    with pytest.raises(ConfigError, match=r"providers\[x\]"):
        create_provider(ProviderSpec(name="x", driver="dummy", options={"no_such_option": 1}))


def test_aliases_reach_the_right_driver() -> None:
    from providers.libcloud_adapter import load_driver_class

    assert load_driver_class("ecs").__name__ == "ECSDriver"
    assert load_driver_class("cloudstack").__name__ == "CloudStackNodeDriver"


def test_sdks_are_imported_lazily() -> None:
    code = (
        "import sys, providers.registry, providers.base\n"
        "assert 'libcloud' not in sys.modules and 'kubernetes' not in sys.modules\n"
        "from providers.base import ProviderSpec\n"
        "providers.registry.create_provider(ProviderSpec(name='d', driver='dummy', options={'creds': '1'}))\n"
        "assert 'libcloud' in sys.modules and 'kubernetes' not in sys.modules, 'kubernetes imported for libcloud'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
