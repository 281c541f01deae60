"""Drills on the loopback lab (the fallback without root, driven locally through the same
playbooks): refusals, the CLI, a failback killed midway that a re-run completes, and the
wait-until-healthy rule between drills. The network scenarios run on the namespace lab."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from inventory.store import open_store
from lab import dr
from playbooks.drill import engine, history
from tests.playbooks.dr.conftest import Lab, lab_in_tempdir, wait_sync

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("dr_loopback")]

SAME_CITY = engine.DrillTargets(rto_s=10.0, rpo_rows=0, rpo_s=None)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with lab_in_tempdir("ganyun-dr-loop-", network="loopback", remote_delay_s=0.3) as started:
        yield started


def _node(lab: Lab, center: str) -> dict[str, Any]:
    return lab.section["clusters"][center]["node"]


def _stop(lab: Lab, center: str) -> None:
    dr.run_pg(Path(_node(lab, center)["bindir"]), "pg_ctl", "-D", _node(lab, center)["data_dir"], "-m", "fast",
              "-w", "stop")  # fmt: skip


def _start(lab: Lab, center: str) -> None:
    n = _node(lab, center)
    dr.run_pg(Path(n["bindir"]), "pg_ctl", "-D", n["data_dir"], "-l", n["log_file"], "-w", "start")


def test_a_drill_waits_for_health_and_names_the_member_that_is_not(lab: Lab) -> None:
    """A standby is down: after the bounded wait the drill is refused (exit 1, one line naming it)
    and nothing was changed."""
    impatient = lab.root / "impatient.yaml"
    config = yaml.safe_load(lab.config_file.read_text(encoding="utf-8"))
    config["dr"]["healthy_wait_s"] = 2
    impatient.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    _stop(lab, "nc-dr")
    try:
        proc = lab.ganyun("--config", str(impatient), "drill", "run", "--scenario", "switchover", "--yes")
    finally:
        _start(lab, "nc-dr")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "not healthy after 2 s: nc-dr is down" in proc.stderr
    assert lab.roles()["gz-prod"] == "primary"
    engine.wait_healthy(lab.ops(), 60)


def test_failover_refused_while_no_standby_is_synchronous(lab: Lab) -> None:
    """Healthy (every member up, zero lag) but nobody acknowledges synchronously: the playbook's
    preflight refuses, since the promoted standby could miss acknowledged writes."""
    wait_sync(lab, "gz-prod")
    conf = Path(_node(lab, "gz-prod")["conf_file"])
    original = conf.read_text(encoding="utf-8")
    conf.write_text(original.replace("FIRST 1 (site_b)", ""), encoding="utf-8")
    _reload(lab, "gz-prod")
    try:
        report = engine.run_drill(lab.config, lab.config_file, "failover", SAME_CITY)
    finally:
        conf.write_text(original, encoding="utf-8")
        _reload(lab, "gz-prod")
    assert report["status"] == "refused", report["message"]
    assert "synchronous standby" in report["message"]
    assert report["writable_primaries"] == ["gz-prod"]
    wait_sync(lab, "gz-prod")
    assert report["measurements"]["rows_lost"] == 0


def _reload(lab: Lab, center: str) -> None:
    dr.run_pg(Path(_node(lab, center)["bindir"]), "pg_ctl", "-D", _node(lab, center)["data_dir"], "reload")


def test_partition_needs_the_network_lab(lab: Lab) -> None:
    with pytest.raises(engine.DrillRefused, match="not on hosts run locally"):
        engine.make_plan(lab.ops(), lab.config, "partition")


def test_failover_then_failback_killed_midway_then_completed(lab: Lab) -> None:
    """One sequence: failover by CLI, failback interrupted, failback re-run by CLI."""
    engine.wait_healthy(lab.ops(), 60)
    proc = lab.ganyun("drill", "run", "--scenario", "failover", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    m = report["measurements"]
    assert report["status"] == "passed" and report["primary_after"] == "gz-dr"
    assert m["rows_lost"] == 0 and m["rows_acknowledged"] > 0
    assert m["rto_s"] is not None and m["rto_s"] <= report["targets"]["rto_s"]
    assert report["verification"]["compared"] == ["gz-dr", "nc-dr"]
    assert lab.roles() == {"gz-prod": "fenced", "gz-dr": "primary", "nc-dr": "standby"}
    # Fenced: PGDATA moved aside, so a plain start finds nothing to run.
    assert not Path(_node(lab, "gz-prod")["data_dir"]).exists()
    assert report["timeline"]["samples"] > 50 and not report["timeline"]["double_primaries"]

    cancel = threading.Event()

    def on_event(event: Any) -> None:
        # Kill the run right after the old primary was promoted back, before the rest follow.
        if event.stage == "stop_writes" and event.event == "runner_on_ok" and "promote" in event.task:
            cancel.set()

    interrupted = engine.run_drill(lab.config, lab.config_file, "failback", SAME_CITY, on_event=on_event,
                                   cancel=cancel)  # fmt: skip
    assert interrupted["status"] == "interrupted"
    assert len(interrupted["writable_primaries"]) <= 1
    store = open_store(lab.config.database_url)
    history.save(store, interrupted)
    assert history.runs(store)[0]["status"] == "interrupted"
    store.dispose()

    proc = lab.ganyun("drill", "run", "--scenario", "failback", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    final = json.loads(proc.stdout)
    assert final["status"] == "passed"
    assert lab.roles() == {"gz-prod": "primary", "gz-dr": "standby", "nc-dr": "standby"}
    assert final["verification"]["compared"] == ["gz-dr", "gz-prod", "nc-dr"] and final["verification"]["equal"]
    wait_sync(lab, "gz-prod")
    out = lab.root / "report.html"
    done = lab.ganyun("drill", "report", final["run_id"], "--format", "html", "--output", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "两地三中心灾备演练报告" in page and final["run_id"] in page


def test_a_second_writable_primary_fails_the_drill(lab: Lab) -> None:
    """Split brain, as a defective HA manager would make it: right after the switchover promoted
    gz-dr, something else promotes nc-dr too. The timeline sees two members accept writes at once,
    the one-primary check fails the drill, and the safe state leaves a single writable primary.
    The lab is not repaired afterwards: this test runs last in the module."""
    engine.wait_healthy(lab.ops(), 60)
    rogue = lab.ops().members["nc-dr"]

    def on_event(event: Any) -> None:
        if event.stage == "stop_writes" and event.event == "runner_on_ok" and "promote" in event.task:
            with rogue.connect() as conn:
                conn.execute("SELECT pg_promote(true, 30)")

    report = engine.run_drill(lab.config, lab.config_file, "switchover", SAME_CITY, on_event=on_event)
    overlaps = report["timeline"]["double_primaries"]
    assert overlaps and {"gz-dr", "nc-dr"} in [set(o["centers"]) for o in overlaps], report["timeline"]["segments"]
    assert all(o["from"] <= o["to"] for o in overlaps)
    one_primary = next(c for c in report["checks"] if c["name"] == "one_primary")
    assert one_primary["met"] is False
    assert report["status"] == "failed" and not report["passed"]
    assert len(report["writable_primaries"]) == 1 and len(lab.ops().writable()) == 1
