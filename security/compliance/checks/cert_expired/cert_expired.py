"""Certificates past their notAfter date."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status


def execute(ctx: AuditContext) -> Iterator[Result]:
    for key, cert in ctx.certs.items():
        if cert.not_after is None:
            continue
        status = Status.FAIL if cert.not_after <= ctx.now else Status.PASS
        evidence = {"not_after": cert.not_after.isoformat(), "endpoints": ctx.served.get(key, [])}
        yield Result(key, "certificate", cert.subject, status, ctx.cert_owner(key), evidence)
