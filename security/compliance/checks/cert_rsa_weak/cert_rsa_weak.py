"""RSA certificates with keys shorter than 2048 bits."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status

MIN_RSA_BITS = 2048


def execute(ctx: AuditContext) -> Iterator[Result]:
    for key, cert in ctx.certs.items():
        if cert.key_type.upper() != "RSA":
            continue
        status = Status.FAIL if cert.key_bits < MIN_RSA_BITS else Status.PASS
        yield Result(key, "certificate", cert.subject, status, ctx.cert_owner(key), {"key_bits": cert.key_bits})
