"""AppTest of the 合规 page on a small estate."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from console.i18n import t
from inventory.config import GanyunConfig
from inventory.store import Store
from security.compliance import engine, waivers
from security.compliance.registry import load_checks
from security.compliance.timeutil import now
from tests.compliance.estate import small_estate
from tests.console.estate import CITY

PAGE = str(Path(__file__).resolve().parents[2] / "console" / "app_pages" / "compliance.py")


@pytest.fixture
def estate(tmp_path: Path) -> tuple[GanyunConfig, Store]:
    return small_estate(tmp_path)


def page(config: GanyunConfig, role: str, name: str = "x") -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["user"] = {"name": name, "role": role, "scope": CITY}
    at.session_state["ganyun_config"] = config
    return at


def test_no_audit_yet_then_run_one(estate: tuple[GanyunConfig, Store]) -> None:
    config, _store = estate
    at = page(config, "security_officer").run()
    assert not at.exception
    assert any("还没有审计记录" in i.value for i in at.info)
    at.button[0].click().run()  # the form's submit button
    assert not at.exception
    assert at.metric[0].value == str(engine.latest_audit(_store)["score"])  # type: ignore[index]
    frame_ = at.dataframe[3].value  # scores x3 tabs, then findings
    assert "hw-gov/volume/v-plain" in set(frame_["key"])
    assert [b.label for b in at.get("download_button")] == ["JSON", "HTML", "XLSX", "CSV"]


def test_scores_findings_and_waiver_approval(estate: tuple[GanyunConfig, Store]) -> None:
    config, store = estate
    engine.run_audit(config, store, 3)
    wid = waivers.request(
        store,
        {"check_id": "volume_not_sm4", "reason": "AES 过渡期", "requested_by": "console:alice",
         "expires_at": now() + timedelta(days=30)},
        set(load_checks()),
    )  # fmt: skip
    at = page(config, "security_officer", "bob").run()
    assert not at.exception
    assert at.metric[1].value == "4"  # failed findings
    at.button(key=f"approve_{wid}").click().run()
    assert not at.exception
    assert waivers.list_all(store)[0]["state"] == "approved" and waivers.list_all(store)[0]["approver"] == "console:bob"


def test_planner_cannot_run_or_decide(estate: tuple[GanyunConfig, Store]) -> None:
    config, store = estate
    engine.run_audit(config, store, 3)
    at = page(config, "planner").run()
    assert not at.exception
    assert not any(getattr(b, "key", "") and str(b.key).startswith("approve_") for b in at.button)
    at.button[0].click().run()  # run audit: refused server-side
    assert t("console.forbidden", "zh-CN") in [e.value for e in at.error]
    assert len(engine.trend(store)) == 1
