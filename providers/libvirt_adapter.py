"""libvirt through libcloud's libvirt driver, plus the hypervisor itself as a host.

libcloud has no hypervisor listing; the libvirt connection it holds does. One connection is one
hypervisor: its capabilities name the CPU (`<host><cpu><arch|model|vendor>`, e.g. "Kunpeng-920"
and "HiSilicon"), SMBIOS (`virConnectGetSysinfo`) the processor's marketing string ("Hygon C86
7285 32-core Processor"), and `virNodeGetInfo` the memory and logical CPUs. The vendor comes
from those strings through providers/cpu_models.yaml. libvirt does not name the host's
operating system; `host_os_family` infers the family where the capabilities allow it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from providers import mapping
from providers.base import Capability, Host, State
from providers.boundary import boundary
from providers.libcloud_adapter import LibcloudAdapter

_ARCH_WORDS = frozenset({"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "loongarch64", "mips64el", "sw_64"})


def _text(root: ET.Element | None, path: str) -> str:
    found = root.find(path) if root is not None else None
    return (found.text or "").strip() if found is not None else ""


def _smbios_processor(sysinfo: str) -> str:
    """The first SMBIOS processor's `version` (its model string), or ''."""
    try:
        root = ET.fromstring(sysinfo)  # noqa: S314
    except ET.ParseError:
        return ""
    for entry in root.iterfind("./processor/entry"):
        if entry.get("name") == "version" and (entry.text or "").strip():
            return (entry.text or "").strip()
    return ""


# Which operating system a hypervisor feature exists on, and nowhere else: the KVM and LXC
# hypervisors and the SELinux and AppArmor security models are Linux kernel features; Apple's
# Hypervisor.framework (domain type `hvf`) is macOS's; bhyve is FreeBSD's.
_DOMAIN_TYPE_OS = {"kvm": "Linux", "hvf": "macOS", "bhyve": "FreeBSD"}
_DRIVER_OS = {"lxc": "Linux", "openvz": "Linux", "bhyve": "FreeBSD"}
_SECMODEL_OS = {"selinux": "Linux", "apparmor": "Linux"}


def host_os_family(caps: ET.Element, driver_type: str) -> str:
    """The host's OS family as far as libvirt's own answers imply it, else ''.

    The rule: a guest domain type the host offers (`<guest><arch><domain type=...>`), the
    connection's driver (`virConnectGetType`) or a host security model
    (`<host><secmodel><model>`) that exists on exactly one operating system names that system.
    QEMU without KVM (TCG), Xen, the test driver and anything else run on several, and say
    nothing: the family stays empty rather than guessed. libvirt never names the distribution,
    so a Linux host is "Linux", not Kylin or openEuler.
    """
    found = {_DRIVER_OS.get(driver_type.strip().lower(), "")}
    found |= {_DOMAIN_TYPE_OS.get((d.get("type") or "").lower(), "") for d in caps.iterfind("./guest/arch/domain")}
    found |= {_SECMODEL_OS.get(_text(m, ".").lower(), "") for m in caps.iterfind("./host/secmodel/model")}
    found.discard("")
    # Two systems at once would be contradictory answers: no inference beats a wrong one.
    return found.pop() if len(found) == 1 else ""


class LibvirtAdapter(LibcloudAdapter):
    """libcloud's libvirt driver; the connection's hypervisor is the one host."""

    features = LibcloudAdapter.features | {Capability.HOSTS}

    def _connection(self) -> Any:
        return self.driver.connection

    def list_hosts(self) -> Sequence[Host]:
        with boundary(self.name, "list_hosts"):
            conn = self._connection()
            model_arch, memory_mb, cpus, mhz, *_topology = conn.getInfo()
            caps = ET.fromstring(conn.getCapabilities())  # noqa: S314
            cpu = caps.find("./host/cpu")
            arch = mapping.normalize_arch(_text(cpu, "arch") or model_arch)
            cap_model, cap_vendor = _text(cpu, "model"), _text(cpu, "vendor")
            try:
                processor = _smbios_processor(conn.getSysinfo())
            except Exception as exc:  # libvirt.libvirtError: drivers without SMBIOS (test://)
                if type(exc).__name__ != "libvirtError":
                    raise
                processor = ""
            # virNodeGetInfo's "model" is the architecture on real hypervisors ("x86_64"), but
            # some drivers put the CPU model there.
            info_model = "" if model_arch in _ARCH_WORDS else str(model_arch)
            vendor, model_arch_hint = mapping.cpu_platform(processor, cap_model, cap_vendor, info_model)
            hostname = str(conn.getHostname())
            driver_type = str(conn.getType())
            return [
                Host(
                    provider=self.name,
                    id=_text(caps, "./host/uuid") or hostname,
                    name=hostname,
                    state=State.RUNNING,
                    extra={"hypervisor": driver_type, "cpu_mhz": int(mhz), "cpu_vendor_field": cap_vendor},
                    vcpus=int(cpus),
                    ram_mb=int(memory_mb),
                    arch=arch or model_arch_hint,
                    cpu_vendor=vendor or mapping.vendor_from_arch(arch),
                    cpu_model=processor or cap_model or info_model,
                    os_family=host_os_family(caps, driver_type),
                )
            ]


__all__ = ["LibvirtAdapter"]
