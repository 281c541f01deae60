"""The OpenStack adapter's calls a migration makes, against the lab: image state while Glance
saves, placement requests (zone, forced host, hints) and what a refusal looks like, floating
IPs allocated, attached, detached and released, host availability zones."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import control
from providers.base import Capability, Placement, State
from providers.errors import AuthError
from security.vault import VaultCredentials
from tests.lab.running import small_lab

pytestmark = pytest.mark.xdist_group("adapter-lab-migration")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with small_lab(tmp_path_factory.mktemp("adapter-mig-lab")) as path:
        yield path


def _adapter(lab: Path, name: str) -> Any:
    from inventory.config import load_config
    from inventory.credentials import provider_spec
    from providers.registry import create_provider

    config = load_config(lab)
    return create_provider(provider_spec(config.provider(name), VaultCredentials(config)))


def _wait_state(adapter: Any, node_id: str, want: State) -> Any:
    for _ in range(200):
        node = adapter.get_node(node_id)
        if node.state == want:
            return node
        time.sleep(0.05)
    raise AssertionError(f"{node_id} never became {want}")


def test_image_state_follows_glance_while_it_saves(lab: Path) -> None:
    control.set_faults(lab.parent, "gov-huawei", {"image_seconds": 1.2})
    try:
        adapter = _adapter(lab, "gov-huawei")
        assert Capability.IMAGE_LOOKUP in adapter.features
        node = next(n for n in adapter.list_nodes() if n.state == State.RUNNING)
        snapshot = adapter.create_snapshot(node.id, "adapter-snap")
        assert snapshot.state == State.PENDING and snapshot.extra["status"] in ("queued", "saving")
        seen = {adapter.get_image(snapshot.id).extra["status"]}
        deadline = time.monotonic() + 5
        while adapter.get_image(snapshot.id).state != State.RUNNING and time.monotonic() < deadline:
            seen.add(adapter.get_image(snapshot.id).extra["status"])
            time.sleep(0.05)
        assert adapter.get_image(snapshot.id).extra["status"] == "active" and "saving" in seen
        adapter.delete_image(snapshot.id)
    finally:
        control.set_faults(lab.parent, None, {}, clear=True)


def test_placement_is_requested_and_a_refused_host_is_an_auth_error(lab: Path) -> None:
    adapter = _adapter(lab, "xc-hygon")
    hosts = adapter.list_hosts()
    assert all(h.extra["availability_zone"] for h in hosts)
    target = hosts[-1]
    image = next(i for i in adapter.list_images() if i.os_family == "Kylin")
    node = adapter.create_node(
        "placed-adapter-01",
        "c2m4",
        image.id,
        placement=Placement(zone=target.extra["availability_zone"], host=target.name),
    )
    placed = _wait_state(adapter, node.id, State.RUNNING)
    assert placed.host == target.name
    apart = adapter.create_node("placed-adapter-02", "c2m4", image.id, placement=Placement(different_host=(node.id,)))
    assert _wait_state(adapter, apart.id, State.RUNNING).host != target.name
    control.set_faults(lab.parent, "xc-hygon", {"no_forced_host": True})
    try:
        with pytest.raises(AuthError):
            adapter.create_node("placed-adapter-03", "c2m4", image.id, placement=Placement(host=target.name))
    finally:
        control.set_faults(lab.parent, None, {}, clear=True)
    for n in (node, apart):
        adapter.destroy_node(n.id)


def test_floating_ip_round_trip(lab: Path) -> None:
    adapter = _adapter(lab, "gov-inspur")
    assert Capability.FLOATING_IPS in adapter.features
    node = next(n for n in adapter.list_nodes() if n.state == State.RUNNING and not n.name.endswith("web-01"))
    extranet = next(n for n in adapter.list_networks() if n.name == "gov-extranet")
    fip = adapter.create_floating_ip(extranet.id)
    assert fip.address.startswith("100.64.") and not fip.node_id
    attached = adapter.attach_floating_ip(fip.id, node.id)
    assert attached.node_id == node.id and attached.fixed_ip in node.ips
    assert [f.address for f in adapter.list_floating_ips(node.id)] == [fip.address]
    assert fip.address in adapter.get_node(node.id).ips
    listed = {f.address: f for f in adapter.list_floating_ips()}
    assert listed[fip.address].node_id == node.id
    adapter.detach_floating_ip(fip.id)
    assert adapter.list_floating_ips(node.id) == []
    adapter.delete_floating_ip(fip.id)
    assert fip.address not in {f.address for f in adapter.list_floating_ips()}
    # The address is free again lab-wide: another cloud may claim exactly it.
    other = _adapter(lab, "xc-hygon")
    net = next(n for n in other.list_networks() if n.name == "gov-extranet")
    claimed = other.create_floating_ip(net.id, fip.address)
    assert claimed.address == fip.address
    other.delete_floating_ip(claimed.id)
