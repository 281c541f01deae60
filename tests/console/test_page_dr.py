"""灾备 page: topology drawn; recorded drills shown against their own targets; starting a drill is
for operators only, checked on the server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from streamlit.testing.v1 import AppTest

from playbooks.drill import engine, history, scenarios
from tests.console.apptest import PAGES, audit_entries, button, session_for
from tests.fakes.estates.city import Estate


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


def test_every_scenario_is_offered_by_its_title(dr_estate):
    at = _run(dr_estate, "operator")
    box = at.selectbox(key="drill_scenario")
    assert box.options == [scenarios.get(name).title("zh-CN") for name in scenarios.names()]
    assert "高可用管理进程故障" in box.options and "网络分区" in box.options


def test_planner_cannot_start_a_drill(dr_estate):
    at = _start(_run(dr_estate, "planner"))
    assert not at.exception
    assert "无权执行此操作：当前角色不允许。" in [e.value for e in at.error]
    assert not (dr_estate.dir / "drills").exists()  # nothing was spawned
    assert "drill_job" not in at.session_state
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


# --------------------------------------------------------------------------- drill history


SAME_CITY = engine.DrillTargets(rto_s=10.0, rpo_rows=0, rpo_s=None)
REMOTE = engine.DrillTargets(rto_s=60.0, rpo_rows=None, rpo_s=30.0)


def _recorded_drill(
    estate: Estate,
    scenario: str,
    targets: engine.DrillTargets,
    started: float,
    *,
    rto_s: float | None,
    rows_lost: int | None,
    loss_window_s: float | None,
    interrupted: bool = False,
) -> str:
    """Record a drill the way `ganyun drill run` does: the engine's report through history.save.

    The checks come from the engine itself so that the page is held to the drill's own judgement.
    """
    run_id = f"{datetime.fromtimestamp(started, UTC):%Y%m%dT%H%M%S}-{scenario}-abc123"
    plan = engine.DrillPlan(scenario, str(scenarios.get(scenario).playbook), "gz-prod", "gz-dr", ["nc-dr"])
    measurements = {
        "fault_at": None if interrupted else started + 5.0,
        "rto_s": rto_s,
        "rows_lost": rows_lost,
        "lost_ids": [],
        "data_loss_window_s": loss_window_s,
    }
    verification = {"equal": not interrupted, "centers": {}}
    checks = engine._checks(plan, targets, measurements, verification, not interrupted)
    passed = not interrupted and all(c["met"] for c in checks)
    report = {
        "run_id": run_id,
        "scenario": scenario,
        "status": "interrupted" if interrupted else "passed" if passed else "failed",
        "passed": passed,
        "started_at": started,
        "finished_at": started + 60.0,
        "primary_before": plan.primary,
        "primary_after": "" if interrupted else plan.target,
        "targets": {"rto_s": targets.rto_s, "rpo_rows": targets.rpo_rows, "rpo_s": targets.rpo_s},
        "measurements": measurements,
        "verification": verification,
        "checks": checks,
        "steps": [],
        "message": "",
    }
    history.save(estate.store, report)
    return run_id


def test_history_shows_recorded_drills_against_their_own_targets(dr_estate):
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
    failover = _recorded_drill(dr_estate, "failover", SAME_CITY, base, rto_s=3.2, rows_lost=0, loss_window_s=0.0)
    # Remote failover loses acknowledged rows by design: its RPO is the loss window in seconds.
    remote = _recorded_drill(
        dr_estate, "remote-failover", REMOTE, base + 600, rto_s=12.5, rows_lost=4, loss_window_s=1.2
    )
    slow = _recorded_drill(dr_estate, "switchover", SAME_CITY, base + 1200, rto_s=14.0, rows_lost=0, loss_window_s=0.0)
    stopped = _recorded_drill(
        dr_estate, "failback", SAME_CITY, base + 1800, rto_s=None, rows_lost=None, loss_window_s=None, interrupted=True
    )

    at = _run(dr_estate, "auditor")
    assert not at.exception
    table = at.dataframe[0].value
    rows = {r["ID"]: r for r in table.to_dict("records")}
    assert list(table["ID"]) == [stopped, slow, remote, failover]  # newest first

    assert rows[failover]["RTO (s)"] == 3.2 and rows[failover]["RTO目标(s)"] == 10.0
    assert (rows[failover]["RPO"], rows[failover]["RPO目标"], rows[failover]["达标"]) == ("0 行", "0 行", "是")

    assert rows[remote]["RTO (s)"] == 12.5 and rows[remote]["RTO目标(s)"] == 60.0
    assert (rows[remote]["RPO"], rows[remote]["RPO目标"], rows[remote]["达标"]) == ("1.2 秒", "30 秒", "是")

    assert rows[slow]["状态"] == "failed" and rows[slow]["达标"] == "否"  # 14 s against 10 s
    assert rows[stopped]["状态"] == "interrupted" and rows[stopped]["达标"] == ""


def test_topology_shows_each_database_live_role(dr_estate):
    """The estate's DR members answer nowhere: every center says its database is down."""
    at = _run(dr_estate, "auditor")
    assert not at.exception
    dot = at.get("graphviz_chart")[0].proto.spec
    assert dot.count("数据库：停止") == 3


def test_a_finished_drill_shows_its_timeline_chart(dr_estate):
    base = datetime(2026, 3, 3, 9, 0, tzinfo=UTC).timestamp()
    run_id = _recorded_drill(dr_estate, "failover", SAME_CITY, base, rto_s=3.2, rows_lost=0, loss_window_s=0.0)
    report = history.report(dr_estate.store, run_id)
    report["timeline"] = {
        "interval_s": 0.1,
        "samples": 120,
        "double_primaries": [],
        "segments": [
            {"center": "gz-prod", "role": "primary", "timeline": 1, "start": base, "end": base + 5.0},
            {"center": "gz-prod", "role": "unreachable", "timeline": 1, "start": base + 5.1, "end": base + 12.0},
            {"center": "gz-dr", "role": "standby", "timeline": 1, "start": base, "end": base + 8.0},
            {"center": "gz-dr", "role": "primary", "timeline": 2, "start": base + 8.1, "end": base + 12.0},
        ],
    }
    report["measurements"].update(write_gap=[base + 5.0, base + 8.2], write_gap_s=3.2)
    history.save(dr_estate.store, report)
    at = _run(dr_estate, "operator")
    assert not at.exception
    at.selectbox(key="drill_run").select(run_id).run()
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert charts, [e.type for e in at.main]
    spec = json.dumps(json.loads(charts[-1].proto.spec), ensure_ascii=False)
    assert "写入中断 3.2 秒" in spec and "丢失已确认行 0" in spec
    # The HTML export draws the same timeline as SVG, the write gap shaded.
    from playbooks.drill.report import render_html, timeline_svg

    svg = timeline_svg(report)
    assert svg.count("<rect") == 5 and "write gap" in svg
    assert svg in render_html(report, {})
