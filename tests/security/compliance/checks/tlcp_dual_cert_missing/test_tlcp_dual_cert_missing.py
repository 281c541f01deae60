"""tlcp_dual_cert_missing: a TLCP endpoint serves both a signing and an encryption certificate."""

from __future__ import annotations

from pathlib import Path

from security.compliance.types import Status
from tests.compliance.estate import SOCIAL, endpoint
from tests.security.compliance.checks.checkrun import run, tls


def test_signing_cert_alone_fails_and_the_pair_passes(tmp_path: Path) -> None:
    ctx = tls(
        tmp_path,
        [],
        [
            endpoint("a:443", SOCIAL, ("TLCP",), tlcp_sign_cert="s1", tlcp_enc_cert="e1"),
            endpoint("b:443", SOCIAL, ("TLCP",), tlcp_sign_cert="s2"),
            endpoint("c:443", SOCIAL, ("TLSv1.2",)),  # not TLCP: not this check's business
        ],
    )
    assert run("tlcp_dual_cert_missing", ctx) == {"a:443": Status.PASS, "b:443": Status.FAIL}
