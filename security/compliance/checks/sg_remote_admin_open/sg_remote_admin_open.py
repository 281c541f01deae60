"""SSH, RDP and database ports open to wide address ranges in security groups."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, RuleFact, Status

ADMIN_PORTS = {22: "SSH", 3389: "RDP", 3306: "MySQL", 5432: "PostgreSQL", 1433: "SQL Server", 1521: "Oracle",
               5236: "DM", 6379: "Redis", 27017: "MongoDB"}  # fmt: skip
# Wider than a /16 from outside the private ranges counts as "the internet".
MAX_PUBLIC_PREFIX = 16


def is_wide(cidr: str) -> bool:
    if not cidr:
        return True  # a rule without a remote range allows everyone
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False  # a remote security group, not an address range
    return net.prefixlen == 0 or (not net.is_private and net.prefixlen < MAX_PUBLIC_PREFIX)


def exposed_ports(rule: RuleFact) -> list[int]:
    if rule.protocol.lower() not in ("tcp", "any", "", "none", "-1"):
        return []
    low = 1 if rule.port_min is None else rule.port_min
    high = 65535 if rule.port_max is None else rule.port_max
    return [p for p in ADMIN_PORTS if low <= p <= high]


def execute(ctx: AuditContext) -> Iterator[Result]:
    for group in ctx.groups:
        owner = group.owners[0]
        open_rules = [
            {"port": port, "service": ADMIN_PORTS[port], "remote": rule.remote_cidr or "*"}
            for rule in group.rules
            if is_wide(rule.remote_cidr)
            for port in exposed_ports(rule)
        ]
        status = Status.FAIL if open_rules else Status.PASS
        yield Result(
            group.key, "security_group", group.name, status, owner, {"open": open_rules, "systems": len(group.owners)}
        )
