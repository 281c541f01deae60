"""Real DR labs for the drill tests (PostgreSQL from Debian's packages; as root, three network
namespaces with sshd; with Patroni, etcd and Patroni too)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from inventory.config import GanyunConfig, load_config, parse_config
from lab import dr, drnet
from lab.control import LAB_VAULT
from playbooks.drill.cluster import ClusterOps, ops_for
from security.vault import Vault

REPO = Path(__file__).resolve().parents[3]
SYSTEMS = [
    {"name": "赣服通", "center": "gz-prod", "rto_s": 300, "rpo_s": 0},
    {"name": "12345热线", "center": "gz-prod", "rto_s": 600, "rpo_s": 0},
]
needs_netns = pytest.mark.skipif(bool(drnet.usable()), reason=f"no three-center network here: {drnet.usable()}")


def alive(pid: int) -> bool:
    """Running: a killed process its parent has not reaped yet (a zombie) no longer runs."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] not in ("Z", "X")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if dr.pg_bindir() is None:
        skip = pytest.mark.skip(reason="PostgreSQL binaries not found under /usr/lib/postgresql (make install)")
        for item in items:
            if "tests/playbooks/dr/" in str(item.fspath).replace(os.sep, "/") and "postgres" in item.keywords:
                item.add_marker(skip)


@dataclass
class Lab:
    root: Path
    config_file: Path
    section: dict[str, Any]

    @property
    def config(self) -> GanyunConfig:
        return load_config(self.config_file)

    def ops(self) -> ClusterOps:
        return ops_for(self.config, self.config_file)

    def roles(self) -> dict[str, str]:
        ops = self.ops()
        return {c: s.role for c, s in ops.status().items()}

    def ganyun(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               "GANYUN_LANG": "en"}  # fmt: skip
        config = [] if "--config" in args else ["--config", str(self.config_file)]
        proc = subprocess.run([sys.executable, "-m", "console", *config, *args],
                              capture_output=True, text=True, env=env, timeout=timeout, check=False)  # fmt: skip
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
        return proc


def start_lab(root: Path, **options: Any) -> Lab:
    """dr.start, then the config a user would have: the section, the vault holding its secrets."""
    section, secrets = dr.start(root, **options)
    config = {"database": "sqlite:///ganyun.db", "vault": dict(LAB_VAULT), "dr": section, "systems": SYSTEMS}
    vault = Vault.open(parse_config(config, base_dir=str(root)), create=True)
    for name, (key, secret) in secrets.items():
        vault.set(name, key, secret)
    path = root / "ganyun.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return Lab(root, path, section)


@contextlib.contextmanager
def lab_in_tempdir(prefix: str, **options: Any) -> Iterator[Lab]:
    # Not under pytest's tmp dir: that is 0700 root-only, and the postgres OS user must reach PGDATA.
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(root, 0o755)
    try:
        yield start_lab(root, **options)
    finally:
        dr.stop(root)
        shutil.rmtree(root, ignore_errors=True)


def wait_sync(lab: Lab, primary: str, timeout_s: float = 60.0) -> None:
    """Wait until `primary` reports a synchronous standby again."""
    ops = lab.ops()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(r["sync_state"] == "sync" for r in ops.status()[primary].replicas):
            return
        time.sleep(0.1)
    raise AssertionError(f"{primary} has no synchronous standby")


class OutsideWriter:
    """An application nobody here wrote: plain psycopg from the host, with the lab's pgpass,
    a multi-host conninfo and target_session_attrs=read-write; it numbers its rows and keeps
    the ones whose COMMIT returned."""

    def __init__(self, lab: Lab, table: str = "outside_writer") -> None:
        members = lab.section["clusters"].values()
        self.conninfo = (
            f"host={','.join(m['postgres']['host'] for m in members)}"
            f" port={','.join(str(m['postgres']['port']) for m in members)}"
            f" dbname={lab.section['database']} user={lab.section['user']}"
            f" passfile={lab.root / 'dr' / 'pgpass'} target_session_attrs=read-write"
            " connect_timeout=2 tcp_user_timeout=2000"
        )
        self.table = table
        self.acked: list[tuple[int, float, str]] = []
        self._stop = False
        import threading

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id bigint PRIMARY KEY, at timestamptz DEFAULT now())")
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> OutsideWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join(15)

    def _loop(self) -> None:
        conn = None
        n = 0
        while not self._stop:
            try:
                if conn is None:
                    conn = psycopg.connect(self.conninfo, autocommit=True)
                n += 1
                conn.execute(f"INSERT INTO {self.table} (id) VALUES (%s)", (n,))
                self.acked.append((n, time.time(), str(conn.info.host)))
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(0.02)
        if conn is not None:
            conn.close()

    def missing(self) -> list[int]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            present = {r[0] for r in conn.execute(f"SELECT id FROM {self.table}")}
        return [n for n, _, _ in self.acked if n not in present]
