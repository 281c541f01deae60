"""The three-center lab as root (namespaces, sshd, a delayed remote link) with plain streaming
replication that ganyun drives over SSH: switchover, remote failover, partition, city loss,
failbacks; an outside writer; the HA-manager scenario refused (there is no manager); then
`lab down` leaves no namespace, device or process."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from lab import dr
from tests.playbooks.dr.conftest import Lab, OutsideWriter, alive, lab_in_tempdir, needs_netns

pytestmark = [pytest.mark.postgres, pytest.mark.slow, needs_netns, pytest.mark.xdist_group("dr_netns")]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with lab_in_tempdir("ganyun-dr-ns-", network="netns", rtt_ms=30) as started:
        yield started


def _drill(lab: Lab, scenario: str) -> dict:
    proc = lab.ganyun("drill", "run", "--scenario", scenario, "--yes", "--json")
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    assert proc.returncode == 0, (report.get("message"), proc.stderr[-2000:])
    assert report["status"] == "passed" and not report["timeline"]["double_primaries"]
    return report


def test_three_hosts_over_ssh_switchover_remote_partition_city_loss_failbacks_then_lab_down(lab: Lab) -> None:
    """One sequence on one lab (xdist may tear a module fixture down between tests)."""
    _members_are_separate_hosts_reached_over_ssh(lab)
    _switchover_then_remote_failover_then_failback_with_an_outside_writer(lab)
    _manager_loss_is_refused_without_an_ha_manager(lab)
    _partition_fences_the_cut_off_primary_then_it_rejoins(lab)
    _city_loss_cuts_both_ganzhou_links_and_promotes_nanchang(lab)
    _lab_down_leaves_no_namespace_link_or_process(lab)


def _members_are_separate_hosts_reached_over_ssh(lab: Lab) -> None:
    facts = lab.section["lab"]
    assert facts["network"] == "netns" and facts["subnet"].startswith("10.213.")
    hosts = {c: m["postgres"]["host"] for c, m in lab.section["clusters"].items()}
    assert len(set(hosts.values())) == 3 and all(
        h.startswith(facts["subnet"].rsplit(".", 2)[0]) for h in hosts.values()
    )
    assert all(m["ssh"]["key"] == "vault:dr-ssh" for m in lab.section["clusters"].values())
    pgpass = lab.root / "dr" / "pgpass"
    assert pgpass.stat().st_mode & 0o777 == 0o600
    assert sorted(line.split(":")[0] for line in pgpass.read_text().splitlines()) == sorted(hosts.values())
    # The remote link is delayed: a TCP handshake (one round trip) to nc-dr takes the configured
    # ~30 ms, to the same-city center almost nothing.
    assert _handshake_s(hosts["nc-dr"]) >= 0.025 > _handshake_s(hosts["gz-dr"])


def _handshake_s(host: str) -> float:
    best = 1.0
    for _ in range(5):
        began = time.perf_counter()
        socket.create_connection((host, 5432), timeout=2).close()
        best = min(best, time.perf_counter() - began)
    return best


def _switchover_then_remote_failover_then_failback_with_an_outside_writer(lab: Lab) -> None:
    with OutsideWriter(lab, "outside_switchover") as writer:
        report = _drill(lab, "switchover")
    assert lab.roles() == {"gz-prod": "standby", "gz-dr": "primary", "nc-dr": "standby"}
    assert report["measurements"]["rto_s"] <= 10.0 and report["measurements"]["rows_lost"] == 0
    assert writer.acked and writer.missing() == []
    remote = _drill(lab, "remote-failover")
    assert lab.roles() == {"gz-prod": "fenced", "gz-dr": "fenced", "nc-dr": "primary"}
    m = remote["measurements"]
    assert remote["targets"]["rpo_s"] == pytest.approx(0.03 + 1.0)
    assert m["data_loss_window_s"] <= remote["targets"]["rpo_s"]
    _drill(lab, "failback")
    assert lab.roles() == {"gz-prod": "primary", "gz-dr": "standby", "nc-dr": "standby"}


def _manager_loss_is_refused_without_an_ha_manager(lab: Lab) -> None:
    proc = lab.ganyun("drill", "run", "--scenario", "manager-loss", "--yes", "--json")
    assert proc.returncode == 1 and proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == ["ganyun: scenario 'manager-loss' cannot drive a streaming cluster (it needs patroni)"], lines
    assert lab.roles() == {"gz-prod": "primary", "gz-dr": "standby", "nc-dr": "standby"}


def _partition_fences_the_cut_off_primary_then_it_rejoins(lab: Lab) -> None:
    """Production is cut off from the other two (iptables in its namespace; ganyun still
    reaches it): ganyun fences it before promoting gz-dr, and after the heal it follows."""
    with OutsideWriter(lab, "outside_partition") as writer:
        report = _drill(lab, "partition")
    assert report["manager"] == "streaming" and report["plan"]["lost"] == ["gz-prod"]
    assert report["primary_after"] == "gz-dr" and report["measurements"]["rows_lost"] == 0
    assert report["measurements"]["rto_s"] <= report["targets"]["rto_s"] == 30.0
    assert writer.acked and writer.missing() == []
    assert lab.roles() == {"gz-prod": "standby", "gz-dr": "primary", "nc-dr": "standby"}


def _city_loss_cuts_both_ganzhou_links_and_promotes_nanchang(lab: Lab) -> None:
    report = _drill(lab, "city-loss")
    assert report["primary_after"] == "nc-dr"
    segments = report["timeline"]["segments"]
    # Both Ganzhou members vanished from the network while the drill watched.
    assert {s["center"] for s in segments if s["role"] == "unreachable"} >= {"gz-prod", "gz-dr"}
    assert report["measurements"]["data_loss_window_s"] <= report["targets"]["rpo_s"]
    back = _drill(lab, "failback")
    assert back["primary_after"] == "gz-prod"
    assert lab.roles() == {"gz-prod": "primary", "gz-dr": "standby", "nc-dr": "standby"}


def _lab_down_leaves_no_namespace_link_or_process(lab: Lab) -> None:
    state = dr.load_state(lab.root)
    assert state is not None
    names = [c["netns"] for c in state["net"]["centers"].values()]
    devices = [state["net"]["bridge"], *[c["host_if"] for c in state["net"]["centers"].values()]]
    pids = list(dr.pids(lab.root).values())
    assert len(pids) >= 6  # three sshd, three postmasters
    dr.stop(lab.root)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert not [n for n in names if n in netns]
    assert not [d for d in devices if f" {d}:" in links or f" {d}@" in links]
    assert not [p for p in pids if alive(p)]
    assert not (lab.root / "dr").exists()
