"""Load everything the checks need from the inventory in one pass per table.

Audit cost must grow linearly with the estate: each table is read once, indexed in memory
by the keys the checks join on (provider + node id, IP address), and checks only iterate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.config import GanyunConfig
from inventory.models import NodeRow, ResourceRow
from inventory.store import Store
from security.compliance import tls_facts
from security.compliance.types import (
    NO_OWNER,
    CertFact,
    EndpointFact,
    GroupFact,
    Owner,
    RuleFact,
    VolumeFact,
)


@dataclass
class AuditContext:
    config: GanyunConfig
    level: int
    now: datetime
    store: Store | None = None
    node_owner: dict[tuple[str, str], Owner] = field(default_factory=dict)
    ip_owner: dict[str, Owner] = field(default_factory=dict)
    volumes: list[VolumeFact] = field(default_factory=list)
    groups: list[GroupFact] = field(default_factory=list)
    certs: dict[str, CertFact] = field(default_factory=dict)
    endpoints: list[EndpointFact] = field(default_factory=list)
    # which certificates each endpoint serves: cert key -> endpoint keys
    served: dict[str, list[str]] = field(default_factory=dict)
    endpoint_by_key: dict[str, EndpointFact] = field(default_factory=dict)
    # highest MLPS level among each system's nodes: the level of endpoints declared by system
    system_level: dict[str, int] = field(default_factory=dict)
    tls_available: bool = False
    # The config's `compliance:` section: declarations about key custody and the like.
    declarations: dict[str, Any] = field(default_factory=dict)

    def in_scope(self, owner: Owner, min_level: int) -> bool:
        """A resource is held to a requirement when its system's level needs it; an untagged
        resource is held to the level being audited."""
        level = owner.mlps_level if owner.mlps_level is not None else self.level
        return level >= min_level

    def cert_owner(self, cert_key: str) -> Owner:
        """The first system serving the certificate (the one its findings are scored to)."""
        for endpoint_key in self.served.get(cert_key, ()):
            endpoint = self.endpoint_by_key.get(endpoint_key)
            if endpoint is not None and endpoint.owner != NO_OWNER:
                return endpoint.owner
        return NO_OWNER


def load_context(config: GanyunConfig, store: Store, level: int, now: datetime | None = None) -> AuditContext:
    ctx = AuditContext(config=config, level=level, now=now or datetime.now(UTC), store=store)
    centers = {p.name: p.center for p in config.providers}
    ctx.declarations = dict(config.compliance)
    with store.session() as session:
        _load_nodes(session, ctx, centers)
        _load_resources(session, ctx, centers)
        tls = tls_facts.load(session, config, ctx.declarations, ctx.now, ctx.ip_owner, ctx.system_level)
    ctx.tls_available, ctx.certs, ctx.endpoints = tls.available, tls.certs, tls.endpoints
    ctx.served = _served_index(ctx.endpoints)
    ctx.endpoint_by_key = {ep.key: ep for ep in ctx.endpoints}
    return ctx


def _load_nodes(session: Session, ctx: AuditContext, centers: dict[str, str]) -> None:
    stmt = select(NodeRow.provider, NodeRow.id, NodeRow.department, NodeRow.system, NodeRow.mlps_level, NodeRow.ips)
    for provider, node_id, department, system, level, ips in session.execute(stmt):
        owner = Owner(provider, centers.get(provider, ""), department or "", system or "", level)
        ctx.node_owner[(provider, node_id)] = owner
        if system and level is not None and level > ctx.system_level.get(system, 0):
            ctx.system_level[system] = level
        for ip in ips or ():
            ctx.ip_owner.setdefault(str(ip), owner)


def _owner_of(ctx: AuditContext, provider: str, attached: Any, tags: Any, centers: dict[str, str]) -> Owner:
    for node_id in attached or ():
        owner = ctx.node_owner.get((provider, str(node_id)))
        if owner is not None:
            return owner
    system = str((tags or {}).get("system", "")) if isinstance(tags, dict) else ""
    return Owner(provider=provider, center=centers.get(provider, ""), system=system)


def _load_resources(session: Session, ctx: AuditContext, centers: dict[str, str]) -> None:
    stmt = select(ResourceRow.kind, ResourceRow.provider, ResourceRow.id, ResourceRow.name, ResourceRow.data).where(
        ResourceRow.kind.in_(("volume", "security_group"))
    )
    for kind, provider, rid, name, data in session.execute(stmt):
        data = data or {}
        key = f"{provider}/{kind}/{rid}"
        if kind == "volume":
            ctx.volumes.append(
                VolumeFact(
                    key=key,
                    name=name,
                    owner=_owner_of(ctx, provider, data.get("attached_to"), data.get("tags"), centers),
                    encrypted=data.get("encrypted"),
                    cipher=str(data.get("encryption_cipher") or ""),
                    volume_type=str(data.get("volume_type") or ""),
                )
            )
        else:
            owners = tuple(
                dict.fromkeys(
                    ctx.node_owner[(provider, str(n))]
                    for n in data.get("attached_to") or ()
                    if (provider, str(n)) in ctx.node_owner
                )
            )
            rules = tuple(
                RuleFact(
                    protocol=str(r.get("protocol") or "any"),
                    port_min=r.get("port_min"),
                    port_max=r.get("port_max"),
                    remote_cidr=str(r.get("remote_cidr") or ""),
                )
                for r in data.get("rules") or ()
                if str(r.get("direction", "ingress")) == "ingress"
            )
            ctx.groups.append(
                GroupFact(
                    key=key, name=name, owners=owners or (Owner(provider, centers.get(provider, "")),), rules=rules
                )
            )


def _served_index(endpoints: list[EndpointFact]) -> dict[str, list[str]]:
    served: dict[str, list[str]] = {}
    for ep in endpoints:
        for cert in (*ep.cert_keys, ep.tlcp_sign_cert, ep.tlcp_enc_cert):
            if cert:
                served.setdefault(cert, [])
                if ep.key not in served[cert]:
                    served[cert].append(ep.key)
    return served
