"""Planning over a small fixed inventory: mappings, placement proof, waves, refusal, schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inventory.plan_schema import dump_plan, load_plan, parse_plan
from inventory.planning import build_plan, make_waves, map_network, map_size, map_volume_type, shortfall_text
from providers.errors import ConfigError
from tests.fakes.estates.migration import build_store, default_listings, make_config, target_listing


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = make_config(tmp_path)
    store = build_store(config, default_listings())
    yield config, store
    store.dispose()


def test_plan_onto_kunpeng_replatforms_and_places_within_capacity(env) -> None:  # type: ignore[no-untyped-def]
    config, store = env
    with store.session() as session:
        outcome = build_plan(config, session, "xc-kunpeng", {"department": "市人社局"}, wave_size=4, lang="en")
    plan = outcome.plan
    assert outcome.fits
    names = {i.name for i in plan.items}
    assert "就业创业服务平台-vm6" not in names  # Windows cannot go to aarch64
    skipped = {s.name: s for s in plan.skipped}
    assert skipped["就业创业服务平台-vm6"].strategy == "retain"
    assert skipped["社会保险经办系统-vm8"].strategy == "retain"  # ERROR state
    for item in plan.items:
        assert item.strategy == "replatform" and item.target_provider == "xc-kunpeng"
        assert item.target_image_id.startswith("xc-kunpeng-")
        assert item.target_host.startswith("xc-kunpeng-cn")
        assert item.target_size.vcpus >= 4
        assert item.network.target_network_name == "gov-net-01"
        assert not item.network.keep_ip  # 10.10/22 is not inside the target's 10.13/22
    db = next(i for i in plan.items if i.name == "社会保险经办系统-vm0")
    assert db.volumes[0].target_type == "ssd-sm4"  # encrypted stays encrypted, with SM4
    assert plan.summary.lower_bound_hosts <= plan.summary.hosts_used <= plan.summary.hosts_available
    assert plan.summary.gap_hosts == plan.summary.hosts_used - plan.summary.lower_bound_hosts
    assert max(i.wave for i in plan.items) == len(plan.waves)
    # Groups never split across waves.
    for system in {i.system for i in plan.items}:
        assert len({i.wave for i in plan.items if i.system == system}) == 1


def test_pool_target_sends_windows_to_hygon_and_linux_to_kunpeng(env) -> None:  # type: ignore[no-untyped-def]
    config, store = env
    with store.session() as session:
        plan = build_plan(config, session, "xinchuang", {"department": "市人社局"}).plan
    by_name = {i.name: i for i in plan.items}
    assert by_name["就业创业服务平台-vm6"].strategy == "rehost"
    assert by_name["就业创业服务平台-vm6"].target_provider == "xc-hygon"
    assert by_name["社会保险经办系统-vm1"].target_provider == "xc-kunpeng"


def test_plan_that_does_not_fit_is_explained(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    listings = default_listings()
    listings["xc-kunpeng"] = target_listing("xc-kunpeng", "aarch64", hosts=1, vcpus=4, ram_mb=16384)
    store = build_store(config, listings)
    with store.session() as session:
        outcome = build_plan(config, session, "xc-kunpeng", {"department": "市人社局"}, lang="en")
    assert not outcome.fits
    text = shortfall_text(outcome, "en")
    assert "xc-kunpeng" in text and "do not fit" in text and "vCPU" in text
    store.dispose()


def test_unknown_target_is_a_config_error(env) -> None:  # type: ignore[no-untyped-def]
    config, store = env
    with store.session() as session, pytest.raises(ConfigError, match="neither a provider nor a pool"):
        build_plan(config, session, "nowhere")


def test_size_mapping_takes_the_smallest_that_fits() -> None:
    sizes = [
        {"id": "big", "vcpus": 16, "ram_mb": 65536, "disk_gb": 200},
        {"id": "c4m8", "vcpus": 4, "ram_mb": 8192, "disk_gb": 80},
        {"id": "c4m16", "vcpus": 4, "ram_mb": 16384, "disk_gb": 100},
    ]
    assert map_size(sizes, 4, 8192, 40).id == "c4m8"  # type: ignore[union-attr]
    assert map_size(sizes, 4, 12000, 40).id == "c4m16"  # type: ignore[union-attr]
    assert map_size(sizes, 32, 1024, 10) is None


def test_network_mapping_keeps_the_ip_when_the_target_network_holds_it() -> None:
    src = [{"id": "s", "name": "gov-net-01", "cidrs": ["10.10.0.0/22"]}]
    tgt = [
        {"id": "e", "name": "ext-net", "cidrs": ["172.16.0.0/24"], "external": True},
        {"id": "a", "name": "gov-net-01", "cidrs": ["10.13.0.0/22"]},
        {"id": "b", "name": "stretched", "cidrs": ["10.10.0.0/22"]},
    ]
    kept = map_network(src, tgt, "10.10.1.5")
    assert (kept.target_network_id, kept.keep_ip, kept.fixed_ip) == ("b", True, "10.10.1.5")
    moved = map_network(src, tgt[:2], "10.10.1.5")
    assert (moved.target_network_id, moved.keep_ip, moved.fixed_ip) == ("a", False, "")


def test_volume_type_mapping() -> None:
    assert map_volume_type("ssd-luks", True, ["sata", "ssd", "ssd-sm4"]) == "ssd-sm4"
    assert map_volume_type("ssd", False, ["sata", "ssd", "ssd-sm4"]) == "ssd"
    assert map_volume_type("gold", False, ["sata", "ssd-sm4"]) == "sata"
    assert map_volume_type("gold", False, []) == "gold"


def test_waves_respect_the_cap_and_never_split_a_group() -> None:
    items = [(f"a{i}", 3, "A") for i in range(5)] + [(f"b{i}", 1, "B") for i in range(2)] + [("c", 2, "C")]
    wave_of, waves = make_waves(items, cap=4)
    assert wave_of["b0"] == wave_of["b1"] == wave_of["c"] == 1  # low MLPS first
    assert len({wave_of[f"a{i}"] for i in range(5)}) == 1  # a 5-VM group over the cap gets its own wave
    assert [w.items for w in waves] == [3, 5]


def test_plan_json_round_trip_and_validation(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config, store = env
    with store.session() as session:
        plan = build_plan(config, session, "xc-kunpeng", {"department": "市人社局"}).plan
    path = tmp_path / "plan.json"
    dump_plan(plan, path)
    assert load_plan(path) == plan
    data = json.loads(path.read_text(encoding="utf-8"))
    data["items"][0]["strategy"] = "teleport"
    with pytest.raises(ConfigError, match="strategy"):
        parse_plan(data)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["items"].append(data["items"][0])
    with pytest.raises(ConfigError, match="duplicate"):
        parse_plan(data)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["items"][0]["target_image_id"] = ""
    with pytest.raises(ConfigError, match="target_image_id"):
        parse_plan(data)
    with pytest.raises(ConfigError, match="not found"):
        load_plan(tmp_path / "missing.json")
