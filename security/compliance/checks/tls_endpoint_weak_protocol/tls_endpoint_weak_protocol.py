"""Endpoints still negotiating SSL 3.0, TLS 1.0 or 1.1, or offering weak cipher suites."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status

WEAK_PROTOCOLS = frozenset({"SSLv2", "SSLv3", "TLSv1.0", "TLSv1", "TLSv1.1"})


def execute(ctx: AuditContext) -> Iterator[Result]:
    for ep in ctx.endpoints:
        if not ep.reachable:
            continue
        weak = sorted(WEAK_PROTOCOLS.intersection(ep.protocols))
        status = Status.FAIL if weak or ep.weak_suites else Status.PASS
        evidence = {"protocols": list(ep.protocols), "weak_protocols": weak, "weak_suites": list(ep.weak_suites)}
        yield Result(ep.key, "endpoint", ep.key, status, ep.owner, evidence)
