"""Certificates and TLS/TLCP endpoints, within the viewer's scope (see ownership.py for how a
certificate or an endpoint belongs to a department)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select

from console.services import ownership
from console.services.viewer import Viewer
from inventory.config import GanyunConfig
from inventory.store import Store
from security.cert_models import Certificate
from security.cert_store import list_certificates, list_endpoints


def _certificate_scope(session: Any, viewer: Viewer) -> list[Any]:
    ids = ownership.certificate_ids(session, viewer)
    return [] if ids is None else [Certificate.id.in_(ids)]


def marker(store: Store, viewer: Viewer) -> tuple[int, str]:
    """Certificates change by scans, not syncs: their count and last sighting key a cache."""
    with store.session() as session:
        stmt = select(func.count(), func.max(Certificate.last_seen)).where(*_certificate_scope(session, viewer))
        n, last = session.execute(stmt).one()
    return int(n or 0), str(last or "")


def certificates(store: Store, viewer: Viewer) -> list[dict[str, Any]]:
    with store.session() as session:
        return list_certificates(session, ownership.endpoint_clause(session, viewer))


def endpoints(store: Store, viewer: Viewer) -> list[dict[str, Any]]:
    with store.session() as session:
        return list_endpoints(session, ownership.endpoint_clause(session, viewer))


def key_mix(store: Store, viewer: Viewer) -> list[dict[str, Any]]:
    with store.session() as session:
        stmt = (
            select(Certificate.key_type, func.count())
            .where(*_certificate_scope(session, viewer))
            .group_by(Certificate.key_type)
        )
        return [{"key_type": k or "?", "count": int(n)} for k, n in session.execute(stmt)]


def expiring(store: Store, viewer: Viewer, days: int, limit: int = 20) -> list[dict[str, Any]]:
    """Certificates that expire within `days` (or have expired), soonest first."""
    now = datetime.now(UTC)
    with store.session() as session:
        stmt = (
            select(Certificate.subject, Certificate.key_type, Certificate.not_after)
            .where(Certificate.not_after.is_not(None), Certificate.not_after <= now + timedelta(days=days))
            .where(*_certificate_scope(session, viewer))
            .order_by(Certificate.not_after)
            .limit(limit)
        )
        out = []
        for subject, key_type, not_after in session.execute(stmt):
            if not_after is None:
                continue
            aware = not_after if not_after.tzinfo else not_after.replace(tzinfo=UTC)
            out.append({"subject": subject, "key_type": key_type,
                        "not_after": aware.date().isoformat(), "days_left": (aware - now).days})  # fmt: skip
        return out


def ca_dir(config: GanyunConfig) -> Path:
    from security.tls_settings import settings_of

    return settings_of(config).ca_path(config.base_dir)


def issued_names(store: Store, viewer: Viewer, config: GanyunConfig) -> list[str]:
    """Certificates the CA issued (their directory names), for renewal: a scoped viewer sees
    those whose signing certificate it can see."""
    issued = ca_dir(config) / "issued"
    names = sorted(p.name for p in issued.iterdir() if (p / "sign.pem").exists()) if issued.is_dir() else []
    if viewer.departments is None or not names:
        return names
    visible = {c["sha256"] for c in certificates(store, viewer)}
    return [n for n in names if _sha256(issued / n / "sign.pem") in visible]


def _sha256(path: Path) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


__all__ = ["ca_dir", "certificates", "endpoints", "expiring", "issued_names", "key_mix", "marker"]
