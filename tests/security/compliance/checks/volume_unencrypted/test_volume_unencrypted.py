"""volume_unencrypted: volumes of level-3+ systems must be encrypted."""

from __future__ import annotations

from inventory.store import Store
from security.compliance.facts import AuditContext
from security.compliance.types import Status
from tests.security.compliance.checks.checkrun import run


def test_unencrypted_volume_fails_and_encrypted_passes(estate: tuple[AuditContext, Store]) -> None:
    got = run("volume_unencrypted", estate[0])
    assert got["hw-gov/volume/v-plain"] is Status.FAIL
    assert got["hw-gov/volume/v-sm4"] is Status.PASS
    # The level-2 portal's volume is not required to be encrypted.
    assert "hw-gov/volume/v-portal" not in got
