"""audit_log_integrity: the audit log's SM3 chain must verify."""

from __future__ import annotations

from sqlalchemy import text

from inventory.store import Store
from security import audit
from security.compliance.facts import AuditContext
from security.compliance.types import Status
from tests.security.compliance.checks.checkrun import run


def test_intact_log_passes_and_an_edited_entry_fails(estate: tuple[AuditContext, Store]) -> None:
    ctx, _store = estate
    for i in range(3):
        audit.append_action(ctx.config, "ops", "sync", {"i": i})
    assert run("audit_log_integrity", ctx) == {"audit_log": Status.PASS}
    with audit.store_for(ctx.config).session() as session:
        session.execute(text("UPDATE audit_log SET action = 'nothing' WHERE seq = 2"))
    assert run("audit_log_integrity", ctx) == {"audit_log": Status.FAIL}
