"""The router: login page in Chinese, login and logout recorded, language switch, navigation."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.console.apptest import APP, audit_entries, button, session_for
from tests.fakes.estates.city import PASSWORD

TIMEOUT = 60


def _app(estate, role=None):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    session_for(at, estate, role)
    return at


def test_login_page_is_chinese_by_default(estate):
    at = _app(estate).run()
    assert not at.exception
    assert at.title[0].value == "赣云 · 一朵云运维控制台"
    assert [b.label for b in at.button if b.label == "登录"]
    assert "user" not in at.session_state


def test_wrong_password_is_refused_and_recorded(estate):
    at = _app(estate).run()
    at.text_input(key="login_user").input("operator")
    at.text_input(key="login_password").input("not-the-password")
    button(at, "登录").click().run()
    assert not at.exception
    assert "登录失败：用户名或密码错误，或尝试过于频繁，请稍候再试。" in [e.value for e in at.error]
    assert "user" not in at.session_state
    failed = audit_entries(estate, "console.login_failed")
    assert failed and failed[0]["details"]["user"] == "operator"
    assert "not-the-password" not in str(failed)


def test_login_then_overview_then_logout(estate):
    at = _app(estate).run()
    at.text_input(key="login_user").input("planner")
    at.text_input(key="login_password").input(PASSWORD)
    button(at, "登录").click().run()
    assert not at.exception
    assert at.session_state["user"]["role"] == "planner"
    assert "总览" in [t.value for t in at.title]  # the default page after login
    logins = audit_entries(estate, "console.login")
    assert [e["actor"] for e in logins if e["action"] == "console.login"] == ["console:planner"]
    button(at, "退出登录").click().run()
    assert "user" not in at.session_state
    assert audit_entries(estate, "console.logout")[0]["actor"] == "console:planner"


def test_english_switch(estate):
    at = _app(estate).run()
    at.selectbox(key="lang_choice").select("en").run()
    assert not at.exception
    assert at.title[0].value == "Ganyun · One Cloud operations console"
    assert [b.label for b in at.button if b.label == "Sign in"]


def test_sidebar_shows_user_and_role(estate):
    at = _app(estate, "security_officer").run()
    assert not at.exception
    assert "角色：安全管理员" in [c.value for c in at.sidebar.caption]
