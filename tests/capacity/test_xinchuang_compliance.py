"""国产化率 as the policy counts it (domestic CPU and domestic OS, as collected) beside the pool
share, on an estate computed by hand, through every output of the capacity report, and on
the lab through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from inventory.capacity import api as capacity
from inventory.capacity.xinchuang_compliance import why_not
from inventory.config import parse_config
from inventory.store import open_store
from inventory.sync import sync_all
from providers.base import Host, State
from tests.inventory.fakes import FakeCloud, factory, make_node

GB = 1024


def _node(provider: str, i: int, vcpus: int, vendor: str, os_family: str, department: str, **kw: Any) -> Any:
    return make_node(provider, i, vcpus=vcpus, cpu_vendor=vendor, os_family=os_family, name=f"{provider}-{i}",
                     tags={"department": department, "system": f"{department}系统"}, **kw)  # fmt: skip


@pytest.fixture()
def report(tmp_path: Path) -> dict[str, Any]:
    """leg: Intel CentOS (甲局 4, 乙局 8) and a Kylin VM on a Hygon host (乙局 2: compliant outside
    the pool); xc-k (Kunpeng): Kylin 4 and CentOS 2 (甲局); xc-h (Hygon): UOS 4 (乙局), Windows 8 (甲局)."""
    config = parse_config(
        {
            "database": "sqlite:///x.db",
            "centers": [{"id": "c1", "name": "生产中心", "role": "production", "site": "ganzhou"}],
            "providers": [
                {"name": "leg", "driver": "fake", "center": "c1", "pool": "legacy"},
                {"name": "xc-k", "driver": "fake", "center": "c1", "pool": "xinchuang"},
                {"name": "xc-h", "driver": "fake", "center": "c1", "pool": "xinchuang"},
            ],
        },
        base_dir=str(tmp_path),
    )

    def host(provider: str) -> Host:
        return Host(provider=provider, id="h", name=f"{provider}-h", state=State.RUNNING, vcpus=64, ram_mb=256 * GB,
                    disk_gb=4000)  # fmt: skip

    clouds = {
        "leg": FakeCloud(
            nodes=[
                _node("leg", 1, 4, "Intel", "CentOS", "甲局"),
                _node("leg", 2, 8, "Intel", "RHEL", "乙局"),
                _node("leg", 3, 2, "Hygon", "Kylin", "乙局"),
            ],
            hosts=[host("leg")],
        ),
        "xc-k": FakeCloud(
            nodes=[_node("xc-k", 1, 4, "Kunpeng", "Kylin", "甲局"), _node("xc-k", 2, 2, "Kunpeng", "CentOS", "甲局")],
            hosts=[host("xc-k")],
        ),
        "xc-h": FakeCloud(
            nodes=[
                _node("xc-h", 1, 4, "Hygon", "UOS", "乙局"),
                _node("xc-h", 2, 8, "Hygon", "Windows", "甲局"),
                _node("xc-h", 3, 16, "", "", "乙局", state=State.TERMINATED),
            ],
            hosts=[host("xc-h")],
        ),
    }
    store = open_store(config.database_url)
    sync_all(config, store, factory=factory(clouds))
    data = capacity.build_report(config, store, forecast=False, import_history=False)
    data["_path"] = tmp_path
    store.dispose()
    return data


def test_compliant_share_is_read_from_cpu_and_os_not_from_the_pool(report: dict[str, Any]) -> None:
    xc = report["xinchuang"]
    # Allocated vCPU 32 (the terminated VM holds nothing); in Xinchuang pools 4+2+4+8 = 18.
    assert xc["share"] == pytest.approx(18 / 32, abs=1e-4)
    # Domestic CPU and OS: Kylin/Kunpeng 4, UOS/Hygon 4, and Kylin/Hygon in the legacy pool 2.
    assert (xc["compliant_vcpus"], xc["compliant_nodes"]) == (10, 3)
    assert xc["compliant_share"] == pytest.approx(10 / 32, abs=1e-4) != xc["share"]
    assert xc["compliant_node_share"] == pytest.approx(3 / 7, abs=1e-4)
    depts = {d["department"]: d for d in xc["by_department"]}
    assert (depts["甲局"]["vcpus"], depts["甲局"]["xc_vcpus"], depts["甲局"]["compliant_vcpus"]) == (18, 14, 4)
    assert depts["甲局"]["compliant_share"] == pytest.approx(4 / 18, abs=1e-4)
    assert (depts["乙局"]["vcpus"], depts["乙局"]["xc_vcpus"], depts["乙局"]["compliant_vcpus"]) == (14, 4, 6)
    assert depts["乙局"]["compliant_share"] > depts["乙局"]["share"]  # the legacy Kylin-on-Hygon VM counts


def test_non_compliant_workloads_in_domestic_pools_are_listed_with_why(report: dict[str, Any]) -> None:
    listed = report["xinchuang"]["noncompliant_in_pool"]
    assert (listed["nodes"], listed["vcpus"]) == (2, 10)
    rows = {(r["provider"], r["name"]): r for r in listed["listed"]}
    assert set(rows) == {("xc-k", "xc-k-2"), ("xc-h", "xc-h-2")}  # CentOS on Kunpeng, Windows on Hygon
    assert rows[("xc-k", "xc-k-2")]["why"] == ["foreign_os"] and rows[("xc-k", "xc-k-2")]["department"] == "甲局"
    assert report["xinchuang"]["policy"]["cpu_vendors"] == [
        "Hygon",
        "Kunpeng",
        "Loongson",
        "Phytium",
        "Sunway",
        "Zhaoxin",
    ]
    assert why_not("Intel", "Kylin") == ["foreign_cpu"] and why_not("", "") == ["unknown_cpu", "unknown_os"]


def test_both_shares_and_the_list_reach_xlsx_and_html(report: dict[str, Any]) -> None:
    folder: Path = report.pop("_path")
    book = openpyxl.load_workbook(capacity.write_xlsx(report, folder / "r.xlsx"))
    cells = [str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert "xc-k-2" in cells and "xc-h-2" in cells
    assert any(c.startswith("0.3125") for c in cells) and any(c.startswith("0.5625") for c in cells)
    page = capacity.write_html(report, folder / "r.html").read_text(encoding="utf-8")
    assert "xc-k-2" in page and "0.3125" in page and "0.5625" in page


@pytest.mark.slow
@pytest.mark.xdist_group("migration-real-clouds")
def test_the_lab_report_shows_a_compliant_share_different_from_the_pool_share(tmp_path: Path) -> None:
    from lab import control

    path = control.up(tmp_path, "small")
    env = {**os.environ, "GANYUN_CONFIG": str(path), "GANYUN_LANG": "en"}
    ganyun = str(Path(sys.executable).with_name("ganyun"))
    try:
        assert subprocess.run([ganyun, "sync"], env=env, cwd=tmp_path, capture_output=True, timeout=300).returncode == 0
        proc = subprocess.run([ganyun, "capacity", "report", "--format", "json"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
        table = subprocess.run([ganyun, "capacity", "report"], env={**env, "COLUMNS": "300"}, cwd=tmp_path,
                               capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
    finally:
        control.down(tmp_path)
    xc = json.loads(proc.stdout)["xinchuang"]
    assert 0.0 < xc["compliant_share"] < xc["share"]
    seeded = {(r["provider"], r["os_family"]) for r in xc["noncompliant_in_pool"]["listed"]}
    assert seeded == {("xc-kunpeng", "CentOS"), ("xc-hygon", "Windows")}  # what the lab seeds
    assert "CentOS" in table.stdout and "Compliant" in table.stdout
