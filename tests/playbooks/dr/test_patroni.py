"""The three-center lab with Patroni 4 and a 3-member etcd: failover, failback, the leader's
Patroni killed and restarted, a remote failover through POST /failover and PATCH /config, the
cut-and-heal partition, repeated, with a writer nobody here wrote connecting from the host.
A lost acknowledged row or two writable primaries fails the test (Patroni 3.0.2 with etcd3
lost 800+ rows in this very scenario); a manager down longer than the ttl must fail its drill."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from lab import dr, drpatroni
from playbooks.drill.patroni import SYNC_OFF_MARKER
from tests.playbooks.dr.conftest import Lab, OutsideWriter, alive, lab_in_tempdir, needs_netns

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    needs_netns,
    pytest.mark.skipif(bool(drpatroni.usable()), reason=f"no Patroni lab here: {drpatroni.usable()}"),
    pytest.mark.xdist_group("dr_patroni"),
]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with lab_in_tempdir("ganyun-dr-patroni-", network="netns", manager="patroni") as started:
        yield started


def _run(lab: Lab, scenario: str) -> tuple[int, dict[str, Any], str]:
    proc = lab.ganyun("drill", "run", "--scenario", scenario, "--yes", "--json")
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}, proc.stderr


def _drill(lab: Lab, scenario: str, table: str) -> dict:
    with OutsideWriter(lab, table) as writer:
        rc, report, stderr = _run(lab, scenario)
    assert rc == 0, (report.get("message"), stderr[-2000:])
    assert report["manager"] == "patroni" and report["status"] == "passed"
    assert not report["timeline"]["double_primaries"], report["timeline"]["double_primaries"]
    assert report["measurements"]["rows_lost"] == 0
    assert report["measurements"]["rto_s"] is not None and report["measurements"]["rto_s"] <= report["targets"]["rto_s"]
    # The outside writer's acknowledged rows are all there, on whichever member leads now.
    assert len(writer.acked) > 20 and writer.missing() == []
    return report


def test_patroni_failover_failback_manager_loss_remote_repeated_partition_then_lab_down(lab: Lab) -> None:
    """One sequence on one lab (xdist may tear a module fixture down between tests)."""
    _failover_then_failback(lab)
    _manager_loss_keeps_the_leader_and_its_writes(lab)
    _remote_failover_through_patch_config_and_post_failover_then_failback_restores_sync_mode(lab)
    _partition_cut_and_heal_repeated_loses_nothing_and_never_has_two_primaries(lab)
    _manager_down_longer_than_the_ttl_fails_naming_both_primaries(lab)
    _lab_down_leaves_no_namespace_link_process_or_file(lab)


def _failover_then_failback(lab: Lab) -> None:
    assert lab.section["manager"] == "patroni"
    failover = _drill(lab, "failover", "outside_failover")
    assert failover["primary_after"] == "gz-dr"
    assert failover["targets"]["rto_s"] == 30.0
    back = _drill(lab, "failback", "outside_failback")
    assert back["primary_after"] == "gz-prod" and back["targets"]["rto_s"] == 10.0


def _patroni_pid(lab: Lab, center: str) -> int:
    return dr.pids(lab.root)[f"{center}/patroni"]


def _manager_loss_keeps_the_leader_and_its_writes(lab: Lab) -> None:
    """Patroni 4 killed on the leader and started again within the ttl: "I am the leader but
    not owner of the lease", then it renews the leader key; PostgreSQL never stops writing."""
    leader = lab.ops().leader()
    killed = _patroni_pid(lab, leader)
    report = _drill(lab, "manager-loss", "outside_manager_loss")
    assert report["plan"]["lost"] == [leader] and report["primary_after"] == leader
    assert report["targets"] == {"rto_s": 5.0, "rpo_rows": 0, "rpo_s": None, "heal_after_s": 5.0}
    # The manager really was down: a new process leads, and the outage was the configured one.
    assert not alive(killed) and alive(_patroni_pid(lab, leader)) and _patroni_pid(lab, leader) != killed
    stages = [s["stage"] for s in report["steps"] if s["status"] != "skipped"]
    assert stages[:3] == ["guard", "preflight", "fault"] and "heal" in stages and stages[-1] == "verify"
    heal = next(s for s in report["steps"] if s["stage"] == "heal")
    assert heal["started_at"] + heal["duration_s"] - report["measurements"]["fault_at"] >= 5.0
    # Its PostgreSQL was primary on one timeline throughout (no restart, no election).
    mine = [s for s in report["timeline"]["segments"] if s["center"] == leader]
    assert {(s["role"], s["timeline"]) for s in mine} == {("primary", mine[0]["timeline"])}
    assert lab.ops().leader() == leader
    print(f"manager-loss RTO {report['measurements']['rto_s']} s, write gap {report['measurements']['write_gap_s']} s")


def _config(lab: Lab) -> dict[str, Any]:
    """Patroni's dynamic configuration, from whichever member's Patroni runs (a fenced one does not)."""
    for member in lab.section["clusters"].values():
        try:
            data: dict[str, Any] = requests.get(f"{member['patroni']['rest_url']}/config", timeout=3).json()
        except requests.RequestException:
            continue
        return data
    raise AssertionError("no Patroni member answers")


def _remote_failover_through_patch_config_and_post_failover_then_failback_restores_sync_mode(lab: Lab) -> None:
    """nc-dr is never a synchronous standby (nosync): Patroni fails over to it only once
    synchronous_mode is off (PATCH /config), then POST /failover; the failback switches
    synchronous_mode back on once a Ganzhou standby streams again."""
    assert _config(lab)["synchronous_mode"] is True
    marker = Path(lab.section["work_dir"]) / SYNC_OFF_MARKER
    remote = _drill(lab, "remote-failover", "outside_remote")
    assert remote["primary_after"] == "nc-dr" and lab.ops().leader() == "nc-dr"
    assert _config(lab)["synchronous_mode"] is False and marker.read_text(encoding="utf-8") == "nc-dr"
    assert remote["measurements"]["data_loss_window_s"] <= remote["targets"]["rpo_s"]
    back = _drill(lab, "failback", "outside_remote_back")
    assert back["primary_after"] == "gz-prod" and not marker.exists()
    assert _config(lab)["synchronous_mode"] is True
    roles = {m["name"]: m["role"] for m in lab.ops().cluster()["members"]}
    assert roles == {"gz-prod": "leader", "gz-dr": "sync_standby", "nc-dr": "replica"}


def _partition_cut_and_heal_repeated_loses_nothing_and_never_has_two_primaries(lab: Lab) -> None:
    """The cut-off leader must step down before another is elected, and when its link returns
    it must rejoin as a replica, three times in a row (each run cuts the current primary)."""
    primaries = []
    for run in range(3):
        report = _drill(lab, "partition", f"outside_partition_{run}")
        assert report["plan"]["lost"] == [report["primary_before"]]
        primaries.append(report["primary_after"])
        assert lab.roles()[report["primary_before"]] == "standby"  # rejoined, not fenced
    assert primaries == ["gz-dr", "gz-prod", "gz-dr"]


def _manager_down_longer_than_the_ttl_fails_naming_both_primaries(lab: Lab) -> None:
    """Down longer than the leader key's ttl (20 s), the replicas elect a new leader while the
    old primary keeps running (no watchdog here): the drill must fail and name both."""
    leader = lab.ops().leader()
    config = yaml.safe_load(lab.config_file.read_text(encoding="utf-8"))
    config["dr"]["targets"] = {"manager-loss": {"rto_s": 5, "rpo_rows": 0, "heal_after_s": drpatroni.TTL_S + 8}}
    lab.config_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with OutsideWriter(lab, "outside_manager_loss_long") as writer:
        rc, report, stderr = _run(lab, "manager-loss")
    assert rc == 1 and report["status"] == "failed", (report.get("status"), stderr[-2000:])
    pairs = {tuple(d["centers"]) for d in report["timeline"]["double_primaries"]}
    assert pairs and all(leader in pair for pair in pairs), pairs
    (elected,) = {c for pair in pairs for c in pair} - {leader}
    assert f"Patroni elected {elected} while the manager of {leader} was down" in report["message"]
    check = next(c for c in report["checks"] if c["name"] == "one_primary")
    assert not check["met"] and sorted(check["measured"][0]["centers"]) == sorted([leader, elected])
    # The safe state keeps Patroni's leader and fences the old primary; nothing acknowledged is lost.
    assert report["safe_state"]["fenced"] in ([], [leader]) and report["primary_after"] == elected
    assert report["measurements"]["rows_lost"] == 0 and writer.missing() == []


def _lab_down_leaves_no_namespace_link_process_or_file(lab: Lab) -> None:
    state = dr.load_state(lab.root)
    assert state is not None
    names = [c["netns"] for c in state["net"]["centers"].values()]
    devices = [state["net"]["bridge"], *[c["host_if"] for c in state["net"]["centers"].values()]]
    pids = list(dr.pids(lab.root).values())
    assert sum(1 for k in dr.pids(lab.root) if k.endswith(("/etcd", "/patroni"))) == 6
    made = [Path(state["data_home"]["path"]), Path(state["lab_dir"])]
    made += [Path(m["center_dir"]) for m in state["members"].values()]
    assert all(p.exists() for p in made) and any((Path(m["center_dir"]) / "patroni.pid").exists()
                                                for m in state["members"].values())  # fmt: skip
    before = {p.name for p in lab.root.iterdir()}
    dr.stop(lab.root)  # what `ganyun lab down` runs for a DR lab
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert not [n for n in names if n in netns]
    assert not [d for d in devices if f" {d}:" in links or f" {d}@" in links]
    deadline = time.monotonic() + 10
    while [p for p in pids if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if alive(p)]
    # Data, etcd, pid files, sockets, keys: whatever lab up made (inside the lab or under
    # /var/lib/ganyun-lab) is gone; only the test's own config, vault and store stay.
    assert not [p for p in made if p.exists() or p.is_symlink()]
    assert not list(lab.root.rglob("*.pid")) and not list(lab.root.rglob(".s.PGSQL.*"))
    assert {p.name for p in lab.root.iterdir()} == before - {"dr"}
