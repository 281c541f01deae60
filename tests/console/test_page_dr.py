"""灾备 page: topology drawn; starting a drill is for operators only, checked on the server."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.console.estate import PAGES, audit_entries, button, session_for


def _run(estate, role):
    at = AppTest.from_file(str(PAGES / "dr.py"), default_timeout=60)
    session_for(at, estate, role)
    return at.run()


def _start(at):
    at.selectbox(key="drill_scenario").select("failover")
    at.checkbox(key="drill_confirm").check()
    return button(at, "发起演练").click().run()


def test_topology_has_three_centers_and_both_replication_links(estate):
    at = _run(estate, "auditor")
    assert not at.exception
    dot = at.get("graphviz_chart")[0].proto.spec
    for name in ("赣州政务云生产中心", "同城灾备中心", "异地灾备中心", "同步复制", "异步复制", "社保系统"):
        assert name in dot
    assert '"gz-prod" -> "gz-dr"' in dot and '"gz-prod" -> "nc-dr"' in dot


def test_planner_cannot_start_a_drill(dr_estate):
    at = _start(_run(dr_estate, "planner"))
    assert not at.exception
    assert "无权执行此操作：当前角色不允许。" in [e.value for e in at.error]
    assert not (dr_estate.dir / "drills").exists()  # nothing was spawned
    assert "drill_log" not in at.session_state
    denied = audit_entries(dr_estate, "console.denied")
    assert denied and denied[0]["actor"] == "console:planner" and denied[0]["details"]["action"] == "drill.start"
    assert not audit_entries(dr_estate, "drill.start")


def test_auditor_cannot_start_a_drill(dr_estate):
    at = _start(_run(dr_estate, "auditor"))
    assert "无权执行此操作：当前角色不允许。" in [e.value for e in at.error]
    assert not (dr_estate.dir / "drills").exists()


def test_drill_needs_confirmation(dr_estate):
    at = _run(dr_estate, "operator")
    at.selectbox(key="drill_scenario").select("failover")
    button(at, "发起演练").click().run()
    assert "请先勾选确认。" in [w.value for w in at.warning]
    assert not (dr_estate.dir / "drills").exists()


def test_operator_starts_a_drill_and_it_is_recorded(dr_estate, monkeypatch):
    # The spawned CLI finds no config file and exits at once: we check the console's side only.
    monkeypatch.setenv("GANYUN_CONFIG", str(dr_estate.dir / "missing.yaml"))
    at = _start(_run(dr_estate, "operator"))
    assert not at.exception
    assert any("演练已发起" in s.value for s in at.success)
    assert list((dr_estate.dir / "drills").glob("console-*-failover.log"))
    started = audit_entries(dr_estate, "drill.start")
    assert started[0]["actor"] == "console:operator" and started[0]["details"]["scenario"] == "failover"


def test_without_dr_section_the_drill_is_refused_with_a_message(estate, monkeypatch):
    monkeypatch.setenv("GANYUN_CONFIG", str(estate.dir / "missing.yaml"))
    at = _start(_run(estate, "operator"))
    assert any("没有灾备" in e.value for e in at.error)
    assert not (estate.dir / "drills").exists()
