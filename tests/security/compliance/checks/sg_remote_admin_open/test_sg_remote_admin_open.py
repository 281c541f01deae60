"""sg_remote_admin_open: remote administration ports must not be open to wide ranges."""

from __future__ import annotations

from inventory.store import Store
from security.compliance.facts import AuditContext
from security.compliance.types import RuleFact, Status
from tests.security.compliance.checks.checkrun import run


def test_ssh_open_to_the_world_fails_and_ssh_from_the_ops_network_passes(estate: tuple[AuditContext, Store]) -> None:
    got = run("sg_remote_admin_open", estate[0])
    assert got == {"hw-gov/security_group/ssh-open": Status.FAIL, "hw-gov/security_group/ops": Status.PASS}


def test_wide_range_rules() -> None:
    from security.compliance.checks.sg_remote_admin_open.sg_remote_admin_open import exposed_ports, is_wide

    assert is_wide("0.0.0.0/0") and is_wide("::/0") and is_wide("") and is_wide("36.0.0.0/8")
    assert not is_wide("10.0.0.0/8") and not is_wide("202.101.1.0/24")
    assert exposed_ports(RuleFact("tcp", 1, 65535, "0.0.0.0/0"))  # everything includes 22
    assert exposed_ports(RuleFact("tcp", 3389, 3389, "0.0.0.0/0")) == [3389]
    assert exposed_ports(RuleFact("udp", 22, 22, "0.0.0.0/0")) == []
