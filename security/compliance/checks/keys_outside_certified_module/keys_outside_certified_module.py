"""Keys declared as held outside certified cryptographic modules (config `compliance.key_custody`)."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status


def execute(ctx: AuditContext) -> Iterator[Result]:
    declared = ctx.declarations.get("key_custody") or []
    if not declared:
        # Nothing inventory can see decides this: an assessor attaches the module certificates.
        yield Result("key_custody", "declaration", "key_custody", Status.MANUAL, evidence={"declared": 0})
        return
    for item in declared:
        name = str(item.get("name", "?"))
        certified = bool(item.get("certified", False))
        evidence = {"module": str(item.get("module", "")), "certificate": str(item.get("certificate", ""))}
        yield Result(f"key/{name}", "key", name, Status.PASS if certified else Status.FAIL, evidence=evidence)
