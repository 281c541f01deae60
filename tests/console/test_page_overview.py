from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.console.apptest import PAGES, session_for


def _run(estate, role="auditor", lang=None):
    at = AppTest.from_file(str(PAGES / "overview.py"), default_timeout=60)
    session_for(at, estate, role)
    if lang:
        at.session_state["lang"] = lang
    return at.run()


def test_overview_counts_and_failed_provider_in_red(estate):
    at = _run(estate)
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    # 6 + 3 + 2 VMs synced, plus ali-gov's 3 kept from its last good sync (stale).
    assert metrics["虚拟机"] == "14"
    assert metrics["物理主机"] == "1"
    assert metrics["同步异常"] == "1"
    assert any("ali-gov" in e.value for e in at.error)
    status = at.dataframe[3].value
    assert list(status["云平台"]) == ["ali-gov", "dr-cloud", "hw-gov", "xc-pool"]
    assert list(status["已过期"]) == ["是", "否", "否", "否"]


def test_overview_xinchuang_share_and_centers(estate):
    at = _run(estate)
    by_center = at.dataframe[0].value
    assert dict(zip(by_center["数据中心"], by_center["虚拟机数"], strict=True)) == {
        "赣州政务云生产中心": 9, "同城灾备中心": 2, "异地灾备中心": 3}
    # xc-pool: 3 VMs of 4 vCPU among 14 VMs of 4 vCPU, one of them resized to 8 -> 12 / 60.
    assert {m.label: m.value for m in at.metric}["国产化率（vCPU）"] == "20.0%"


def test_overview_in_english(estate):
    at = _run(estate, lang="en")
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert "VMs" in [m.label for m in at.metric]
