"""AppTest of the 审计 page: search and verify."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from inventory.config import parse_config
from security import audit
from tests.console.estate import CITY

PAGE = str(Path(__file__).resolve().parents[2] / "console" / "app_pages" / "audit.py")


def test_search_and_verify(tmp_path: Path) -> None:
    config = parse_config({"database": f"sqlite:///{tmp_path / 'g.db'}"}, base_dir=str(tmp_path))
    for i in range(3):
        audit.append_action(config, "ops", "sync", {"run": i})
    audit.append_action(config, "alice", "comply.audit", {"level": 3})
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["user"] = {"name": "x", "role": "auditor", "scope": CITY}
    at.session_state["ganyun_config"] = config
    at.run()
    assert not at.exception
    assert list(at.dataframe[0].value["seq"]) == [4, 3, 2, 1]
    at.text_input(key="audit_action").input("comply").run()
    assert list(at.dataframe[0].value["actor"]) == ["alice"]
    at.button(key="verify").click().run()
    assert at.success and "4" in at.success[0].value
    with audit.store_for(config).session() as session:
        session.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    at.button(key="verify").click().run()
    assert at.error and "2" in at.error[0].value

