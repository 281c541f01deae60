"""cert_weak_signature_hash: signatures over weak hashes (SHA-1, MD5)."""

from __future__ import annotations

from pathlib import Path

from security.compliance.types import Status
from tests.compliance.estate import SOCIAL, cert, endpoint
from tests.security.compliance.checks.checkrun import run, tls


def test_a_bad_certificate_fails_and_a_good_one_passes(tmp_path: Path) -> None:
    ctx = tls(
        tmp_path,
        [cert("bad", **{"signature_hash": "sha1"}), cert("good", **{"signature_hash": "sha256"})],
        [endpoint("a:443", SOCIAL, ("TLCP",), "bad"), endpoint("b:443", SOCIAL, ("TLCP",), "good")],
    )
    assert run("cert_weak_signature_hash", ctx) == {"bad": Status.FAIL, "good": Status.PASS}
