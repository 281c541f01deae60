"""Nova: servers (list, changes-since, create, actions, metadata, createImage), flavors,
hypervisors, aggregates and availability zones.

A new server is BUILD for BUILD_SECONDS, then ACTIVE (or ERROR with a fault); `settle` makes
that transition when the server is next read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from lab import disks
from lab.api.cloud import CloudRuntime, mac
from lab.api.http import (
    NOVA_MAX_LIMIT,
    ApiError,
    Reply,
    Request,
    cutoff,
    dumps,
    links,
    new_uuid,
    paginate,
    stamp_now,
    str_map,
    ts,
)
from lab.api.image import begin_saving, settle_image
from lab.seed import Hypervisor, Image, Server

BUILD_SECONDS = 0.3
_VM_STATE = {
    "ACTIVE": ("active", 1),
    "SHUTOFF": ("stopped", 4),
    "PAUSED": ("paused", 3),
    "SUSPENDED": ("suspended", 7),
    "ERROR": ("error", 0),
    "BUILD": ("building", 0),
    "DELETED": ("deleted", 0),
}


def settle(rt: CloudRuntime, server: Server) -> None:
    """BUILD -> ACTIVE (or ERROR) once the build time has passed."""
    pending = rt.build_until.get(server.id)
    if pending is None or time.monotonic() < pending[0]:
        return
    with rt.lock:
        if server.status == "BUILD":
            server.status = pending[1]
            server.updated = stamp_now()
            rt.persist("servers", server.id, server)
        rt.build_until.pop(server.id, None)


def rename_first(rt: CloudRuntime) -> str:
    """The `rename_during` fault: the first server in listing order gets "-renamed" appended,
    as a tenant's `openstack server set --name` would. Returns its id."""
    with rt.lock:
        server = rt.servers[rt.server_order()[0]]
        server.name = f"{server.name}-renamed"
        server.updated = stamp_now()
        rt.persist("servers", server.id, server)
        return server.id


def server_bytes(rt: CloudRuntime, server: Server) -> bytes:
    settle(rt, server)
    cached = rt.server_cache.get(server.id)
    if cached is None:
        with rt.lock:  # a concurrent change must not be overwritten by a stale render
            cached = dumps(server_json(rt, server, rt.volumes_of()))
            if server.id in rt.servers:
                rt.server_cache[server.id] = cached
    return cached


def warm(rt: CloudRuntime) -> None:
    """Render every server once, before the lab says it is ready."""
    for server in list(rt.servers.values()):
        server_bytes(rt, server)


def server_json(rt: CloudRuntime, s: Server, vols: Mapping[str, list[str]]) -> dict[str, Any]:
    settle(rt, s)
    cloud = rt.cloud
    base = rt.lab.url(rt.name, "compute/v2.1")
    net = rt.internal[min(s.network_index, len(rt.internal) - 1)]
    host_id = rt.host_ids.get(s.host)
    if host_id is None:
        host_id = hashlib.sha224(f"{cloud.project_id}{s.host}".encode()).hexdigest()
        rt.host_ids[s.host] = host_id
    vm_state, power = _VM_STATE.get(s.status, ("error", 0))
    out: dict[str, Any] = {
        "id": s.id,
        "name": s.name,
        "status": s.status,
        "tenant_id": cloud.project_id,
        "user_id": cloud.user,
        "metadata": s.metadata,
        "hostId": host_id,
        "image": {"id": s.image_id},
        "flavor": {"id": s.flavor_id},
        "created": s.created,
        "updated": s.updated or s.created,
        "addresses": {
            net.name: [
                {
                    "version": 4,
                    "addr": address,
                    "OS-EXT-IPS:type": kind,
                    "OS-EXT-IPS-MAC:mac_addr": mac(s.port_id),
                }
                for address, kind in ((s.ip, "fixed"), *((f, "floating") for f in rt.floating_of(s.port_id)))
            ]
        },
        "accessIPv4": "",
        "accessIPv6": "",
        "links": [
            {"rel": "self", "href": f"{base}/servers/{s.id}"},
            {"rel": "bookmark", "href": f"{base}/servers/{s.id}"},
        ],
        "key_name": None,
        "config_drive": "",
        "progress": 0 if s.status == "BUILD" else 100,
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": s.az,
        "OS-EXT-SRV-ATTR:host": s.host,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": s.host,
        "OS-EXT-SRV-ATTR:instance_name": f"instance-{s.id[:8]}",
        "OS-EXT-STS:vm_state": vm_state,
        "OS-EXT-STS:power_state": power,
        "OS-EXT-STS:task_state": "spawning" if s.status == "BUILD" else None,
        "OS-SRV-USG:launched_at": s.created,
        "os-extended-volumes:volumes_attached": [{"id": v, "delete_on_termination": False} for v in vols.get(s.id, [])],
        "security_groups": [{"name": g} for g in s.security_groups],
    }
    if s.status == "ERROR" and s.fault:
        out["fault"] = {**s.fault, "created": s.updated or s.created}
    return out


def _flavor_json(rt: CloudRuntime, flavor_id: str) -> dict[str, Any]:
    f = rt.flavors[flavor_id]
    href = f"{rt.lab.url(rt.name, 'compute/v2.1')}/flavors/{f.id}"
    return {
        "id": f.id,
        "name": f.name,
        "vcpus": f.vcpus,
        "ram": f.ram_mb,
        "disk": f.disk_gb,
        "swap": "",
        "rxtx_factor": 1.0,
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "OS-FLV-DISABLED:disabled": False,
        "os-flavor-access:is_public": True,
        "OS-FLV-WITH-EXT-SPECS:extra_specs": dict(f.extra_specs),
        "extra_specs": dict(f.extra_specs),
        "description": None,
        "links": [{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}],
    }


def _hypervisor_json(rt: CloudRuntime, hv_id: str, detail: bool = True) -> dict[str, Any]:
    h = rt.hypervisors[hv_id]
    out: dict[str, Any] = {"id": h.id, "hypervisor_hostname": h.hostname, "state": "up", "status": "enabled"}
    if not detail:
        return out
    vcpus_used, ram_used, disk_used, running = rt.usage().get(h.hostname, (0, 0, 0, 0))
    cpu_info = {
        "arch": h.arch,
        "model": h.model,
        "vendor": h.vendor,
        "topology": {"sockets": h.sockets, "cores": h.cores, "threads": h.threads},
        "features": [],
    }
    out.update(
        {
            "hypervisor_type": "QEMU",
            "hypervisor_version": 6002000,
            "host_ip": h.host_ip,
            "vcpus": h.vcpus,
            "vcpus_used": vcpus_used,
            "memory_mb": h.memory_mb,
            "memory_mb_used": ram_used + 8192,  # the host itself keeps 8 GiB
            "free_ram_mb": h.memory_mb - ram_used - 8192,
            "local_gb": h.local_gb,
            "local_gb_used": disk_used,
            "free_disk_gb": h.local_gb - disk_used,
            "disk_available_least": h.local_gb - disk_used,
            "running_vms": running,
            "current_workload": 0,
            "cpu_info": json.dumps(cpu_info),
            "service": {"host": h.hostname, "id": h.id, "disabled_reason": None},
        }
    )
    return out


def handle(rt: CloudRuntime, parts: list[str], req: Request) -> Reply:
    head = parts[0] if parts else ""
    method = req.method
    if head == "servers":
        return _servers(rt, parts[1:], req)
    if head == "flavors" and method == "GET":
        if parts[1:] in (["detail"], []):
            detail = bool(parts[1:])
            items = [_flavor_json(rt, f) for f in rt.flavors]
            if not detail:
                items = [{k: f[k] for k in ("id", "name", "links")} for f in items]
            return Reply.json(200, {"flavors": items})
        flavor_id = parts[1]
        if flavor_id not in rt.flavors:
            raise ApiError(404, f"Flavor {flavor_id} could not be found.")
        if parts[2:] == ["os-extra_specs"]:
            return Reply.json(200, {"extra_specs": dict(rt.flavors[flavor_id].extra_specs)})
        if len(parts) == 2:
            return Reply.json(200, {"flavor": _flavor_json(rt, flavor_id)})
    if head == "os-hypervisors" and method == "GET":
        sub = parts[1:]
        if sub in ([], ["detail"]):
            page, marker = paginate(req, rt.hv_order, NOVA_MAX_LIMIT)
            items = [_hypervisor_json(rt, h, detail=bool(sub)) for h in page]
            path = "compute/v2.1/os-hypervisors" + ("/detail" if sub else "")
            return Reply.json(200, {"hypervisors": items, **links(rt.lab, rt.name, path, req, marker, "hypervisors")})
        hv_id = sub[0]
        if hv_id not in rt.hypervisors:
            raise ApiError(404, f"Hypervisor with ID {hv_id} could not be found.")
        if sub[1:] == ["uptime"]:
            h = rt.hypervisors[hv_id]
            load = ", ".join(f"{x:.2f}" for x in h.load)
            uptime = f" 08:32:11 up {h.uptime_days} days,  3:05,  0 users,  load average: {load}"
            return Reply.json(200, {"hypervisor": {**_hypervisor_json(rt, hv_id, detail=False), "uptime": uptime}})
        if len(sub) == 1:
            return Reply.json(200, {"hypervisor": _hypervisor_json(rt, hv_id)})
    if head == "os-aggregates" and method == "GET" and len(parts) == 1:
        created = ts(rt.lab.estate.now - timedelta(days=500))
        items = [
            {
                "id": a.id,
                "uuid": f"00000000-0000-4000-8000-{a.id:012d}",
                "name": a.name,
                "availability_zone": a.az,
                "hosts": list(a.hosts),
                "metadata": dict(a.metadata),
                "created_at": created,
                "updated_at": None,
                "deleted": False,
                "deleted_at": None,
            }
            for a in rt.cloud.aggregates
        ]
        return Reply.json(200, {"aggregates": items})
    if head == "os-availability-zone" and method == "GET":
        zones = sorted({h.az for h in rt.cloud.hypervisors})
        return Reply.json(
            200,
            {"availabilityZoneInfo": [{"zoneName": z, "zoneState": {"available": True}, "hosts": None} for z in zones]},
        )
    if head == "" and method == "GET":
        return Reply.json(
            200, {"version": {"id": "v2.1", "status": "CURRENT", "version": "2.79", "min_version": "2.1"}}
        )
    raise ApiError(404, "The resource could not be found.")


def _get_server(rt: CloudRuntime, server_id: str) -> Server:
    server = rt.servers.get(server_id)
    if server is None:
        raise ApiError(404, f"Instance {server_id} could not be found.")
    return server


def _servers(rt: CloudRuntime, parts: list[str], req: Request) -> Reply:
    method = req.method
    if parts in ([], ["detail"]) and method == "GET":
        order = rt.server_order()
        status, name = req.arg("status").upper(), req.arg("name")
        since = req.arg("changes-since")
        tombs: dict[str, Server] = {}
        if since:
            since_stamp = cutoff(since)
            order = [i for i in order if (rt.servers[i].updated or rt.servers[i].created) >= since_stamp]
            tombs = {t.id: t for t in list(rt.tombstones.values()) if t.updated >= since_stamp}
            order = order + list(tombs)
        if status or name:
            order = [
                i
                for i in order
                if i in rt.servers
                and (not status or rt.servers[i].status == status)
                and (not name or name in rt.servers[i].name)
            ]
        page, marker = paginate(req, order, NOVA_MAX_LIMIT)
        servers = [s for s in (rt.servers.get(i) or tombs.get(i) for i in page) if s is not None]
        if parts:
            vols = rt.volumes_of()
            items = [server_bytes(rt, s) if s.id in rt.servers else dumps(server_json(rt, s, vols)) for s in servers]
        else:
            items = [dumps({"id": s.id, "name": s.name}) for s in servers]
        path = "compute/v2.1/servers" + ("/detail" if parts else "")
        return Reply.listing("servers", items, links(rt.lab, rt.name, path, req, marker, "servers"))
    if parts == [] and method == "POST":
        return _create_server(rt, req)
    server = _get_server(rt, parts[0])
    sub = parts[1:]
    if not sub:
        if method == "GET":
            _materialize_data(rt, server)
            return Reply.json(200, {"server": server_json(rt, server, rt.volumes_of())})
        if method == "DELETE":
            _delete_server(rt, server)
            return Reply(204)
        if method == "PUT":
            body = req.json() or {}
            new_name = (body.get("server") or {}).get("name")
            if new_name:
                with rt.lock:
                    server.name = str(new_name)
                    server.updated = stamp_now()
                    rt.persist("servers", server.id, server)
            return Reply.json(200, {"server": server_json(rt, server, rt.volumes_of())})
    if sub == ["action"] and method == "POST":
        return _server_action(rt, server, req)
    if sub[:1] == ["metadata"]:
        return _metadata(rt, server, sub[1:], req)
    raise ApiError(404, "The resource could not be found.")


def _materialize_data(rt: CloudRuntime, server: Server) -> None:
    """A server's application data (what a replatform copies) exists from the first time anyone
    asks for that server, as its disk does from the first snapshot: a 100,000-node lab would
    otherwise write 300,000 files before it answers anything."""
    try:
        disks.ensure_appdata(
            rt.lab.lab_dir, rt.name, server.id, system=server.metadata.get("system", ""), role=server.role
        )
    except OSError as exc:
        raise ApiError(503, f"application data of {server.id}: {exc.strerror}") from None


def _metadata(rt: CloudRuntime, server: Server, sub: list[str], req: Request) -> Reply:
    method = req.method
    if method == "GET":
        if sub:
            if sub[0] not in server.metadata:
                raise ApiError(404, f"Metadata item was not found: {sub[0]}")
            return Reply.json(200, {"meta": {sub[0]: server.metadata[sub[0]]}})
        return Reply.json(200, {"metadata": server.metadata})
    body = req.json()
    with rt.lock:
        if method == "DELETE" and sub:
            if server.metadata.pop(sub[0], None) is None:
                raise ApiError(404, f"Metadata item was not found: {sub[0]}")
            result: Reply = Reply(204)
        elif method == "PUT" and sub:
            item = (body or {}).get("meta")
            if not isinstance(item, dict) or list(item) != [sub[0]]:
                raise ApiError(400, "Request body and URI mismatch")
            server.metadata = {**server.metadata, **str_map(item)}
            result = Reply.json(200, {"meta": str_map(item)})
        elif method in ("PUT", "POST") and not sub:
            meta = (body or {}).get("metadata")
            if not isinstance(meta, dict):
                raise ApiError(400, "Malformed request body: metadata must be an object")
            server.metadata = str_map(meta) if method == "PUT" else {**server.metadata, **str_map(meta)}
            result = Reply.json(200, {"metadata": server.metadata})
        else:
            raise ApiError(405, "Method not allowed")
        server.updated = stamp_now()
        rt.persist("servers", server.id, server)
    return result


_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "os-start": (("SHUTOFF",), "ACTIVE"),
    "os-stop": (("ACTIVE", "PAUSED", "SUSPENDED", "ERROR"), "SHUTOFF"),
    "reboot": (("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "ERROR"), "ACTIVE"),
    "pause": (("ACTIVE",), "PAUSED"),
    "unpause": (("PAUSED",), "ACTIVE"),
    "suspend": (("ACTIVE",), "SUSPENDED"),
    "resume": (("SUSPENDED",), "ACTIVE"),
}


def _server_action(rt: CloudRuntime, server: Server, req: Request) -> Reply:
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise ApiError(400, "Malformed request body: exactly one action expected")
    action, args = next(iter(body.items()))
    settle(rt, server)
    if action == "createImage":
        return _create_image(rt, server, args if isinstance(args, dict) else {})
    if action not in _TRANSITIONS:
        raise ApiError(400, f"Unsupported server action '{action}'")
    allowed, target = _TRANSITIONS[action]
    with rt.lock:
        if server.status not in allowed:
            raise ApiError(
                409, f"Cannot '{action}' instance {server.id} while it is in vm_state {server.status.lower()}"
            )
        server.status = target
        server.updated = stamp_now()
        rt.persist("servers", server.id, server)
    return Reply(202)


def _delete_server(rt: CloudRuntime, server: Server) -> None:
    with rt.lock:
        rt.servers.pop(server.id, None)
        tomb = dataclasses.replace(server, status="DELETED", updated=stamp_now(), metadata=dict(server.metadata))
        rt.tombstones[server.id] = tomb
        rt.persist("tombstones", server.id, tomb)
        rt.build_until.pop(server.id, None)
        for volume in rt.volumes.values():
            if volume.server_id == server.id:
                volume.server_id = None
                volume.device = ""
                volume.updated = stamp_now()
                rt.persist("volumes", volume.id, volume)
        rt.persist("servers", server.id, None)
        rt.changed()


def _choose_host(rt: CloudRuntime, vcpus: int, ram_mb: int, candidates: Iterable[Hypervisor]) -> str | None:
    """Most free RAM among the candidate hosts where the flavor fits (RAM 1.0, CPU per-pool
    overcommit), as Nova's RAM weigher would choose."""
    ratio = 4.0 if rt.cloud.pool == "legacy" else 2.0
    best, best_free = None, -1
    usage = rt.usage()
    for h in candidates:
        used_cpu, used_ram, _disk, _n = usage.get(h.hostname, (0, 0, 0, 0))
        free_ram = h.memory_mb - 8192 - used_ram
        if free_ram >= ram_mb and used_cpu + vcpus <= h.vcpus * ratio and free_ram > best_free:
            best, best_free = h.hostname, free_ram
    return best


def _hint_ids(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    return {str(v) for v in value} if isinstance(value, list) else set()


def _candidates(rt: CloudRuntime, spec: Mapping[str, Any], hints: Any) -> list[Hypervisor]:
    """The hosts Nova may place this server on: `availability_zone` ("zone" or the forced
    "zone:host"), the 2.74 `host` field, and the different_host / same_host scheduler hints."""
    zone, _, forced = str(spec.get("availability_zone") or "").partition(":")
    forced = forced.split(":", 1)[0] or str(spec.get("host") or "")
    if forced and rt.faults.no_forced_host:
        raise ApiError(403, "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.")
    hosts = list(rt.cloud.hypervisors)
    if zone:
        if zone not in {h.az for h in hosts}:
            raise ApiError(400, f"The requested availability zone is not available: {zone}")
        hosts = [h for h in hosts if h.az == zone]
    if forced:
        if forced not in rt.hv_by_name:
            raise ApiError(400, f"Compute host {forced} could not be found.")
        hosts = [h for h in hosts if h.hostname == forced]
    hints = hints if isinstance(hints, dict) else {}
    avoid = {rt.servers[i].host for i in _hint_ids(hints.get("different_host")) if i in rt.servers}
    near = {rt.servers[i].host for i in _hint_ids(hints.get("same_host")) if i in rt.servers}
    hosts = [h for h in hosts if h.hostname not in avoid]
    if hints.get("same_host"):
        hosts = [h for h in hosts if h.hostname in near]
    return hosts


def _in_network(address: str, cidr: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(address) in cidr
    except ValueError:
        return False


def _create_server(rt: CloudRuntime, req: Request) -> Reply:
    body = req.json()
    spec = body.get("server") if isinstance(body, dict) else None
    if not isinstance(spec, dict) or not spec.get("name"):
        raise ApiError(400, "Invalid input for field/attribute server: 'name' is a required property")
    flavor = rt.flavors.get(str(spec.get("flavorRef", "")).rsplit("/", 1)[-1])
    if flavor is None:
        raise ApiError(400, f"Flavor {spec.get('flavorRef')} could not be found.")
    image_id = str(spec.get("imageRef", "")).rsplit("/", 1)[-1]
    image = rt.images.get(image_id)
    if image is not None:
        settle_image(rt, image)
    if image is None or image.status != "active":
        raise ApiError(400, f"Image {image_id} could not be found or is not active.")
    if image.architecture != rt.cloud.arch:
        raise ApiError(400, f"Image {image_id} is {image.architecture}; this cloud's hosts are {rt.cloud.arch}")
    metadata = str_map(spec.get("metadata") or {})
    networks = spec.get("networks") or []
    net_index, fixed_ip = 0, ""
    if isinstance(networks, list) and networks and isinstance(networks[0], dict):
        wanted = networks[0].get("uuid")
        ids = [n.id for n in rt.internal]
        if wanted and wanted not in ids:
            raise ApiError(400, f"Network {wanted} could not be found.")
        net_index = ids.index(wanted) if wanted else 0
        fixed_ip = str(networks[0].get("fixed_ip") or "")
        cidr = ipaddress.ip_network(rt.internal[net_index].cidr)
        if fixed_ip and not _in_network(fixed_ip, cidr):
            raise ApiError(400, f"IP address {fixed_ip} is not a valid IP for the specified subnet.")
    groups = tuple(str(g.get("name")) for g in spec.get("security_groups") or [] if isinstance(g, dict)) or ("default",)
    unknown = [g for g in groups if g not in rt.sg_by_name]
    if unknown:
        raise ApiError(400, f"Security group {unknown[0]} not found.")
    server_id = new_uuid(secrets.token_hex(16), "a")
    now = stamp_now()
    hints = body.get("os:scheduler_hints", body.get("OS-SCH-HNT:scheduler_hints"))
    with rt.lock:
        candidates = _candidates(rt, spec, hints)
        used = {s.ip for s in rt.servers.values() if s.network_index == net_index}
        if fixed_ip and fixed_ip in used:
            raise ApiError(409, f"Fixed IP address {fixed_ip} is already in use on instance.")
        if not fixed_ip:
            net = ipaddress.ip_network(rt.internal[net_index].cidr)
            fixed_ip = next(str(a) for a in list(net.hosts())[9:] if str(a) not in used)
        host = _choose_host(rt, flavor.vcpus, flavor.ram_mb, candidates)
        fault = None
        if host is None:
            fault = {"code": "500", "message": "No valid host was found. There are not enough hosts available."}
        elif rt.faults.boot_error or rt.boot_failures.should_fail(rt.faults.boot_failures):
            fault = {"code": "500", "message": "Build of instance aborted: Failed to allocate the network(s)."}
        h = rt.hv_by_name.get(host or "")
        server = Server(
            id=server_id,
            name=str(spec["name"]),
            flavor_id=flavor.id,
            image_id=image.id,
            host=host or "",
            az=h.az if h else str(spec.get("availability_zone") or ""),
            status="BUILD",
            created=now,
            metadata=metadata,
            network_index=net_index,
            ip=fixed_ip,
            port_id=secrets.token_hex(16),
            security_groups=groups,
            role=metadata.get("role", ""),
            updated=now,
            fault=fault,
        )
        rt.servers[server.id] = server
        build_s = rt.faults.boot_seconds or BUILD_SECONDS
        rt.build_until[server.id] = (time.monotonic() + build_s, "ERROR" if fault else "ACTIVE")
        rt.persist("servers", server.id, server)
        rt.changed()
    admin_pass = secrets.token_urlsafe(12)
    href = f"{rt.lab.url(rt.name, 'compute/v2.1')}/servers/{server.id}"
    return Reply.json(
        202,
        {
            "server": {
                "id": server.id,
                "adminPass": admin_pass,
                "OS-DCF:diskConfig": "MANUAL",
                "security_groups": [{"name": g} for g in groups],
                "links": [{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}],
            }
        },
        {"Location": href},
    )


def _create_image(rt: CloudRuntime, server: Server, args: Mapping[str, Any]) -> Reply:
    name = str(args.get("name") or "")
    if not name:
        raise ApiError(400, "createImage needs a name")
    source = rt.images.get(server.image_id)
    base = None
    if source is not None and rt.image_file(source).exists():
        base = (rt.image_file(source), source.disk_format)
    try:
        disk = disks.ensure_server_disk(rt.lab.lab_dir, rt.name, server.id, base)
    except disks.DiskError as exc:
        raise ApiError(500, f"snapshot failed: {exc}") from None
    image_id = new_uuid(secrets.token_hex(16), "b")
    props = {"image_type": "snapshot", "instance_uuid": server.id, "base_image_ref": server.image_id}
    props.update(str_map(args.get("metadata") or {}))
    now = stamp_now()
    image = Image(
        id=image_id,
        name=name,
        architecture=source.architecture if source else rt.cloud.arch,
        os_distro=source.os_distro if source else "",
        os_version=source.os_version if source else "",
        os_family=source.os_family if source else "",
        disk_format="qcow2",
        created=now,
        min_disk=source.min_disk if source else 0,
        visibility="private",
        properties=props,
    )
    dest = rt.image_file(image)
    disks.convert(disk, "qcow2", dest, "qcow2")
    with rt.lock:
        begin_saving(rt, image)
        rt.images[image.id] = image
        rt.persist("images", image.id, image)
    location = f"{rt.lab.url(rt.name, 'image')}/v2/images/{image.id}"
    return Reply.json(202, {"image_id": image.id}, {"Location": location})
