"""Certificates whose chain could not be verified to a trusted root."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status


def execute(ctx: AuditContext) -> Iterator[Result]:
    for key, cert in ctx.certs.items():
        if key not in ctx.served:
            continue
        status = Status.MANUAL if cert.chain_ok is None else Status.PASS if cert.chain_ok else Status.FAIL
        yield Result(
            key,
            "certificate",
            cert.subject,
            status,
            ctx.cert_owner(key),
            {"issuer": cert.issuer, "chain_ok": cert.chain_ok, "error": cert.chain_error},
        )
