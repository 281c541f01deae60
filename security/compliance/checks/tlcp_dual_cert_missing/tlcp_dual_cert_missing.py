"""TLCP endpoints must present a distinct signing and encryption certificate (GB/T 38636)."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status


def execute(ctx: AuditContext) -> Iterator[Result]:
    for ep in ctx.endpoints:
        if not ep.reachable or "TLCP" not in ep.protocols:
            continue
        dual = bool(ep.tlcp_sign_cert and ep.tlcp_enc_cert and ep.tlcp_sign_cert != ep.tlcp_enc_cert)
        evidence = {"sign_cert": ep.tlcp_sign_cert, "enc_cert": ep.tlcp_enc_cert}
        yield Result(ep.key, "endpoint", ep.key, Status.PASS if dual else Status.FAIL, ep.owner, evidence)
