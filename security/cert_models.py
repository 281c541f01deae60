"""Tables of the certificate area: certificates, TLS endpoints, and where each certificate was seen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from inventory.models import Base


class Certificate(Base):
    """One row per distinct certificate (by SHA-256 of its DER)."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    sm3: Mapped[str] = mapped_column(String(64), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    issuer: Mapped[str] = mapped_column(Text, default="")
    serial: Mapped[str] = mapped_column(String(80), default="")
    not_before: Mapped[datetime | None] = mapped_column(default=None)
    not_after: Mapped[datetime | None] = mapped_column(default=None, index=True)
    signature_algorithm: Mapped[str] = mapped_column(String(64), default="")
    key_type: Mapped[str] = mapped_column(String(16), default="")
    key_size: Mapped[int] = mapped_column(Integer, default=0)
    role: Mapped[str] = mapped_column(String(8), default="")  # sign | enc | "" (GM dual certificates)
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pem: Mapped[str] = mapped_column(Text, default="")
    first_seen: Mapped[datetime | None] = mapped_column(default=None)
    last_seen: Mapped[datetime | None] = mapped_column(default=None)


class Endpoint(Base):
    """A TLS / TLCP endpoint and the outcome of its last scan."""

    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("host", "port", name="uq_endpoints_host_port"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    system: Mapped[str] = mapped_column(String(128), default="")
    department: Mapped[str] = mapped_column(String(128), default="")
    source: Mapped[str] = mapped_column(String(128), default="")  # manual | config | provider name
    reachable: Mapped[bool] = mapped_column(default=False)
    tls_versions: Mapped[list[Any]] = mapped_column(default=list)
    tlcp: Mapped[bool] = mapped_column(default=False)
    rfc8998: Mapped[bool] = mapped_column(default=False)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    first_seen: Mapped[datetime | None] = mapped_column(default=None)
    last_seen: Mapped[datetime | None] = mapped_column(default=None)


class CertificateSighting(Base):
    """Where a certificate was seen: an endpoint (and protocol), a Kubernetes secret, or a file."""

    __tablename__ = "certificate_sightings"
    __table_args__ = (UniqueConstraint("certificate_id", "location", "role", name="uq_sightings"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("endpoints.id", ondelete="SET NULL"), default=None)
    # e.g. tls://10.0.0.5:443, tlcp://10.0.0.5:443, k8s://cluster/ns/secret, file:///path
    location: Mapped[str] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(16), default="")  # leaf | chain | sign | enc
    first_seen: Mapped[datetime | None] = mapped_column(default=None)
    last_seen: Mapped[datetime | None] = mapped_column(default=None)
