"""Every file ganyun creates is 0600 or 0640, whatever the umask of whoever starts it.

The whole chain runs as an operator would, started from a shell whose umask is 000 (the
worst case): `lab up --tls [--dr]`, sync, every export, a migration (the lab's disk images),
a drill and its report, certificate issuing. Then every file under the lab and the export
folder is checked, and the umask of the long-running processes ganyun left behind (the lab
server, the console) is read from /proc.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inventory.store import open_store
from lab import dr

GANYUN = Path(sys.executable).with_name("ganyun")
ALLOWED = {0o600, 0o640}
SECRETS = ("accounts.txt", "lab.json", "vault.json", "vault.key", "audit_key.pem", "ganyun.db")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("file-modes")]


def _ganyun(config: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GANYUN_LANG": "en", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    prefix = ["--config", str(config)] if config else []
    proc = subprocess.run([str(GANYUN), *prefix, *args], capture_output=True, text=True, env=env, timeout=600,
                          check=False, umask=0)
    assert proc.returncode == 0, f"ganyun {' '.join(args)}: {proc.stderr[-2000:]}"
    return proc


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode)
            for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def _umask_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise AssertionError(f"no Umask line for pid {pid}")


@pytest.fixture(scope="module")
def operated() -> Iterator[dict[str, Any]]:
    # Not under pytest's tmp dir: that is 0700 root-only, and the postgres OS user must reach PGDATA.
    root = Path(tempfile.mkdtemp(prefix="ganyun-modes-"))
    os.chmod(root, 0o755)
    lab, out = root / "lab", root / "exports"
    with_dr = dr.pg_bindir() is not None
    try:
        _ganyun(None, "lab", "up", "--dir", str(lab), "--tls", *(["--dr"] if with_dr else []))
        config = lab / "ganyun.yaml"
        lab_server = int((lab / "lab.pid").read_text())
        _ganyun(config, "sync")
        out.mkdir()
        _ganyun(config, "capacity", "report", "--format", "xlsx", "--output", str(out / "capacity.xlsx"))
        _ganyun(config, "capacity", "report", "--format", "html", "--output", str(out / "capacity.html"))
        for fmt in ("xlsx", "csv", "html", "json"):
            _ganyun(config, "comply", "audit", "--format", fmt, "--output", str(out / f"comply.{fmt}"))
        first = json.loads(_ganyun(config, "inventory", "list", "--format", "json").stdout)[0]["name"]
        plan = out / "plan.json"
        _ganyun(config, "migrate", "plan", "--target", "xinchuang", "--where", f"name={first}", "--output", str(plan))
        _ganyun(config, "migrate", "run", str(plan), "--yes")
        _ganyun(config, "certs", "issue", "--cn", "app.gov.example", "--ca-dir", str(out / "ca"))
        if with_dr:
            drill = json.loads(_ganyun(config, "drill", "run", "--scenario", "switchover", "--yes", "--json").stdout)
            _ganyun(config, "drill", "report", drill["run_id"], "--output", str(out / "drill.html"))
        yield {"lab": lab, "exports": out, "config": config, "lab_server": lab_server, "dr": with_dr}
    finally:
        subprocess.run([str(GANYUN), "lab", "down", "--dir", str(lab)], capture_output=True, timeout=300,
                       check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_every_lab_file_is_0600_or_0640(operated):
    modes = _modes(operated["lab"])
    assert len(modes) > 50
    bad = {name: f"{mode:04o}" for name, mode in modes.items() if mode not in ALLOWED}
    assert not bad, bad
    for name in SECRETS:
        assert modes[name] == 0o600, name
    # The lab's files the brief names: config, disk images made by the migration, TLS keys.
    assert modes["ganyun.yaml"] == 0o640
    assert any(n.startswith("images/") for n in modes) and any(n.startswith("disks/") for n in modes)
    assert all(m == 0o600 for n, m in modes.items() if n.startswith("tls/") and n.endswith(".key"))
    if operated["dr"]:
        assert any(n.startswith("dr/") for n in modes)


def test_every_export_is_0600_or_0640(operated):
    modes = _modes(operated["exports"])
    expected = {"capacity.xlsx", "capacity.html", "comply.xlsx", "comply.csv", "comply.html", "comply.json",
                "plan.json"} | ({"drill.html"} if operated["dr"] else set())
    assert expected <= set(modes)
    bad = {name: f"{mode:04o}" for name, mode in modes.items() if mode not in ALLOWED}
    assert not bad, bad
    assert all(m == 0o600 for n, m in modes.items() if n.endswith(".key"))


def test_directories_can_be_passed_through_but_not_listed(operated):
    for path in [operated["lab"], *(p for p in operated["lab"].rglob("*") if p.is_dir())]:
        if path.owner() == "postgres":
            continue  # PostgreSQL's own PGDATA (0700)
        mode = stat.S_IMODE(path.stat().st_mode)
        assert not mode & (stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH), f"{path} {mode:04o}"


def test_processes_ganyun_leaves_running_keep_the_private_umask(operated):
    assert _umask_of(operated["lab_server"]) == 0o026
    console = subprocess.Popen(
        [str(GANYUN), "--config", str(operated["config"]), "console", "--port", "0", "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, umask=0,
    )
    try:
        assert console.stdout is not None
        console.stdout.readline()  # printed just before the exec into Streamlit
        assert _umask_of(console.pid) == 0o026
    finally:
        os.killpg(console.pid, signal.SIGTERM)
        console.wait(30)


def test_a_new_database_is_0600_whatever_the_umask(tmp_path):
    previous = os.umask(0)
    try:
        store = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
        with store.engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
            connection.exec_driver_sql("INSERT INTO probe VALUES (1)")
        files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        store.dispose()
    finally:
        os.umask(previous)
    assert files["fresh.db"] == 0o600
    assert {files.get("fresh.db-wal"), files.get("fresh.db-shm")} <= {0o600, None}
    assert "fresh.db-wal" in files
