"""Certificates that expire within 30 days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status

WINDOW = timedelta(days=30)


def execute(ctx: AuditContext) -> Iterator[Result]:
    for key, cert in ctx.certs.items():
        if cert.not_after is None or cert.not_after <= ctx.now:
            continue  # expired certificates are cert_expired's
        left = cert.not_after - ctx.now
        status = Status.FAIL if left <= WINDOW else Status.PASS
        evidence = {
            "not_after": cert.not_after.isoformat(),
            "days_left": left.days,
            "endpoints": ctx.served.get(key, []),
        }
        yield Result(key, "certificate", cert.subject, status, ctx.cert_owner(key), evidence)
