"""Capacity figures against hand-computed values on a small fixed estate."""

from __future__ import annotations

from pathlib import Path

import pytest

from inventory.capacity import pools, report
from inventory.config import parse_config
from tests.capacity.estate import GB, build_small


@pytest.fixture()
def small(tmp_path: Path):
    return build_small(tmp_path)


def _report(small):
    return report.build_report(small.config, small.store, forecast=False)


def test_pool_figures_match_hand_computed(small) -> None:
    pools = {p["name"]: p for p in _report(small)["pools"]}
    a = pools["leg-a"]
    assert a["physical"] == {"vcpus": 64, "ram_mb": 256 * GB, "disk_gb": 4000}
    # leg-a's own policy (ram 1.5) beats the default; cpu 4 from it too.
    assert a["capacity"] == {"vcpus": 256.0, "ram_mb": 384.0 * GB, "disk_gb": 4000.0}
    # The errored node without a host holds nothing; the stopped one still does.
    assert a["allocated"] == {"vcpus": 12, "ram_mb": 24 * GB, "disk_gb": 300}
    assert a["nodes"] == 2
    assert a["free"] == {"vcpus": 244.0, "ram_mb": 360.0 * GB, "disk_gb": 3700.0}
    # min(244/4, 360/8, 3700/100) = min(61, 45, 37)
    assert a["free_vm_units"] == 37
    x = pools["xc-a"]
    assert x["capacity"]["vcpus"] == 128.0  # the xinchuang pool policy: cpu 2
    assert x["allocated"]["vcpus"] == 8
    assert x["free_vm_units"] == 30  # min(120/4, 240/8, 3800/100)
    assert x["used_pct"]["vcpus"] == pytest.approx(6.2, abs=0.05)


def test_rollups_by_pool_type_and_center(small) -> None:
    report = _report(small)
    types = {g["pool"]: g for g in report["pool_types"]}
    assert types["legacy"]["allocated"]["vcpus"] == 12 + 4  # leg-a + the stale leg-b's last good data
    assert types["xinchuang"]["allocated"]["vcpus"] == 8
    centers = {g["center"]: g for g in report["centers"]}
    assert centers["c1"]["physical"]["vcpus"] == 128
    assert centers["c2"]["hosts"] == 1
    assert report["totals"]["nodes"] == 5


def test_overcommit_most_specific_wins(tmp_path: Path) -> None:
    config = parse_config(
        {"capacity": {"overcommit": {"default": {"cpu": 3.0}, "xinchuang": {"cpu": 2.0}, "xc-1": {"cpu": 1.5}}}},
        base_dir=str(tmp_path),
    )
    assert pools.overcommit_for(config, "xc-1", "xinchuang").cpu == 1.5
    assert pools.overcommit_for(config, "xc-2", "xinchuang").cpu == 2.0
    assert pools.overcommit_for(config, "old", "legacy").cpu == 3.0
    bare = parse_config({"capacity": {"overcommit": {"legacy": {"cpu": 8.0}}}}, base_dir=str(tmp_path))
    assert pools.overcommit_for(bare, "x", "xinchuang").cpu == 4.0  # the model's default ratio


def test_showback_and_xinchuang_share(small) -> None:
    report = _report(small)
    xc = report["xinchuang"]
    # Allocated vCPU: leg-a 12, leg-b 4, xc-a 8 -> 8 / 24.
    assert xc["share"] == pytest.approx(8 / 24, abs=1e-4)
    assert xc["node_share"] == pytest.approx(2 / 5, abs=1e-4)
    assert 0.0 <= xc["share"] <= 1.0
    depts = {d["department"]: d for d in report["departments"]}
    assert depts["甲局"]["vcpus"] == 12 and depts["甲局"]["xc_vcpus"] == 8
    assert depts["乙局"]["xc_share"] == 0.0
    centers = {c["center"]: c for c in xc["by_center"]}
    assert centers["c1"]["share"] == pytest.approx(8 / 20, abs=1e-4)
    assert centers["c2"]["share"] == 0.0
    systems = {(s["department"], s["system"]): s for s in report["systems"]}
    assert systems[("乙局", "乙系统")]["nodes"] == 2
    # Trend: one day of samples (two syncs the same day count once, the last one).
    trend = xc["trend"]["overall"]
    assert len(trend) == 1 and trend[0]["share"] == pytest.approx(8 / 24, abs=1e-4)


def test_rack_fill(small) -> None:
    racks = {(r["center"], r["rack"]): r for r in _report(small)["racks"]}
    r01 = racks[("c1", "R01")]
    assert r01["hosts"] == 2 and r01["fill_pct"] == 20.0
    assert r01["kw"] == pytest.approx(0.8)  # estimated from kw_per_host
    r02 = racks[("c1", "R02")]
    assert r02["kw"] == pytest.approx(0.5)  # measured power wins over the estimate
    assert r02["kw_fill_pct"] == 10.0
    assert racks[("c2", "R01")]["hosts"] == 1  # same label, other data center: another rack


def test_host_figures(small) -> None:
    hosts = {(h["provider"], h["host"]): h for h in _report(small)["hosts"]}
    assert hosts[("xc-a", "x1")]["allocated"]["vcpus"] == 8
    assert hosts[("leg-a", "h2")]["nodes"] == 1
    assert hosts[("xc-a", "x1")]["used_pct"]["vcpus"] == pytest.approx(100 * 8 / 128, abs=0.05)


def test_stale_provider_flagged(small) -> None:
    report = _report(small)
    assert [s["provider"] for s in report["stale"]] == ["leg-b"]
    assert report["warnings"] and "leg-b" in report["warnings"][0]
    pools = {p["name"]: p for p in report["pools"]}
    assert pools["leg-b"]["stale"] and not pools["leg-a"]["stale"]


def test_no_stale_when_all_synced(tmp_path: Path) -> None:
    small = build_small(tmp_path, stale=False)
    assert _report(small)["stale"] == []
