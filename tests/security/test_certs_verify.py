"""`ganyun certs verify` on chains made fresh with the OpenSSL command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from security import certs

pytestmark = pytest.mark.xdist_group("chains")


def _verify(cli, *args: str) -> tuple[int, dict]:
    code, out, err = cli("certs", "verify", *args, "--json")
    assert code in (0, 1), err
    return code, json.loads(out)


@pytest.mark.parametrize("algo", ["sm2", "rsa", "ec"])
def test_good_chain_with_untrusted_intermediate(cli, chains, algo: str) -> None:
    c = chains[algo]
    code, data = _verify(cli, str(c["leaf"]), "--ca", str(c["root"]), "--untrusted", str(c["int"]))
    assert code == 0 and data["valid"] and data["errors"] == []
    assert len(data["chain"]) == 3
    assert data["key_type"] == {"sm2": "SM2", "rsa": "RSA", "ec": "ECDSA"}[algo]
    assert data["signature_algorithm"] == {"sm2": "sm2-with-sm3", "rsa": "sha256WithRSAEncryption",
                                           "ec": "ecdsa-with-SHA256"}[algo]
    assert data["not_after"]


@pytest.mark.parametrize("algo", ["sm2", "rsa"])
def test_bundle_and_intermediate_as_ca(cli, chains, algo: str) -> None:
    c = chains[algo]
    assert _verify(cli, str(c["bundle"]), "--ca", str(c["root"]))[0] == 0
    # A non-self-signed --ca is an intermediate, not an anchor: the root is still needed...
    assert _verify(cli, str(c["leaf"]), "--ca", str(c["root"]), "--ca", str(c["int"]))[0] == 0
    code, data = _verify(cli, str(c["leaf"]), "--ca", str(c["int"]))
    assert code == 1 and data["errors"]
    # ...unless the user says explicitly to trust it.
    assert _verify(cli, str(c["leaf"]), "--ca", str(c["int"]), "--partial-chain")[0] == 0


@pytest.mark.parametrize(
    ("algo", "variant", "reason"),
    [
        ("sm2", "tampered", "signature"),
        ("sm2", "empty_id", "EMPTY ID"),
        ("sm2", "wrong_id", "signature"),
        ("sm2", "expired", "expired"),
        ("sm2", "wrong_issuer", "issuer"),
        ("rsa", "tampered", "signature"),
        ("rsa", "expired", "expired"),
        ("rsa", "wrong_issuer", "issuer"),
        ("ec", "tampered", "signature"),
        ("ec", "wrong_issuer", "issuer"),
    ],
)
def test_bad_certificates_rejected_with_reason(cli, chains, algo: str, variant: str, reason: str) -> None:
    c = chains[algo]
    code, data = _verify(cli, str(c[variant]), "--ca", str(c["root"]), "--untrusted", str(c["int"]))
    assert code == 1 and data["valid"] is False
    assert any(reason in e for e in data["errors"]), data["errors"]


def test_human_output_and_english(cli, chains) -> None:
    c = chains["sm2"]
    code, out, _ = cli("--lang", "en", "certs", "verify", str(c["expired"]), "--ca", str(c["root"]),
                       "--untrusted", str(c["int"]))
    assert code == 1 and "invalid" in out and "expired" in out


def test_crl_revocation(cli, chains, tmp_path: Path) -> None:
    c = chains["rsa"]
    inter = x509.load_pem_x509_certificate(c["int"].read_bytes())
    inter_key = serialization.load_pem_private_key(c["int_key"].read_bytes(), None)
    root = x509.load_pem_x509_certificate(c["root"].read_bytes())
    root_key = serialization.load_pem_private_key(c["root_key"].read_bytes(), None)
    leaf = x509.load_pem_x509_certificate(c["leaf"].read_bytes())

    def crl(issuer: x509.Certificate, key, revoked: list[int]) -> bytes:
        import datetime as dt

        now = dt.datetime.now(dt.UTC)
        b = x509.CertificateRevocationListBuilder().issuer_name(issuer.subject).last_update(now).next_update(
            now + dt.timedelta(days=7))
        for serial in revoked:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
        return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    (tmp_path / "crl.pem").write_bytes(crl(inter, inter_key, [leaf.serial_number]) + crl(root, root_key, []))
    code, data = _verify(cli, str(c["leaf"]), "--ca", str(c["root"]), "--untrusted", str(c["int"]),
                         "--crl", str(tmp_path / "crl.pem"))
    assert code == 1 and any("revoked" in e for e in data["errors"])
    (tmp_path / "ok.pem").write_bytes(crl(inter, inter_key, [999]) + crl(root, root_key, []))
    assert _verify(cli, str(c["leaf"]), "--ca", str(c["root"]), "--untrusted", str(c["int"]),
                   "--crl", str(tmp_path / "ok.pem"))[0] == 0


def test_openssl_agrees_on_the_sm2_chain(chains) -> None:
    c = chains["sm2"]
    # Debian's `openssl verify -vfyopt distid:...` applies the ID to the target certificate only,
    # so it checks a three-level SM2 chain one link at a time.
    def ossl(ca: Path, cert: Path, *extra: str) -> int:
        return subprocess.run(["openssl", "verify", "-vfyopt", "distid:1234567812345678", *extra, "-CAfile", str(ca),
                               str(cert)], capture_output=True).returncode

    assert ossl(c["root"], c["int"]) == 0
    assert ossl(c["int"], c["leaf"], "-partial_chain") == 0
    assert ossl(c["int"], c["empty_id"], "-partial_chain") != 0
    assert certs.verify_files(c["leaf"], [c["root"]], untrusted_paths=[c["int"]]).valid


def test_fields_and_dual_pairing(chains) -> None:
    c = chains["sm2"]
    sign, enc = certs.load_file(c["sign"])[0], certs.load_file(c["enc"])[0]
    info = certs.describe(sign)
    assert info["key_type"] == "SM2" and info["role"] == "sign"
    assert "digital_signature" in info["key_usage"]
    assert certs.describe(enc)["role"] == "enc"
    assert len(info["sm3"]) == 64 and len(info["sha256"]) == 64 and info["sm3"] != info["sha256"]
    pairs = certs.pair_dual([enc, certs.load_file(c["leaf"])[0], sign])
    assert pairs == [(sign, enc)]
    # the SM2 public key cryptography refuses is decoded from the SPKI
    assert certs.sm2_public_key(sign).point[0] == 4
    leaf = certs.describe(certs.load_file(c["leaf"])[0])
    assert leaf["sans"] == ["sm2-leaf.gz.gov.cn"]
