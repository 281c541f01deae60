"""证书 page: charts from the certificate tables; issuing is for security officers only."""

from __future__ import annotations

from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from tests.console.apptest import PAGES, audit_entries, button, session_for


def _run(estate, role):
    at = AppTest.from_file(str(PAGES / "certificates.py"), default_timeout=60)
    session_for(at, estate, role)
    return at.run()


def _cert_count(estate):
    from security.cert_models import Certificate

    with estate.store.session() as s:
        return s.scalar(select(func.count()).select_from(Certificate))


def _issue(at, cn):
    at.text_input(key="cert_cn").input(cn)
    at.text_input(key="cert_sans").input(f"{cn}, 10.1.2.3")
    return button(at, "签发").click().run()


def test_security_officer_issues_an_sm2_pair_shown_in_the_mix(estate):
    at = _issue(_run(estate, "security_officer"), "sbxt.gz.gov.cn")
    assert not at.exception, at.exception
    assert any("已签发双证书" in s.value for s in at.success)
    assert _cert_count(estate) == 2  # signing + encryption certificate
    assert (estate.dir / "ca" / "issued" / "sbxt.gz.gov.cn" / "enc.pem").exists()
    issued = audit_entries(estate, "certs.issue")
    assert issued[0]["actor"] == "console:security_officer" and issued[0]["details"]["ok"] is True
    at = _run(estate, "auditor")
    assert {m.label: m.value for m in at.metric}["证书总数"] == "2"
    assert {m.label: m.value for m in at.metric}["SM2 证书占比"] == "100%"
    assert "sbxt.gz.gov.cn" in at.selectbox(key="cert_renew").options


def test_auditor_cannot_issue(estate):
    at = _issue(_run(estate, "auditor"), "x.gz.gov.cn")
    assert not at.exception
    assert "无权执行此操作：当前角色不允许。" in [e.value for e in at.error]
    assert _cert_count(estate) == 0
    assert not (estate.dir / "ca").exists()
    assert audit_entries(estate, "console.denied")[0]["actor"] == "console:auditor"


def test_operator_cannot_issue(estate):
    at = _issue(_run(estate, "operator"), "x.gz.gov.cn")
    assert "无权执行此操作：当前角色不允许。" in [e.value for e in at.error]
    assert _cert_count(estate) == 0


def test_empty_state_renders(estate):
    at = _run(estate, "planner")
    assert not at.exception
    assert "尚无证书：请先运行 ganyun certs scan。" in [i.value for i in at.info]
