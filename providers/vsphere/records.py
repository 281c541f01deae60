"""vCenter properties -> ganyun records. No SDK calls here: only what `properties` fetched.

Decisions:
- A VM's id is its managed object id (vm-42): what vCenter's change updates name on delete.
  Templates are images, not nodes.
- A VM runs on its host's CPU, so its cpu_vendor and arch are the host's.
- Datastores are storage pools, not volumes: they are listed in the `extra` of hosts, nodes and
  volumes. A VM's virtual disks are its volumes. A host's disk_gb is its share of each
  datastore it mounts (capacity / hosts mounting it), so a provider's hosts add up to its
  datastores' real capacity instead of counting a shared datastore once per host.
- Custom attributes become tags; the estate's conventions (department, system, mlps_level,
  owner) are recognized under the names in conventions.yaml.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from pyVmomi import vim

from providers import mapping
from providers.base import Cluster, Host, Image, Network, Node, Snapshot, State, Volume
from providers.vsphere.properties import Inventory, Props, snapshot_tree

GIB = 1024**3
MIB = 1024**2

_POWER = {"poweredOn": State.RUNNING, "poweredOff": State.STOPPED, "suspended": State.SUSPENDED}
_BROKEN = {"orphaned": State.ERROR, "inaccessible": State.ERROR, "invalid": State.ERROR, "disconnected": State.UNKNOWN}
_HOST_POWER = {"poweredOn": State.RUNNING, "poweredOff": State.STOPPED, "standBy": State.SUSPENDED}
_HOST_LINK = {"notResponding": State.ERROR, "disconnected": State.UNKNOWN}


@cache
def conventions() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        files("providers.vsphere").joinpath("conventions.yaml").read_text(encoding="utf-8")
    )
    return data


@cache
def _attribute_keys() -> dict[str, str]:
    return {alias.lower(): key for key, aliases in conventions()["attributes"].items() for alias in aliases}


def os_family(tools_name: object, guest_id: object, config_name: object) -> str:
    """What the guest runs: VMware Tools' name first (it reports the running OS, where the
    configured id may be a stand-in such as CentOS for Kylin), then the configured id."""
    by_name = _family_from_name(tools_name)
    if by_name:
        return by_name
    if isinstance(guest_id, str):
        low = guest_id.lower()
        for rule in conventions()["guest_ids"]:
            if low.startswith(str(rule["prefix"]).lower()):
                return str(rule["family"])
    return _family_from_name(config_name)


def _family_from_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        return ""
    low = name.lower()
    for rule in conventions()["guest_names"]:
        if str(rule["needle"]) in low:
            return str(rule["family"])
    return mapping.normalize_os(name)


def mlps_level(value: str) -> str:
    """ "3", "三级", "第三级", "等保三级", "Level 3" -> "3"; anything else unchanged."""
    digits = re.search(r"[1-5]", value)
    if digits:
        return digits.group(0)
    for numeral, level in conventions()["mlps_numerals"].items():
        if str(numeral) in value:
            return str(level)
    return value.strip()


def tags(custom_values: object, fields: Mapping[int, str]) -> dict[str, str]:
    """Custom attribute values by name; convention names mapped to the estate's tag keys."""
    out: dict[str, str] = {}
    aliases = _attribute_keys()
    for value in custom_values or []:  # type: ignore[attr-defined]
        name = fields.get(int(getattr(value, "key", -1)), "")
        text = getattr(value, "value", None)
        if not name or not isinstance(text, str):
            continue
        key = aliases.get(name.strip().lower(), name.strip())
        if not text.strip():
            # A cleared value. (govmomi's simulator appends a second entry for the same key
            # where vCenter replaces the first: the last one counts.)
            out.pop(key, None)
            continue
        out[key] = mlps_level(text) if key == "mlps_level" else text.strip()
    return out


def _utc(value: object) -> datetime | None:
    """pyVmomi's datetimes carry its own tzinfo class: plain UTC for the records."""
    return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else None


def _name(inventory: Inventory, ref: Any, *kinds: str) -> str:
    if ref is None:
        return ""
    return str(inventory.find(str(ref._moId), *kinds).get("name", ""))


def datacenter_of(inventory: Inventory, ref: Any) -> tuple[str, str]:
    """(datacenter name, its inventory path for dcPath) of any entity, following parents."""
    seen = 0
    kinds = ("Folder", "Datacenter", "ClusterComputeResource", "ComputeResource", "HostSystem", "VirtualMachine")
    while ref is not None and seen < 64:
        seen += 1
        if isinstance(ref, vim.Datacenter):
            props = inventory.find(str(ref._moId), "Datacenter")
            path = [str(props.get("name", ""))]
            parent = props.get("parent")
            while parent is not None and len(path) < 64:
                folder = inventory.find(str(parent._moId), "Folder")
                if not folder or folder.get("parent") is None:
                    break  # the root folder is not part of the path
                path.insert(0, str(folder.get("name", "")))
                parent = folder.get("parent")
            return path[-1], "/".join(path)
        ref = inventory.find(str(ref._moId), *kinds).get("parent")
    return "", ""


def _cluster_of(inventory: Inventory, host: Props) -> tuple[str, str]:
    parent = host.get("parent")
    if isinstance(parent, vim.ClusterComputeResource):
        return str(parent._moId), _name(inventory, parent, "ClusterComputeResource")
    return "", ""


# --------------------------------------------------------------------------- hosts


def host_platform(host: Props) -> tuple[str, str, str]:
    """(cpu_vendor, arch, cpu_model) from hardware.cpuPkg: the model string first (it names
    domestic CPUs such as "Hygon C86 7285"), then the package's vendor field."""
    packages = host.get("hardware.cpuPkg") or []
    model = str(getattr(packages[0], "description", "") or "") if packages else ""
    vendor_field = str(getattr(packages[0], "vendor", "") or "") if packages else ""
    vendor, arch = mapping.cpu_platform(model)
    field_vendor, field_arch = mapping.cpu_platform(vendor_field)
    return vendor or field_vendor, arch or field_arch, " ".join(model.split())


def _datastore_shares(inventory: Inventory) -> dict[str, tuple[float, float, int]]:
    """Datastore id -> (capacity GiB, used GiB, number of hosts mounting it)."""
    out = {}
    for moid, ds in inventory.of("Datastore").items():
        capacity = float(ds.get("summary.capacity") or 0) / GIB
        free = float(ds.get("summary.freeSpace") or 0) / GIB
        out[moid] = (capacity, max(0.0, capacity - free), max(1, len(ds.get("host") or [])))
    return out


def host_record(provider: str, inventory: Inventory, moid: str, props: Props) -> Host:
    vendor, arch, model = host_platform(props)
    cpu = props.get("hardware.cpuInfo")
    threads = int(getattr(cpu, "numCpuThreads", 0) or 0)
    cores = int(getattr(cpu, "numCpuCores", 0) or 0)
    mhz = float(getattr(cpu, "hz", 0) or 0) / 1e6
    ram_mb = int(props.get("hardware.memorySize") or 0) // MIB
    vms = [
        vm
        for vm in inventory.of("VirtualMachine").values()
        if vm.get("runtime.host") is not None
        and str(vm["runtime.host"]._moId) == moid
        and not vm.get("config.template")
        and vm.get("runtime.powerState") == "poweredOn"
    ]
    shares = _datastore_shares(inventory)
    disk = used = 0.0
    datastores = []
    for ref in props.get("datastore") or []:
        ds_id = str(ref._moId)
        capacity, in_use, mounts = shares.get(ds_id, (0.0, 0.0, 1))
        disk += capacity / mounts
        used += in_use / mounts
        ds = inventory.find(ds_id, "Datastore")
        datastores.append(
            {
                "name": ds.get("name", ""),
                "type": ds.get("summary.type", ""),
                "capacity_gb": round(capacity, 1),
                "free_gb": round(capacity - in_use, 1),
                "hosts": mounts,
            }
        )
    stats = props.get("summary.quickStats")
    cpu_used_mhz = float(getattr(stats, "overallCpuUsage", 0) or 0)
    link = str(props.get("runtime.connectionState") or "")
    state = _HOST_LINK.get(link) or _HOST_POWER.get(str(props.get("runtime.powerState") or ""), State.UNKNOWN)
    cluster_id, cluster = _cluster_of(inventory, props)
    product = props.get("config.product")
    system = props.get("hardware.systemInfo")
    datacenter, _path = datacenter_of(inventory, props.get("_obj"))
    host_tags = tags(props.get("customValue"), inventory.fields)
    return Host(
        provider=provider,
        id=moid,
        name=str(props.get("name") or moid),
        state=state,
        extra={
            "moref": moid,
            "cluster": cluster,
            "cluster_id": cluster_id,
            "datacenter": datacenter,
            "datastores": datastores,
            "cores": cores,
            "threads": threads,
            "sockets": int(getattr(cpu, "numCpuPackages", 0) or 0),
            "cpu_mhz": round(mhz),
            "cpu_usage_mhz": cpu_used_mhz,
            "memory_usage_mb": int(getattr(stats, "overallMemoryUsage", 0) or 0),
            "connection_state": link,
            "maintenance": bool(props.get("runtime.inMaintenanceMode")),
            "hypervisor": str(getattr(product, "fullName", "") or ""),
            "hypervisor_version": str(getattr(product, "version", "") or ""),
            "server_vendor": str(getattr(system, "vendor", "") or ""),
            "server_model": str(getattr(system, "model", "") or ""),
            "tags": host_tags,
        },
        vcpus=threads,
        ram_mb=ram_mb,
        disk_gb=round(disk),
        vcpus_used=sum(int(vm.get("config.hardware.numCPU") or 0) for vm in vms),
        ram_mb_used=sum(int(vm.get("config.hardware.memoryMB") or 0) for vm in vms),
        disk_gb_used=round(used),
        arch=arch,
        cpu_vendor=vendor,
        cpu_model=model,
        os_family=mapping.normalize_os(getattr(product, "name", None), getattr(product, "fullName", None)),
        rack=host_tags.get("rack", ""),
        cpu_util_pct=round(100.0 * cpu_used_mhz / (mhz * cores), 1) if mhz and cores else None,
        running_vms=len(vms),
    )


# --------------------------------------------------------------------------- VMs


def disks(inventory: Inventory, vm: Props) -> list[dict[str, Any]]:
    out = []
    for device in vm.get("config.hardware.device") or []:
        if not isinstance(device, vim.vm.device.VirtualDisk):
            continue
        backing = device.backing
        file_name = str(getattr(backing, "fileName", "") or "")
        match = re.match(r"\[(?P<ds>[^\]]*)\]\s*(?P<path>.*)", file_name)
        capacity = int(getattr(device, "capacityInBytes", 0) or 0) or int(device.capacityInKB or 0) * 1024
        datastore_ref = getattr(backing, "datastore", None)
        out.append(
            {
                "key": int(device.key),
                "label": str(getattr(device.deviceInfo, "label", "") or ""),
                "file": file_name,
                "datastore": match.group("ds") if match else _name(inventory, datastore_ref, "Datastore"),
                "path": match.group("path") if match else "",
                "capacity_gb": math.ceil(capacity / GIB),
                "thin": bool(getattr(backing, "thinProvisioned", False)),
                "uuid": str(getattr(backing, "uuid", "") or ""),
                "encrypted": getattr(backing, "keyId", None) is not None,
                "controller_key": int(getattr(device, "controllerKey", 0) or 0),
                "unit": int(getattr(device, "unitNumber", 0) or 0),
            }
        )
    return out


def ips(vm: Props) -> tuple[str, ...]:
    found: list[str] = []
    primary = vm.get("guest.ipAddress")
    if isinstance(primary, str) and primary:
        found.append(primary)
    for nic in vm.get("guest.net") or []:
        found.extend(str(ip) for ip in nic.ipAddress or [])
    return tuple(dict.fromkeys(ip for ip in found if ip and not ip.lower().startswith("fe80:")))


def _vm_state(vm: Props) -> State:
    broken = _BROKEN.get(str(vm.get("runtime.connectionState") or "connected"))
    return broken or _POWER.get(str(vm.get("runtime.powerState") or ""), State.UNKNOWN)


def node_record(provider: str, inventory: Inventory, moid: str, vm: Props) -> Node:
    host_ref = vm.get("runtime.host")
    host = inventory.find(str(host_ref._moId), "HostSystem") if host_ref is not None else {}
    vendor, arch, _model = host_platform(host) if host else ("", "", "")
    guest_id = str(vm.get("config.guestId") or vm.get("guest.guestId") or "")
    tools_name = str(vm.get("guest.guestFullName") or "")
    vm_disks = disks(inventory, vm)
    _cluster_id, cluster = _cluster_of(inventory, host) if host else ("", "")
    datacenter, dc_path = datacenter_of(inventory, vm.get("_obj"))
    created = vm.get("config.createDate")
    return Node(
        provider=provider,
        id=moid,
        name=str(vm.get("name") or moid),
        state=_vm_state(vm),
        extra={
            "moref": moid,
            "instance_uuid": str(vm.get("config.instanceUuid") or ""),
            "bios_uuid": str(vm.get("config.uuid") or ""),
            "guest_id": guest_id,
            "guest_full_name": str(vm.get("config.guestFullName") or ""),
            "tools_guest_name": tools_name,
            "tools_status": str(vm.get("guest.toolsRunningStatus") or ""),
            "guest_hostname": str(vm.get("guest.hostName") or ""),
            "power_state": str(vm.get("runtime.powerState") or ""),
            "connection_state": str(vm.get("runtime.connectionState") or ""),
            "datastores": [_name(inventory, ref, "Datastore") for ref in vm.get("datastore") or []],
            "networks": [_name(inventory, ref, "Network") for ref in vm.get("network") or []],
            "disks": vm_disks,
            "vmx_path": str(vm.get("summary.config.vmPathName") or ""),
            "cluster": cluster,
            "datacenter": datacenter,
            "datacenter_path": dc_path,
            "annotation": str(vm.get("config.annotation") or ""),
            "snapshots": len(snapshot_tree(vm)),
        },
        vcpus=int(vm.get("config.hardware.numCPU") or 0),
        ram_mb=int(vm.get("config.hardware.memoryMB") or 0),
        disk_gb=sum(int(d["capacity_gb"]) for d in vm_disks),
        arch=arch,
        cpu_vendor=vendor,
        os_family=os_family(tools_name, guest_id, vm.get("config.guestFullName")),
        ips=ips(vm),
        host=str(host.get("name") or ""),
        image="",
        size="",
        created_at=_utc(created),
        tags=tags(vm.get("customValue"), inventory.fields),
    )


def image_record(provider: str, inventory: Inventory, moid: str, vm: Props) -> Image:
    """A template: what new VMs are cloned from."""
    node = node_record(provider, inventory, moid, vm)
    return Image(
        provider=provider,
        id=moid,
        name=node.name,
        state=State.RUNNING,
        extra={k: node.extra[k] for k in ("moref", "guest_id", "guest_full_name", "disks", "datacenter")},
        arch=node.arch,
        os_family=node.os_family,
        disk_format="vmdk",
        size_bytes=sum(int(d["capacity_gb"]) for d in node.extra["disks"]) * GIB,
    )


def volume_records(provider: str, inventory: Inventory, moid: str, vm: Props) -> list[Volume]:
    out = []
    for n, disk in enumerate(disks(inventory, vm)):
        out.append(
            Volume(
                provider=provider,
                id=disk["uuid"] or f"{moid}:{disk['key']}",
                name=disk["file"] or f"{vm.get('name', moid)} {disk['label']}",
                state=State.RUNNING,
                extra={"vm": moid, "vm_name": str(vm.get("name") or ""), **disk},
                size_gb=int(disk["capacity_gb"]),
                volume_type="thin" if disk["thin"] else "thick",
                attached_to=(moid,),
                encrypted=bool(disk["encrypted"]),
                bootable=n == 0,
            )
        )
    return out


def snapshot_records(provider: str, moid: str, vm: Props) -> list[Snapshot]:
    out = []
    for snap in snapshot_tree(vm):
        created = getattr(snap, "createTime", None)
        out.append(
            Snapshot(
                provider=provider,
                id=str(snap.snapshot._moId),
                name=str(snap.name or ""),
                state=State.RUNNING,
                extra={
                    "vm": moid,
                    "vm_name": str(vm.get("name") or ""),
                    "description": str(snap.description or ""),
                    "power_state": str(snap.state or ""),
                    "quiesced": bool(snap.quiesced),
                },
                created_at=_utc(created),
            )
        )
    return out


# --------------------------------------------------------------------------- clusters, networks


def cluster_record(provider: str, inventory: Inventory, moid: str, props: Props) -> Cluster:
    summary = props.get("summary")
    config = props.get("configurationEx")
    hosts = [_name(inventory, ref, "HostSystem") for ref in props.get("host") or []]
    datacenter, _path = datacenter_of(inventory, props.get("_obj"))
    return Cluster(
        provider=provider,
        id=moid,
        name=str(props.get("name") or moid),
        state=State.RUNNING,
        extra={
            "datacenter": datacenter,
            "hosts": hosts,
            "effective_hosts": int(getattr(summary, "numEffectiveHosts", 0) or 0),
            "total_cpu_mhz": int(getattr(summary, "totalCpu", 0) or 0),
            "total_memory_mb": int(getattr(summary, "totalMemory", 0) or 0) // MIB,
            "drs_enabled": bool(getattr(getattr(config, "drsConfig", None), "enabled", False)),
            "ha_enabled": bool(getattr(getattr(config, "dasConfig", None), "enabled", False)),
        },
        node_count=len(hosts),
    )


def network_record(provider: str, inventory: Inventory, moid: str, props: Props) -> Network | None:
    """A port group or network VMs attach to; DVS uplink port groups are not networks."""
    name = str(props.get("name") or moid)
    if props.get("config.uplink") or (props.get("_type") == "DistributedVirtualPortgroup" and "-DVUplinks" in name):
        return None
    port_config = props.get("config.defaultPortConfig")
    vlan = getattr(getattr(port_config, "vlan", None), "vlanId", None)
    switch = _name(inventory, props.get("config.distributedVirtualSwitch"), "DistributedVirtualSwitch")
    accessible = props.get("summary.accessible")
    return Network(
        provider=provider,
        id=moid,
        name=name,
        state=State.ERROR if accessible is False else State.RUNNING,
        extra={
            "type": props.get("_type", ""),
            "vlan": vlan if isinstance(vlan, int) else None,
            "switch": switch,
            "hosts": len(props.get("host") or []),
            "vms": len(props.get("vm") or []),
        },
        shared=True,
    )
