"""Shared rule of the certificate-expiry checks: each check only chooses its window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status


def expiring_within(ctx: AuditContext, window: timedelta) -> Iterator[Result]:
    for key, cert in ctx.certs.items():
        if cert.not_after is None or cert.not_after <= ctx.now:
            continue  # expired certificates are cert_expired's
        left = cert.not_after - ctx.now
        status = Status.FAIL if left <= window else Status.PASS
        evidence = {
            "not_after": cert.not_after.isoformat(),
            "days_left": left.days,
            "endpoints": ctx.served.get(key, []),
        }
        yield Result(key, "certificate", cert.subject, status, ctx.cert_owner(key), evidence)
