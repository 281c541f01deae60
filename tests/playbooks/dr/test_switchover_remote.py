"""Planned switchover, remote failover (both Ganzhou centers lost) and failback from the
remote center, on real PostgreSQL; then `lab down` stops exactly those clusters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lab import dr
from playbooks.drill import appfiles, engine
from tests.playbooks.dr.conftest import data_dir, roles

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("dr_switchover")]

SAME_CITY = engine.DrillTargets(rto_s=10.0, rpo_rows=0, rpo_s=None)
REMOTE = engine.DrillTargets(rto_s=60.0, rpo_rows=None, rpo_s=30.0)


def test_switchover_remote_failover_failback_then_lab_stop(dr_lab: dict[str, Any]) -> None:
    """One sequence: each scenario starts from the state the previous one left."""
    _switchover_rewinds_the_old_primary_into_a_standby(dr_lab)
    _remote_failover_measures_the_loss_of_both_ganzhou_centers(dr_lab)
    _failback_from_remote_restores_every_center(dr_lab)
    _lab_stop_stops_exactly_the_three_clusters(dr_lab)


def _switchover_rewinds_the_old_primary_into_a_standby(dr_lab: dict[str, Any]) -> None:
    section = dr_lab["section"]
    report = engine.run_drill(section, "switchover", SAME_CITY)
    assert report["status"] == "passed", report["message"]
    assert roles(section) == {"gz-prod": "standby", "gz-dr": "primary", "nc-dr": "standby"}
    m = report["measurements"]
    assert m["rows_lost"] == 0
    assert m["rto_s"] is not None and m["rto_s"] <= 10.0
    assert report["verification"]["compared"] == ["gz-dr", "gz-prod", "nc-dr"]
    assert report["verification"]["equal"]
    st = dr.cluster_status(section["clusters"]["gz-dr"])
    assert st["synchronous_standby_names"] == "FIRST 1 (site_a)"
    assert report["steps"] and all(s["status"] != "failed" for s in report["steps"])


def _remote_failover_measures_the_loss_of_both_ganzhou_centers(dr_lab: dict[str, Any]) -> None:
    section = dr_lab["section"]
    report = engine.run_drill(section, "remote-failover", REMOTE)
    assert report["plan"]["lost"] == ["gz-dr", "gz-prod"]
    assert roles(section) == {"gz-prod": "fenced", "gz-dr": "fenced", "nc-dr": "primary"}
    m = report["measurements"]
    # The WAL in flight on the 0.5 s link died with gz-prod's relay: acknowledged rows are lost,
    # about half a second of them (the heartbeat commits every 20 ms).
    assert m["rows_lost"] > 0, m
    assert 0 < m["data_loss_window_s"] <= 0.5 + 1.5, m
    assert m["remote_lag_bytes"] is not None
    assert m["rto_s"] is not None
    assert report["verification"]["compared"] == ["nc-dr"]
    # Within the remote targets (30 s of data, 60 s to recover): the drill passes.
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["rpo_s"]["met"] and checks["rto"]["met"], report["checks"]
    assert report["status"] == "passed", report["message"]


def _failback_from_remote_restores_every_center(dr_lab: dict[str, Any]) -> None:
    section = dr_lab["section"]
    report = engine.run_drill(section, "failback", SAME_CITY)
    assert report["status"] == "passed", report["message"]
    assert roles(section) == {"gz-prod": "primary", "gz-dr": "standby", "nc-dr": "standby"}
    assert report["verification"]["equal"]
    digests = {appfiles.digest(Path(p)) for p in section["appdata"].values()}
    assert len(digests) == 1
    assert not any(dr.is_fenced(c) for c in section["clusters"].values())


def _lab_stop_stops_exactly_the_three_clusters(dr_lab: dict[str, Any]) -> None:
    section = dr_lab["section"]
    stopped = dr.stop(dr_lab["root"])
    assert sorted(stopped) == ["gz-dr", "gz-prod", "nc-dr"]
    assert all(dr.postmaster_pid(data_dir(section, c)) is None for c in section["clusters"])
    assert set(roles(section).values()) == {"down"}
    assert dr.stop(dr_lab["root"]) == []
