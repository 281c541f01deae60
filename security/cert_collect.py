"""Where certificates come from besides scanning: scan targets from the inventory, TLS secrets
of providers that declare them (Kubernetes, through providers/), and PEM files fetched from
hosts by playbooks/collect_certs.yml."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from providers import capabilities
from providers.base import Provider
from providers.errors import CryptoError
from security import certs
from security.tls_settings import TlsSettings
from security.tlsscan import Target

Collected = list[tuple[x509.Certificate, str, str]]


def inventory_targets(session: Session, config: Any, settings: TlsSettings) -> list[Target]:
    """Every node IP x its provider's `tls_ports`, then the configured `tls.endpoints`."""
    from inventory.models import NodeRow

    ports = {p.name: list(p.tls_ports) for p in config.providers if p.tls_ports}
    seen: set[tuple[str, int]] = set()
    out: list[Target] = []

    def add(target: Target) -> None:
        if (target.host, target.port) not in seen:
            seen.add((target.host, target.port))
            out.append(target)

    if ports:
        rows = session.execute(
            select(NodeRow.provider, NodeRow.ips, NodeRow.system, NodeRow.department).where(
                NodeRow.provider.in_(list(ports))
            )
        ).all()
        for provider, ips, system, department in rows:
            for ip in ips or []:
                for port in ports[provider]:
                    add(Target(str(ip), port, system or "", department or "", provider))
    for ep in settings.endpoints:
        add(Target(ep.host, ep.port, ep.system, ep.department, "config"))
    return out


def collect_tls_secrets(provider: Provider) -> Collected:
    """Certificates of every TLS secret (`kubernetes.io/tls`) the provider declares and lists."""
    secrets = capabilities.TLS_SECRETS.of(provider)
    if secrets is None:
        return []
    out: Collected = []
    cluster = provider.name
    for where, pem in secrets.list_tls_secrets():
        try:
            chain = certs.load_certificates(pem, source=f"{cluster}/{where}")
        except CryptoError:
            continue  # a broken secret is the owner's problem; it is not a certificate we can list
        for i, cert in enumerate(chain):
            out.append((cert, f"k8s://{cluster}/{where}", "leaf" if i == 0 else "chain"))
    return out


def collect_from_files(paths: Iterable[Path]) -> tuple[Collected, list[str]]:
    """Certificates from files (a fetched tree: <dir>/<host>/<path>); errors listed, not raised."""
    out: Collected = []
    errors: list[str] = []
    for path in _expand(paths):
        try:
            chain = certs.load_file(path)
        except CryptoError as exc:
            errors.append(str(exc))
            continue
        for i, cert in enumerate(chain):
            out.append((cert, f"file://{path.resolve()}", "leaf" if i == 0 else "chain"))
    return out, errors


_CERT_SUFFIXES = {".pem", ".crt", ".cer", ".der", ".p7b", ".p7c"}


def _expand(paths: Iterable[Path]) -> Sequence[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _CERT_SUFFIXES))
        else:
            files.append(path)
    return files
