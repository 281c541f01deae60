"""libcloud's libvirt driver against libvirt's own `test:///default` hypervisor (no daemon).

libvirt-python builds against Debian's libvirt-dev, which `make install` provides; without it
the test is skipped rather than faked.
"""

from __future__ import annotations

import pytest

from providers.base import Capability, ProviderSpec, State
from providers.errors import NotFound
from providers.registry import create_provider

libvirt = pytest.importorskip("libvirt", reason="libvirt-python is not installed")


def test_libvirt_test_driver_keeps_identity_and_state_through_stop_and_start() -> None:
    adapter = create_provider(ProviderSpec(name="kvm-lab", driver="libvirt", options={"uri": "test:///default"}))
    nodes = adapter.list_nodes()
    assert nodes and all(n.provider == "kvm-lab" for n in nodes)
    node = nodes[0]
    domain = libvirt.open("test:///default").lookupByName(node.name)
    # The domain UUID, not libvirt's runtime domain number (which is -1 once stopped).
    assert node.id == domain.UUIDString() and node.state == State.RUNNING
    adapter.stop_node(node.id)
    stopped = adapter.get_node(node.id)
    assert (stopped.id, stopped.state) == (node.id, State.STOPPED)
    assert {n.id: n.state for n in adapter.list_nodes()}[node.id] == State.STOPPED
    adapter.start_node(node.id)
    assert adapter.get_node(node.id).state == State.RUNNING
    with pytest.raises(NotFound):
        adapter.get_node("00000000-0000-0000-0000-000000000000")
    assert Capability.HOSTS in adapter.features  # the connection's hypervisor, not libcloud's


NODE_XML = """<node>
  <cpu><mhz>2600</mhz><model>{model}</model><active>64</active><nodes>1</nodes><sockets>1</sockets>
  <cores>64</cores><threads>1</threads></cpu>
  <memory>268435456</memory>
  <domain type="test"><name>app-01</name><uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
    <memory>1048576</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>
</node>"""


@pytest.mark.parametrize(
    ("model", "vendor"),
    [("Kunpeng-920", "Kunpeng"), ("Hygon C86 7285", "Hygon"), ("Phytium FT-2000+/64", "Phytium")],
)
def test_the_hypervisor_is_a_host_with_the_vendor_its_model_string_names(tmp_path, model: str, vendor: str) -> None:
    node_xml = tmp_path / "node.xml"
    node_xml.write_text(NODE_XML.format(model=model), encoding="utf-8")
    adapter = create_provider(ProviderSpec(name="kvm-lab", driver="libvirt", options={"uri": f"test://{node_xml}"}))
    (host,) = adapter.list_hosts()
    assert (host.cpu_vendor, host.cpu_model, host.vcpus, host.ram_mb) == (vendor, model, 64, 262144)
    assert [n.name for n in adapter.list_nodes()] == ["app-01"]


# Trimmed from `virsh capabilities` of a Debian 12 KVM host (qemu:///system): the host's CPU,
# its AppArmor security model and the guest domain types QEMU offers there.
KVM_HOST_CAPS = """<capabilities>
  <host><uuid>3b1e4f8a-52c4-4d1a-9b55-0d2f3e4a5b6c</uuid>
    <cpu><arch>x86_64</arch><model>Skylake-Client-IBRS</model><vendor>Intel</vendor></cpu>
    <secmodel><model>apparmor</model><doi>0</doi></secmodel>
    <secmodel><model>dac</model><doi>0</doi><baselabel type='kvm'>+64055:+64055</baselabel></secmodel>
  </host>
  <guest><os_type>hvm</os_type>
    <arch name='x86_64'><wordsize>64</wordsize><emulator>/usr/bin/qemu-system-x86_64</emulator>
      <domain type='qemu'/><domain type='kvm'/></arch>
  </guest>
  <guest><os_type>hvm</os_type>
    <arch name='aarch64'><wordsize>64</wordsize><emulator>/usr/bin/qemu-system-aarch64</emulator>
      <domain type='qemu'/></arch>
  </guest>
</capabilities>"""

# QEMU with TCG only (no /dev/kvm) and no Linux security model: QEMU runs on many systems.
TCG_ONLY_CAPS = KVM_HOST_CAPS.replace("<domain type='kvm'/>", "").replace("apparmor", "none")


@pytest.mark.parametrize(
    ("caps", "driver", "family"),
    [
        (KVM_HOST_CAPS, "QEMU", "Linux"),
        (KVM_HOST_CAPS.replace("apparmor", "none"), "QEMU", "Linux"),  # kvm alone implies Linux
        (TCG_ONLY_CAPS.replace("none", "selinux"), "QEMU", "Linux"),  # SELinux alone does too
        (TCG_ONLY_CAPS, "QEMU", ""),
        (TCG_ONLY_CAPS.replace("type='qemu'", "type='hvf'"), "QEMU", "macOS"),
        (TCG_ONLY_CAPS, "bhyve", "FreeBSD"),
        (TCG_ONLY_CAPS, "LXC", "Linux"),
        (TCG_ONLY_CAPS, "Xen", ""),
        (KVM_HOST_CAPS, "bhyve", ""),  # contradictory answers: no guess
    ],
)
def test_host_os_family_only_where_the_capabilities_imply_it(caps: str, driver: str, family: str) -> None:
    import xml.etree.ElementTree as ET

    from providers.libvirt_adapter import host_os_family

    assert host_os_family(ET.fromstring(caps), driver) == family


def test_the_hypervisor_os_family_comes_from_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = create_provider(ProviderSpec(name="kvm-lab", driver="libvirt", options={"uri": "test:///default"}))
    (host,) = adapter.list_hosts()
    assert host.os_family == ""  # libvirt's test driver offers only its own `test` domain type
    conn = adapter.driver.connection  # type: ignore[attr-defined]
    monkeypatch.setattr(conn, "getCapabilities", lambda: KVM_HOST_CAPS)
    (host,) = adapter.list_hosts()
    assert (host.os_family, host.cpu_vendor, host.arch) == ("Linux", "Intel", "x86_64")
