"""The Patroni flavour of the three-center lab: a 3-member etcd (one member per center) and one
Patroni per center, managing that center's PostgreSQL.

Patroni comes from PyPI (4.x): Debian's 3.0.2 loses acknowledged rows with the etcd3 DCS when
a cut leader's link returns (fixed upstream after it). Settings follow what operators run for
a same-city pair plus a remote standby: synchronous_mode on, the remote member never chosen as
the synchronous standby (`nosync`), `primary_start_timeout: 0` (a dead primary fails over
instead of being restarted in place) and pg_rewind for rejoining members.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from lab import pgdata
from providers.errors import GanyunError

ETCD = "/usr/bin/etcd"
REST_PORT = 8008
# Patroni 4's least ttl is 20 s (its validator refuses less, its runtime raises it to 20), and
# loop_wait + 2 * retry_timeout must not exceed it.
TTL_S = 20
LOOP_WAIT_S = 1
RETRY_TIMEOUT_S = 4


class PatroniLabError(GanyunError):
    """etcd or Patroni could not be started here: one line, exit 2, and the lab is torn down."""

    exit_code = 2


def usable() -> str:
    if not Path(ETCD).exists():
        return "etcd-server is not installed (make system-deps)"
    try:
        import patroni  # noqa: F401
    except ImportError:
        return "Patroni is not installed in this environment (make install)"
    if shutil.which("setpriv") is None:
        return "setpriv is not installed (util-linux)"
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} is missing: Patroni runs on the system's Python as PostgreSQL's account"
    return ""


# Patroni and what it imports with the etcd3 DCS and psycopg 3.
PATRONI_PACKAGES = (
    "patroni",
    "etcd",
    "dns",
    "urllib3",
    "yaml",
    "click",
    "prettytable",
    "wcwidth",
    "dateutil",
    "six",
    "psutil",
    "ydiff",
    "psycopg",
    "psycopg_binary",
    "typing_extensions",
)
SYSTEM_PYTHON = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"


def pylib(home: Path) -> Path:
    """A copy of Patroni and its dependencies where PostgreSQL's account can read them: this
    environment may live under a directory it cannot enter (root's home)."""
    import importlib.metadata
    import importlib.util

    lib = home / "pylib"
    lib.mkdir(exist_ok=True)
    for name in PATRONI_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, lib / name, dirs_exist_ok=True)
            libs = origin.parent.parent / f"{name}.libs"  # bundled shared libraries of a binary wheel
            if libs.is_dir():
                shutil.copytree(libs, lib / libs.name, dirs_exist_ok=True)
        else:
            shutil.copy2(origin, lib / origin.name)
        # Versions are read from the distribution's metadata (psycopg's, Patroni's own check).
        for dist in importlib.metadata.packages_distributions().get(name, []):
            meta = Path(str(getattr(importlib.metadata.distribution(dist), "_path", "")))
            if meta.name.endswith(".dist-info") and meta.is_dir():
                shutil.copytree(meta, lib / meta.name, dirs_exist_ok=True)
    subprocess.run(["chmod", "-R", "a+rX", str(lib)], check=True)
    return lib


def _spawn(ns: str, cmd: list[str], log: Path) -> int:
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *cmd],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=handle,
            start_new_session=True,
            cwd="/",
        )
    return proc.pid


def _as_postgres() -> list[str]:
    owner = pgdata.pg_owner()
    if owner is None:
        return []
    return ["setpriv", f"--reuid={owner[0]}", f"--regid={owner[1]}", "--init-groups"]


def start_etcd(state: dict[str, Any]) -> None:
    members = state["members"]
    cluster = ",".join(f"{c}=http://{m['host']}:2380" for c, m in members.items())
    for center, m in members.items():
        data = Path(m["center_dir"]) / "etcd"
        data.mkdir(exist_ok=True)
        cmd = [
            ETCD,
            "--name",
            center,
            "--data-dir",
            str(data),
            "--listen-client-urls",
            f"http://{m['host']}:2379",
            "--advertise-client-urls",
            f"http://{m['host']}:2379",
            "--listen-peer-urls",
            f"http://{m['host']}:2380",
            "--initial-advertise-peer-urls",
            f"http://{m['host']}:2380",
            "--initial-cluster",
            cluster,
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            f"ganyun-{state['net']['id']}",
            "--heartbeat-interval",
            "100",
            "--election-timeout",
            "1000",
        ]
        state["pids"][f"{center}/etcd"] = _spawn(m["netns"], cmd, Path(m["center_dir"]) / "etcd.log")
    deadline = time.monotonic() + 30
    first = next(iter(members.values()))
    while time.monotonic() < deadline:
        try:
            health = requests.get(f"http://{first['host']}:2379/health", timeout=1).json()
            if health.get("health") == "true":
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.2)
    raise PatroniLabError("etcd did not become healthy in 30 s")


def patroni_config(state: dict[str, Any], center: str, password: str, bindir: Path) -> dict[str, Any]:
    m = state["members"][center]
    subnet = state["net"]["subnet"]
    user = {"username": "ganyun", "password": password}
    return {
        "scope": f"ganyun-{state['net']['id']}",
        "name": center,
        "log": {"dir": str(Path(m["center_dir"]) / "patroni-log"), "level": "INFO"},
        "restapi": {"listen": f"{m['host']}:{REST_PORT}", "connect_address": f"{m['host']}:{REST_PORT}"},
        "etcd3": {"hosts": [f"{x['host']}:2379" for x in state["members"].values()], "protocol": "http"},
        "bootstrap": {
            "dcs": {
                "ttl": TTL_S,
                "loop_wait": LOOP_WAIT_S,
                "retry_timeout": RETRY_TIMEOUT_S,
                "maximum_lag_on_failover": 16 * 2**20,
                "synchronous_mode": True,
                "primary_start_timeout": 0,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {
                        "wal_level": "replica",
                        "hot_standby": "on",
                        "wal_log_hints": "on",
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                        "wal_keep_size": "256MB",
                        "max_connections": 60,
                        "fsync": "off",
                        "wal_receiver_status_interval": "1s",
                        "wal_sender_timeout": "10s",
                        "wal_receiver_timeout": "10s",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, {"auth-local": "trust"}],
        },
        "postgresql": {
            "listen": f"{m['host']}:{PG_PORT}",
            "connect_address": f"{m['host']}:{PG_PORT}",
            "data_dir": m["data_dir"],
            "bin_dir": str(bindir),
            "pgpass": str(Path(m["center_dir"]) / "pgpass.patroni"),
            "authentication": {"superuser": user, "replication": user, "rewind": user},
            "parameters": {
                "unix_socket_directories": m["center_dir"],
                "shared_buffers": "16MB",
                "password_encryption": "scram-sha-256",
            },
            "pg_hba": [
                "local all all trust",
                f"host all ganyun {subnet} scram-sha-256",
                f"host replication ganyun {subnet} scram-sha-256",
            ],
            "remove_data_directory_on_rewind_failure": True,
            "remove_data_directory_on_diverged_timelines": True,
        },
        # The remote center never acknowledges synchronously: a commit must not wait for the WAN.
        "tags": {"nosync": center != "gz-prod" and m["site"] != state["members"]["gz-prod"]["site"]},
    }


PG_PORT = 5432


def _wait_rest(m: dict[str, Any], path: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://{m['host']}:{REST_PORT}{path}", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise PatroniLabError(f"{m['center']}: Patroni's {path} did not answer 200 in {timeout_s:.0f} s")


def build(state: dict[str, Any], bindir: Path, password: str) -> None:
    """etcd, then Patroni on gz-prod (it bootstraps the cluster), then the two replicas."""
    reason = usable()
    if reason:
        raise PatroniLabError(f"--dr-manager patroni: {reason}")
    for center, m in state["members"].items():
        m["application_name"] = center  # Patroni names each standby's walreceiver after its member
    start_etcd(state)
    owner = pgdata.pg_owner()
    lib = pylib(Path(state["data_home"]["path"]))
    for center, m in state["members"].items():
        cdir = Path(m["center_dir"])
        conf = cdir / "patroni.yml"
        conf.write_text(yaml.safe_dump(patroni_config(state, center, password, bindir)), encoding="utf-8")
        conf.chmod(0o600)
        (cdir / "patroni-log").mkdir(exist_ok=True)
        for path in (conf, cdir / "patroni-log", cdir):
            if owner is not None:
                os.chown(path, *owner)
        command = [
            *_as_postgres(),
            "env",
            f"PYTHONPATH={lib}",
            "PYTHONNOUSERSITE=1",
            SYSTEM_PYTHON,
            "-m",
            "patroni",
            str(conf),
        ]
        m["patroni"] = {
            "rest_url": f"http://{m['host']}:{REST_PORT}",
            "name": center,
            "pid_file": str(cdir / "patroni.pid"),
            "start_command": command,
        }
    # gz-prod bootstraps the cluster (initdb); the two replicas then clone it side by side.
    for wave in (["gz-prod"], [c for c in state["members"] if c != "gz-prod"]):
        for center in wave:
            m = state["members"][center]
            pid = _spawn(m["netns"], m["patroni"]["start_command"], Path(m["center_dir"]) / "patroni.out")
            Path(m["patroni"]["pid_file"]).write_text(str(pid), encoding="utf-8")
            state["pids"][f"{center}/patroni"] = pid
        for center in wave:
            _wait_rest(state["members"][center], "/primary" if center == "gz-prod" else "/replica", 90)
    _wait_sync_standby(state["members"]["gz-prod"])


def _wait_sync_standby(leader: dict[str, Any], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    members: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            members = requests.get(f"http://{leader['host']}:{REST_PORT}/cluster", timeout=1).json()["members"]
        except (requests.RequestException, ValueError, KeyError):
            members = []
        roles = {x["name"]: (x["role"], x.get("state")) for x in members}
        if roles.get("gz-dr", ("",))[0] == "sync_standby" and roles.get("nc-dr", ("", ""))[1] == "streaming":
            return
        time.sleep(0.2)
    raise PatroniLabError(f"Patroni: no synchronous standby in {timeout_s:.0f} s: {json.dumps(members)[:300]}")
