"""cert_self_signed_served: self-signed certificates served by endpoints."""

from __future__ import annotations

from pathlib import Path

from security.compliance.types import Status
from tests.compliance.estate import SOCIAL, cert, endpoint
from tests.security.compliance.checks.checkrun import run, tls


def test_a_bad_certificate_fails_and_a_good_one_passes(tmp_path: Path) -> None:
    ctx = tls(
        tmp_path,
        [cert("bad", **{"self_signed": True}), cert("good", **{})],
        [endpoint("a:443", SOCIAL, ("TLCP",), "bad"), endpoint("b:443", SOCIAL, ("TLCP",), "good")],
    )
    assert run("cert_self_signed_served", ctx) == {"bad": Status.FAIL, "good": Status.PASS}


def test_unserved_self_signed_root_is_not_a_finding(tmp_path: Path) -> None:
    ctx = tls(tmp_path, [cert("root", self_signed=True)], [])
    assert run("cert_self_signed_served", ctx) == {}
