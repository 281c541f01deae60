"""Sync against the simulator: the collector version is stored as the provider's watermark and
the next sync asks only for what changed since, in the same process or, through the vCenter
session kept in the vault, in the next `ganyun sync`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyVmomi import vim
from sqlalchemy import select

from inventory.config import load_config, parse_config
from inventory.models import ChangeEvent, NodeRow, ProviderStatus
from inventory.store import open_store
from inventory.sync import sync_all
from lab.vsphere.estate import USERNAME
from security.vault import Vault, VaultCredentials
from tests.providers.vsphere.conftest import PASSWORD, PROVIDER, VCenter

pytestmark = pytest.mark.xdist_group("vsphere-sync")
GANYUN = str(Path(sys.executable).with_name("ganyun"))


def test_second_sync_reads_only_the_renamed_vm(vcenter: VCenter, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VCSIM_KEY", USERNAME)
    monkeypatch.setenv("VCSIM_SECRET", PASSWORD)
    spec = vcenter.spec()
    config = parse_config(
        {
            "database": "sqlite:///inv.db",
            "centers": [{"id": "gz-prod", "name": "生产中心", "role": "production", "site": "ganzhou"}],
            "providers": [
                {"name": PROVIDER, "driver": "vsphere", "center": "gz-prod", "credentials": "env:VCSIM",
                 "options": dict(spec.options)},
            ],
        },
        base_dir=str(tmp_path),
    )  # fmt: skip
    store = open_store(config.database_url)
    first = sync_all(config, store, vault=VaultCredentials(config))
    assert first.status == "ok", first.to_dict()
    with store.session() as s:
        mark = s.scalar(select(ProviderStatus.watermark).where(ProviderStatus.name == PROVIDER))
        target_id, old_name = s.execute(select(NodeRow.id, NodeRow.name).order_by(NodeRow.name).limit(1)).one()
    assert mark and mark.startswith("vsphere:")

    task = vim.VirtualMachine(target_id, vcenter.client()._stub).Rename(f"{old_name}-v2")
    while task.info.state not in ("success", "error"):
        time.sleep(0.05)

    second = sync_all(config, store, vault=VaultCredentials(config))
    (result,) = second.results
    assert (result.added, result.removed) == (0, 0)
    assert result.counts["node"] == len(vcenter.estate.vms)
    with store.session() as s:
        events = s.execute(
            select(ChangeEvent.kind, ChangeEvent.resource_id, ChangeEvent.change).where(
                ChangeEvent.sync_run_id == second.run_id
            )
        ).all()
        # The VM, and its disks (whose records name the VM): nothing else moved.
        assert {(kind, change) for kind, _id, change in events} == {("node", "changed"), ("volume", "changed")}
        assert [i for kind, i, _c in events if kind == "node"] == [target_id]
        assert s.scalar(select(NodeRow.name).where(NodeRow.id == target_id)) == f"{old_name}-v2"
        next_mark = s.scalar(select(ProviderStatus.watermark).where(ProviderStatus.name == PROVIDER))
    token, seq = mark.split(":")[1:3]
    assert next_mark.split(":")[1:3] == [token, str(int(seq) + 1)]  # the same tracker, one answer on


def _cli_estate(vcenter: VCenter, tmp_path: Path, processes: int) -> dict[str, str]:
    """A ganyun.yaml for the simulator, its password in a vault; the environment to run it."""
    spec = vcenter.spec()
    data = {
        "database": "sqlite:///inv.db",
        "vault": {"path": "vault.json", "key_file": "vault.key"},
        "sync": {"processes": processes},
        "centers": [{"id": "gz-prod", "name": "生产中心", "role": "production", "site": "ganzhou"}],
        "providers": [
            {"name": PROVIDER, "driver": "vsphere", "center": "gz-prod", "credentials": f"vault:{PROVIDER}",
             "options": dict(spec.options)},
        ],
    }  # fmt: skip
    path = tmp_path / "ganyun.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    Vault.open(load_config(path), create=True).set(PROVIDER, USERNAME, PASSWORD)
    return {**os.environ, "GANYUN_CONFIG": str(path), "GANYUN_LANG": "en"}


def _sync(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    proc = subprocess.run([GANYUN, "sync", "--json"], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)["providers"]
    return dict(result)


def _rename(vcenter: VCenter, moid: str, name: str) -> None:
    task = vim.VirtualMachine(moid, vcenter.client()._stub).Rename(name)
    while task.info.state not in ("success", "error"):
        time.sleep(0.05)
    assert task.info.state == "success", task.info.error


def _read(tmp_path: Path, stmt: Any) -> list[Any]:
    """Rows from the inventory, through a store opened now (each `ganyun sync` is another process)."""
    store = open_store(load_config(tmp_path / "ganyun.yaml").database_url)
    try:
        with store.session() as s:
            return list(s.execute(stmt).all())
    finally:
        store.dispose()


@pytest.mark.parametrize("processes", [0, 1], ids=["threads", "worker-process"])
def test_two_cli_syncs_the_second_incremental_through_the_vault_kept_session(
    vcenter: VCenter, tmp_path: Path, processes: int
) -> None:
    env = _cli_estate(vcenter, tmp_path, processes)
    first = _sync(env, tmp_path)
    assert first["status"] == "ok" and first["incremental"] == []
    [(mark,)] = _read(tmp_path, select(ProviderStatus.watermark).where(ProviderStatus.name == PROVIDER))
    [(target_id, old_name)] = _read(tmp_path, select(NodeRow.id, NodeRow.name).order_by(NodeRow.name).limit(1))
    # The session id is a credential: in the vault, never in the database or a file in the clear.
    _key, state = Vault.open(load_config(tmp_path / "ganyun.yaml")).get(f"{PROVIDER}.session")
    session_id = json.loads(state)["session"]
    assert session_id and session_id not in mark
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "vault.key":
            assert session_id.encode() not in path.read_bytes(), path

    _rename(vcenter, target_id, f"{old_name}-v2")
    second = _sync(env, tmp_path)  # a new process: it continues the first one's session
    assert "node" in second["incremental"] and second["status"] == "ok"
    assert (second["added"], second["removed"]) == (0, 0)
    [(resource, fields)] = _read(
        tmp_path,
        select(ChangeEvent.resource_id, ChangeEvent.fields).where(
            ChangeEvent.kind == "node", ChangeEvent.change == "changed", ChangeEvent.sync_run_id == 2
        ),
    )
    assert resource == target_id and fields["name"] == [old_name, f"{old_name}-v2"]  # the rename, reported
    [(next_mark,)] = _read(tmp_path, select(ProviderStatus.watermark).where(ProviderStatus.name == PROVIDER))
    token, seq = mark.split(":")[1:3]
    assert next_mark.split(":")[1:3] == [token, str(int(seq) + 1)]  # the same collector, one answer on

    # vCenter ends the session: the next sync lists everything again, and still succeeds.
    manager = vcenter.client().content.sessionManager
    manager.TerminateSession([x.key for x in manager.sessionList if x.key != manager.currentSession.key])
    _rename(vcenter, target_id, old_name)
    third = _sync(env, tmp_path)
    assert third["status"] == "ok" and third["incremental"] == [] and third["changed"] >= 1
    assert _read(tmp_path, select(NodeRow.name).where(NodeRow.id == target_id)) == [(old_name,)]
