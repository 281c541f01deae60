"""Encrypted volumes of systems that require commercial cryptography should use SM4."""

from __future__ import annotations

from collections.abc import Iterator

from security.compliance.facts import AuditContext
from security.compliance.types import Result, Status


def is_sm4(cipher: str, volume_type: str) -> bool:
    return "sm4" in cipher.lower() or (not cipher and "sm4" in volume_type.lower())


def execute(ctx: AuditContext) -> Iterator[Result]:
    for vol in ctx.volumes:
        if vol.encrypted is not True or not ctx.in_scope(vol.owner, 3):
            continue
        status = Status.PASS if is_sm4(vol.cipher, vol.volume_type) else Status.FAIL
        evidence = {"cipher": vol.cipher, "volume_type": vol.volume_type}
        yield Result(vol.key, "volume", vol.name, status, vol.owner, evidence)
