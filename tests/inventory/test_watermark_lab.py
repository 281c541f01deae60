"""A VM renamed while a sync is collecting is reported by the next incremental sync.

The lab's `rename_during=volumes` fault renames a server after the collector has read the
servers (it is reading volumes then) and holds that answer past the second, as a slow cloud
would. A next `changes-since` taken from when the sync finished would skip that rename; taken
from the cloud's Date header at the start of collection, it cannot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab import control
from tests.lab.running import small_lab

pytestmark = pytest.mark.xdist_group("lab")


def _ganyun(config: Path, *args: str) -> dict:
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
    return json.loads(proc.stdout)


def test_rename_during_collection_is_seen_by_the_next_incremental_sync(tmp_path: Path) -> None:
    with small_lab(tmp_path / "lab") as config:
        cloud = yaml.safe_load(config.read_text(encoding="utf-8"))["providers"][0]["name"]
        _ganyun(config, "sync", "--only", cloud, "--json", "--full")
        before = {n["id"]: n["name"] for n in _ganyun(config, "inventory", "list", "--format", "json")}

        control.set_faults(config.parent, cloud, {"rename_during": "volumes"})
        during = _ganyun(config, "sync", "--only", cloud, "--json")["providers"][0]
        assert during["incremental"] == ["node", "volume"]
        assert not control.set_faults(config.parent, cloud, {})[cloud], "the hook fired once and cleared itself"
        listed = {n["id"]: n["name"] for n in _ganyun(config, "inventory", "list", "--format", "json")}
        assert not [i for i in listed if listed[i].endswith("-renamed")], "the rename came after nodes were read"

        after = _ganyun(config, "sync", "--only", cloud, "--json")["providers"][0]
        assert after["incremental"] == ["node", "volume"]
        assert after["changed"] >= 1
        now = {n["id"]: n["name"] for n in _ganyun(config, "inventory", "list", "--format", "json")}
        renamed = [i for i in now if now[i] != before.get(i)]
        assert len(renamed) == 1 and now[renamed[0]] == before[renamed[0]] + "-renamed"
