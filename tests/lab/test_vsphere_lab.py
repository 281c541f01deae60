"""`ganyun lab up --vsphere`, `ganyun sync`, `ganyun inventory list`, `ganyun lab down`: the
commands a user types, each as its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab.vsphere import simulator

pytestmark = pytest.mark.xdist_group("vsphere-lab")


def _ganyun(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["--config", str(config)] if config else []
    return subprocess.run(
        [sys.executable, "-m", "console", *prefix, *args], capture_output=True, text=True, timeout=300
    )


def _json(result: subprocess.CompletedProcess[str]) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_lab_up_vsphere_sync_and_down(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    pid = 0
    up = _ganyun("lab", "up", "--dir", str(lab), "--scale", "small", "--vsphere")
    try:
        assert up.returncode == 0, up.stderr
        config = lab / "ganyun.yaml"
        entry = next(p for p in yaml.safe_load(config.read_text())["providers"] if p["name"] == "gov-vmware")
        assert (entry["driver"], entry["center"], entry["pool"]) == ("vsphere", "gz-prod", "legacy")
        assert entry["credentials"] == "vault:gov-vmware"
        assert "secret" not in json.dumps(entry) and "password" not in json.dumps(entry)
        pid = simulator.running(lab / "vsphere").pid

        sync = _ganyun("sync", "--only", "gov-vmware", "--json", config=config)
        assert sync.returncode == 0, sync.stderr
        assert json.loads(sync.stdout)["providers"][0]["status"] == "ok"

        nodes = _json(_ganyun("inventory", "list", "--kind", "nodes", "--where", "provider=gov-vmware",
                              "--format", "json", config=config))  # fmt: skip
        assert len(nodes) == 24
        assert all(n["os_family"] in ("CentOS", "RHEL", "Windows", "Kylin") for n in nodes)
        assert all(n["department"] and n["system"] and n["mlps_level"] in (1, 2, 3) for n in nodes)
        hosts = _json(_ganyun("inventory", "list", "--kind", "hosts", "--where", "provider=gov-vmware",
                              "--format", "json", config=config))  # fmt: skip
        assert sorted({h["cpu_vendor"] for h in hosts}) == ["Hygon", "Intel"]
        assert all(h["cpu_model"] and h["arch"] == "x86_64" for h in hosts)
    finally:
        down = _ganyun("lab", "down", "--dir", str(lab))
    assert down.returncode == 0, down.stderr
    assert str(pid) in down.stdout
    assert simulator.running(lab / "vsphere") is None
    assert not Path(f"/proc/{pid}/cmdline").exists() or not Path(f"/proc/{pid}/cmdline").read_bytes()
