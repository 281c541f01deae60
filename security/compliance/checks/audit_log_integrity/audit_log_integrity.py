"""The audit log's SM3 hash chain and SM2 checkpoints must verify."""

from __future__ import annotations

from collections.abc import Iterator

from security import audit
from security.audit_key import load_key
from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status


def execute(ctx: AuditContext) -> Iterator[Result]:
    if ctx.store is None:
        return
    key = load_key(audit.key_path(ctx.config), create=False)
    result = audit.verify(
        ctx.store,
        trusted_public_key=key.public_hex() if key else None,
        head=audit.read_head(audit.head_path(ctx.config)),
    )
    evidence = {"entries": result.entries, "checkpoints": result.checkpoints, "first_bad": result.first_bad,
                "problem": result.problem, "warnings": result.warnings}  # fmt: skip
    yield Result("audit_log", "audit_log", "audit_log", Status.PASS if result.ok else Status.FAIL, evidence=evidence)
