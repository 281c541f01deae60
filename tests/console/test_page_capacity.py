"""The 容量 page on the small fixed capacity estate (hand-computed figures in tests/capacity)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.capacity.estate import build_small
from tests.console.estate import CITY, PAGES

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
