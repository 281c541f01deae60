"""Running one check over an audit context: what each check's tests share."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from security.compliance.facts import AuditContext
from security.compliance.registry import load_checks
from security.compliance.types import CertFact, EndpointFact, Owner, Result, Status
from tests.compliance.estate import make_config, tls_context

UNTAGGED = Owner("hw-gov", "gz-prod")


def results(check_id: str, ctx: AuditContext) -> list[Result]:
    return list(load_checks()[check_id].execute(ctx))


def run(check_id: str, ctx: AuditContext) -> dict[str, Status]:
    """resource key -> status of every result the check yields."""
    return {r.resource_key: r.status for r in results(check_id, ctx)}


def tls(tmp_path: Path, certs: Sequence[CertFact], endpoints: Sequence[EndpointFact]) -> AuditContext:
    return tls_context(make_config(tmp_path), certs, endpoints)
