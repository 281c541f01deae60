"""A network fault's delayed heal ends that fault only. Drills run back to back: a partition's
heal scheduled by an earlier drill must not lift the partition a later drill put on the same
host (it once did, and the later drill's cut-off leader kept its lease), and an earlier link
cut's heal must not bring up a link a later drill cut.

Run for real, as root, inside a throwaway network namespace, with the host module's own code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[3] / "playbooks" / "library" / "ganyun_pgnode.py"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"),
    reason="needs root, ip and iptables for a network namespace",
)


@pytest.fixture()
def netns() -> Iterator[str]:
    name = f"gyheal{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "gyh0", "type", "veth", "peer", "name", "gyh1"], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "gyh0", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _in_netns(netns: str, body: str) -> None:
    """Run `body` in the namespace with the module's functions in scope (a delayed heal is a
    forked child, so this returns before it runs)."""
    program = f"import runpy\nm = runpy.run_path({str(MODULE)!r})\n" + textwrap.dedent(body)
    subprocess.run(["ip", "netns", "exec", netns, "python3", "-c", program], check=True, timeout=30)


def _rules(netns: str) -> list[str]:
    listing = subprocess.run(
        ["ip", "netns", "exec", netns, "iptables", "-S"], capture_output=True, text=True, check=True
    )
    return [line for line in listing.stdout.splitlines() if "ganyun-dr-partition" in line]


def _link_up(netns: str) -> bool:
    shown = subprocess.run(
        ["ip", "-n", netns, "-j", "link", "show", "gyh0"], capture_output=True, text=True, check=True
    )
    return "UP" in json.loads(shown.stdout)[0]["flags"]


def test_an_earlier_partitions_heal_leaves_a_later_partition_in_place(netns: str, tmp_path: Path) -> None:
    node = {"data_dir": str(tmp_path / "data")}
    _in_netns(
        netns,
        f"""
        node = {node!r}
        m["partition"](node, ["10.99.0.2", "10.99.0.3"], "drill-1", 1.0)
        m["heal"](node)  # the first drill heals on time; its delayed heal is still pending
        m["partition"](node, ["10.99.0.2", "10.99.0.3"], "drill-2", 0)
        """,
    )
    assert len(_rules(netns)) == 4
    time.sleep(2.0)  # the first drill's delayed heal has run
    rules = _rules(netns)
    assert len(rules) == 4 and all("drill-2." in r for r in rules), rules
    _in_netns(netns, f"m['heal']({node!r})")
    assert _rules(netns) == []


def test_a_partitions_own_delayed_heal_lifts_it(netns: str, tmp_path: Path) -> None:
    _in_netns(netns, f"m['partition']({{'data_dir': {str(tmp_path / 'data')!r}}}, ['10.99.0.2'], 'drill-1', 1.0)")
    assert len(_rules(netns)) == 2
    time.sleep(2.0)
    assert _rules(netns) == []


def test_an_earlier_cuts_heal_leaves_a_later_cut_down(netns: str, tmp_path: Path) -> None:
    node = {"data_dir": str(tmp_path / "data"), "interface": "gyh0"}
    _in_netns(
        netns,
        f"""
        import time
        node = {node!r}
        m["cut_link"](node, "drill-1", 1.0, False)
        time.sleep(0.5)
        m["heal"](node)
        m["cut_link"](node, "drill-2", 0, False)
        """,
    )
    time.sleep(0.5)
    assert not _link_up(netns)
    time.sleep(1.5)  # the first cut's delayed heal has run
    assert not _link_up(netns), "an earlier drill's heal brought up a link a later drill cut"
    _in_netns(netns, f"m['heal']({node!r})")
    assert _link_up(netns) and not (tmp_path / "data.LINKCUT").exists()
