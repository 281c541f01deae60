"""cert_not_sm2: served certificates must carry SM2 keys."""

from __future__ import annotations

from pathlib import Path

from security.compliance.types import Status
from tests.compliance.estate import SOCIAL, cert, endpoint
from tests.security.compliance.checks.checkrun import results, run, tls


def test_a_bad_certificate_fails_and_a_good_one_passes(tmp_path: Path) -> None:
    ctx = tls(
        tmp_path,
        [cert("bad", **{"key_type": "RSA", "key_bits": 2048}), cert("good", **{})],
        [endpoint("a:443", SOCIAL, ("TLCP",), "bad"), endpoint("b:443", SOCIAL, ("TLCP",), "good")],
    )
    assert run("cert_not_sm2", ctx) == {"bad": Status.FAIL, "good": Status.PASS}


def test_certificate_findings_are_scored_to_the_serving_system(tmp_path: Path) -> None:
    ctx = tls(tmp_path, [cert("c1", key_type="RSA")], [endpoint("a:443", SOCIAL, ("TLSv1.2",), "c1")])
    (result,) = results("cert_not_sm2", ctx)
    assert result.owner.system == "社保系统" and result.evidence["endpoints"] == ["a:443"]
