"""Steps against in-memory clouds for what the lab does not offer: a VMware descriptor with a
flat extent and a second disk, a refused host request, a floating-IP move cut off halfway."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from inventory.config import parse_config
from playbooks.migration_steps import StepError, run_step
from providers.base import FloatingIp, Network, Node, State
from tests.fakes import MemoryCloud

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")
MIB = 1 << 20


def _raw(path: Path, label: str, size: int = 4 * MIB) -> Path:
    with path.open("wb") as handle:
        handle.write(label.encode().ljust(64 * 1024, b"."))
        handle.truncate(size)
    return path


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    config = parse_config({"migration": {"poll_s": 0.01, "poll_max_s": 0.05}}, base_dir=str(tmp_path))
    src, tgt = MemoryCloud("vcenter"), MemoryCloud("xc-hygon")
    store = tmp_path / "datastore"
    store.mkdir()
    # Disk 0: a monolithic sparse VMDK. Disk 1: what vSphere keeps, a descriptor and a flat extent.
    first = store / "vm-0.vmdk"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vmdk", str(_raw(tmp_path / "a.raw", "disk zero")),
                    str(first)], check=True, capture_output=True)  # fmt: skip
    flat = _raw(store / "vm-1-flat.vmdk", "disk one, a flat extent")
    descriptor = store / "vm-1.vmdk"
    # The blank line before the extent is deliberate: qemu-img 7.2 would read that extent twice.
    descriptor.write_text(
        '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="vmfs"\n\n'
        f'RW {flat.stat().st_size // 512} VMFS "vm-1-flat.vmdk"\n\nddb.virtualHWVersion = "14"\n',
        encoding="utf-8",
    )
    src.files = {"[ds1] vm/vm-0.vmdk": first, "[ds1] vm/vm-1.vmdk": descriptor, "[ds1] vm/vm-1-flat.vmdk": flat}
    disks = [{"datastore": "ds1", "path": "vm/vm-0.vmdk"}, {"datastore": "ds1", "path": "vm/vm-1.vmdk"}]
    src.nodes["vm-7"] = Node("vcenter", "vm-7", "ycsl-db-01", State.RUNNING, ips=("10.60.102.17",),
                             extra={"disks": disks, "datacenter_path": "dc"}, tags={"system": "一窗", "role": "db"})  # fmt: skip
    item = {
        "source_provider": "vcenter", "source_id": "vm-7", "name": "ycsl-db-01", "system": "一窗",
        "strategy": "rehost", "transfer": "disks", "arch": "x86_64", "os_family": "CentOS",
        "target_provider": "xc-hygon", "target_size": {"id": "c4m8"}, "target_host": "cn2", "target_zone": "az1",
        "source_ips": ["10.60.102.17"], "network": {},
    }  # fmt: skip
    clouds = {"vcenter": src, "xc-hygon": tgt}

    def step(name: str, state: dict[str, Any]) -> dict[str, Any]:
        return run_step(name, config, item, state, 3, tmp_path / "work", factory=clouds.__getitem__)

    return {"src": src, "tgt": tgt, "step": step, "item": item, "store": store}


def test_two_disks_one_a_descriptor_are_downloaded_converted_compared_and_imported(world: dict[str, Any]) -> None:
    step, src, tgt = world["step"], world["src"], world["tgt"]
    state = step("prepare", {})
    for name in ("power_off", "download", "convert", "import"):
        state = step(name, state)
    assert src.nodes["vm-7"].state == State.STOPPED
    for n, original in ((0, world["store"] / "vm-0.vmdk"), (1, world["store"] / "vm-1-flat.vmdk")):
        fmt = "vmdk" if n == 0 else "raw"
        converted = state["converted"][str(n)]["path"]
        same = subprocess.run(["qemu-img", "compare", "-f", fmt, "-F", "qcow2", str(original), converted],
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert same.returncode == 0, same.stdout
    # The local descriptor points at the local extent, named by index, not by the datastore.
    local = Path(state["downloaded"]["1"]["path"]).read_text(encoding="utf-8")
    assert '"disk-1-extent-' in local and "vm-1-flat" not in local
    names = {tgt.images[i].name: tgt.images[i].state for i in state["imported"].values()}
    assert names == {"ganyun-ycsl-db-01": State.RUNNING, "ganyun-ycsl-db-01-disk1": State.RUNNING}
    assert state["image_id"] == state["imported"]["0"]

    state = step("rollback", state)  # the source was running: it runs again; the images go
    assert src.nodes["vm-7"].state == State.RUNNING and tgt.images == {}


def test_a_disk_path_leaving_its_datastore_folder_is_refused(world: dict[str, Any]) -> None:
    src = world["src"]
    node = src.nodes["vm-7"]
    src.nodes["vm-7"] = replace(node, extra={**node.extra, "disks": [{"datastore": "ds1", "path": "vm/../../etc/x"}]})
    state = world["step"]("prepare", {})
    with pytest.raises(StepError, match="not a datastore path"):
        world["step"]("download", state)


def test_a_refused_host_request_falls_back_to_the_zone_and_says_where_it_landed(world: dict[str, Any]) -> None:
    step, tgt = world["step"], world["tgt"]
    tgt.refuse_host, tgt.place_on = True, "cn5"
    state = step("prepare", {})
    state = step("boot", {**state, "image_id": "img"})
    assert [(p.zone, p.host) if p else None for p in tgt.requests] == [("az1", "cn2"), ("az1", "")]
    remark = state["remarks"]["boot"]
    assert "may not be requested" in remark and "placed it on cn5, the plan said cn2" in remark
    assert tgt.nodes[state["target_id"]].tags["ganyun_planned_host"] == "cn2"


def test_a_floating_ip_move_cut_off_halfway_is_undone_by_rollback(world: dict[str, Any]) -> None:
    step, src, tgt = world["step"], world["src"], world["tgt"]
    extranet = Network("x", "ext", "gov-extranet", cidrs=("100.64.0.0/20",), external=True)
    src.networks = [replace(extranet, provider="vcenter", id="src-ext")]
    tgt.networks = [replace(extranet, provider="xc-hygon", id="tgt-ext")]
    src.fips["f1"] = FloatingIp("vcenter", "f1", "100.64.0.16", "src-ext", node_id="vm-7")
    state = step("prepare", {})
    assert state["addresses_before"] == {"fixed": ["10.60.102.17"], "floating": ["100.64.0.16"]}
    state = step("boot", {**state, "image_id": "img"})
    tgt.fail_claims = 1  # the target's cloud refuses the address once, after the source let go
    with pytest.raises(StepError, match="not allocatable") as caught:
        step("cutover", state)
    partial = caught.value.state or {}
    assert partial["floating_moves"]["100.64.0.16"]["stage"] == "released" and src.fips == {}
    step("rollback", partial)
    [back] = src.fips.values()
    assert (back.address, back.network_id, back.node_id) == ("100.64.0.16", "src-ext", "vm-7")

    state = step("boot", step("prepare", {}))
    state = step("cutover", state)
    [moved] = tgt.fips.values()
    assert (moved.address, moved.node_id) == ("100.64.0.16", state["target_id"]) and src.fips == {}
    assert state["addresses_after"]["floating"] == ["100.64.0.16"]
