"""Save scan results and collected certificates in the inventory; list them back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from security import certs
from security.cert_models import Certificate, CertificateSighting, Endpoint
from security.tlsscan import ScanResult


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone=True columns.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def record_certificate(
    session: Session,
    cert: x509.Certificate,
    location: str,
    role: str = "",
    endpoint: Endpoint | None = None,
    now: datetime | None = None,
) -> Certificate:
    """Upsert the certificate (by SHA-256) and where it was seen; first/last seen kept."""
    now = now or datetime.now(UTC)
    info = certs.describe(cert, now)
    row = session.scalar(select(Certificate).where(Certificate.sha256 == info["sha256"]))
    if row is None:
        row = Certificate(
            sha256=info["sha256"],
            sm3=info["sm3"],
            subject=info["subject"],
            issuer=info["issuer"],
            serial=info["serial"],
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            signature_algorithm=info["signature_algorithm"],
            key_type=info["key_type"],
            key_size=info["key_size"],
            role=info["role"],
            info=info,
            pem=cert.public_bytes(Encoding.PEM).decode(),
            first_seen=now,
        )
        session.add(row)
        session.flush()
    row.last_seen = now
    sighting = session.scalar(
        select(CertificateSighting).where(
            CertificateSighting.certificate_id == row.id,
            CertificateSighting.location == location,
            CertificateSighting.role == role,
        )
    )
    if sighting is None:
        sighting = CertificateSighting(certificate_id=row.id, location=location, role=role, first_seen=now)
        session.add(sighting)
    sighting.last_seen = now
    if endpoint is not None:
        sighting.endpoint_id = endpoint.id
    return row


def save_scan(session: Session, results: Sequence[ScanResult], now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    for res in results:
        t = res.target
        ep = session.scalar(select(Endpoint).where(Endpoint.host == t.host, Endpoint.port == t.port))
        if ep is None:
            ep = Endpoint(host=t.host, port=t.port, first_seen=now)
            session.add(ep)
        ep.system = t.system or ep.system or ""
        ep.department = t.department or ep.department or ""
        ep.source = t.source
        ep.reachable = res.reachable
        ep.tls_versions = list(res.tls.get("versions", []))
        ep.tlcp = bool(res.tlcp.get("supported"))
        ep.rfc8998 = bool(res.rfc8998.get("supported"))
        ep.result = res.to_dict()
        ep.error = res.error
        ep.last_seen = now
        session.flush()
        for cert, location, role in res.seen:
            record_certificate(session, cert, location, role, ep, now)


def save_collected(
    session: Session, items: Iterable[tuple[x509.Certificate, str, str]], now: datetime | None = None
) -> int:
    """Certificates from Kubernetes secrets or fetched files: (certificate, location, role)."""
    count = 0
    for cert, location, role in items:
        record_certificate(session, cert, location, role, None, now)
        count += 1
    return count


def list_certificates(session: Session, at_endpoints: ColumnElement[bool] | None = None) -> list[dict[str, Any]]:
    """One dict per certificate with where it was seen; `inventory list --kind certificates`.

    With `at_endpoints` (a condition on Endpoint), only the certificates seen at those
    endpoints, and only those sightings."""
    now = datetime.now(UTC)
    cert_stmt = select(Certificate).order_by(Certificate.not_after)
    sighting_stmt = select(CertificateSighting)
    endpoint_stmt = select(Endpoint)
    if at_endpoints is not None:
        endpoint_stmt = endpoint_stmt.where(at_endpoints)
        seen_there = CertificateSighting.endpoint_id.in_(select(Endpoint.id).where(at_endpoints))
        sighting_stmt = sighting_stmt.where(seen_there)
        cert_stmt = cert_stmt.where(Certificate.id.in_(select(CertificateSighting.certificate_id).where(seen_there)))
    rows = session.scalars(cert_stmt).all()
    sightings: dict[int, list[CertificateSighting]] = {}
    for s in session.scalars(sighting_stmt).all():
        sightings.setdefault(s.certificate_id, []).append(s)
    endpoints = {e.id: e for e in session.scalars(endpoint_stmt).all()}
    out = []
    for row in rows:
        seen = sightings.get(row.id, [])
        eps = [endpoints[s.endpoint_id] for s in seen if s.endpoint_id in endpoints]
        not_after = _aware(row.not_after)
        out.append(
            {
                "kind": "certificate",
                "id": row.sha256,
                "name": row.subject,
                "subject": row.subject,
                "issuer": row.issuer,
                "serial": row.serial,
                "not_before": _iso(row.not_before),
                "not_after": _iso(row.not_after),
                "days_left": (not_after - now).days if not_after else None,
                "expired": bool(not_after and not_after < now),
                "signature_algorithm": row.signature_algorithm,
                "key_type": row.key_type,
                "key_size": row.key_size,
                "role": row.role,
                "sha256": row.sha256,
                "sm3": row.sm3,
                "self_signed": bool(row.info.get("self_signed")),
                "system": next((e.system for e in eps if e.system), ""),
                "department": next((e.department for e in eps if e.department), ""),
                "seen_at": sorted({s.location for s in seen}),
                "where": ", ".join(sorted({s.location for s in seen})),
                "first_seen": _iso(row.first_seen),
                "last_seen": _iso(row.last_seen),
            }
        )
    return out


def list_endpoints(session: Session, where: ColumnElement[bool] | None = None) -> list[dict[str, Any]]:
    stmt = select(Endpoint).order_by(Endpoint.host, Endpoint.port)
    rows = session.scalars(stmt if where is None else stmt.where(where)).all()
    return [
        {
            "host": e.host,
            "port": e.port,
            "system": e.system,
            "department": e.department,
            "source": e.source,
            "reachable": e.reachable,
            "tls_versions": e.tls_versions,
            "tlcp": e.tlcp,
            "rfc8998": e.rfc8998,
            "error": e.error,
            "first_seen": _iso(e.first_seen),
            "last_seen": _iso(e.last_seen),
        }
        for e in rows
    ]


def _iso(value: datetime | None) -> str | None:
    value = _aware(value)
    return value.isoformat() if value else None
