"""Certificates that expire within 30 days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from security.compliance.expiry import expiring_within
from security.compliance.facts import AuditContext
from security.compliance.types import Result

WINDOW = timedelta(days=30)


def execute(ctx: AuditContext) -> Iterator[Result]:
    return expiring_within(ctx, WINDOW)
