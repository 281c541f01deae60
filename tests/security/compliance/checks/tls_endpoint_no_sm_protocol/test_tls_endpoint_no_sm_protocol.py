"""tls_endpoint_no_sm_protocol: level-3+ endpoints must offer TLCP or RFC 8998."""

from __future__ import annotations

from pathlib import Path

from security.compliance.types import Status
from tests.compliance.estate import PORTAL, SOCIAL, endpoint
from tests.security.compliance.checks.checkrun import UNTAGGED, run, tls


def test_plain_tls_fails_and_tlcp_or_rfc8998_pass(tmp_path: Path) -> None:
    ctx = tls(
        tmp_path,
        [],
        [
            endpoint("10.1.0.1:443", SOCIAL, ("TLSv1.2",)),
            endpoint("10.1.0.1:8443", SOCIAL, ("TLCP", "TLSv1.2")),
            endpoint("10.1.0.1:9443", SOCIAL, ("TLSv1.3", "RFC8998")),
            endpoint("10.1.0.2:443", PORTAL, ("TLSv1.2",)),  # level 2: not held to it
        ],
    )
    assert run("tls_endpoint_no_sm_protocol", ctx) == {
        "10.1.0.1:443": Status.FAIL,
        "10.1.0.1:8443": Status.PASS,
        "10.1.0.1:9443": Status.PASS,
    }


def test_untagged_resources_are_held_to_the_audited_level(tmp_path: Path) -> None:
    ctx = tls(tmp_path, [], [endpoint("x:443", UNTAGGED, ("TLSv1.2",))])
    assert run("tls_endpoint_no_sm_protocol", ctx) == {"x:443": Status.FAIL}
    ctx.level = 2
    assert run("tls_endpoint_no_sm_protocol", ctx) == {}
