"""Same-city failover and failback on real PostgreSQL: refusal, the acceptance check through
the CLI, and a failback killed midway that a re-run completes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from inventory.config import load_config
from inventory.store import open_store
from lab import dr
from playbooks.drill import engine, history
from tests.playbooks.dr.conftest import data_dir, roles, wait_sync

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("dr_failover")]

TARGETS = engine.DrillTargets(rto_s=10.0, rpo_rows=0, rpo_s=None)


def _cli(lab: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "GANYUN_LANG": "en",
    }
    return subprocess.run(
        [sys.executable, "-m", "console", "--config", str(lab["config"]), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_failover_refused_while_sync_standby_is_down(dr_lab: dict[str, Any]) -> None:
    section = dr_lab["section"]
    bindir = Path(section["bindir"])
    dr.stop_cluster(bindir, data_dir(section, "gz-dr"))
    try:
        report = engine.run_drill(section, "failover", TARGETS)
    finally:
        dr.start_cluster(bindir, section["clusters"]["gz-dr"])
    assert report["status"] == "refused"
    assert not report["passed"]
    assert "synchronous standby" in report["message"]
    # Nothing was touched: production is still the one primary, nothing fenced.
    assert report["writable_primaries"] == ["gz-prod"]
    assert not dr.is_fenced(section["clusters"]["gz-prod"])
    wait_sync(section, "gz-prod")
    # The writes blocked while no standby could acknowledge them; none was lost.
    assert report["measurements"]["rows_lost"] == 0


def test_failover_then_failback_killed_midway_then_completed(dr_lab: dict[str, Any]) -> None:
    """One sequence (the steps depend on each other): failover by CLI, failback interrupted,
    failback re-run by CLI; the issue's acceptance check plus the interrupted drill."""
    wait_sync(dr_lab["section"], "gz-prod")
    _failover_by_cli_meets_targets_and_fences_production(dr_lab)
    _failback_killed_midway_is_safe_and_a_rerun_completes(dr_lab)


def _failover_by_cli_meets_targets_and_fences_production(dr_lab: dict[str, Any]) -> None:
    proc = _cli(dr_lab, "drill", "run", "--scenario", "failover", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    m = report["measurements"]
    assert report["status"] == "passed"
    assert report["primary_after"] == "gz-dr"
    assert m["rows_lost"] == 0 and m["rows_acknowledged"] > 0
    assert m["rto_s"] is not None and m["rto_s"] <= report["targets"]["rto_s"]
    assert report["verification"]["equal"] is True
    assert report["verification"]["compared"] == ["gz-dr", "nc-dr"]
    section = dr_lab["section"]
    assert roles(section) == {"gz-prod": "fenced", "gz-dr": "primary", "nc-dr": "standby"}
    # Fenced: PGDATA moved aside and a plain start is refused, so it never comes back a primary.
    assert not data_dir(section, "gz-prod").exists()
    with pytest.raises(dr.DrLabError):
        dr.start_cluster(Path(section["bindir"]), section["clusters"]["gz-prod"])


def _failback_killed_midway_is_safe_and_a_rerun_completes(dr_lab: dict[str, Any]) -> None:
    section = dr_lab["section"]
    assert roles(section)["gz-dr"] == "primary"
    cancel = threading.Event()

    def on_event(event: Any) -> None:
        # Kill the run right after the old primary was promoted back, before the rest follow.
        if event.stage == "stop_writes" and event.event == "runner_on_ok":
            cancel.set()

    report = engine.run_drill(section, "failback", TARGETS, on_event=on_event, cancel=cancel)
    assert report["status"] == "interrupted"
    assert len(report["writable_primaries"]) <= 1
    assert sum(1 for r in roles(section).values() if r == "primary") <= 1
    store = open_store(load_config(dr_lab["config"]).database_url)
    history.save(store, report)
    assert history.runs(store)[0]["status"] == "interrupted"
    store.dispose()

    proc = _cli(dr_lab, "drill", "run", "--scenario", "failback", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    final = json.loads(proc.stdout)
    assert final["status"] == "passed"
    assert roles(section) == {"gz-prod": "primary", "gz-dr": "standby", "nc-dr": "standby"}
    assert final["verification"]["compared"] == ["gz-dr", "gz-prod", "nc-dr"]
    assert final["verification"]["equal"] is True
    assert final["measurements"]["rows_lost"] == 0
    wait_sync(section, "gz-prod")

    listed = json.loads(_cli(dr_lab, "drill", "history", "--json").stdout)
    assert [r["scenario"] for r in listed][:2] == ["failback", "failback"]
    out = Path(dr_lab["root"]) / "report.html"
    done = _cli(dr_lab, "drill", "report", final["run_id"], "--format", "html", "--output", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "两地三中心灾备演练报告" in page and final["run_id"] in page
