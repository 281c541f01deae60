"""Utilization from the lab's real Prometheus server, scraping the lab's libvirt exporters:
rightsizing lists exactly the lab's idle VMs, and `lab down` stops Prometheus."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from inventory.capacity.rightsizing import IDLE_CPU_AVG_PCT, IDLE_RAM_AVG_PCT
from lab import control
from lab import prometheus as lab_prometheus
from lab.seed import utilization

pytestmark = [
    pytest.mark.xdist_group("lab-prometheus"),
    pytest.mark.skipif(not lab_prometheus.shutil.which("prometheus"), reason="Debian prometheus not installed"),
]


def _ganyun(config: Path, *args: str) -> str:
    env = {**os.environ, "GANYUN_CONFIG": str(config)}
    proc = subprocess.run(
        [sys.executable, "-m", "console", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=config.parent,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_rightsizing_lists_the_idle_vms_prometheus_measured(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    config = Path(control.up(lab_dir, "small", prometheus=True))
    try:
        url = lab_prometheus.url_of(lab_dir.resolve())
        assert url is not None
        # The exporter speaks the exposition format with the libvirt exporter's names.
        cloud = yaml.safe_load(config.read_text(encoding="utf-8"))["providers"][0]
        assert cloud["prometheus"]["url"] == url
        run = json.loads((lab_dir / "run.json").read_text())
        exposition = requests.get(f"{run['url']}/_exporter/{cloud['name']}/metrics", timeout=10).text
        assert "# TYPE libvirt_domain_info_cpu_time_seconds_total counter" in exposition
        targets = requests.get(f"{url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        assert targets and all(t["health"] == "up" for t in targets)

        sync = json.loads(_ganyun(config, "sync", "--json"))
        assert all(p["status"] == "ok" for p in sync["providers"]), sync
        nodes = json.loads(_ganyun(config, "inventory", "list", "--format", "json"))
        running = [n for n in nodes if n["state"] == "running"]
        expected = {
            n["id"]
            for n in running
            if utilization(n["id"])[0] < IDLE_CPU_AVG_PCT and utilization(n["id"])[2] < IDLE_RAM_AVG_PCT
        }
        report = json.loads(_ganyun(config, "capacity", "report", "--format", "json"))["rightsizing"]
        assert report["measured_nodes"] == len(running)
        assert expected and report["idle"]["nodes"] == len(expected)
        listed_idle = {row["id"] for row in report["top"] if row["idle"]}
        assert listed_idle and listed_idle <= expected
    finally:
        control.down(lab_dir)
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "lab down leaves no Prometheus listening"
    assert lab_prometheus.url_of(lab_dir.resolve()) is None
