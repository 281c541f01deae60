"""The seeded estate: deterministic, the right size, following the estate's conventions."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from lab import catalog as cat
from lab.seed import build_estate, utilization

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _digest(scale: str, seed: int = 7) -> str:
    estate = build_estate(scale, seed=seed, now=NOW)
    data = [dataclasses.asdict(c) for c in estate.clouds]
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def test_same_inputs_give_the_same_estate() -> None:
    assert _digest("small") == _digest("small")


def test_another_seed_gives_another_estate() -> None:
    assert _digest("small", seed=7) != _digest("small", seed=8)


@pytest.mark.parametrize(("scale", "nodes", "clouds"), [("small", 200, 5), ("city", 3000, 5)])
def test_scale_counts(scale: str, nodes: int, clouds: int) -> None:
    estate = build_estate(scale, now=NOW)
    assert len(estate.clouds) == clouds
    assert estate.node_count == nodes
    assert {c.name for c in estate.clouds} == {"gov-huawei", "gov-inspur", "county-h3c", "xc-kunpeng", "xc-hygon"}


def test_large_scale_is_100k_nodes_over_20_clouds() -> None:
    estate = build_estate("large", now=NOW)
    assert len(estate.clouds) == 20
    assert estate.node_count == 100_000
    per_cloud = {len(c.servers) for c in estate.clouds}
    assert per_cloud == {5000}
    assert len({c.name for c in estate.clouds}) == 20
    # Each cloud has its own generator: xc-hygon starts the same in small and large.
    small = build_estate("small", now=NOW).cloud("xc-hygon")
    assert [s.id for s in small.servers[:5]] == [s.id for s in estate.cloud("xc-hygon").servers[:5]]


def test_every_node_follows_the_estate_conventions() -> None:
    estate = build_estate("small", now=NOW)
    names = Counter()
    for cloud in estate.clouds:
        flavors = {f.id for f in cloud.flavors}
        images = {i.id: i for i in cloud.images}
        hosts = {h.hostname for h in cloud.hypervisors}
        for s in cloud.servers:
            names[s.name] += 1
            assert set(s.metadata) >= {"department", "system", "mlps_level", "owner"}
            assert s.metadata["mlps_level"] in {"1", "2", "3", "4"}
            assert s.flavor_id in flavors and s.host in hosts
            assert images[s.image_id].architecture == cloud.arch
            assert s.status in {"ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "ERROR"}
            created = datetime.fromisoformat(s.created.replace("Z", "+00:00"))
            assert 0 <= (NOW - created).days <= 366
    assert max(names.values()) == 1, "node names are unique across the estate"


def test_both_architectures_and_the_expected_os_per_pool() -> None:
    estate = build_estate("small", now=NOW)
    arch = {c.name: c.arch for c in estate.clouds}
    assert arch["xc-kunpeng"] == "aarch64" and arch["xc-hygon"] == "x86_64" and arch["gov-huawei"] == "x86_64"
    for cloud in estate.clouds:
        distros = {i.os_distro for i in cloud.images}
        if cloud.pool == "xinchuang":
            # Domestic images, plus the one foreign OS a few workloads moved in with as they were:
            # the pool counts them, the 信创 policy does not (the capacity report lists them).
            domestic = {i.id for i in cloud.images if i.os_distro in {"kylin", "uos", "openeuler"}}
            assert distros - {"kylin", "uos", "openeuler"} in ({"centos"}, {"windows"})
            foreign = [s for s in cloud.servers if s.image_id not in domestic]
            assert 2 <= len(foreign) <= 3
        else:
            assert distros == {"centos", "rhel", "windows"}
    vendors = {c.name: c.cpu_vendor for c in estate.clouds}
    assert vendors["xc-kunpeng"] == "Kunpeng" and vendors["xc-hygon"] == "Hygon"


def test_rs_bureau_has_centos_systems_on_legacy_clouds() -> None:
    estate = build_estate("small", now=NOW)
    systems: dict[str, list[tuple[str, str]]] = {}
    for cloud in estate.clouds:
        distro = {i.id: i.os_distro for i in cloud.images}
        for s in cloud.servers:
            if s.metadata["department"] == "市人社局":
                systems.setdefault(s.metadata["system"], []).append((cloud.name, distro[s.image_id]))
    assert len(systems) >= 3
    for nodes in systems.values():
        assert 5 <= len(nodes) <= 15
        assert all(estate.cloud(c).pool == "legacy" for c, _ in nodes)
    assert sum(d == "centos" for nodes in systems.values() for _, d in nodes) >= 15


def test_xinchuang_pools_have_finite_headroom() -> None:
    estate = build_estate("city", now=NOW)
    for cloud in estate.clouds:
        flavors = {f.id: f for f in cloud.flavors}
        ram_used = sum(flavors[s.flavor_id].ram_mb for s in cloud.servers)
        ram_total = sum(h.memory_mb for h in cloud.hypervisors)
        fill = ram_used / ram_total
        assert 0.2 < fill < 0.95, (cloud.name, fill)
        if cloud.pool == "xinchuang":
            assert fill < 0.7


def test_racks_group_hosts_sixteen_at_a_time_and_are_unique_per_center() -> None:
    estate = build_estate("city", now=NOW)
    seen: set[str] = set()
    for cloud in estate.clouds:
        for agg in cloud.aggregates:
            assert agg.name == f"rack-{cloud.center}-{agg.metadata['rack']}"
            assert 1 <= len(agg.hosts) <= 16
            assert agg.name not in seen
            seen.add(agg.name)


def test_volume_types_mix_encrypted_and_plain() -> None:
    cloud = build_estate("small", now=NOW).cloud("xc-kunpeng")
    ciphers = {t.name: t.encryption_cipher for t in cloud.volume_types}
    assert ciphers["ssd-sm4"] == "sm4-xts" and ciphers["ssd-luks"] == "aes-xts-plain64" and ciphers["ssd"] == ""
    used = Counter(v.volume_type for v in cloud.volumes)
    assert used["ssd-sm4"] > 0 and used["ssd"] + used["sata"] > 0


def test_planted_open_ports_exist() -> None:
    cloud = build_estate("small", now=NOW).cloud("gov-huawei")
    open_ports = {r.port_min for g in cloud.security_groups for r in g.rules if r.remote_ip_prefix == "0.0.0.0/0"}
    assert {22, 3306, 3389} <= open_ports


def test_utilization_is_deterministic_and_in_range() -> None:
    server_id = build_estate("small", now=NOW).clouds[0].servers[0].id
    cpu_avg, cpu_p95, ram = utilization(server_id)
    assert (cpu_avg, cpu_p95, ram) == utilization(server_id)
    assert 0 < cpu_avg <= cpu_p95 <= 100 and 0 < ram < 100


def test_unknown_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        build_estate("huge")
    assert "huge" not in cat.SCALES
