"""Self-signed certificates presented by served endpoints."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status


def execute(ctx: AuditContext) -> Iterator[Result]:
    for key, cert in ctx.certs.items():
        endpoints = ctx.served.get(key)
        if not endpoints:
            continue  # a self-signed root in a trust store is fine; serving one is not
        status = Status.FAIL if cert.self_signed else Status.PASS
        yield Result(
            key,
            "certificate",
            cert.subject,
            status,
            ctx.cert_owner(key),
            {"issuer": cert.issuer, "endpoints": endpoints},
        )
