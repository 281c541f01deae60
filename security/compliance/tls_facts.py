"""Certificates and TLS/TLCP endpoints as audit facts, read from the certificate tables
(security/cert_models.py: certificates, endpoints, certificate_sightings), each once.

This module sits below facts.py: it is handed the node owners it needs and returns its facts,
which facts.py puts into the audit context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from inventory.config import GanyunConfig
from providers.errors import CryptoError
from security import certs
from security.cert_models import Certificate, CertificateSighting, Endpoint
from security.compliance.types import CertFact, EndpointFact, Owner

# Suites a scan may report as negotiated that no longer protect anything.
WEAK_SUITE_MARKERS = ("RC4", "3DES", "DES-CBC", "_DES_", "NULL", "EXPORT", "EXP-", "ANON", "ADH", "MD5")


def signature_hash(algorithm: str) -> str:
    """The hash of a signature algorithm's name: sm3, sha256, sha1, md5, ..."""
    name = algorithm.lower().replace("-", "").replace("_", "")
    if "md5" in name:
        return "md5"
    if "sm3" in name:
        return "sm3"
    for digest in ("sha512", "sha384", "sha256", "sha224"):
        if digest in name:
            return digest
    if "sha1" in name or name.endswith("sha"):
        return "sha1"
    return name


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _chain_ok(info: dict[str, Any]) -> bool | None:
    for key in ("chain_ok", "chain_valid", "verified"):
        if isinstance(info.get(key), bool):
            return bool(info[key])
    verify = info.get("verify")
    if isinstance(verify, dict) and isinstance(verify.get("valid"), bool):
        return bool(verify["valid"])
    return None


def _weak_suites(result: dict[str, Any]) -> tuple[str, ...]:
    listed = [str(s) for s in result.get("weak_suites", []) or []]
    tls = result.get("tls") if isinstance(result.get("tls"), dict) else {}
    cipher = str((tls or {}).get("cipher") or "")
    if cipher and any(marker in cipher.upper() for marker in WEAK_SUITE_MARKERS):
        listed.append(cipher)
    return tuple(dict.fromkeys(listed))


@dataclass
class TlsFacts:
    """What the TLS checks iterate over; `available` is False when there are no certificate
    tables to read (the checks then have nothing to check)."""

    available: bool = False
    certs: dict[str, CertFact] = field(default_factory=dict)
    endpoints: list[EndpointFact] = field(default_factory=list)


def load(
    session: Session,
    config: GanyunConfig,
    declarations: Mapping[str, Any],
    now: datetime,
    ip_owner: Mapping[str, Owner],
    system_level: Mapping[str, int],
) -> TlsFacts:
    """Certificates and endpoints; an endpoint on a node's IP belongs to that node's owner
    (`ip_owner`), a declared one to its system, at that system's level (`system_level`)."""
    facts = TlsFacts()
    if not inspect(session.connection()).has_table(Certificate.__tablename__):
        return facts  # a database whose certificate tables were never migrated
    cert_rows = session.execute(
            select(
                Certificate.id, Certificate.sha256, Certificate.subject, Certificate.issuer, Certificate.not_after,
                Certificate.signature_algorithm, Certificate.key_type, Certificate.key_size, Certificate.role,
                Certificate.info,
            )
    ).all()  # fmt: skip
    facts.available = True
    by_id: dict[int, CertFact] = {}
    for cid, sha, subject, issuer, not_after, sig_alg, key_type, key_size, role, info in cert_rows:
        info = info or {}
        fact = CertFact(
            key=sha,
            subject=subject or sha[:16],
            issuer=issuer or "",
            key_type=(key_type or "").upper(),
            key_bits=int(key_size or 0),
            signature_hash=signature_hash(sig_alg or ""),
            not_after=_aware(not_after),
            self_signed=bool(info.get("self_signed", bool(subject) and subject == issuer)),
            chain_ok=_chain_ok(info),
            usage=role or "",
        )
        by_id[cid] = fact
        facts.certs[sha] = fact

    # endpoint id -> [leaf, ...], sign, enc
    served: dict[int, dict[str, Any]] = {}
    for cert_id, endpoint_id, location, role in session.execute(
        select(
            CertificateSighting.certificate_id, CertificateSighting.endpoint_id, CertificateSighting.location,
            CertificateSighting.role,
        ).where(CertificateSighting.endpoint_id.is_not(None))
    ):  # fmt: skip
        seen = by_id.get(cert_id)
        if seen is None or endpoint_id is None:
            continue
        fact = seen
        slot = served.setdefault(endpoint_id, {"leaf": [], "sign": "", "enc": "", "chain": []})
        if str(location).startswith("tlcp://"):
            kind = role if role in ("sign", "enc") else fact.usage if fact.usage in ("sign", "enc") else ""
            if not kind and role == "leaf":
                kind = "sign"
            if kind and not slot[kind]:
                slot[kind] = fact.key
            if kind == "sign" and fact.key not in slot["leaf"]:
                slot["leaf"].append(fact.key)
        elif role in ("leaf", "") and fact.key not in slot["leaf"]:
            slot["leaf"].append(fact.key)
        elif role == "chain" and fact.key not in slot["chain"]:
            slot["chain"].append(fact.key)

    for row in session.execute(
        select(
            Endpoint.id, Endpoint.host, Endpoint.port, Endpoint.system, Endpoint.department, Endpoint.reachable,
            Endpoint.tls_versions, Endpoint.tlcp, Endpoint.rfc8998, Endpoint.result,
        )
    ):  # fmt: skip
        node_owner = ip_owner.get(row.host)
        if node_owner is not None:
            owner = node_owner
        else:
            # An endpoint declared in the config: its level is its system's, as the nodes say.
            system = row.system or ""
            owner = Owner(system=system, department=row.department or "", mlps_level=system_level.get(system))
        protocols = [str(v) for v in row.tls_versions or ()]
        if row.tlcp:
            protocols.append("TLCP")
        if row.rfc8998:
            protocols.append("RFC8998")
        slot = served.get(row.id, {"leaf": [], "sign": "", "enc": ""})
        key = f"[{row.host}]:{row.port}" if ":" in row.host else f"{row.host}:{row.port}"
        facts.endpoints.append(
            EndpointFact(
                key=key,
                host=row.host,
                port=int(row.port),
                owner=owner,
                reachable=bool(row.reachable),
                protocols=tuple(protocols),
                weak_suites=_weak_suites(row.result or {}),
                cert_keys=tuple(slot["leaf"]),
                tlcp_sign_cert=slot["sign"],
                tlcp_enc_cert=slot["enc"],
            )
        )
    anchors = _anchors(config, declarations)
    ids = {fact.key: cid for cid, fact in by_id.items()}
    _verify_chains(session, facts, anchors, now, list(served.values()), ids)
    return facts


def _anchors(config: GanyunConfig, declarations: Mapping[str, Any]) -> list[Any]:
    """Trust anchors: the `tls.trust_anchors` files and `compliance.trust_anchors`."""
    paths = [str(p) for p in config.tls.get("trust_anchors", []) or []]
    paths += [str(p) for p in declarations.get("trust_anchors", []) or []]
    anchors: list[Any] = []
    for path in paths:
        try:
            anchors += certs.load_file(config.resolve_path(path))
        except (OSError, CryptoError):
            continue  # a missing anchor leaves its chains unverified, which the check reports
    return anchors


def _verify_chains(
    session: Session,
    facts: TlsFacts,
    anchors: list[Any],
    now: datetime,
    slots: list[dict[str, Any]],
    ids: dict[str, int],
) -> None:
    """Verify every served certificate against the trust anchors, with the intermediates its
    endpoint sent. Without anchors nothing can be decided and chain_ok stays None (MANUAL)."""
    if not anchors or not slots:
        return
    needed = {ids[k] for slot in slots for k in (*slot["leaf"], slot["enc"], *slot["chain"]) if k in ids}
    parsed: dict[str, Any] = {}
    for sha, pem in session.execute(select(Certificate.sha256, Certificate.pem).where(Certificate.id.in_(needed))):
        try:
            parsed[sha] = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            continue
    verifier = certs.ChainVerifier(anchors, at=now)
    outcome: dict[str, tuple[bool, str]] = {}
    for slot in slots:
        chain = [parsed[k] for k in slot["chain"] if k in parsed]
        for key in dict.fromkeys([*slot["leaf"], slot["enc"]]):
            if not key or key not in parsed or outcome.get(key, (True, ""))[0] is False:
                continue
            outcome[key] = verifier.check(parsed[key], chain)
    for key, (ok, error) in outcome.items():
        facts.certs[key] = replace(facts.certs[key], chain_ok=ok, chain_error=error)
