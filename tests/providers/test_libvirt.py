"""libcloud's libvirt driver against libvirt's own `test:///default` hypervisor (no daemon).

libvirt-python builds against Debian's libvirt-dev, which `make install` provides; without it
the test is skipped rather than faked.
"""

from __future__ import annotations

import pytest

from providers.base import Capability, ProviderSpec, State
from providers.errors import NotFound
from providers.registry import create_provider

libvirt = pytest.importorskip("libvirt", reason="libvirt-python is not installed")


def test_libvirt_test_driver_keeps_identity_and_state_through_stop_and_start() -> None:
    adapter = create_provider(ProviderSpec(name="kvm-lab", driver="libvirt", options={"uri": "test:///default"}))
    nodes = adapter.list_nodes()
    assert nodes and all(n.provider == "kvm-lab" for n in nodes)
    node = nodes[0]
    domain = libvirt.open("test:///default").lookupByName(node.name)
    # The domain UUID, not libvirt's runtime domain number (which is -1 once stopped).
    assert node.id == domain.UUIDString() and node.state == State.RUNNING
    adapter.stop_node(node.id)
    stopped = adapter.get_node(node.id)
    assert (stopped.id, stopped.state) == (node.id, State.STOPPED)
    assert {n.id: n.state for n in adapter.list_nodes()}[node.id] == State.STOPPED
    adapter.start_node(node.id)
    assert adapter.get_node(node.id).state == State.RUNNING
    with pytest.raises(NotFound):
        adapter.get_node("00000000-0000-0000-0000-000000000000")
    assert Capability.HOSTS not in adapter.features  # libcloud has no hypervisor listing
