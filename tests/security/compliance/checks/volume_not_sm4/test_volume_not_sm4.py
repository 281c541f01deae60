"""volume_not_sm4: encrypted volumes of level-3+ systems must use SM4."""

from __future__ import annotations

from inventory.store import Store
from security.compliance.facts import AuditContext
from security.compliance.types import Status
from tests.security.compliance.checks.checkrun import run


def test_aes_volume_fails_and_sm4_volume_passes(estate: tuple[AuditContext, Store]) -> None:
    got = run("volume_not_sm4", estate[0])
    assert got == {"hw-gov/volume/v-aes": Status.FAIL, "hw-gov/volume/v-sm4": Status.PASS}


def test_sm4_is_read_from_the_cipher_or_else_the_volume_type() -> None:
    from security.compliance.checks.volume_not_sm4.volume_not_sm4 import is_sm4

    assert is_sm4("sm4-xts", "ssd") and is_sm4("", "ceph-sm4")
    assert not is_sm4("aes-xts-plain64", "ssd-sm4")  # the cipher, when known, decides
