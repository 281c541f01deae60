"""provider_credentials_not_in_vault: cloud credentials must live in the vault."""

from __future__ import annotations

from inventory.store import Store
from security.compliance.facts import AuditContext
from security.compliance.types import Status
from tests.security.compliance.checks.checkrun import run


def test_environment_credentials_fail_and_vault_credentials_pass(estate: tuple[AuditContext, Store]) -> None:
    assert run("provider_credentials_not_in_vault", estate[0]) == {
        "provider/hw-gov": Status.PASS,
        "provider/ali-gov": Status.FAIL,
    }
