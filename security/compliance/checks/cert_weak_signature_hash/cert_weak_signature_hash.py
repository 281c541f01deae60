"""Certificates signed with SHA-1 or MD5."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status

WEAK_HASHES = frozenset({"sha1", "md5", "md2", "md4"})


def execute(ctx: AuditContext) -> Iterator[Result]:
    for key, cert in ctx.certs.items():
        digest = cert.signature_hash.lower().replace("-", "")
        status = Status.FAIL if digest in WEAK_HASHES else Status.PASS
        yield Result(
            key, "certificate", cert.subject, status, ctx.cert_owner(key), {"signature_hash": cert.signature_hash}
        )
