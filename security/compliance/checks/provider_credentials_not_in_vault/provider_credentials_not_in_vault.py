"""Provider credentials must come from the SM4-GCM vault, not from environment variables."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Owner, Result, Status


def execute(ctx: AuditContext) -> Iterator[Result]:
    for provider in ctx.config.providers:
        scheme = provider.credentials.partition(":")[0] if provider.credentials else "none"
        status = Status.FAIL if scheme == "env" else Status.PASS
        owner = Owner(provider=provider.name, center=provider.center)
        # Only the scheme is evidence: the reference names an environment variable or entry.
        yield Result(f"provider/{provider.name}", "provider", provider.name, status, owner, {"source": scheme})
