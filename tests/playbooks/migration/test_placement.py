"""Placement invariants with hypothesis: no host over its policy, anti-affinity honoured."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.config import CapacityConfig, ResourceRatio
from inventory.placement import Demand, HostSlot, group_limits, place, ratio_for

FLAVORS = [(2, 4096, 40), (4, 8192, 80), (4, 16384, 100), (8, 16384, 100), (8, 32768, 200), (16, 65536, 200)]

hosts_st = st.lists(
    st.tuples(st.sampled_from([32, 64, 96]), st.sampled_from([131072, 262144]), st.integers(0, 60)),
    min_size=1,
    max_size=12,
)
demands_st = st.lists(st.tuples(st.integers(0, len(FLAVORS) - 1), st.integers(0, 5)), min_size=0, max_size=80)
ratio_st = st.builds(ResourceRatio, cpu=st.sampled_from([1.0, 2.0, 4.0]), ram=st.sampled_from([1.0, 1.2]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hosts_st, demands_st, ratio_st, st.sampled_from(["dot-product", "first-fit"]))
def test_no_host_over_policy_and_anti_affinity(hosts_spec, demands_spec, ratio, algorithm) -> None:  # type: ignore[no-untyped-def]
    hosts = [
        HostSlot("xc", f"h{i}", vcpus=c, ram_mb=r, disk_gb=4000, vcpus_used=used, ram_mb_used=used * 1024)
        for i, (c, r, used) in enumerate(hosts_spec)
    ]
    demands = [Demand(f"vm{i}", f"sys{g}", *FLAVORS[f]) for i, (f, g) in enumerate(demands_spec)]
    result = place(hosts, demands, {"xc": ratio}, algorithm=algorithm)

    load = [[0.0, 0.0, 0.0] for _ in hosts]
    per_group: dict[tuple[str, int], int] = {}
    for d, h in zip(demands, result.assignment, strict=True):
        if h < 0:
            continue
        load[h][0] += d.vcpus
        load[h][1] += d.ram_mb
        load[h][2] += d.disk_gb
        per_group[(d.group, h)] = per_group.get((d.group, h), 0) + 1
    for h, host in zip(load, hosts, strict=True):
        if not any(h):
            continue  # a host already over its policy may exist; we must only not add to it
        assert host.vcpus_used + h[0] <= host.vcpus * ratio.cpu + 1e-6
        assert host.ram_mb_used + h[1] <= host.ram_mb * ratio.ram + 1e-6
        assert host.disk_gb_used + h[2] <= host.disk_gb * ratio.disk + 1e-6
    limits = group_limits([d.group for d in demands], len(hosts))
    for (group, _), n in per_group.items():
        assert n <= limits[group]
    # The bound is a bound: a complete placement never uses fewer hosts than it.
    if result.fits and demands:
        assert result.hosts_used >= result.lower_bound
    assert result.fits == (not result.unplaced)
    assert len(result.unplaced) == sum(1 for a in result.assignment if a < 0)


def test_strict_anti_affinity_when_hosts_suffice() -> None:
    hosts = [HostSlot("xc", f"h{i}", vcpus=64, ram_mb=262144, disk_gb=4000) for i in range(4)]
    demands = [Demand(f"web{i}", "portal/web", 2, 4096, 40) for i in range(4)]
    result = place(hosts, demands, {"xc": ResourceRatio()})
    assert sorted(result.assignment) == [0, 1, 2, 3]  # tiny VMs, yet one per host


def test_dot_product_packs_near_the_bound_and_beats_first_fit() -> None:
    import random

    rng = random.Random(7)
    hosts = [HostSlot("xc", f"h{i}", vcpus=128, ram_mb=786432, disk_gb=7200) for i in range(100)]
    demands = [Demand(f"vm{i}", f"s{i // 8}", *rng.choice(FLAVORS)) for i in range(3000)]
    dot = place(hosts, demands, {"xc": ResourceRatio(cpu=2.0)})
    ff = place(hosts, demands, {"xc": ResourceRatio(cpu=2.0)}, algorithm="first-fit")
    assert dot.fits and ff.fits
    assert dot.lower_bound <= dot.hosts_used <= ff.hosts_used
    assert dot.hosts_used <= 1.05 * dot.lower_bound


def test_shortfall_names_the_missing_dimension() -> None:
    hosts = [HostSlot("xc", "h0", vcpus=8, ram_mb=8192, disk_gb=100)]
    demands = [Demand("a", "s", 4, 8192, 50), Demand("b", "t", 4, 8192, 50)]
    result = place(hosts, demands, {"xc": ResourceRatio(cpu=1.0)})
    assert result.unplaced == ["b"] or result.unplaced == ["a"]
    assert result.shortfall["ram_mb"] == 8192
    assert "vcpus" not in result.shortfall


def test_overcommit_policy_most_specific_wins() -> None:
    cap = CapacityConfig(
        overcommit={
            "default": ResourceRatio(cpu=4.0),
            "xinchuang": ResourceRatio(cpu=2.0),
            "xc-kunpeng": ResourceRatio(cpu=1.5),
        }
    )
    assert ratio_for(cap, "xc-kunpeng", "xinchuang").cpu == 1.5
    assert ratio_for(cap, "xc-hygon", "xinchuang").cpu == 2.0
    assert ratio_for(cap, "gov-huawei", "legacy").cpu == 4.0
