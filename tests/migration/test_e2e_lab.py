"""End to end in the lab: plan -> Ansible runs -> real lab clouds, real disk and data bytes.

One small lab for the module; each test moves a few VMs so that the whole file stays
within a few minutes on a 2-core machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from inventory.config import load_config
from inventory.migration_models import MigrationRun, MigrationStep
from inventory.store import open_store
from lab import control
from tests.migration.labcli import GANYUN, LabCli

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("migration-lab")]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCli]:
    lab_dir = tmp_path_factory.mktemp("miglab").resolve()
    path = control.up(lab_dir, "small")
    try:
        c = LabCli(lab_dir, path)
        c.run("sync")
        yield c
    finally:
        control.down(lab_dir)


def _sm3_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.new("sm3", p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "app.conf"
    }


def _by_name(nodes: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(n["provider"], n["name"]): n for n in nodes}


def _images(cli: LabCli, provider: str, prefix: str) -> list[str]:
    records = cli.records("images", provider=provider)
    return [r["name"] for r in records if r["name"].startswith(prefix)]


def test_wave_with_rehost_and_replatform_lands_in_both_pools(cli: LabCli) -> None:
    # 人社一体化公共服务平台 mixes Windows (rehost onto Hygon) and Linux (replatform onto Kunpeng).
    system = "人社一体化公共服务平台"
    before = _by_name(cli.nodes(system=system))
    windows = sorted(n for (p, n), r in before.items() if r["os_family"] == "Windows" and r["state"] == "running")
    linux = sorted(n for (p, n), r in before.items() if r["os_family"] == "CentOS" and r["state"] == "running")
    keep = [windows[0], linux[0]]
    plan = cli.plan("mixed", "xinchuang", keep, f"system={system}")
    strategies = {i["name"]: i["strategy"] for i in json.loads(plan.read_text())["items"]}
    assert strategies == {windows[0]: "rehost", linux[0]: "replatform"}

    report = cli.json("migrate", "run", str(plan), "--yes", "--json")
    assert report["status"] == "completed", report
    assert {v["status"] for v in report["vms"]} == {"cut_over"}

    after = _by_name(cli.nodes(system=system))
    for name, target in ((windows[0], "xc-hygon"), (linux[0], "xc-kunpeng")):
        source = next(r for (p, n), r in after.items() if n == name and p.startswith(("gov-", "county-")))
        landed = after[(target, name)]
        assert source["state"] == "stopped"  # stopped, not deleted
        assert landed["state"] == "running"
        assert landed["department"] == "市人社局"
        assert landed["tags"]["ganyun_migrated_from"] == f"{source['provider']}/{source['id']}"
        assert landed["tags"]["service_address"] == source["ips"][0]
        assert source["tags"]["ganyun_migrated_to"] == f"{target}/{landed['id']}"
    assert after[("xc-kunpeng", linux[0])]["arch"] == "aarch64"
    assert after[("xc-kunpeng", linux[0])]["os_family"] in ("openEuler", "Kylin", "UOS")

    # The data on both sides, hashed here independently of the engine.
    vm = next(v for v in report["vms"] if v["strategy"] == "replatform")
    src_provider, src_id = vm["source"].split("/")
    tgt_provider, tgt_id = vm["target"].split("/")
    src_tree = _sm3_tree(cli.dir / "appdata" / src_provider / src_id)
    tgt_tree = _sm3_tree(cli.dir / "appdata" / tgt_provider / tgt_id)
    assert src_tree and src_tree == tgt_tree
    assert (cli.dir / "appdata" / tgt_provider / tgt_id / "app.conf").read_text().count(tgt_id) == 1
    # No leftover snapshots on the source cloud.
    assert _images(cli, "gov-huawei", "ganyun-mig-") == []

    # Rollback after cutover brings the sources back and removes the targets.
    cli.run("migrate", "rollback", str(report["run_id"]), "--yes")
    restored = _by_name(cli.nodes(system=system))
    for name in keep:
        assert ("xc-hygon", name) not in restored and ("xc-kunpeng", name) not in restored
        source = next(r for (p, n), r in restored.items() if n == name)
        assert source["state"] == "running"
        assert not source["tags"].get("ganyun_migrated_to")
    status = cli.json("migrate", "status", "--run", str(report["run_id"]), "--json")
    assert status["status"] == "rolled_back"


def test_boot_failure_on_target_rolls_back(cli: LabCli) -> None:
    nodes = cli.nodes(system="社会保险经办系统")
    name = sorted(n["name"] for n in nodes if n["state"] == "running" and n["os_family"] == "CentOS")[0]
    plan = cli.plan("bootfail", "xc-hygon", [name], "system=社会保险经办系统")
    cli.faults("xc-hygon", boot_error=True)
    try:
        proc = cli.run("migrate", "run", str(plan), "--yes", "--json", check=False)
    finally:
        cli.clear_faults()
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    vm = report["vms"][0]
    assert vm["status"] == "failed"
    assert {s["step"]: s["status"] for s in vm["steps"]}["boot"] == "failed"
    assert "boot" in vm["message"]
    after = _by_name(cli.nodes(system="社会保险经办系统"))
    assert ("xc-hygon", name) not in after  # the half-built target is gone
    source = next(r for (p, n), r in after.items() if n == name)
    assert source["state"] == "running"
    assert _images(cli, source["provider"], "ganyun-mig-") == []
    assert _images(cli, "xc-hygon", f"ganyun-{name}") == []
    status = cli.json("migrate", "status", "--run", str(report["run_id"]), "--json")
    assert all(s["status"] != "ok" for s in status["vms"][0]["steps"])  # a re-run starts this VM over


def test_checksum_mismatch_rolls_back(cli: LabCli) -> None:
    nodes = cli.nodes(system="就业创业服务平台")
    name = sorted(n["name"] for n in nodes if n["state"] == "running")[0]
    plan = cli.plan("corrupt", "xc-kunpeng", [name], "system=就业创业服务平台")
    data_root = cli.dir / "appdata" / "xc-kunpeng"
    dirs_before = sorted(p.name for p in data_root.iterdir()) if data_root.exists() else []
    proc = cli.run("migrate", "run", str(plan), "--yes", "--json", "--lab-fault", "corrupt_copy", check=False)
    assert proc.returncode == 1, proc.stderr
    vm = json.loads(proc.stdout)["vms"][0]
    steps = {s["step"]: s for s in vm["steps"]}
    assert steps["verify"]["status"] == "failed"
    assert "SM3" in steps["verify"]["message"]
    assert steps["cutover"]["status"] == "pending"
    after = _by_name(cli.nodes(system="就业创业服务平台"))
    assert ("xc-kunpeng", name) not in after
    assert next(r for (p, n), r in after.items() if n == name)["state"] == "running"
    # The partial copy on the target is removed with the target.
    assert sorted(p.name for p in data_root.iterdir()) == dirs_before


def _latest_run(config_path: Path) -> tuple[int, int]:
    """(latest run id, its ok steps), straight from the inventory database."""
    config = load_config(config_path)
    store = open_store(config.database_url)
    try:
        with store.session() as session:
            run_id = session.scalar(select(func.max(MigrationRun.id))) or 0
            ok = session.scalar(
                select(func.count()).where(MigrationStep.run_id == run_id, MigrationStep.status == "ok")
            )
            return run_id, int(ok or 0)
    finally:
        store.dispose()


def test_killed_run_resumes_from_last_step_then_finalize(cli: LabCli) -> None:
    nodes = cli.nodes(system="劳动保障监察系统")
    name = sorted(n["name"] for n in nodes if n["state"] == "running")[0]
    plan = cli.plan("killed", "xc-kunpeng", [name], "system=劳动保障监察系统")
    baseline, _ = _latest_run(cli.config_path)
    proc = subprocess.Popen(
        [GANYUN, "migrate", "run", str(plan), "--yes", "--json", "--no-sync"],
        env=cli.env,
        cwd=cli.dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            run_id, ok = _latest_run(cli.config_path)
            if run_id > baseline and ok >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    status = cli.json("migrate", "status", "--json")
    vm = status["vms"][0]
    assert vm["name"] == name and vm["status"] != "cut_over"
    done_before = [s["step"] for s in vm["steps"] if s["status"] == "ok"]
    assert done_before[:2] == ["boot", "configure"]
    cli.run("sync")
    source = next(
        n for n in cli.nodes(system="劳动保障监察系统") if n["name"] == name and n["provider"] == "county-h3c"
    )
    assert source["state"] == "running"  # untouched until cutover

    report = cli.json("migrate", "run", str(plan), "--yes", "--json")
    assert report["run_id"] == status["run_id"]  # the same run, resumed
    assert report["status"] == "completed"
    targets = [n for n in cli.nodes(provider="xc-kunpeng") if n["name"] == name]
    assert len(targets) == 1  # the boot done before the kill was not repeated

    # Finalize deletes the stopped source, only now.
    cli.run("migrate", "finalize", str(report["run_id"]), "--yes")
    remaining = [n for n in cli.nodes(system="劳动保障监察系统") if n["name"] == name]
    assert [n["provider"] for n in remaining] == ["xc-kunpeng"]
