"""Volumes of systems whose level requires stored-data confidentiality must be encrypted."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status


def execute(ctx: AuditContext) -> Iterator[Result]:
    for vol in ctx.volumes:
        if not ctx.in_scope(vol.owner, 3):
            continue
        # None: the provider does not report encryption, so an assessor must look.
        status = Status.MANUAL if vol.encrypted is None else Status.PASS if vol.encrypted else Status.FAIL
        evidence = {"encrypted": vol.encrypted, "volume_type": vol.volume_type}
        yield Result(vol.key, "volume", vol.name, status, vol.owner, evidence)
