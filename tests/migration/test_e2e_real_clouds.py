"""End to end against clouds that behave like real ones: a vSphere source (govmomi's simulator,
real VMDK files), Glance and Nova that are slow and fail some of the time, floating IPs on the
extranet, and a `ganyun migrate run` killed in the middle of a step. Everything goes through
the CLI, ansible-runner and the lab's APIs; the checks read the clouds, not ganyun's records.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from inventory.config import load_config
from inventory.credentials import provider_spec
from inventory.migration_models import MigrationStep, MigrationVm
from inventory.store import open_store
from lab import control
from lab.vsphere import lab as vsphere_lab
from lab.vsphere.simulator import datastore_dir
from playbooks.migration_steps import checkpoint_for
from providers import capabilities
from providers.base import State
from providers.registry import create_provider
from security.vault import VaultCredentials
from tests.migration.labcli import GANYUN, LabCli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("migration-real-clouds"),
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed"),
]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCli]:
    lab_dir = tmp_path_factory.mktemp("realclouds").resolve()
    path = control.up(lab_dir, "small", vsphere=True)
    try:
        c = LabCli(lab_dir, path)
        c.run("sync")
        yield c
    finally:
        control.down(lab_dir)


@pytest.fixture
def calm(cli: LabCli) -> Iterator[LabCli]:
    cli.clear_faults()
    yield cli
    cli.clear_faults()


def _adapter(cli: LabCli, name: str) -> Any:
    config = load_config(cli.config_path)
    return create_provider(provider_spec(config.provider(name), VaultCredentials(config)))


def _one_vm_plan(cli: LabCli, name: str, target: str, where: str) -> Path:
    return cli.plan(name, target, [name], where)


def _step_data(cli: LabCli, run_id: int, step: str) -> dict[str, Any]:
    store = open_store(load_config(cli.config_path).database_url)
    try:
        with store.session() as session:
            row = session.scalars(
                select(MigrationStep).where(MigrationStep.run_id == run_id, MigrationStep.step == step)
            ).first()
            return dict(row.data) if row is not None else {}
    finally:
        store.dispose()


# --------------------------------------------------------------------------- vSphere


def test_a_vsphere_department_rehosts_onto_xc_hygon(calm: LabCli) -> None:
    cli = calm
    sources = cli.nodes(provider="gov-vmware")
    by_department: dict[str, list[dict[str, Any]]] = {}
    for node in sources:
        by_department.setdefault(node["department"], []).append(node)
    department = min(by_department, key=lambda d: (len(by_department[d]), d))
    moving = {n["name"]: n for n in by_department[department]}

    plan = cli.dir / "vsphere-plan.json"
    cli.run("migrate", "plan", "--source", "gov-vmware", "--target", "xc-hygon",
            "--where", f"department={department}", "--output", str(plan))  # fmt: skip
    items = json.loads(plan.read_text(encoding="utf-8"))["items"]
    assert sorted(i["name"] for i in items) == sorted(moving)
    assert {(i["strategy"], i["transfer"]) for i in items} == {("rehost", "disks")}

    report = cli.json("migrate", "run", str(plan), "--yes", "--json")
    assert report["status"] == "completed", report
    for vm in report["vms"]:
        assert [s["step"] for s in vm["steps"] if s["status"] == "ok"] == [
            "power_off", "download", "convert", "import", "boot", "health", "cutover", "cleanup"
        ]  # fmt: skip
        # The VLAN reaches the Hygon pool: the address stays, on a fixed-IP port.
        assert vm["addresses"]["before"]["fixed"] == vm["addresses"]["after"]["fixed"] != []

    landed = {n["name"]: n for n in cli.nodes(provider="xc-hygon") if n["name"] in moving}
    assert sorted(landed) == sorted(moving)  # the same names
    vcenter = _adapter(cli, "gov-vmware")
    for name, source in moving.items():
        live = vcenter.get_node(source["id"])  # still there: finalize is the only delete
        assert live.state == State.STOPPED
        assert live.tags["ganyun_migrated_to"] == f"xc-hygon/{landed[name]['id']}"
        target = landed[name]
        assert target["state"] == "running" and target["department"] == department
        assert target["tags"]["ganyun_migrated_from"] == f"gov-vmware/{source['id']}"
        # The boot disk on the target (the lab's Glance file) against the VMDK in the datastore.
        disk = source["extra"]["disks"][0]
        vmdk = datastore_dir(cli.dir / vsphere_lab.STATE_DIR, disk["datastore"]) / disk["path"]
        image = cli.dir / "images" / "xc-hygon" / f"{target['image']}.qcow2"
        same = subprocess.run(["qemu-img", "compare", "-f", "vmdk", "-F", "qcow2", str(vmdk), str(image)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert same.returncode == 0, same.stdout + same.stderr
        others = [n for n in moving.values() if n["name"] != name]
        if others:  # and the comparison tells disks apart: another VM's disk differs
            other = others[0]["extra"]["disks"][0]
            theirs = datastore_dir(cli.dir / vsphere_lab.STATE_DIR, other["datastore"]) / other["path"]
            differ = subprocess.run(["qemu-img", "compare", "-f", "vmdk", "-F", "qcow2", str(theirs), str(image)],
                                    capture_output=True, text=True, check=False)  # fmt: skip
            assert differ.returncode == 1, differ.stdout + differ.stderr

    # Rollback powers the sources back on and removes what was made.
    cli.run("migrate", "rollback", str(report["run_id"]), "--yes")
    for source in moving.values():
        live = vcenter.get_node(source["id"])
        assert live.state == State.RUNNING and not live.tags.get("ganyun_migrated_to")
    assert not [n for n in _adapter(cli, "xc-hygon").list_nodes() if n.name in moving]


# --------------------------------------------------------------------------- timing


def test_slow_and_flaky_glance_and_nova(calm: LabCli) -> None:
    cli = calm
    system = "社会保险经办系统"
    running = sorted(n["name"] for n in cli.nodes(system=system) if n["state"] == "running")
    keep = running[:2]
    plan = cli.plan("flaky", "xc-hygon", keep, f"system={system}")
    slow = {"image_seconds": 1.5, "boot_seconds": 0.5, "image_failures": 0.5, "boot_failures": 0.5, "http500": 0.1}
    for cloud in ("gov-huawei", "xc-hygon"):
        cli.faults(cloud, **slow)
    try:
        proc = cli.run("migrate", "run", str(plan), "--yes", "--json", "--no-sync", check=False)
    finally:
        cli.clear_faults()
    report = json.loads(proc.stdout)
    if report["status"] == "completed":
        assert proc.returncode == 0
        remarks = " ".join(s["message"] for v in report["vms"] for s in v["steps"])
        # Every second snapshot, upload and build failed and was made again.
        assert "made again" in remarks and "booted again" in remarks
        targets = [n for n in _adapter(cli, "xc-hygon").list_nodes() if n.name in keep]
        assert sorted(n.name for n in targets) == sorted(keep) and {n.state for n in targets} == {State.RUNNING}
        images = [i.name for i in _adapter(cli, "xc-hygon").list_images() if i.name.startswith("ganyun-")]
        assert sorted(images) == sorted(f"ganyun-{n}" for n in keep)  # no killed leftovers
        cli.run("migrate", "rollback", str(report["run_id"]), "--yes")
    else:
        assert proc.returncode == 1 and report["status"] == "rolled_back", [
            (v["name"], v["message"]) for v in report["vms"]
        ]
    source = _adapter(cli, "gov-huawei")
    assert not [i for i in source.list_images() if i.name.startswith("ganyun-mig-")]
    assert all(source.get_node(n["id"]).state == State.RUNNING for n in cli.nodes(system=system) if n["name"] in keep)
    assert not [n for n in _adapter(cli, "xc-hygon").list_nodes() if n.name in keep]


def test_floating_ip_moves_with_the_service_and_back(calm: LabCli) -> None:
    cli = calm
    huawei = capabilities.FLOATING_IPS.require(_adapter(cli, "gov-huawei"), "list_floating_ips")
    hygon = capabilities.FLOATING_IPS.require(_adapter(cli, "xc-hygon"), "list_floating_ips")
    published = {f.node_id: f for f in huawei.list_floating_ips() if f.node_id}
    web = next(n for n in cli.nodes(provider="gov-huawei") if n["id"] in published and n["state"] == "running")
    address = published[web["id"]].address
    plan = _one_vm_plan(cli, web["name"], "xc-hygon", f"system={web['system']}")

    report = cli.json("migrate", "run", str(plan), "--yes", "--json")
    assert report["status"] == "completed", report
    [vm] = report["vms"]
    target_id = vm["target"].split("/")[1]
    assert [f.address for f in hygon.list_floating_ips(target_id)] == [address]
    assert address not in {f.address for f in huawei.list_floating_ips()}
    assert vm["addresses"]["before"]["floating"] == [address] == vm["addresses"]["after"]["floating"]
    assert vm["addresses"]["service"] == address
    wide = subprocess.run([GANYUN, "migrate", "status", "--run", str(report["run_id"])], env={**cli.env, "COLUMNS": "400"},
                          cwd=cli.dir, capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    assert f"{address}* -> " in wide.stdout and wide.stdout.rstrip().endswith("┘")

    cli.run("migrate", "rollback", str(report["run_id"]), "--yes")
    assert [f.address for f in huawei.list_floating_ips(web["id"])] == [address]
    assert address not in {f.address for f in hygon.list_floating_ips()}
    assert huawei.get_node(web["id"]).state == State.RUNNING


# --------------------------------------------------------------------------- interruption


def _vm_row(cli: LabCli, name: str) -> MigrationVm | None:
    store = open_store(load_config(cli.config_path).database_url)
    try:
        with store.session() as session:
            row = session.scalars(
                select(MigrationVm).where(MigrationVm.name == name).order_by(MigrationVm.id.desc())
            ).first()
            if row is not None:
                session.expunge(row)
            return row
    finally:
        store.dispose()


def test_a_run_killed_mid_step_resumes_in_that_step(calm: LabCli) -> None:
    """Killed while export waits for a snapshot it had to take again: the resumed run waits for
    that second snapshot (recorded only in the step's checkpoint), it does not start over."""
    cli = calm
    system = "就业创业服务平台"
    name = sorted(n["name"] for n in cli.nodes(system=system) if n["state"] == "running")[0]
    plan = _one_vm_plan(cli, name, "xc-hygon", f"system={system}")
    inspur = _adapter(cli, "gov-inspur")
    cli.faults("gov-inspur", image_seconds=5.0, image_failures=0.5)
    # Glance fails every second image from now on: spend the first one, so that the run's
    # snapshot is killed and the one it takes again succeeds.
    spent = inspur.create_snapshot(next(n for n in inspur.list_nodes() if n.state == State.RUNNING).id, "spent")
    inspur.delete_image(spent.id)
    proc = subprocess.Popen(
        [GANYUN, "migrate", "run", str(plan), "--yes", "--json", "--no-sync"],
        env=cli.env, cwd=cli.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    item = next(i for i in json.loads(plan.read_text(encoding="utf-8"))["items"])
    workdir = load_config(cli.config_path).resolve_path(".ganyun/migration")
    try:
        deadline = time.monotonic() + 180
        row, saved = None, {}
        while time.monotonic() < deadline and proc.poll() is None:
            row = _vm_row(cli, name)
            if row is not None:
                saved = checkpoint_for(workdir, row.run_id, item).state()
                if saved.get("snapshot_attempts") == 2 and saved.get("snapshot_id"):
                    break  # in export, waiting for the snapshot it took again
            time.sleep(0.1)
        assert proc.poll() is None and row is not None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)  # the `ganyun migrate run` process itself
    finally:
        proc.wait(timeout=30)
    run_id = row.run_id
    first = _step_data(cli, run_id, "snapshot")["snapshot_id"]
    again = saved["snapshot_id"]
    assert first != again
    status = cli.json("migrate", "status", "--run", str(run_id), "--json")
    assert status["vms"][0]["step"] == "export" and status["vms"][0]["status"] == "running"

    report = cli.json("migrate", "run", str(plan), "--yes", "--json")
    assert report["run_id"] == run_id  # the same run, resumed
    assert report["status"] == "completed", report
    assert _step_data(cli, run_id, "export")["snapshot_id"] == again  # waited for, not taken a third time
    # Cleanup removed the one snapshot left: a third one would still be there.
    assert not [i for i in inspur.list_images() if i.name.startswith("ganyun-mig-")]
    assert len([n for n in _adapter(cli, "xc-hygon").list_nodes() if n.name == name]) == 1
    cli.clear_faults()
    cli.run("migrate", "rollback", str(run_id), "--yes")
