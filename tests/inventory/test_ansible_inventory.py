"""The dynamic inventory as real `ansible-inventory` sees it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inventory.ansible import build_inventory, group_name
from inventory.store import open_store
from inventory.sync import sync_all
from tests.fakes import FakeCloud, factory, make_node

BIN = Path(sys.executable).parent


@pytest.fixture()
def synced(tmp_path):
    cfg = tmp_path / "ganyun.yaml"
    cfg.write_text(
        "database: sqlite:///inv.db\n"
        "centers: [{id: gz-prod, name: 生产中心, role: production, site: ganzhou}]\n"
        "providers:\n"
        "  - {name: gov-huawei, driver: fake, center: gz-prod}\n"
        "  - {name: xc-kunpeng, driver: fake, center: gz-prod, pool: xinchuang}\n",
        encoding="utf-8",
    )
    from inventory.config import load_config

    config = load_config(cfg)
    clouds = {
        "gov-huawei": FakeCloud(nodes=[make_node("gov-huawei", i) for i in range(3)]),
        "xc-kunpeng": FakeCloud(
            nodes=[
                make_node("xc-kunpeng", i, arch="aarch64", os_family="Kylin", cpu_vendor="Kunpeng") for i in range(2)
            ]
        ),
    }
    sync_all(config, open_store(config.database_url), factory=factory(clouds))
    return cfg, config


def test_list_has_groups_and_hostvars(synced):
    _cfg, config = synced
    with open_store(config.database_url).session() as s:
        inv, _ = build_inventory(s)
    assert set(inv["arch_aarch64"]["hosts"]) == {"xc-kunpeng.vm-0", "xc-kunpeng.vm-1"}
    assert len(inv[group_name("department", "市人社局")]["hosts"]) == 5
    # Strings reach Ansible marked unsafe (data, never templates); see tests/security.
    assert inv["_meta"]["hostvars"]["gov-huawei.vm-1"]["ganyun_pool"] == {"__ansible_unsafe": "legacy"}
    assert inv["_meta"]["hostvars"]["gov-huawei.vm-1"]["ansible_host"] == {"__ansible_unsafe": "10.0.0.1"}


@pytest.mark.skipif(shutil.which("ansible-inventory", path=str(BIN)) is None, reason="ansible-core not installed")
def test_real_ansible_inventory_graph(synced, tmp_path):
    cfg, _config = synced
    script = tmp_path / "ganyun_inventory.sh"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m console --config "{cfg}" inventory ansible "$@"\n')
    script.chmod(0o755)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_INVENTORY_ENABLED": "script"}
    graph = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(script), "--graph"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
        timeout=120,
    )
    assert graph.returncode == 0, graph.stderr
    for group in ("@provider_gov_huawei", "@pool_xinchuang", "@arch_aarch64", "@os_family_Kylin", "@center_gz_prod"):
        assert group in graph.stdout
    assert "xc-kunpeng.vm-0" in graph.stdout
    host = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(script), "--host", "xc-kunpeng.vm-1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert json.loads(host.stdout)["ganyun_arch"] == "aarch64"
