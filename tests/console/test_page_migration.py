"""AppTest of the 迁移 page: assessment, plan review, run progress, guarded rollback/finalize."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from inventory.planning import build_plan
from playbooks import migration
from tests.console.estate import CITY
from tests.migration.estate import build_store, default_listings, make_config

PAGE = str(Path(__file__).resolve().parents[2] / "console" / "app_pages" / "migration.py")


@pytest.fixture
def seeded(tmp_path: Path) -> Any:
    config = make_config(tmp_path)
    store = build_store(config, default_listings())
    with store.session() as session:
        plan = build_plan(config, session, "xc-kunpeng", {"department": "市人社局"}).plan
    run_id, _ = migration.open_run(store, plan, None, actor="test")
    yield config, run_id, len(plan.items)
    store.dispose()


def _app(config: Any, role: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["user"] = {"name": "x", "role": role, "scope": CITY}
    at.session_state["ganyun_config"] = config
    at.session_state["lang"] = "en"
    return at


def test_assessment_plan_and_progress_render(seeded: Any) -> None:
    config, _run_id, items = seeded
    at = _app(config, "operator")
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["replatform"] == "7" and metrics["retain"] == "1" and metrics["rehost"] == "1"
    assessment = at.dataframe[0].value
    assert len(assessment) == 9
    assert "Windows" in " ".join(assessment["Reasons"].astype(str))
    progress = at.dataframe[-1].value
    assert len(progress) == items
    assert set(progress["Status"]) == {"pending"}

    at.selectbox(key="mig_dept").select("市人社局").run()
    assert len(at.dataframe[0].value) == 8  # the other department's VM is filtered out
    at.selectbox(key="mig_target").select("xc-kunpeng")
    at.button[0].click().run()  # the plan form's submit button
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["VMs"] == str(items)
    assert int(metrics["Hosts used"]) >= int(metrics["Host lower bound"])


def test_rollback_needs_confirmation_and_the_operator_role(seeded: Any) -> None:
    config, _, _ = seeded
    at = _app(config, "operator")
    at.run()
    at.button(key="mig_rollback").click().run()
    assert not at.exception
    assert any("confirmation" in w.value for w in at.warning)

    auditor = _app(config, "auditor")
    auditor.run()
    auditor.checkbox(key="mig_fin_confirm").check().run()
    auditor.button(key="mig_finalize").click().run()
    assert not auditor.exception
    assert auditor.error  # refused on the server, whatever the browser sent
    assert "mig_job" not in auditor.session_state
