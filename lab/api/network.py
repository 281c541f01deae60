"""Neutron v2.0: networks, subnets, ports, security groups and their rules (read-only), and
floating IPs (create, associate, disassociate, release) as Neutron's API has them.

Floating addresses are unique across the lab (LabBase.addresses): every cloud reaches the
extranet segment, so an address one cloud released is one another cloud may claim.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from lab.api.cloud import CloudRuntime, mac
from lab.api.http import NOVA_MAX_LIMIT, ApiError, Reply, Request, filtered, links, new_uuid, paginate, stamp_now, ts
from lab.seed import FloatingIp, Network


def handle(rt: CloudRuntime, parts: list[str], req: Request) -> Reply:
    if parts[:1] == ["floatingips"]:
        return _floating_ips(rt, parts[1:], req)
    if req.method != "GET":
        raise ApiError(405, "The lab's Neutron is read-only (but for floating IPs)")
    cloud = rt.cloud
    owner = {"tenant_id": cloud.project_id, "project_id": cloud.project_id}
    created = ts(rt.lab.estate.now - timedelta(days=500))
    head = parts[0] if parts else ""
    builders: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "networks": lambda: [
            {"id": n.id, "name": n.name, "status": "ACTIVE", "admin_state_up": True, "shared": n.shared,
             "router:external": n.external, "subnets": [n.subnet_id], "mtu": 1500,
             "provider:network_type": "flat" if n.external else "vlan", "availability_zones": ["nova"],
             "port_security_enabled": True, "is_default": n.external, "description": "", "tags": [],
             "created_at": created, "updated_at": created, **owner}
            for n in rt.networks
        ],
        "subnets": lambda: [
            {"id": n.subnet_id, "name": f"{n.name}-subnet", "network_id": n.id, "cidr": n.cidr, "ip_version": 4,
             "gateway_ip": n.gateway, "enable_dhcp": not n.external, "dns_nameservers": [], "host_routes": [],
             "allocation_pools": [{"start": _offset(n.cidr, 2), "end": _offset(n.cidr, -2)}],
             "created_at": created, "updated_at": created, **owner}
            for n in rt.networks
        ],
        "ports": lambda: _ports(rt, owner),
        "security-groups": lambda: [
            {"id": g.id, "name": g.name, "description": g.description, "stateful": True, "tags": [],
             "created_at": created, "updated_at": created, **owner,
             "security_group_rules": [_rule_json(r, g.id, owner) for r in g.rules]}
            for g in cloud.security_groups
        ],
        "security-group-rules": lambda: [_rule_json(r, g.id, owner) for g in cloud.security_groups for r in g.rules],
    }  # fmt: skip
    build = builders.get(head)
    if build is None:
        raise ApiError(404, "The resource could not be found.")
    key = head.replace("-", "_")
    items = build()
    if len(parts) == 2:
        found = [i for i in items if i["id"] == parts[1]]
        if not found:
            raise ApiError(404, f"{key[:-1]} {parts[1]} could not be found.")
        return Reply.json(200, {key[:-1]: found[0]})
    items = filtered(items, req)
    # Neutron's `?fields=a&fields=b`: only those attributes of each item.
    fields = req.query.get("fields")
    project = (lambda i: {k: i[k] for k in fields if k in i}) if fields else (lambda i: i)
    if "limit" in req.query:
        page, marker = paginate(req, [i["id"] for i in items], NOVA_MAX_LIMIT)
        wanted = set(page)
        items = [project(i) for i in items if i["id"] in wanted]
        return Reply.json(200, {key: items, **links(rt.lab, rt.name, f"network/v2.0/{head}", req, marker, key)})
    return Reply.json(200, {key: [project(i) for i in items]})


def _offset(cidr: str, k: int) -> str:
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + k if k >= 0 else net.broadcast_address + k + 1)


def _rule_json(r: Any, group_id: str, owner: Mapping[str, str]) -> dict[str, Any]:
    return {
        "id": r.id,
        "direction": r.direction,
        "protocol": r.protocol,
        "port_range_min": r.port_min,
        "port_range_max": r.port_max,
        "remote_ip_prefix": r.remote_ip_prefix,
        "remote_group_id": None,
        "ethertype": r.ethertype,
        "security_group_id": group_id,
        **owner,
    }


def _ports(rt: CloudRuntime, owner: Mapping[str, str]) -> list[dict[str, Any]]:
    cached = rt.ports_cache
    if cached is None:
        cached = rt.ports_cache = _build_ports(rt, owner)
    return cached


def _build_ports(rt: CloudRuntime, owner: Mapping[str, str]) -> list[dict[str, Any]]:
    groups = {g.name: g.id for g in rt.cloud.security_groups}
    out = []
    for s in list(rt.servers.values()):
        net = rt.internal[min(s.network_index, len(rt.internal) - 1)]
        out.append(
            {
                "id": s.port_id,
                "name": "",
                "network_id": net.id,
                "device_id": s.id,
                "device_owner": f"compute:{s.az}",
                "mac_address": mac(s.port_id),
                "fixed_ips": [{"subnet_id": net.subnet_id, "ip_address": s.ip}],
                "status": "ACTIVE" if s.status == "ACTIVE" else "DOWN",
                "admin_state_up": True,
                "security_groups": [groups[g] for g in s.security_groups if g in groups],
                "binding:host_id": s.host,
                "binding:vnic_type": "normal",
                **owner,
            }
        )
    return out


# --------------------------------------------------------------------------- floating IPs


def _fip_json(rt: CloudRuntime, f: FloatingIp) -> dict[str, Any]:
    return {
        "id": f.id,
        "floating_ip_address": f.address,
        "floating_network_id": f.network_id,
        "router_id": None,
        "port_id": f.port_id,
        "fixed_ip_address": f.fixed_ip or None,
        "status": "ACTIVE" if f.port_id else "DOWN",
        "tenant_id": rt.cloud.project_id,
        "project_id": rt.cloud.project_id,
        "description": "",
        "tags": [],
        "created_at": f.created,
        "updated_at": f.created,
        "revision_number": 1,
    }


def _floating_ips(rt: CloudRuntime, parts: list[str], req: Request) -> Reply:
    method = req.method
    if not parts:
        if method == "GET":
            items = filtered([_fip_json(rt, f) for f in list(rt.floating_ips.values())], req)
            return Reply.json(200, {"floatingips": items})
        if method == "POST":
            return _create_fip(rt, req)
        raise ApiError(405, "Method not allowed")
    fip = rt.floating_ips.get(parts[0])
    if fip is None or len(parts) > 1:
        raise ApiError(404, f"Floating IP {parts[0]} could not be found")
    if method == "GET":
        return Reply.json(200, {"floatingip": _fip_json(rt, fip)})
    if method == "PUT":
        body = _body(req)
        with rt.lock:
            _associate(rt, fip, body.get("port_id"), body.get("fixed_ip_address"))
            rt.persist("floatingips", fip.id, fip)
        return Reply.json(200, {"floatingip": _fip_json(rt, fip)})
    if method == "DELETE":
        with rt.lock:
            _associate(rt, fip, None, None)
            rt.floating_ips.pop(fip.id, None)
            rt.persist("floatingips", fip.id, None)
        with rt.lab.address_lock:
            rt.lab.addresses.pop(fip.address, None)
        return Reply(204)
    raise ApiError(405, "Method not allowed")


def _body(req: Request) -> dict[str, Any]:
    body = req.json()
    spec = body.get("floatingip") if isinstance(body, dict) else None
    if not isinstance(spec, dict):
        raise ApiError(400, "Malformed request body: a 'floatingip' object is required")
    return spec


def _external(rt: CloudRuntime, network_id: Any) -> Network:
    network = next((n for n in rt.networks if n.id == network_id), None)
    if network is None:
        raise ApiError(404, f"Network {network_id} could not be found.")
    if not network.external:
        raise ApiError(400, f"Bad floatingip request: Network {network_id} is not a valid external network.")
    return network


def _create_fip(rt: CloudRuntime, req: Request) -> Reply:
    spec = _body(req)
    network = _external(rt, spec.get("floating_network_id"))
    cidr = ipaddress.ip_network(network.cidr)
    wanted = str(spec.get("floating_ip_address") or "")
    reserved = {str(cidr.network_address), str(cidr.broadcast_address), network.gateway}
    with rt.lab.address_lock:
        if wanted:
            try:
                inside = ipaddress.ip_address(wanted) in cidr
            except ValueError:
                inside = False
            if not inside or wanted in reserved:
                raise ApiError(400, f"Invalid input: {wanted} is not a valid IP for network {network.id}.")
            if wanted in rt.lab.addresses:
                raise ApiError(409, f"IP address {wanted} already allocated in subnet {network.subnet_id}")
            address = wanted
        else:
            free = (str(a) for a in cidr.hosts() if int(a) >= int(cidr.network_address) + 10)
            address = next((a for a in free if a not in rt.lab.addresses and a not in reserved), "")
            if not address:
                raise ApiError(409, f"No more IP addresses available on network {network.id}.")
        rt.lab.addresses[address] = rt.name
    fip = FloatingIp(new_uuid(secrets.token_hex(16), "c"), address, network.id, created=stamp_now())
    try:
        with rt.lock:
            _associate(rt, fip, spec.get("port_id"), spec.get("fixed_ip_address"))
            rt.floating_ips[fip.id] = fip
            rt.persist("floatingips", fip.id, fip)
    except ApiError:
        with rt.lab.address_lock:
            rt.lab.addresses.pop(address, None)
        raise
    return Reply.json(201, {"floatingip": _fip_json(rt, fip)})


def _associate(rt: CloudRuntime, fip: FloatingIp, port_id: Any, fixed_ip: Any) -> None:
    """Point the floating IP at a port (a server's), or at nothing; the servers it moves
    between show it, or stop showing it, in their addresses. The caller holds rt.lock."""
    server = None
    if port_id:
        server = next((s for s in rt.servers.values() if s.port_id == port_id), None)
        if server is None:
            raise ApiError(404, f"Port {port_id} could not be found.")
        if fixed_ip and fixed_ip != server.ip:
            raise ApiError(400, f"Port {port_id} does not have fixed ip {fixed_ip}")
    for s in rt.servers.values():
        if s.port_id in (fip.port_id, port_id):
            rt.server_cache.pop(s.id, None)
    fip.port_id = str(port_id) if server is not None else None
    fip.fixed_ip = server.ip if server is not None else ""
