"""Endpoints of systems at MLPS level >= 3 must offer TLCP (GB/T 38636) or RFC 8998 (TLS 1.3 with SM)."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status

SM_PROTOCOLS = frozenset({"TLCP", "RFC8998"})


def execute(ctx: AuditContext) -> Iterator[Result]:
    for ep in ctx.endpoints:
        if not ep.reachable or not ctx.in_scope(ep.owner, 3):
            continue
        offered = SM_PROTOCOLS.intersection(ep.protocols)
        status = Status.PASS if offered else Status.FAIL
        yield Result(ep.key, "endpoint", ep.key, status, ep.owner, {"protocols": list(ep.protocols)})
