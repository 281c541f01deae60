"""A small fixed estate for compliance tests: two systems, volumes, security groups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from inventory.config import GanyunConfig, parse_config
from inventory.diff import apply_listing
from inventory.store import Store, open_store
from providers.base import Kind, Node, Record, SecurityGroup, SecurityRule, State, Volume
from security.compliance.facts import AuditContext
from security.compliance.types import CertFact, EndpointFact, Owner

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PROVIDER = "hw-gov"
SOCIAL = Owner(PROVIDER, "gz-prod", "市人社局", "社保系统", 3)
PORTAL = Owner(PROVIDER, "gz-prod", "市政务服务数据管理局", "政务门户", 2)


def make_config(tmp: Path, **extra: Any) -> GanyunConfig:
    data: dict[str, Any] = {
        "database": f"sqlite:///{tmp / 'ganyun.db'}",
        "centers": [{"id": "gz-prod", "name": "赣州政务云生产中心", "role": "production", "site": "ganzhou"}],
        "providers": [
            {"name": PROVIDER, "driver": "openstack", "center": "gz-prod", "credentials": "vault:hw-gov"},
            {"name": "ali-gov", "driver": "ecs", "center": "gz-prod", "credentials": "env:ALI_GOV"},
        ],
        **extra,
    }
    return parse_config(data, base_dir=str(tmp))


def node(i: int, owner: Owner) -> Node:
    tags = {"department": owner.department, "system": owner.system, "mlps_level": str(owner.mlps_level)}
    return Node(provider=PROVIDER, id=f"n{i}", name=f"vm-{i}", state=State.RUNNING, ips=(f"10.1.0.{i}",), tags=tags)


def volume(vid: str, node_id: str, encrypted: bool | None, cipher: str = "", vtype: str = "ssd") -> Volume:
    return Volume(
        provider=PROVIDER, id=vid, name=vid, size_gb=100, volume_type=vtype, attached_to=(node_id,),
        encrypted=encrypted, encryption_cipher=cipher,
    )  # fmt: skip


def group(gid: str, node_id: str, *rules: tuple[int, str]) -> SecurityGroup:
    return SecurityGroup(
        provider=PROVIDER,
        id=gid,
        name=gid,
        rules=tuple(SecurityRule("ingress", "tcp", port, port, cidr) for port, cidr in rules),
        attached_to=(node_id,),
    )


def load(store: Store, kind: Kind, records: Sequence[Record]) -> None:
    with store.session() as session:
        apply_listing(session, PROVIDER, kind, records, now=NOW, run_id=None, record_added=False)


def small_estate(tmp: Path, **config_extra: Any) -> tuple[GanyunConfig, Store]:
    """n1 (社保系统, level 3) with an unencrypted and an AES volume and SSH open to the world;
    n2 (政务门户, level 2) with an unencrypted volume (not required at level 2)."""
    config = make_config(tmp, **config_extra)
    store = open_store(config.database_url)
    load(store, Kind.NODE, [node(1, SOCIAL), node(2, PORTAL)])
    load(
        store,
        Kind.VOLUME,
        [
            volume("v-plain", "n1", False),
            volume("v-aes", "n1", True, "aes-xts-plain64", "ssd-luks"),
            volume("v-sm4", "n1", True, "sm4-xts", "ssd-sm4"),
            volume("v-portal", "n2", False),
        ],
    )
    load(
        store, Kind.SECURITY_GROUP, [group("ssh-open", "n1", (22, "0.0.0.0/0")), group("ops", "n1", (22, "10.0.0.0/8"))]
    )
    return config, store


def cert(key: str, **kw: Any) -> CertFact:
    base = CertFact(
        key=key, subject=f"CN={key}", issuer="CN=赣州政务CA", key_type="SM2", key_bits=256, signature_hash="sm3",
        not_after=NOW + timedelta(days=365), self_signed=False, chain_ok=True,
    )  # fmt: skip
    return replace(base, **kw)


def endpoint(key: str, owner: Owner, protocols: tuple[str, ...], *certs: str, **kw: Any) -> EndpointFact:
    host, _, port = key.rpartition(":")
    return EndpointFact(
        key=key, host=host, port=int(port), owner=owner, reachable=True, protocols=protocols, cert_keys=certs, **kw
    )


def tls_context(config: GanyunConfig, certs: Sequence[CertFact], endpoints: Sequence[EndpointFact]) -> AuditContext:
    ctx = AuditContext(config=config, level=3, now=NOW)
    ctx.certs = {c.key: c for c in certs}
    ctx.endpoints = list(endpoints)
    ctx.endpoint_by_key = {e.key: e for e in endpoints}
    for ep in endpoints:
        for c in (*ep.cert_keys, ep.tlcp_sign_cert, ep.tlcp_enc_cert):
            if c:
                ctx.served.setdefault(c, []).append(ep.key)
    return ctx
