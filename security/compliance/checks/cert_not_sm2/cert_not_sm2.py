"""Certificates served by systems that require commercial cryptography must carry SM2 keys."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status


def execute(ctx: AuditContext) -> Iterator[Result]:
    for key, cert in ctx.certs.items():
        if key not in ctx.served:
            continue
        owner = ctx.cert_owner(key)
        if not ctx.in_scope(owner, 3):
            continue
        status = Status.PASS if cert.key_type.upper() == "SM2" else Status.FAIL
        yield Result(
            key, "certificate", cert.subject, status, owner, {"key_type": cert.key_type, "endpoints": ctx.served[key]}
        )
