"""The OpenStack adapter replaying libcloud's own recorded OpenStack responses.

Expected values are read from the same fixture files the server replays, so these tests
check the mapping, not numbers copied by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from providers.base import ProviderSpec, State
from providers.errors import AuthError, NotFound
from providers.libcloud_openstack import OpenStackAdapter
from providers.registry import create_provider
from tests.providers.replay_server import NOVA, WRONG_PASSWORD, driver_options, serve_openstack_fixtures

pytestmark = pytest.mark.xdist_group("openstack-replay")


def _fixture(name: str) -> dict:
    return json.loads((NOVA / name).read_text())


@pytest.fixture(scope="module")
def replay() -> Iterator[str]:
    url, stop = serve_openstack_fixtures()
    yield url
    stop()


def _adapter(url: str, password: str = "any-password") -> OpenStackAdapter:
    spec = ProviderSpec(
        name="recorded", driver="openstack", key="demo", secret=password, options=driver_options(url), timeout_s=10
    )
    adapter = create_provider(spec)
    assert isinstance(adapter, OpenStackAdapter)
    return adapter


def test_nodes_match_recorded_servers(replay: str) -> None:
    servers = _fixture("_servers_detail.json")["servers"]
    flavors = {str(f["id"]): f for f in _fixture("_flavors_detail.json")["flavors"]}
    nodes = {n.id: n for n in _adapter(replay).list_nodes()}
    assert set(nodes) == {str(s["id"]) for s in servers}
    for s in servers:
        node = nodes[str(s["id"])]
        flavor = flavors[s["flavor"]["id"]]
        assert (node.vcpus, node.ram_mb, node.disk_gb) == (flavor["vcpus"], flavor["ram"], flavor["disk"])
        assert node.image == s["image"]["id"]
        assert node.name == s["name"]
        expected_ips = {a["addr"] for addrs in s["addresses"].values() for a in addrs}
        assert set(node.ips) == expected_ips
        assert node.created_at is not None and node.created_at.isoformat().startswith(s["created"][:19])
    states = {str(s["id"]): s["status"] for s in servers}
    for node_id, status in states.items():
        assert nodes[node_id].state == {"ACTIVE": State.RUNNING, "BUILD": State.PENDING}[status]


def test_sizes_images_volumes_snapshots_networks(replay: str) -> None:
    adapter = _adapter(replay)
    flavors = _fixture("_flavors_detail.json")["flavors"]
    sizes = {s.id: s for s in adapter.list_sizes()}
    assert set(sizes) == {str(f["id"]) for f in flavors}
    assert sizes["7"].extra["extra_specs"] == _fixture("_flavor_extra_specs.json")["extra_specs"]

    pages = _fixture("_images_v2.json")["images"] + _fixture("_images_v2_page2.json")["images"]
    images = {i.id: i for i in adapter.list_images()}
    assert set(images) == {i["id"] for i in pages}  # both Glance pages were followed
    for raw in pages:
        image = images[raw["id"]]
        assert image.disk_format == raw.get("disk_format", "")
        assert image.size_bytes == (raw.get("size") or 0)
        if raw.get("os_distro"):
            assert image.os_family.lower() == raw["os_distro"].lower()

    volumes = {v.id: v for v in adapter.list_volumes()}
    raw_volumes = _fixture("_v2_0__volumes.json")["volumes"]
    assert set(volumes) == {v["id"] for v in raw_volumes}
    for raw in raw_volumes:
        assert volumes[raw["id"]].size_gb == raw["size"]
        assert set(volumes[raw["id"]].attached_to) == {a["server_id"] for a in raw["attachments"] if a}

    snaps = adapter.list_snapshots()
    assert {s.id for s in snaps} == {s["id"] for s in _fixture("_v2_0__snapshots.json")["snapshots"]}

    subnets = _fixture("_v2_0__subnets.json")["subnets"]
    nets = {n.id: n for n in adapter.list_networks()}
    assert set(nets) == {n["id"] for n in _fixture("_v2_0__networks.json")["networks"]}
    for sn in subnets:
        if sn["network_id"] in nets:
            assert sn["cidr"] in nets[sn["network_id"]].cidrs

    groups = {g.id: g for g in adapter.list_security_groups()}
    raw_groups = _fixture("_v2_0__security_groups.json")["security_groups"]
    assert set(groups) == {str(g["id"]) for g in raw_groups}
    for raw in raw_groups:
        assert len(groups[str(raw["id"])].rules) == len(raw["security_group_rules"])


def test_unrecorded_apis_are_not_found_not_empty(replay: str) -> None:
    adapter = _adapter(replay)
    with pytest.raises(NotFound) as info:
        adapter.list_hosts()
    assert info.value.provider == "recorded" and info.value.call == "list_hosts"


def test_wrong_password_is_auth_error(replay: str) -> None:
    with pytest.raises(AuthError):
        _adapter(replay, WRONG_PASSWORD).list_nodes()


def test_get_node_reads_one_server(replay: str) -> None:
    raw = _fixture("_servers_12064.json")["server"]
    node = _adapter(replay).get_node("12064")
    assert node.id == str(raw["id"]) and node.name == raw["name"]
    with pytest.raises(NotFound):
        _adapter(replay).get_node("does-not-exist")


def test_ganyun_sync_against_recorded_cloud(replay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The acceptance path: `ganyun sync` + `inventory list` with an openstack provider on the replay."""
    from console.cli import app

    config = {
        "database": "sqlite:///ganyun.db",
        "centers": [{"id": "gz-prod", "name": "赣州政务云生产中心", "role": "production", "site": "ganzhou"}],
        "providers": [
            {
                "name": "recorded",
                "driver": "openstack",
                "center": "gz-prod",
                "pool": "legacy",
                "credentials": "env:RECORDED",
                "options": driver_options(replay),
                "timeout_s": 10,
            }
        ],
    }
    path = tmp_path / "ganyun.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    monkeypatch.setenv("GANYUN_CONFIG", str(path))
    monkeypatch.setenv("RECORDED_KEY", "demo")
    monkeypatch.setenv("RECORDED_SECRET", "pw")
    runner = CliRunner()
    result = runner.invoke(app, ["sync", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (provider,) = report["providers"]
    assert provider["status"] in ("ok", "partial"), provider
    assert any("host" in w for w in provider["warnings"])  # no recorded os-hypervisors: warned, not failed
    listed = runner.invoke(app, ["inventory", "list", "--kind", "nodes", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    servers = _fixture("_servers_detail.json")["servers"]
    assert {r["id"] for r in rows} == {str(s["id"]) for s in servers}
