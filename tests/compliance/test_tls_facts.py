"""Certificate and endpoint rows of the certificate area become findings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from security.cert_models import Certificate, CertificateSighting, Endpoint
from security.compliance import engine
from security.compliance.facts import load_context
from security.compliance.tls_facts import signature_hash
from tests.compliance.estate import NOW, small_estate


def _cert(sha: str, **kw: object) -> Certificate:
    base: dict[str, object] = {
        "sha256": sha, "subject": f"CN={sha}", "issuer": "CN=赣州政务CA", "not_after": NOW + timedelta(days=300),
        "signature_algorithm": "sm2-with-sm3", "key_type": "SM2", "key_size": 256, "role": "", "info": {},
    }  # fmt: skip
    base.update(kw)
    return Certificate(**base)


def test_rows_become_facts_and_lab_style_problems_become_findings(tmp_path: Path) -> None:
    config, store = small_estate(tmp_path)
    with store.session() as s:
        certs = [
            _cert("old", not_after=NOW - timedelta(days=3), signature_algorithm="sha256WithRSAEncryption",
                  key_type="RSA", key_size=2048),
            _cert("weak", signature_algorithm="sha1WithRSAEncryption", key_type="RSA", key_size=1024,
                  subject="CN=weak", issuer="CN=weak", info={"self_signed": True}),
            _cert("gm-sign", role="sign"),
            _cert("gm-enc", role="enc"),
        ]  # fmt: skip
        s.add_all(certs)
        eps = [
            Endpoint(host="10.1.0.1", port=443, reachable=True, tls_versions=["TLSv1.0", "TLSv1.2"],
                     result={"tls": {"cipher": "ECDHE-RSA-AES128-GCM-SHA256"}}),
            Endpoint(host="10.1.0.1", port=8443, reachable=True, tls_versions=["TLSv1.2"]),
            Endpoint(host="10.1.0.1", port=9443, reachable=True, tls_versions=[], tlcp=True),
            Endpoint(host="10.9.9.9", port=443, reachable=False, tls_versions=[]),
        ]  # fmt: skip
        s.add_all(eps)
        s.flush()
        s.add_all(
            [
                CertificateSighting(certificate_id=certs[0].id, endpoint_id=eps[0].id, location="tls://10.1.0.1:443", role="leaf"),
                CertificateSighting(certificate_id=certs[1].id, endpoint_id=eps[1].id, location="tls://10.1.0.1:8443", role="leaf"),
                CertificateSighting(certificate_id=certs[2].id, endpoint_id=eps[2].id, location="tlcp://10.1.0.1:9443", role="sign"),
                CertificateSighting(certificate_id=certs[3].id, endpoint_id=eps[2].id, location="tlcp://10.1.0.1:9443", role="enc"),
            ]
        )  # fmt: skip
    ctx = load_context(config, store, 3, NOW)
    assert ctx.tls_available and len(ctx.certs) == 4 and len(ctx.endpoints) == 4
    ep = ctx.endpoint_by_key["10.1.0.1:9443"]
    assert (ep.tlcp_sign_cert, ep.tlcp_enc_cert, ep.protocols) == ("gm-sign", "gm-enc", ("TLCP",))
    assert ctx.endpoint_by_key["10.1.0.1:443"].owner.system == "社保系统"  # joined through the node's IP

    report = engine.run_audit(config, store, 3, at=NOW)
    failed = {(f["check_id"], f["resource_key"]) for f in report.findings if f["status"] == "FAIL"}
    assert {
        ("cert_expired", "old"),
        ("cert_rsa_weak", "weak"),
        ("cert_weak_signature_hash", "weak"),
        ("cert_self_signed_served", "weak"),
        ("cert_not_sm2", "old"),
        ("tls_endpoint_weak_protocol", "10.1.0.1:443"),
        ("tls_endpoint_no_sm_protocol", "10.1.0.1:443"),
        ("tls_endpoint_no_sm_protocol", "10.1.0.1:8443"),
    } <= failed
    passed = {(f["check_id"], f["resource_key"]) for f in report.findings if f["status"] == "PASS"}
    assert ("tlcp_dual_cert_missing", "10.1.0.1:9443") in passed
    assert ("tls_endpoint_no_sm_protocol", "10.1.0.1:9443") in passed
    assert not any(f["resource_key"] == "10.9.9.9:443" for f in report.findings)  # unreachable


def test_signature_digest_names() -> None:
    assert signature_hash("sha1WithRSAEncryption") == "sha1"
    assert signature_hash("ecdsa-with-SHA1") == "sha1"
    assert signature_hash("md5WithRSAEncryption") == "md5"
    assert signature_hash("sha256WithRSAEncryption") == "sha256"
    assert signature_hash("sm2-with-sm3") == "sm3"


def _x509(subject: str, issuer: str, key: object, issuer_key: object, ca: bool) -> object:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    return (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=100))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    )


def test_chains_are_verified_against_the_trust_anchors(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

    root_key, leaf_key, rogue_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _x509("Root", "Root", root_key, root_key, True)
    leaf = _x509("good.gz.gov.cn", "Root", leaf_key, root_key, False)
    rogue = _x509("rogue.gz.gov.cn", "rogue.gz.gov.cn", rogue_key, rogue_key, False)
    (tmp_path / "root.pem").write_bytes(root.public_bytes(Encoding.PEM))  # type: ignore[attr-defined]
    config, store = small_estate(tmp_path, compliance={"trust_anchors": ["root.pem"]})
    with store.session() as s:
        rows = [
            _cert(name, key_type="ECDSA", pem=c.public_bytes(Encoding.PEM).decode())  # type: ignore[attr-defined]
            for name, c in (("good", leaf), ("rogue", rogue), ("root", root))
        ]
        s.add_all(rows)
        eps = [Endpoint(host="10.1.0.1", port=p, reachable=True, tls_versions=["TLSv1.3"]) for p in (443, 8443)]
        s.add_all(eps)
        s.flush()
        s.add_all(
            [
                CertificateSighting(certificate_id=rows[0].id, endpoint_id=eps[0].id, location="tls://a", role="leaf"),
                CertificateSighting(certificate_id=rows[2].id, endpoint_id=eps[0].id, location="tls://a", role="chain"),
                CertificateSighting(certificate_id=rows[1].id, endpoint_id=eps[1].id, location="tls://b", role="leaf"),
            ]
        )
    ctx = load_context(config, store, 3, NOW)
    assert ctx.certs["good"].chain_ok is True
    assert ctx.certs["rogue"].chain_ok is False and ctx.certs["rogue"].chain_error
    assert ctx.certs["root"].chain_ok is None  # not served as a leaf: not judged
    # Without anchors nothing is decided: the check says MANUAL rather than guessing.
    unanchored = load_context(config.model_copy(update={"compliance": {}}), store, 3, NOW)
    assert unanchored.certs["rogue"].chain_ok is None
