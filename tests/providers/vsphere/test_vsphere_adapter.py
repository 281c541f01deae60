"""The vSphere adapter against a real peer: VMware's govmomi simulator, seeded by lab/vsphere.

Tests that change the vCenter each use their own VM (the last ones of the estate); the listing
checks compare every other VM with what was seeded.
"""

from __future__ import annotations

import filecmp
import socket
import subprocess
import time
from datetime import UTC, datetime

import pytest
import requests
from pyVmomi import vim

from inventory.collect import collect
from lab.vsphere import simulator
from lab.vsphere.estate import ATTRIBUTES, DATASTORE_CAPACITY_GB
from providers.base import Capability, Kind, ProviderSpec, State
from providers.errors import AuthError, BadResponse, ConfigError, NotFound, Unavailable
from providers.registry import create_provider
from providers.vsphere.adapter import VSphereAdapter
from tests.providers.vsphere.conftest import PASSWORD, VCenter

pytestmark = pytest.mark.xdist_group("vsphere-adapter")

POWER_VM, RENAME_VM, ACTION_VM = -1, -2, -3
UNTOUCHED = slice(0, -3)
EXPECTED_FAMILY = {
    "centos7_64Guest": "CentOS",
    "centos8_64Guest": "CentOS",
    "rhel7_64Guest": "RHEL",
    "rhel8_64Guest": "RHEL",
    "windows9Server64Guest": "Windows",
    "windows2019srv_64Guest": "Windows",
    # Tools report Kylin on a VM configured as "other Linux": the running OS wins.
    "otherLinux64Guest": "Kylin",
}


def _by_name(nodes):
    return {n.name: n for n in nodes}


def _wait_task(task) -> None:
    deadline = time.monotonic() + 30
    while task.info.state not in ("success", "error"):
        assert time.monotonic() < deadline, "task did not finish"
        time.sleep(0.05)
    assert task.info.state == "success", task.info.error


def test_driver_vsphere_reaches_the_pyvmomi_adapter(vcenter: VCenter) -> None:
    assert isinstance(create_provider(vcenter.spec()), VSphereAdapter)
    # Not libcloud's driver: its configuration errors are the adapter's own.
    with pytest.raises(ConfigError, match=r"providers\[x\]\.options\.host"):
        create_provider(ProviderSpec(name="x", driver="vsphere", key="u", secret="p"))


def test_vms_carry_every_field_as_seeded(vcenter: VCenter) -> None:
    nodes = _by_name(vcenter.adapter().list_nodes())
    assert len(nodes) == len(vcenter.estate.vms)
    intel = {h.name for h in vcenter.estate.clusters[0].hosts}
    for vm in vcenter.estate.vms[UNTOUCHED]:
        node = nodes[vm.name]
        assert node.id.startswith("vm-")
        assert node.os_family == EXPECTED_FAMILY[vm.guest_id], vm.name
        assert (node.vcpus, node.ram_mb) == (vm.cpus, vm.memory_mb)
        assert node.disk_gb == sum(d.capacity_kb for d in vm.disks) // (1024 * 1024)
        assert node.state == (State.RUNNING if vm.power_on else State.STOPPED)
        assert node.host == vm.host
        assert (node.cpu_vendor, node.arch) == (("Intel" if vm.host in intel else "Hygon"), "x86_64")
        assert node.ips == (vm.ip,)
        assert node.department == vm.attributes[ATTRIBUTES["department"]]
        assert node.system == vm.attributes[ATTRIBUTES["system"]]
        assert str(node.mlps_level) + "级" == vm.attributes[ATTRIBUTES["mlps_level"]]
        assert node.tags["owner"] == vm.attributes[ATTRIBUTES["owner"]]
        assert node.extra["datastores"] == [vm.disks[0].datastore]
        assert [d["file"] for d in node.extra["disks"]] == [f"[{d.datastore}] {d.path}" for d in vm.disks]
        assert node.extra["networks"] == [vm.network]
        assert node.extra["guest_id"] == vm.guest_id
        assert node.extra["cluster"] in ("gz-vmw-cl01", "gz-vmw-cl02")
        assert node.extra["datacenter"] == "gz-prod-dc"
    # The estate has all of them: the mapping table is exercised, not one entry of it.
    assert {n.os_family for n in nodes.values()} == {"CentOS", "RHEL", "Windows", "Kylin"}


def test_hosts_clusters_networks_and_disks(vcenter: VCenter) -> None:
    adapter = vcenter.adapter()
    nodes = adapter.list_nodes()
    hosts = {h.name: h for h in adapter.list_hosts()}
    seeded = {h.name: (c.name, h) for c in vcenter.estate.clusters for h in c.hosts}
    assert set(hosts) == set(seeded)
    for name, (cluster, spec) in seeded.items():
        host = hosts[name]
        assert host.cpu_vendor == {"intel": "Intel", "hygon": "Hygon"}[spec.cpu_vendor]
        assert host.cpu_model == spec.cpu_model and host.arch == "x86_64"
        assert host.vcpus == spec.sockets * spec.cores * spec.threads
        assert host.extra["cores"] == spec.sockets * spec.cores
        assert host.ram_mb == spec.memory_mb
        assert host.extra["cluster"] == cluster
        running = [n for n in nodes if n.host == name and n.state is State.RUNNING]
        assert host.running_vms == len(running)
        assert host.vcpus_used == sum(n.vcpus for n in running)
        assert host.ram_mb_used == sum(n.ram_mb for n in running)
    # Shared datastores are shared out between the hosts, not counted once per host.
    assert sum(h.disk_gb for h in hosts.values()) == pytest.approx(2 * DATASTORE_CAPACITY_GB, abs=len(hosts))

    clusters = {c.name: c for c in adapter.list_clusters()}
    assert {n: c.node_count for n, c in clusters.items()} == {c.name: len(c.hosts) for c in vcenter.estate.clusters}

    networks = {n.name: n for n in adapter.list_networks()}
    for name in vcenter.estate.networks:
        assert networks[name].extra["switch"] == "gz-dvs01"
    assert not [n for n in networks if "Uplink" in n]

    volumes = adapter.list_volumes()
    assert len(volumes) == sum(len(vm.disks) for vm in vcenter.estate.vms)
    by_vm = {n.id: n for n in nodes}
    for volume in volumes:
        (vm_id,) = volume.attached_to
        assert volume.name in [d["file"] for d in by_vm[vm_id].extra["disks"]]
    assert sum(v.bootable for v in volumes) == len(nodes)
    assert not {Capability.SIZES, Capability.SECURITY_GROUPS} & adapter.features


def test_power_change_comes_back_alone_from_waitforupdatesex(vcenter: VCenter) -> None:
    adapter = vcenter.adapter()
    nodes = _by_name(adapter.list_nodes())
    mark = adapter.watermark()
    assert mark and mark.startswith("vsphere:")
    target = nodes[vcenter.estate.vms[POWER_VM].name]
    si = vcenter.client()
    vm = vim.VirtualMachine(target.id, si._stub)
    _wait_task(vm.PowerOff() if target.state is State.RUNNING else vm.PowerOn())

    changed, deleted = vcenter.adapter().list_node_changes(mark)
    assert [n.id for n in changed] == [target.id]
    assert changed[0].state is (State.STOPPED if target.state is State.RUNNING else State.RUNNING)
    # The rest of the record is whole, not just the changed property.
    assert changed[0].department == target.department and changed[0].host == target.host
    assert deleted == []


def test_rename_comes_back_alone_and_the_next_delta_is_empty(vcenter: VCenter) -> None:
    adapter = vcenter.adapter()
    nodes = _by_name(adapter.list_nodes())
    mark = adapter.watermark()
    target = nodes[vcenter.estate.vms[RENAME_VM].name]
    si = vcenter.client()
    _wait_task(vim.VirtualMachine(target.id, si._stub).Rename(f"{target.name}-renamed"))

    changed, deleted = adapter.list_node_changes(mark)
    assert deleted == []
    assert [(n.id, n.name) for n in changed] == [(target.id, f"{target.name}-renamed")]
    next_mark = adapter.watermark()
    assert next_mark != mark
    assert adapter.list_node_changes(next_mark) == ([], [])
    # An answer already consumed cannot be replayed: that sync's changes were read once.
    with pytest.raises(NotFound, match="list_node_changes"):
        adapter.list_node_changes(mark)


def test_collect_falls_back_to_a_full_listing_without_a_live_version(vcenter: VCenter) -> None:
    adapter = vcenter.adapter()
    for since in ("vsphere:0123456789abcdef:0:-", datetime(2024, 1, 1, tzinfo=UTC), None):
        collected = collect(adapter, since)
        assert Kind.NODE not in collected.deltas
        assert len(collected.listings[Kind.NODE]) == len(vcenter.estate.vms)
        assert len(collected.listings[Kind.CLUSTER]) == 2
        assert collected.watermark and collected.watermark.startswith("vsphere:")
    delta = collect(adapter, collected.watermark)
    assert delta.deltas[Kind.NODE].deleted == [] and delta.listings[Kind.NODE] == []


def test_bad_login_is_auth_error_without_the_password(vcenter: VCenter) -> None:
    wrong = "not-the-" + PASSWORD
    with pytest.raises(AuthError) as caught:
        VSphereAdapter(vcenter.spec(password=wrong)).list_hosts()
    assert "gov-vmware" in str(caught.value) and "login" in str(caught.value)
    assert wrong not in str(caught.value) and PASSWORD not in str(caught.value)


def test_missing_vm_is_not_found(vcenter: VCenter) -> None:
    adapter = vcenter.adapter()
    with pytest.raises(NotFound, match="get_node"):
        adapter.get_node("vm-999999")
    with pytest.raises(NotFound, match="start_node"):
        adapter.start_node("vm-999999")


def test_ended_session_is_logged_in_again_once(vcenter: VCenter) -> None:
    adapter = vcenter.adapter()
    adapter.list_nodes()
    mark = adapter.watermark()
    session = adapter.session
    generation = session.generation
    key = session.content().sessionManager.currentSession.key
    # An administrator ends ganyun's session, as vCenter's idle timeout would.
    vcenter.client().content.sessionManager.TerminateSession([key])

    assert len(VSphereAdapter(vcenter.spec()).list_hosts()) == 5
    assert session.generation == generation + 1
    # The collector version died with the old session: a full listing is needed.
    with pytest.raises(NotFound):
        adapter.list_node_changes(mark)

    calls = []

    def always_refused(_content):
        calls.append(1)
        raise vim.fault.NotAuthenticated()

    with pytest.raises(AuthError, match="refused again"):
        session.call("list_nodes", always_refused)
    assert len(calls) == 2 and session.generation == generation + 2


def test_unreachable_vcenter_is_unavailable(vcenter: VCenter) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(Unavailable, match="gov-vmware"):
        VSphereAdapter(vcenter.spec(port=free_port)).list_nodes()


def test_datastore_download_is_the_seeded_vmdk(vcenter: VCenter, tmp_path) -> None:
    node = _by_name(vcenter.adapter().list_nodes())[vcenter.estate.vms[0].name]
    disk = node.extra["disks"][0]
    dest = tmp_path / "disk.vmdk"
    written = vcenter.adapter().ex_download_datastore_file(
        disk["datastore"], disk["path"], dest, node.extra["datacenter_path"]
    )
    seeded = simulator.datastore_dir(vcenter.state_dir, disk["datastore"]) / disk["path"]
    assert written == seeded.stat().st_size == dest.stat().st_size
    assert filecmp.cmp(dest, seeded, shallow=False)
    info = subprocess.run(["qemu-img", "info", "--output=json", str(dest)], capture_output=True, text=True)
    assert '"format": "vmdk"' in info.stdout and f'"virtual-size": {disk["capacity_gb"] * 1024**3}' in info.stdout
    with pytest.raises(NotFound, match="download_datastore_file"):
        vcenter.adapter().ex_download_datastore_file(disk["datastore"], "nope/nope.vmdk", dest, "gz-prod-dc")


def test_power_snapshot_and_attributes(vcenter: VCenter) -> None:
    adapter = vcenter.adapter()
    node = _by_name(adapter.list_nodes())[vcenter.estate.vms[ACTION_VM].name]
    adapter.stop_node(node.id)
    adapter.stop_node(node.id)  # already off: nothing to do, no error
    assert adapter.get_node(node.id).state is State.STOPPED
    adapter.start_node(node.id)
    assert adapter.get_node(node.id).state is State.RUNNING

    image = adapter.create_snapshot(node.id, "before-migration")
    snapshots = [s for s in adapter.list_snapshots() if s.extra["vm"] == node.id]
    assert [(s.id, s.name) for s in snapshots] == [(image.id, "before-migration")]
    adapter.delete_image(image.id)
    assert not [s for s in adapter.list_snapshots() if s.extra["vm"] == node.id]

    adapter.set_node_metadata(node.id, {"department": "市财政局", "wave": "1"})
    tags = adapter.get_node(node.id).tags
    assert tags["department"] == "市财政局" and tags["wave"] == "1"
    # Written under the site's own attribute name, not a second "department" attribute.
    names = [f.name for f in vcenter.client().content.customFieldsManager.field]
    assert "department" not in names and ATTRIBUTES["department"] in names


def test_unset_property_fetch_answers_no_value(vcenter: VCenter) -> None:
    """pyVmomi >= 8 reads lazy properties with Fetch; the simulator's own Fetch panics on an
    unset one. Ours answers like vCenter: an empty FetchResponse."""
    adapter = vcenter.adapter()
    vm_id = _by_name(adapter.list_nodes())[vcenter.estate.vms[0].name].id
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<soapenv:Body><Fetch xmlns="urn:vim25"><_this type="VirtualMachine">{vm_id}</_this>'
        "<prop>snapshot</prop></Fetch></soapenv:Body></soapenv:Envelope>"
    )
    response = requests.post(
        f"{vcenter.running.url}",
        data=body.encode(),
        headers={"Cookie": adapter.session.cookie(), "Content-Type": "text/xml", "SOAPAction": "urn:vim25/8.0"},
        verify=str(vcenter.running.ca_file),
        timeout=10,
    )
    assert response.status_code == 200, response.text[:300]
    assert "FetchResponse" in response.text and "returnval" not in response.text


def test_an_answer_that_is_not_soap_is_bad_response(vcenter: VCenter) -> None:
    import http.server
    import ssl
    import threading

    class Garbage(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"<?xml version='1.0'?><soapenv:Envelope><<< not vim25 >>>"
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(vcenter.running.ca_file, vcenter.state_dir / simulator.KEY_FILE)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(BadResponse, match="gov-vmware: login"):
            VSphereAdapter(vcenter.spec(port=server.server_address[1])).list_nodes()
    finally:
        server.shutdown()
        server.server_close()
