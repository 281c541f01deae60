"""Role rules of console.frame, checked without the UI: admin holds all, the auditor none."""

from __future__ import annotations

import pytest
import streamlit as st

from console import frame


@pytest.fixture()
def as_role(monkeypatch):
    def set_role(role):
        state = {"user": {"name": role, "role": role}} if role else {}
        monkeypatch.setattr(st, "session_state", state)

    return set_role


@pytest.mark.parametrize("roles", [("operator",), ("security_officer",), ("planner",), ("operator", "planner")])
def test_auditor_holds_no_action_role(as_role, roles):
    as_role("auditor")
    assert not frame.has_role(*roles)


def test_admin_holds_every_role_and_others_only_theirs(as_role):
    as_role("admin")
    assert all(frame.has_role(r) for r in ("operator", "security_officer", "planner"))
    as_role("planner")
    assert frame.has_role("planner") and not frame.has_role("operator")
    as_role(None)
    assert not frame.has_role("operator") and frame.actor() == "console:anonymous"
