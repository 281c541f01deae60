"""The audit log must verify: SM3 chain, SM2 checkpoints, head file and witness."""

from __future__ import annotations

from collections.abc import Iterator

from security import audit
from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status


def execute(ctx: AuditContext) -> Iterator[Result]:
    if ctx.store is None:
        return
    result = audit.verify_config(ctx.config, store=ctx.store)
    evidence = {"entries": result.entries, "checkpoints": result.checkpoints, "first_bad": result.first_bad,
                "problem": result.problem, "warnings": result.warnings}  # fmt: skip
    yield Result("audit_log", "audit_log", "audit_log", Status.PASS if result.ok else Status.FAIL, evidence=evidence)
