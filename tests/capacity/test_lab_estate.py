"""The report on the seeded lab estate (small scale, built without HTTP) agrees with the
inventory, and the lab's 12 months of history give every pool a forecast."""

from __future__ import annotations

from collections import defaultdict

import pytest

from inventory import query
from inventory.capacity.report import build_report
from tests.capacity.labdb import build_lab_db

pytestmark = pytest.mark.xdist_group("capacity_lab")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return build_lab_db(tmp_path_factory.mktemp("caplab"), "small")


@pytest.fixture(scope="module")
def report(lab):
    config, store, _estate = lab
    return build_report(config, store, method="linear")


def test_pool_figures_agree_with_the_inventory(lab, report) -> None:
    _config, store, estate = lab
    physical: dict[str, int] = defaultdict(int)
    allocated: dict[str, int] = defaultdict(int)
    with store.session() as session:
        for h in query.iter_records(session, "hosts"):
            physical[h["provider"]] += h["vcpus"]
        for n in query.iter_records(session, "nodes"):
            allocated[n["provider"]] += n["vcpus"]  # every seeded node sits on a hypervisor
    pools = {p["name"]: p for p in report["pools"]}
    assert set(pools) == {c.name for c in estate.clouds}
    for name, pool in pools.items():
        assert pool["physical"]["vcpus"] == physical[name]
        assert pool["allocated"]["vcpus"] == allocated[name]
        assert pool["free"]["vcpus"] == pytest.approx(pool["capacity"]["vcpus"] - allocated[name])
        ratio = 2.0 if pool["pool"] == "xinchuang" else 4.0
        assert pool["capacity"]["vcpus"] == pytest.approx(physical[name] * ratio)
    assert 0.0 < report["xinchuang"]["share"] < 1.0
    assert report["stale"] == []


def test_every_pool_has_a_forecast_from_the_lab_history(report) -> None:
    assert len(report["forecast"]) == len(report["pools"])
    for f in report["forecast"]:
        # Weekly points from the first seeded node of the pool (up to 52) to the live sync.
        assert 26 <= f["history_points"] <= 54
        vcpus = f["resources"]["vcpus"]
        assert vcpus["status"] in ("runs_out", "beyond_horizon")
        assert vcpus["points"] and vcpus["points"][0][2] <= vcpus["points"][0][1] <= vcpus["points"][0][3]
    trend = report["xinchuang"]["trend"]["overall"]
    assert len(trend) >= 50 and all(0.0 <= p["share"] <= 1.0 for p in trend)


def test_rightsizing_finds_the_idle_fifth(report) -> None:
    rs = report["rightsizing"]
    assert rs["measured_nodes"] == report["totals"]["nodes"]
    # The seed makes about a fifth of the nodes nearly idle.
    assert 0.1 < rs["idle"]["nodes"] / rs["measured_nodes"] < 0.3


def test_rightsizing_in_sql_matches_the_python_rule(lab, report) -> None:
    from sqlalchemy import select

    from inventory.capacity.rightsizing import LEVELS, suggest
    from inventory.models import NodeRow, UtilizationRow

    _config, store, _estate = lab
    expected = {name: [0, 0, 0] for name in LEVELS}
    with store.session() as session:
        stmt = select(NodeRow.vcpus, NodeRow.ram_mb, UtilizationRow.cpu_avg_pct, UtilizationRow.cpu_p95_pct,
                      UtilizationRow.ram_avg_pct).join(
            UtilizationRow, (UtilizationRow.provider == NodeRow.provider) & (UtilizationRow.node_id == NodeRow.id))
        for vcpus, ram, avg, p95, ram_avg in session.execute(stmt):
            for name, level in LEVELS.items():
                cpu, mem = suggest(vcpus, ram, avg, p95, ram_avg, level)
                e = expected[name]
                e[0] += cpu < vcpus or mem < ram
                e[1] += vcpus - cpu
                e[2] += ram - mem
    for name, (oversized, vcpus, ram) in expected.items():
        got = report["rightsizing"]["levels"][name]
        assert (got["oversized"], got["vcpus_reclaimable"], got["ram_mb_reclaimable"]) == (oversized, vcpus, ram)
    top = report["rightsizing"]["top"]
    assert top and all(
        (s["suggested_vcpus"], s["suggested_ram_mb"])
        == suggest(s["vcpus"], s["ram_mb"], s["cpu_avg_pct"], s["cpu_p95_pct"], s["ram_avg_pct"], LEVELS["moderate"])
        for s in top
    )
