"""The report's sections come from two node passes and one host pass; these pin what that
rework must keep: the host ranking and its cut, rack fill across providers, and the index the
per-host pass relies on."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.dialects import sqlite

from inventory.capacity import queries
from inventory.capacity import report as capacity
from inventory.models import HostRow
from tests.capacity.estate import GB, build_small


@pytest.fixture()
def small(tmp_path: Path):
    return build_small(tmp_path)


def test_host_cut_is_the_head_of_the_full_ranking(small) -> None:
    with small.store.session() as session:
        full = capacity.aggregate(session, small.config, host_limit=None, trend=False)["hosts"]
        for limit in (1, 2, 3):
            cut = capacity.aggregate(session, small.config, host_limit=limit, trend=False)["hosts"]
            assert cut == full[:limit]
    scores = [max(h["used_pct"]["vcpus"] or 0.0, h["used_pct"]["ram_mb"] or 0.0) for h in full]
    assert scores == sorted(scores, reverse=True)
    # h2 (leg-a: cpu x4, ram x1.5) holds the stopped node: 8 of 128 vCPU, 16 of 192 GB -> 8.3 %.
    # x1 (xinchuang: cpu x2): 8 of 128 vCPU, 16 of 256 GB -> 6.2 %; b1 (default: cpu x4, ram x1):
    # 4 of 128 vCPU, 8 of 128 GB -> 6.2 % too; h1: 4 of 128 vCPU, 8 of 192 GB -> 4.2 %.
    order = [(h["provider"], h["host"]) for h in full]
    assert order[0] == ("leg-a", "h2") and order[3] == ("leg-a", "h1")
    assert set(order[1:3]) == {("xc-a", "x1"), ("leg-b", "b1")}  # a tie: hosts-table order decides
    assert full[0]["used_pct"] == {"vcpus": 6.2, "ram_mb": 8.3}
    assert full[0]["nodes"] == 1 and full[0]["allocated"] == {"vcpus": 8, "ram_mb": 16 * GB}


def test_rack_shared_by_two_providers_mixes_measured_and_estimated_power(small) -> None:
    # A leg-a host without a power reading in xc-a's rack R02 (same data center c1).
    with small.store.session() as session:
        session.execute(insert(HostRow), [
            {"provider": "leg-a", "id": "h3", "name": "h3", "state": "running", "vcpus": 16, "ram_mb": 64 * GB,
             "disk_gb": 500, "vcpus_used": 0, "ram_mb_used": 0, "disk_gb_used": 0, "arch": "x86_64",
             "cpu_vendor": "Intel", "cpu_model": "", "rack": "R02", "running_vms": 0, "extra": {}, "fingerprint": ""}
        ])  # fmt: skip
    report = capacity.build_report(small.config, small.store, forecast=False)
    r02 = {(r["center"], r["rack"]): r for r in report["racks"]}[("c1", "R02")]
    assert r02["providers"] == ["leg-a", "xc-a"]
    assert r02["hosts"] == 2
    assert r02["kw"] == pytest.approx(0.5 + 0.4)  # x1 measured, h3 estimated from kw_per_host
    pools = {p["name"]: p for p in report["pools"]}
    assert pools["leg-a"]["hosts"] == 3
    assert pools["leg-a"]["physical"]["vcpus"] == 32 + 32 + 16
    assert report["rack_summary"]["hosts"] == 5


def test_host_pass_walks_its_covering_index(small) -> None:
    # Migration 0010's index holds everything the per-host query reads, in its GROUP BY order:
    # SQLite answers it from the index alone, without a sort.
    sql = str(queries.host_usage_query().compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with small.store.engine.connect() as connection:
        plan = " | ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "COVERING INDEX ix_nodes_host_usage" in plan
    assert "TEMP B-TREE" not in plan
