"""Lab round trip through the adapters: every seeded node comes back with its facts filled.

The lab (lab) serves the deterministic estate of `seed.build_estate("small")`;
the expected values are read from that estate, not written here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from providers import mapping
from tests.lab.running import small_lab

seed = pytest.importorskip("lab.seed")

pytestmark = pytest.mark.xdist_group("adapter-lab")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with small_lab(tmp_path_factory.mktemp("adapter-lab")) as path:
        yield path


def test_every_seeded_node_comes_back_with_its_facts(lab: Path) -> None:
    from inventory.config import load_config
    from inventory.credentials import provider_spec
    from providers.registry import create_provider
    from security.vault import VaultCredentials

    config = load_config(lab)
    estate = seed.build_estate("small")
    assert {p.name for p in config.providers} == {c.name for c in estate.clouds}
    for pc in config.providers:
        cloud = estate.cloud(pc.name)
        adapter = create_provider(provider_spec(pc, VaultCredentials(config)))
        nodes = {n.id: n for n in adapter.list_nodes()}
        assert set(nodes) == {s.id for s in cloud.servers}, pc.name
        flavors = {f.id: f for f in cloud.flavors}
        images = {i.id: i for i in cloud.images}
        for server in cloud.servers:
            node = nodes[server.id]
            flavor, image = flavors[server.flavor_id], images[server.image_id]
            assert node.arch == mapping.normalize_arch(flavor.extra_specs["capabilities:cpu_info:arch"])
            assert node.cpu_vendor == mapping.normalize_vendor(flavor.extra_specs["capabilities:cpu_info:vendor"])
            assert node.os_family == mapping.normalize_os(image.os_distro) != ""
            assert (node.department, node.system) == (server.metadata["department"], server.metadata["system"])
            assert node.department and node.system and node.mlps_level in (1, 2, 3, 4)
            assert (node.host, node.vcpus, node.ram_mb) == (server.host, flavor.vcpus, flavor.ram_mb)
        hosts = adapter.list_hosts()
        assert {h.name for h in hosts} == {h.hostname for h in cloud.hypervisors}
        assert all(h.arch and h.cpu_vendor and h.rack for h in hosts), pc.name
    archs = {
        n.arch
        for pc in config.providers
        for n in create_provider(provider_spec(pc, VaultCredentials(config))).list_nodes()
    }
    assert {"x86_64", "aarch64"} <= archs


def test_node_changes_against_the_lab(lab: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from inventory.config import load_config
    from inventory.credentials import provider_spec
    from providers.registry import create_provider
    from security.vault import VaultCredentials

    config = load_config(lab)
    pc = next(p for p in config.providers if p.pool == "xinchuang")
    adapter = create_provider(provider_spec(pc, VaultCredentials(config)))
    before = datetime.now(UTC) - timedelta(seconds=2)
    flavor = adapter.list_sizes()[0]
    image = next(i for i in adapter.list_images() if i.os_family)
    net = next(n for n in adapter.list_networks() if not n.external)
    node = adapter.create_node(
        "delta-probe", flavor.id, image.id, [net.id], {"department": "市人社局", "system": "测试"}
    )
    changed, deleted = adapter.list_node_changes(before)
    assert node.id in {n.id for n in changed} and deleted == []
    adapter.destroy_node(node.id)
    changed, deleted = adapter.list_node_changes(before)
    assert node.id in deleted and node.id not in {n.id for n in changed}


def test_volume_changes_against_the_lab(lab: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from inventory.config import load_config
    from inventory.credentials import provider_spec
    from providers.registry import create_provider
    from security.vault import VaultCredentials

    config = load_config(lab)
    adapter = create_provider(provider_spec(config.provider("county-h3c"), VaultCredentials(config)))
    before = datetime.now(UTC) - timedelta(seconds=2)
    volumes = adapter.list_volumes()
    changed, present = adapter.list_volume_changes(before)
    assert changed == [] and sorted(present) == sorted(v.id for v in volumes)
    victim = next(v for v in volumes if v.attached_to)
    adapter.destroy_node(victim.attached_to[0])
    changed, present = adapter.list_volume_changes(before)
    assert victim.id in {v.id for v in changed}
    assert all(not v.attached_to for v in changed if v.id == victim.id)
    assert set(present) == {v.id for v in volumes}
