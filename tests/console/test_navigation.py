"""Pages declare themselves (PAGE = PageSpec(...)); the router lists and runs only the pages the
signed-in role may open, and a URL of any other page does not run it."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from console import accounts, navigation
from console.i18n import catalog, t
from console.navigation import EVERY_ROLE, PageSpec
from providers.errors import ConfigError
from tests.console.estate import APP, PAGES, session_for

TIMEOUT = 60
AUDIT_ROLES = ("auditor", "security_officer")


def _registered(at: AppTest) -> list[str]:
    """The url paths st.navigation offered in this run (what the sidebar lists)."""
    return sorted(str(info.get("url_pathname") or "") for info in at._registered_pages.values())


def test_every_page_file_declares_itself_with_texts_in_both_languages() -> None:
    pages = navigation.discover()
    files = sorted(p.stem for p in PAGES.glob("*.py") if not p.name.startswith("_"))
    assert sorted(p.url_path for p in pages) == files
    assert [p.spec.order for p in pages] == sorted(p.spec.order for p in pages)
    assert pages[0].url_path == "overview"  # the default page after sign-in
    for page in pages:
        assert page.spec.title_key in catalog(), page.path.name
        assert set(page.spec.roles) <= set(accounts.ROLES)
    assert next(p for p in pages if p.url_path == "audit").spec.roles == AUDIT_ROLES


def test_pages_for_a_role() -> None:
    everything = [p.url_path for p in navigation.discover()]
    assert [p.url_path for p in navigation.pages_for("admin")] == everything
    assert [p.url_path for p in navigation.pages_for("auditor")] == everything
    assert "audit" not in [p.url_path for p in navigation.pages_for("operator")]
    assert navigation.pages_for(None) == [] and navigation.pages_for("nobody") == []


def test_a_new_page_is_one_file(tmp_path: Path) -> None:
    (tmp_path / "_helpers.py").write_text("X = 1\n")  # not a page
    (tmp_path / "reports.py").write_text(
        'from console.navigation import PageSpec\nimport streamlit as st\n\n'
        'PAGE = PageSpec("console.page_reports", ":material/summarize:", roles=("planner",), order=35)\n'
        'st.title("never run by discovery")\n'
    )  # fmt: skip
    (tmp_path / "first.py").write_text('PAGE = PageSpec("k", "i", roles=EVERY_ROLE, order=1)\n')
    pages = navigation.discover(tmp_path)
    assert [(p.url_path, p.spec) for p in pages] == [
        ("first", PageSpec("k", "i", EVERY_ROLE, 1)),
        ("reports", PageSpec("console.page_reports", ":material/summarize:", ("planner",), 35)),
    ]
    assert [p.url_path for p in navigation.pages_for("planner", pages)] == ["first", "reports"]
    assert [p.url_path for p in navigation.pages_for("operator", pages)] == ["first"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import streamlit as st\n", "declares PAGE = PageSpec"),
        ('PAGE = PageSpec("k", "i", roles=ROLES, order=1)\n', "literal arguments"),
        ('PAGE = PageSpec("k", "i", roles=("operator", "root"), order=1)\n', "unknown roles root"),
        ('PAGE = PageSpec("k", "i", roles=("operator",))\n', "literal arguments"),
        ('PAGE = PageSpec("k", "i", roles=("operator",), order="ten")\n', "order: int"),
        ('PAGE = PageSpec("k", "i", roles=(), order=1)\n', "at least one role"),
    ],
)
def test_a_page_without_a_proper_declaration_is_refused(tmp_path: Path, source: str, message: str) -> None:
    (tmp_path / "broken.py").write_text(source)
    with pytest.raises(ConfigError, match=rf"broken\.py: .*{message}"):
        navigation.discover(tmp_path)


# --------------------------------------------------------------------------- through the router


def _signed_in(estate, role: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    session_for(at, estate, role)
    return at.run()


@pytest.mark.parametrize("role", accounts.ROLES)
def test_a_role_sees_only_its_pages(estate, role: str) -> None:
    at = _signed_in(estate, role)
    assert not at.exception
    expected = sorted(p.url_path for p in navigation.discover() if role == "admin" or role in p.spec.roles)
    # The default page is registered under an empty url path.
    assert _registered(at) == sorted(["" if u == "overview" else u for u in expected])
    assert t("console.page_overview", "zh-CN") in [title.value for title in at.title]


def test_a_listed_page_runs(estate) -> None:
    at = _signed_in(estate, "auditor")
    at.switch_page("app_pages/audit.py").run()
    assert not at.exception
    assert t("audit.page_title", "zh-CN") in [title.value for title in at.title]
    assert "verify" in [b.key for b in at.button]


def test_a_page_not_listed_for_the_role_cannot_be_reached(estate) -> None:
    at = _signed_in(estate, "operator")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/audit.py")  # not offered to this role at all
    # What a browser sends for /audit: the page hash of that url path. It resolves to nothing
    # this role has, so the default page runs instead; the audit page never does.
    at._page_hash = calc_hash("audit")
    at.run()
    assert not at.exception
    titles = [title.value for title in at.title]
    assert t("console.page_overview", "zh-CN") in titles and t("audit.page_title", "zh-CN") not in titles
    assert "verify" not in [b.key for b in at.button]
