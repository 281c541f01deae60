"""cert_expired: served certificates must not have expired."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from security.compliance.types import Status
from tests.compliance.estate import NOW, SOCIAL, cert, endpoint
from tests.security.compliance.checks.checkrun import run, tls


def test_a_bad_certificate_fails_and_a_good_one_passes(tmp_path: Path) -> None:
    ctx = tls(
        tmp_path,
        [
            cert("bad", **{"not_after": NOW - timedelta(days=1)}),
            cert("good", **{"not_after": NOW + timedelta(days=400)}),
        ],
        [endpoint("a:443", SOCIAL, ("TLCP",), "bad"), endpoint("b:443", SOCIAL, ("TLCP",), "good")],
    )
    assert run("cert_expired", ctx) == {"bad": Status.FAIL, "good": Status.PASS}
