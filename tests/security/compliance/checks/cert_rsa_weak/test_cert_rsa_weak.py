"""cert_rsa_weak: RSA keys below 2048 bits."""

from __future__ import annotations

from pathlib import Path

from security.compliance.types import Status
from tests.compliance.estate import SOCIAL, cert, endpoint
from tests.security.compliance.checks.checkrun import run, tls


def test_a_bad_certificate_fails_and_a_good_one_passes(tmp_path: Path) -> None:
    ctx = tls(
        tmp_path,
        [cert("bad", **{"key_type": "RSA", "key_bits": 1024}), cert("good", **{"key_type": "RSA", "key_bits": 2048})],
        [endpoint("a:443", SOCIAL, ("TLCP",), "bad"), endpoint("b:443", SOCIAL, ("TLCP",), "good")],
    )
    assert run("cert_rsa_weak", ctx) == {"bad": Status.FAIL, "good": Status.PASS}
