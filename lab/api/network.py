"""Neutron v2.0: networks, subnets, ports, security groups and their rules."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from lab.api.cloud import CloudRuntime, mac
from lab.api.http import NOVA_MAX_LIMIT, ApiError, Reply, Request, filtered, links, paginate, ts


def handle(rt: CloudRuntime, parts: list[str], req: Request) -> Reply:
    if req.method != "GET":
        raise ApiError(405, "The lab's Neutron is read-only")
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
