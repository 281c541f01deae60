"""cert_chain_unverified: certificate chains that do not verify."""

from __future__ import annotations

from pathlib import Path

from security.compliance.types import Status
from tests.compliance.estate import SOCIAL, cert, endpoint
from tests.security.compliance.checks.checkrun import run, tls


def test_a_bad_certificate_fails_and_a_good_one_passes(tmp_path: Path) -> None:
    ctx = tls(
        tmp_path,
        [cert("bad", **{"chain_ok": False}), cert("good", **{})],
        [endpoint("a:443", SOCIAL, ("TLCP",), "bad"), endpoint("b:443", SOCIAL, ("TLCP",), "good")],
    )
    assert run("cert_chain_unverified", ctx) == {"bad": Status.FAIL, "good": Status.PASS}
