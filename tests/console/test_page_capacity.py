"""The 容量 page on the small fixed capacity estate (hand-computed figures in tests/inventory/capacity)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.console.apptest import CITY, PAGES
from tests.fakes.estates.capacity import build_small

pytestmark = pytest.mark.xdist_group("capacity_page")


def _run(tmp_path: Path, role: str = "planner", lang: str | None = None, stale: bool = True) -> AppTest:
    small = build_small(tmp_path, stale=stale)
    at = AppTest.from_file(str(PAGES / "capacity.py"), default_timeout=120)
    at.session_state["user"] = {"name": "planner-1", "role": role, "scope": CITY}
    at.session_state["ganyun_config"] = small.config
    if lang:
        at.session_state["lang"] = lang
    return at.run()


def test_capacity_page_figures_and_stale_banner(tmp_path: Path) -> None:
    at = _run(tmp_path)
    assert not at.exception
    assert at.title[0].value == "容量"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["已分配 vCPU"] == "24"  # leg-a 12 + leg-b 4 (stale, last good) + xc-a 8
    assert metrics["国产化率"] == "33.3%"
    assert any("leg-b" in e.value for e in at.error)
    pools = at.dataframe[0].value
    assert list(pools["名称"]) == ["leg-a", "xc-a", "leg-b"]
    # leg-b (stale: its last good sync): 128 vCPU, 128 GB, 2000 GB less one 4/8/100 node
    # -> min(124/4, 120/8, 1900/100) = min(31, 15, 19)
    assert list(pools["剩余标准虚拟机（台）"]) == [37, 30, 15]
    assert [tab.label for tab in at.tabs][:2] == ["分配与余量", "预测"]


def test_capacity_page_in_english_without_stale(tmp_path: Path) -> None:
    at = _run(tmp_path, lang="en", stale=False)
    assert not at.exception
    assert at.title[0].value == "Capacity"
    assert not [e for e in at.error if "not current" in e.value]
    assert {m.label for m in at.metric} >= {"Allocated vCPU", "Xinchuang share"}


def test_capacity_page_headroom(tmp_path: Path) -> None:
    at = _run(tmp_path)
    at.text_area(key="cap_where").input("department=乙局")
    next(b for b in at.button if b.key == "cap_headroom").click().run()
    assert not at.exception
    assert any("12 vCPU" in s.value for s in at.subheader)
    table = at.dataframe[-1].value
    assert list(table["现在可承接"]) == ["Y"]


def test_capacity_page_exports(tmp_path: Path) -> None:
    at = _run(tmp_path)
    next(b for b in at.button if b.key == "cap_export").click().run()
    assert not at.exception
    labels = [d.label for d in at.get("download_button")]
    assert labels == ["下载 Excel 报告", "下载 HTML 报告", "下载 JSON 报告"]


def _with_history(tmp_path: Path) -> Any:
    from datetime import UTC, date, datetime

    from sqlalchemy import insert

    from inventory.models import UtilizationDayRow, UtilizationRow

    small = build_small(tmp_path, stale=False)
    with small.store.session() as session:
        session.execute(insert(UtilizationRow), [
            {"provider": "leg-a", "node_id": node, "cpu_avg_pct": 5.0, "cpu_p95_pct": 9.0, "ram_avg_pct": 20.0,
             "window_days": 3, "sampled_at": datetime.now(UTC)} for node in ("leg-a-n1", "leg-a-n2")
        ])  # fmt: skip
        session.execute(insert(UtilizationDayRow), [
            {"provider": "leg-a", "node_id": "leg-a-n1", "day": date(2026, 3, d), "cpu_avg_pct": cpu, "ram_avg_pct": 20.0}
            for d, cpu in ((1, 2.0), (2, 11.0), (3, 2.0))
        ])  # fmt: skip
        session.commit()
    return small


def _rightsizing_page(small: Any, lang: str | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGES / "capacity.py"), default_timeout=120)
    at.session_state["user"] = {"name": "planner-1", "role": "planner", "scope": CITY}
    at.session_state["ganyun_config"] = small.config
    if lang:
        at.session_state["lang"] = lang
    return at.run()


def _chart_rows(at: AppTest) -> list[dict[str, Any]]:
    """The rows of every dataset the page's one Vega-Lite chart was sent (Arrow IPC)."""
    import pyarrow as pa

    [chart] = at.get("vega_lite_chart")
    return [row for ds in chart.proto.datasets for row in pa.ipc.open_stream(ds.data.data).read_all().to_pylist()]


def test_rightsizing_tab_charts_a_vms_daily_cpu(tmp_path: Path) -> None:
    small = _with_history(tmp_path)
    at = _rightsizing_page(small)
    assert not at.exception
    # leg-a-n1 averages 5% (below the 7% idle line) but had an 11% day: not idle.
    listed = {
        row: idle for row, idle in zip(at.dataframe[-1].value["名称"], at.dataframe[-1].value["闲置"], strict=True)
    }
    assert listed["vm-1"] == "" and listed["vm-2"] == "Y"
    select = at.selectbox(key="cap_rs_vm")
    select.set_value(select.options.index("vm-1 (leg-a)")).run()
    assert not at.exception
    assert any("每日 CPU" in s.value for s in at.subheader)
    cpu = [row["cpu_avg_pct"] for row in _chart_rows(at) if "cpu_avg_pct" in row]
    assert cpu == [2.0, 11.0, 2.0]
    assert any("共 3 天" in c.value for c in at.caption)
    select.set_value(select.options.index("vm-2 (leg-a)")).run()
    assert not at.get("vega_lite_chart") and any("没有每日使用记录" in i.value for i in at.info)


def test_rightsizing_history_in_english(tmp_path: Path) -> None:
    at = _rightsizing_page(_with_history(tmp_path), lang="en")
    assert not at.exception
    assert any(s.value == "Daily CPU use of one VM" for s in at.subheader)
    assert at.selectbox(key="cap_rs_vm").label == "Choose a VM"
