"""The three-center lab with Patroni 4 and a 3-member etcd: failover, failback and the
cut-and-heal partition, repeated, with a writer nobody here wrote connecting from the host.
A lost acknowledged row or two writable primaries fails the test (Patroni 3.0.2 with etcd3
lost 800+ rows in this very scenario)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from lab import dr, drpatroni
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


def _drill(lab: Lab, scenario: str, table: str) -> dict:
    with OutsideWriter(lab, table) as writer:
        proc = lab.ganyun("drill", "run", "--scenario", scenario, "--yes", "--json")
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    assert proc.returncode == 0, (report.get("message"), proc.stderr[-2000:])
    assert report["manager"] == "patroni" and report["status"] == "passed"
    assert not report["timeline"]["double_primaries"], report["timeline"]["double_primaries"]
    assert report["measurements"]["rows_lost"] == 0
    assert report["measurements"]["rto_s"] is not None and report["measurements"]["rto_s"] <= report["targets"]["rto_s"]
    # The outside writer's acknowledged rows are all there, on whichever member leads now.
    assert len(writer.acked) > 20 and writer.missing() == []
    return report


def test_patroni_failover_failback_repeated_partition_then_lab_down(lab: Lab) -> None:
    """One sequence on one lab (xdist may tear a module fixture down between tests)."""
    _failover_then_failback(lab)
    _partition_cut_and_heal_repeated_loses_nothing_and_never_has_two_primaries(lab)
    _lab_down_leaves_no_namespace_link_or_process(lab)


def _failover_then_failback(lab: Lab) -> None:
    assert lab.section["manager"] == "patroni"
    failover = _drill(lab, "failover", "outside_failover")
    assert failover["primary_after"] == "gz-dr"
    assert failover["targets"]["rto_s"] == 30.0
    back = _drill(lab, "failback", "outside_failback")
    assert back["primary_after"] == "gz-prod" and back["targets"]["rto_s"] == 10.0


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


def _lab_down_leaves_no_namespace_link_or_process(lab: Lab) -> None:
    state = dr.load_state(lab.root)
    assert state is not None
    names = [c["netns"] for c in state["net"]["centers"].values()]
    pids = list(dr.pids(lab.root).values())
    assert sum(1 for k in dr.pids(lab.root) if k.endswith(("/etcd", "/patroni"))) == 6
    dr.stop(lab.root)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not [n for n in names if n in netns]
    assert not [p for p in pids if alive(p)]
