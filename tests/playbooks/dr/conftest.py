"""One real three-cluster DR lab per test module (PostgreSQL from Debian's packages)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import dr


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if dr.pg_bindir() is None:
        skip = pytest.mark.skip(reason="PostgreSQL binaries not found under /usr/lib/postgresql (make install)")
        for item in items:
            if "tests/playbooks/dr/" in str(item.fspath).replace(os.sep, "/"):
                item.add_marker(skip)


@pytest.fixture(scope="module")
def dr_lab() -> Iterator[dict[str, Any]]:
    # Not under pytest's tmp dir: that is 0700 root-only, and the postgres OS user must reach PGDATA.
    root = Path(tempfile.mkdtemp(prefix="ganyun-dr-"))
    os.chmod(root, 0o755)
    section = dr.start(root, remote_delay_s=0.5)
    config = {
        "database": "sqlite:///ganyun.db",
        "dr": section,
        "systems": [
            {"name": "赣服通", "center": "gz-prod", "rto_s": 300, "rpo_s": 0},
            {"name": "12345热线", "center": "gz-prod", "rto_s": 600, "rpo_s": 0},
        ],
    }
    (root / "ganyun.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    try:
        yield {"root": root, "section": section, "config": root / "ganyun.yaml"}
    finally:
        dr.stop(root)
        shutil.rmtree(root, ignore_errors=True)


def wait_sync(section: dict[str, Any], primary: str, timeout_s: float = 60.0) -> None:
    """Wait until `primary` reports a synchronous standby again."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = dr.cluster_status(section["clusters"][primary])
        if any(r["sync_state"] == "sync" for r in st.get("replicas", [])):
            return
        time.sleep(0.1)
    raise AssertionError(f"{primary} has no synchronous standby")


def roles(section: dict[str, Any]) -> dict[str, str]:
    return {c: dr.cluster_status(cl)["role"] for c, cl in section["clusters"].items()}


def data_dir(section: dict[str, Any], center: str) -> Path:
    return Path(section["clusters"][center]["data_dir"])
