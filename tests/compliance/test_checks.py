"""Each check with a passing and a failing case."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from inventory.store import Store
from security import audit
from security.compliance.facts import AuditContext, load_context
from security.compliance.registry import load_checks
from security.compliance.types import Owner, Result, Status
from tests.compliance.estate import NOW, PORTAL, SOCIAL, cert, endpoint, make_config, small_estate, tls_context

UNTAGGED = Owner("hw-gov", "gz-prod")


def run(check_id: str, ctx: AuditContext) -> dict[str, Status]:
    results: list[Result] = list(load_checks()[check_id].execute(ctx))
    return {r.resource_key: r.status for r in results}


@pytest.fixture
def estate(tmp_path: Path) -> tuple[AuditContext, Store]:
    config, store = small_estate(tmp_path)
    return load_context(config, store, 3, NOW), store


def test_volume_unencrypted(estate: tuple[AuditContext, Store]) -> None:
    got = run("volume_unencrypted", estate[0])
    assert got["hw-gov/volume/v-plain"] is Status.FAIL
    assert got["hw-gov/volume/v-sm4"] is Status.PASS
    # The level-2 portal's volume is not required to be encrypted.
    assert "hw-gov/volume/v-portal" not in got


def test_volume_not_sm4(estate: tuple[AuditContext, Store]) -> None:
    got = run("volume_not_sm4", estate[0])
    assert got == {"hw-gov/volume/v-aes": Status.FAIL, "hw-gov/volume/v-sm4": Status.PASS}


def test_security_group_admin_ports(estate: tuple[AuditContext, Store]) -> None:
    got = run("sg_remote_admin_open", estate[0])
    assert got == {"hw-gov/security_group/ssh-open": Status.FAIL, "hw-gov/security_group/ops": Status.PASS}


def test_wide_range_rules() -> None:
    from security.compliance.checks.sg_remote_admin_open.sg_remote_admin_open import exposed_ports, is_wide
    from security.compliance.types import RuleFact

    assert is_wide("0.0.0.0/0") and is_wide("::/0") and is_wide("") and is_wide("36.0.0.0/8")
    assert not is_wide("10.0.0.0/8") and not is_wide("202.101.1.0/24")
    assert exposed_ports(RuleFact("tcp", 1, 65535, "0.0.0.0/0"))  # everything includes 22
    assert exposed_ports(RuleFact("tcp", 3389, 3389, "0.0.0.0/0")) == [3389]
    assert exposed_ports(RuleFact("udp", 22, 22, "0.0.0.0/0")) == []


def test_provider_credentials(estate: tuple[AuditContext, Store]) -> None:
    assert run("provider_credentials_not_in_vault", estate[0]) == {
        "provider/hw-gov": Status.PASS,
        "provider/ali-gov": Status.FAIL,
    }


def test_audit_log_integrity(estate: tuple[AuditContext, Store]) -> None:
    ctx, _store = estate
    for i in range(3):
        audit.append_action(ctx.config, "ops", "sync", {"i": i})
    assert run("audit_log_integrity", ctx) == {"audit_log": Status.PASS}
    with audit.store_for(ctx.config).session() as session:
        from sqlalchemy import text

        session.execute(text("UPDATE audit_log SET action = 'nothing' WHERE seq = 2"))
    assert run("audit_log_integrity", ctx) == {"audit_log": Status.FAIL}


def test_keys_outside_certified_module(tmp_path: Path) -> None:
    undeclared = AuditContext(config=make_config(tmp_path), level=3, now=NOW)
    assert run("keys_outside_certified_module", undeclared) == {"key_custody": Status.MANUAL}
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


# --------------------------------------------------------------------------- TLS


def tls(tmp_path: Path, certs: list, endpoints: list) -> AuditContext:  # type: ignore[type-arg]
    return tls_context(make_config(tmp_path), certs, endpoints)


def test_endpoint_without_sm_protocol(tmp_path: Path) -> None:
    ctx = tls(
        tmp_path,
        [],
        [
            endpoint("10.1.0.1:443", SOCIAL, ("TLSv1.2",)),
            endpoint("10.1.0.1:8443", SOCIAL, ("TLCP", "TLSv1.2")),
            endpoint("10.1.0.1:9443", SOCIAL, ("TLSv1.3", "RFC8998")),
            endpoint("10.1.0.2:443", PORTAL, ("TLSv1.2",)),  # level 2: not held to it
        ],
    )
    assert run("tls_endpoint_no_sm_protocol", ctx) == {
        "10.1.0.1:443": Status.FAIL,
        "10.1.0.1:8443": Status.PASS,
        "10.1.0.1:9443": Status.PASS,
    }


def test_endpoint_weak_protocol(tmp_path: Path) -> None:
    ctx = tls(
        tmp_path,
        [],
        [
            endpoint("a:443", SOCIAL, ("TLSv1.0", "TLSv1.2")),
            endpoint("b:443", SOCIAL, ("TLSv1.2",), weak_suites=("TLS_RSA_WITH_RC4_128_SHA",)),
            endpoint("c:443", SOCIAL, ("TLSv1.2", "TLSv1.3")),
        ],
    )
    assert run("tls_endpoint_weak_protocol", ctx) == {"a:443": Status.FAIL, "b:443": Status.FAIL, "c:443": Status.PASS}


def test_tlcp_dual_certificates(tmp_path: Path) -> None:
    ctx = tls(
        tmp_path,
        [],
        [
            endpoint("a:443", SOCIAL, ("TLCP",), tlcp_sign_cert="s1", tlcp_enc_cert="e1"),
            endpoint("b:443", SOCIAL, ("TLCP",), tlcp_sign_cert="s2"),
            endpoint("c:443", SOCIAL, ("TLSv1.2",)),
        ],
    )
    assert run("tlcp_dual_cert_missing", ctx) == {"a:443": Status.PASS, "b:443": Status.FAIL}


CERT_CASES = [
    ("cert_not_sm2", {"key_type": "RSA", "key_bits": 2048}, {}),
    ("cert_expired", {"not_after": NOW - timedelta(days=1)}, {"not_after": NOW + timedelta(days=400)}),
    ("cert_expiring_30d", {"not_after": NOW + timedelta(days=20)}, {"not_after": NOW + timedelta(days=60)}),
    ("cert_expiring_7d", {"not_after": NOW + timedelta(days=3)}, {"not_after": NOW + timedelta(days=20)}),
    ("cert_rsa_weak", {"key_type": "RSA", "key_bits": 1024}, {"key_type": "RSA", "key_bits": 2048}),
    ("cert_weak_signature_hash", {"signature_hash": "sha1"}, {"signature_hash": "sha256"}),
    ("cert_self_signed_served", {"self_signed": True}, {}),
    ("cert_chain_unverified", {"chain_ok": False}, {}),
]


@pytest.mark.parametrize(("check_id", "bad", "good"), CERT_CASES, ids=[c[0] for c in CERT_CASES])
def test_certificate_checks(tmp_path: Path, check_id: str, bad: dict, good: dict) -> None:  # type: ignore[type-arg]
    ctx = tls(
        tmp_path,
        [cert("bad", **bad), cert("good", **good)],
        [endpoint("a:443", SOCIAL, ("TLCP",), "bad"), endpoint("b:443", SOCIAL, ("TLCP",), "good")],
    )
    assert run(check_id, ctx) == {"bad": Status.FAIL, "good": Status.PASS}


def test_certificate_findings_are_scored_to_the_serving_system(tmp_path: Path) -> None:
    ctx = tls(tmp_path, [cert("c1", key_type="RSA")], [endpoint("a:443", SOCIAL, ("TLSv1.2",), "c1")])
    results = list(load_checks()["cert_not_sm2"].execute(ctx))
    assert results[0].owner.system == "社保系统" and results[0].evidence["endpoints"] == ["a:443"]


def test_unserved_self_signed_root_is_not_a_finding(tmp_path: Path) -> None:
    ctx = tls(tmp_path, [cert("root", self_signed=True)], [])
    assert run("cert_self_signed_served", ctx) == {}


def test_untagged_resources_are_held_to_the_audited_level(tmp_path: Path) -> None:
    ctx = tls(tmp_path, [], [endpoint("x:443", UNTAGGED, ("TLSv1.2",))])
    assert run("tls_endpoint_no_sm_protocol", ctx) == {"x:443": Status.FAIL}
    ctx.level = 2
    assert run("tls_endpoint_no_sm_protocol", ctx) == {}
