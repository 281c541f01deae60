"""Sync against the simulator: the collector version is stored as the provider's watermark and
the next sync in the same process asks only for what changed since."""

from __future__ import annotations

import time

import pytest
from pyVmomi import vim
from sqlalchemy import select

from inventory.config import parse_config
from inventory.models import ChangeEvent, NodeRow, ProviderStatus
from inventory.store import open_store
from inventory.sync import sync_all
from lab.vsphere.estate import USERNAME
from security.vault import VaultCredentials
from tests.providers.vsphere.conftest import PASSWORD, PROVIDER, VCenter

pytestmark = pytest.mark.xdist_group("vsphere-sync")


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
