"""Steps against in-memory clouds for what the lab does not offer: a VMware descriptor with a
flat extent and a second disk, a refused host request, a floating-IP move cut off halfway."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from inventory.config import parse_config
from playbooks.migration_steps import StepError, run_step
from providers.base import Capability, FloatingIp, Image, Network, Node, Placement, State
from providers.errors import AuthError, NotFound, ProviderError

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")
MIB = 1 << 20


def _raw(path: Path, label: str, size: int = 4 * MIB) -> Path:
    with path.open("wb") as handle:
        handle.write(label.encode().ljust(64 * 1024, b"."))
        handle.truncate(size)
    return path


class Cloud:
    """Just enough of a Provider (and of the capabilities it declares) for the steps under test."""

    features = frozenset(
        {
            Capability.POWER,
            Capability.CREATE_NODE,
            Capability.DESTROY_NODE,
            Capability.NODE_METADATA,
            Capability.IMAGES,
            Capability.IMPORT_IMAGE,
            Capability.IMAGE_LOOKUP,
            Capability.DATASTORE_FILES,
            Capability.NETWORKS,
            Capability.FLOATING_IPS,
        }
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: dict[str, Node] = {}
        self.images: dict[str, Image] = {}
        self.files: dict[str, Path] = {}  # datastore path -> local file
        self.reads: dict[str, int] = {}  # image id -> polls before it is active
        self.fips: dict[str, FloatingIp] = {}
        self.networks: list[Network] = []
        self.refuse_host = False
        self.place_on = ""
        self.fail_claims = 0
        self.requests: list[Placement | None] = []

    # nodes
    def list_nodes(self) -> Sequence[Node]:
        return list(self.nodes.values())

    def get_node(self, node_id: str) -> Node:
        if node_id not in self.nodes:
            raise NotFound(self.name, "get_node", node_id)
        return self.nodes[node_id]

    def create_node(
        self,
        name: str,
        size_id: str,
        image_id: str,
        network_ids: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
        fixed_ips: Sequence[str] = (),
        placement: Placement | None = None,
    ) -> Node:
        self.requests.append(placement)
        if placement is not None and placement.host and self.refuse_host:
            raise AuthError(self.name, "create_node", "Policy doesn't allow forced_host (HTTP 403)")
        host = self.place_on or (placement.host if placement else "") or "cn1"
        node = Node(self.name, f"{self.name}-{len(self.nodes) + 1}", name, State.RUNNING, host=host,
                    ips=("10.14.0.9",), tags=dict(metadata or {}))  # fmt: skip
        self.nodes[node.id] = node
        return node

    def stop_node(self, node_id: str) -> None:
        self.nodes[node_id] = replace(self.get_node(node_id), state=State.STOPPED)

    def start_node(self, node_id: str) -> None:
        self.nodes[node_id] = replace(self.get_node(node_id), state=State.RUNNING)

    def destroy_node(self, node_id: str) -> None:
        self.nodes.pop(self.get_node(node_id).id)

    def set_node_metadata(self, node_id: str, metadata: Mapping[str, str]) -> None:
        node = self.get_node(node_id)
        self.nodes[node_id] = replace(node, tags={**node.tags, **metadata})

    # images
    def list_images(self) -> Sequence[Image]:
        return list(self.images.values())

    def import_image(
        self, name: str, path: str, disk_format: str, properties: Mapping[str, str] | None = None
    ) -> Image:
        image = Image(self.name, f"img-{len(self.images) + 1}", name, State.PENDING,
                      extra={**(properties or {}), "status": "saving", "path": path}, disk_format=disk_format)  # fmt: skip
        self.images[image.id] = image
        self.reads[image.id] = 2
        return image

    def get_image(self, image_id: str) -> Image:
        image = self.images[image_id]
        self.reads[image_id] -= 1
        if self.reads[image_id] <= 0:
            image = self.images[image_id] = replace(
                image, state=State.RUNNING, extra={**image.extra, "status": "active"}
            )
        return image

    def delete_image(self, image_id: str) -> None:
        if self.images.pop(image_id, None) is None:
            raise NotFound(self.name, "delete_image", image_id)

    # datastore
    def ex_download_datastore_file(self, datastore: str, path: str, dest: Any, datacenter_path: str) -> int:
        source = self.files[f"[{datastore}] {path}"]
        shutil.copyfile(source, dest)
        return source.stat().st_size

    # floating IPs
    def list_networks(self) -> Sequence[Network]:
        return self.networks

    def list_floating_ips(self, node_id: str = "") -> Sequence[FloatingIp]:
        return [f for f in self.fips.values() if not node_id or f.node_id == node_id]

    def create_floating_ip(self, network_id: str, address: str = "") -> FloatingIp:
        if self.fail_claims:
            self.fail_claims -= 1
            raise ProviderError(self.name, "create_floating_ip", "address not allocatable (HTTP 409)")
        fip = FloatingIp(self.name, f"fip-{address}", address, network_id)
        self.fips[fip.id] = fip
        return fip

    def attach_floating_ip(self, floating_ip_id: str, node_id: str) -> FloatingIp:
        self.fips[floating_ip_id] = replace(self.fips[floating_ip_id], node_id=node_id)
        return self.fips[floating_ip_id]

    def detach_floating_ip(self, floating_ip_id: str) -> None:
        self.fips[floating_ip_id] = replace(self.fips[floating_ip_id], node_id="")

    def delete_floating_ip(self, floating_ip_id: str) -> None:
        del self.fips[floating_ip_id]


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    config = parse_config({"migration": {"poll_s": 0.01, "poll_max_s": 0.05}}, base_dir=str(tmp_path))
    src, tgt = Cloud("vcenter"), Cloud("xc-hygon")
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
