"""The SM2 CA: its output verifies with the OpenSSL command line; renewals keep the subject."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from security import certs

DISTID = "distid:1234567812345678"


def _openssl_verify(ca: Path, *cert: Path, distid: bool = True) -> int:
    opts = ["-vfyopt", DISTID] if distid else []
    return subprocess.run(["openssl", "verify", *opts, "-CAfile", str(ca), *map(str, cert)],
                          capture_output=True).returncode


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from console.cli import app

    ca_dir = tmp_path_factory.mktemp("ca")
    # The CLI with --json prints paths; run in-process through the real app.
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = app(args=["certs", "issue", "--cn", "oa.gz.gov.cn", "--san", "oa.gz.gov.cn", "--san", "10.1.2.3",
                         "--ca-dir", str(ca_dir), "--json"], prog_name="ganyun")
    assert code in (None, 0)
    return ca_dir, json.loads(buf.getvalue())


def test_issued_pair_verifies_with_openssl(issued) -> None:
    ca_dir, out = issued
    assert out["ca_created"] is True
    ca = ca_dir / "ca.pem"
    assert _openssl_verify(ca, Path(out["sign_cert"]), Path(out["enc_cert"]), ca) == 0
    # Signed with the standard ID, not the empty one Debian's openssl assumes by default.
    assert _openssl_verify(ca, Path(out["sign_cert"]), distid=False) != 0
    assert certs.verify_files(Path(out["sign_cert"]), [ca]).valid


def test_gm_key_usages_and_pairing(issued) -> None:
    _, out = issued
    sign, enc = certs.load_file(Path(out["sign_cert"]))[0], certs.load_file(Path(out["enc_cert"]))[0]
    assert certs.key_usages(sign) == ["digital_signature", "content_commitment"]
    assert certs.key_usages(enc) == ["key_encipherment", "data_encipherment", "key_agreement"]
    assert certs.pair_dual([enc, sign]) == [(sign, enc)]
    assert certs.describe(sign)["sans"] == ["oa.gz.gov.cn", "10.1.2.3"]


def test_keys_are_private_and_load_in_openssl(issued) -> None:
    ca_dir, out = issued
    for key in (ca_dir / "ca.key", Path(out["sign_key"]), Path(out["enc_key"])):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        subprocess.run(["openssl", "pkey", "-in", str(key), "-noout"], check=True, capture_output=True)


def test_renew_keeps_subject_and_changes_key(issued, cli) -> None:
    ca_dir, out = issued
    old = certs.load_file(Path(out["sign_cert"]))[0]
    old_key = certs.sm2_public_key(old)
    code, stdout, err = cli("certs", "issue", "--renew", out["sign_cert"], "--ca-dir", str(ca_dir), "--json")
    assert code == 0, err
    data = json.loads(stdout)
    assert data["ca_created"] is False
    new = certs.load_file(Path(data["sign_cert"]))[0]
    assert new.subject == old.subject and new.serial_number != old.serial_number
    assert certs.sm2_public_key(new) != old_key
    assert _openssl_verify(ca_dir / "ca.pem", Path(data["sign_cert"])) == 0


def test_issue_needs_cn_or_renew(cli, tmp_path: Path) -> None:
    code, _, err = cli("certs", "issue", "--ca-dir", str(tmp_path))
    assert code == 2 and "--cn" in err
