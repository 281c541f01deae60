"""Utilization from the lab's real Prometheus server, scraping the lab's libvirt exporters:
rightsizing lists exactly the lab's idle VMs, the daily history arrives through query_range
(a week backfilled with promtool) and a VM busy on one day of it is not idle, and `lab down`
stops Prometheus."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from sqlalchemy import select

from inventory.capacity.rightsizing import IDLE_CPU_AVG_PCT, IDLE_RAM_AVG_PCT
from inventory.config import load_config
from inventory.models import UtilizationDayRow, UtilizationRow
from inventory.store import open_store
from lab import control
from lab import prometheus as lab_prometheus
from lab.api.exporter import domain_name
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


HISTORY_DAYS = 7
BUSY_DAY = 3  # days ago
_FAMILIES = (
    "libvirt_domain_info_cpu_time_seconds_total",
    "libvirt_domain_info_virtual_cpus",
    "libvirt_domain_info_maximum_memory_bytes",
    "libvirt_domain_info_memory_usage_bytes",
    "libvirt_domain_info_meta",
)


def _week_of(url: str, server_id: str, quiet_pct: float, busy_pct: float) -> str:
    """OpenMetrics for the VM's series (labels as Prometheus holds them) on each of the last
    HISTORY_DAYS - 1 days: ten minutes of samples every 30 s, CPU at `quiet_pct` of its vCPUs
    except BUSY_DAY days ago, at `busy_pct`."""
    held = lab_prometheus.query(url, f'{{domain="{domain_name(server_id)}"}}')
    by_name: dict[str, list[dict[str, Any]]] = {}
    for series in held:
        by_name.setdefault(series["metric"]["__name__"], []).append(series)
    vcpus = float(by_name["libvirt_domain_info_virtual_cpus"][0]["value"][1])
    now = time.time()
    lines: list[str] = []
    for name in _FAMILIES:
        for series in by_name[name]:
            labels = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(series["metric"].items()) if k != "__name__")
            for day in range(HISTORY_DAYS - 1, 0, -1):
                pct = busy_pct if day == BUSY_DAY else quiet_pct
                begin = now - day * 86_400 - 7_200
                for i in range(20):
                    value = vcpus * pct / 100 * 30 * i if name.endswith("_total") else float(series["value"][1])
                    lines.append(f"{name}{{{labels}}} {value} {begin + 30 * i:.3f}")
    return "\n".join(lines) + "\n# EOF\n"


def _history_and_idle(config: Path, lab_dir: Path, expected: set[str], running: list[dict[str, Any]]) -> None:
    """One idle VM gets a backfilled week with one busy day: its history arrives through
    query_range, its weekly average still hides the burst, and rightsizing does not list it idle."""
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    cloud = cfg["providers"][0]
    target = min((n["id"] for n in running if n["provider"] == cloud["name"] and n["id"] in expected),
                 key=lambda n: utilization(n)[0])  # fmt: skip
    quiet = utilization(target)[0]
    # Busy that day, yet the week's mean of days stays below the idle threshold.
    busy = (IDLE_CPU_AVG_PCT - 0.5) * HISTORY_DAYS - (HISTORY_DAYS - 1) * quiet
    assert busy > IDLE_CPU_AVG_PCT * 2
    url = lab_prometheus.url_of(lab_dir.resolve())
    assert url is not None
    assert lab_prometheus.backfill(lab_dir.resolve(), _week_of(url, target, quiet, busy)) == url
    cloud["prometheus"]["window_days"] = HISTORY_DAYS
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    sync = json.loads(_ganyun(config, "sync", "--only", cloud["name"], "--json"))
    assert all(p["status"] == "ok" for p in sync["providers"]), sync

    store = open_store(load_config(config).database_url)
    with store.session() as s:
        days = s.execute(
            select(UtilizationDayRow.day, UtilizationDayRow.cpu_avg_pct)
            .where(UtilizationDayRow.provider == cloud["name"], UtilizationDayRow.node_id == target)
            .order_by(UtilizationDayRow.day)
        ).all()
        window_avg = s.scalar(select(UtilizationRow.cpu_avg_pct).where(UtilizationRow.node_id == target))
    assert len(days) == HISTORY_DAYS  # six backfilled days and today's live minutes
    cpu = [c for _d, c in days]
    assert cpu[HISTORY_DAYS - 1 - BUSY_DAY] == pytest.approx(busy, rel=0.05)
    assert [c for i, c in enumerate(cpu) if i != HISTORY_DAYS - 1 - BUSY_DAY] == pytest.approx([quiet] * 6, abs=0.3)
    assert window_avg is not None and window_avg < IDLE_CPU_AVG_PCT  # the average alone would call it idle

    report = json.loads(_ganyun(config, "capacity", "report", "--format", "json"))["rightsizing"]
    assert report["idle"]["nodes"] == len(expected) - 1
    assert target not in {row["id"] for row in report["top"] if row["idle"]}


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
        _history_and_idle(config, lab_dir, expected, running)
    finally:
        control.down(lab_dir)
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "lab down leaves no Prometheus listening"
    assert lab_prometheus.url_of(lab_dir.resolve()) is None
