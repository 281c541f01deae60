"""keys_outside_certified_module: keys must be kept in certified cryptographic modules."""

from __future__ import annotations

from pathlib import Path

from security.compliance.facts import AuditContext
from security.compliance.types import Status
from tests.compliance.estate import NOW, make_config
from tests.security.compliance.checks.checkrun import run


def test_undeclared_custody_is_manual(tmp_path: Path) -> None:
    undeclared = AuditContext(config=make_config(tmp_path), level=3, now=NOW)
    assert run("keys_outside_certified_module", undeclared) == {"key_custody": Status.MANUAL}


def test_software_custody_fails_and_a_certified_module_passes(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        compliance={
            "key_custody": [
                {"name": "vault", "module": "软件文件", "certified": False},
                {"name": "ca", "module": "SJJ1012 密码机", "certified": True, "certificate": "GM003312220220001"},
            ]
        },
    )
    ctx = AuditContext(config=config, level=3, now=NOW, declarations=dict(config.compliance))
    assert run("keys_outside_certified_module", ctx) == {"key/vault": Status.FAIL, "key/ca": Status.PASS}
