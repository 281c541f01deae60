"""tls_endpoint_weak_protocol: no TLS 1.0/1.1 and no weak cipher suites."""

from __future__ import annotations

from pathlib import Path

from security.compliance.types import Status
from tests.compliance.estate import SOCIAL, endpoint
from tests.security.compliance.checks.checkrun import run, tls


def test_old_protocols_and_weak_suites_fail_and_modern_tls_passes(tmp_path: Path) -> None:
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
