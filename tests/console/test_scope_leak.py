"""Scope leak test: a county account (定南县) and a department account (市财政局) on every console
page and every export see their own departments' nodes, certificates, findings and systems
and nothing of any other department's.

Pages are found by listing console/app_pages/, so a new page is covered without editing this
test; each page is rendered by Streamlit's AppTest with every choice a read can depend on, and
everything it sent to the browser (texts, tables, charts' data, widget options) is searched.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pyarrow as pa
import pytest
from google.protobuf.message import Message
from streamlit.testing.v1 import AppTest

from console import clock, sessions
from console.accounts import Identity
from console.services import capacity, certificates, compliance, drills, inventory, migration
from console.services.viewer import Viewer
from inventory.capacity.api import write_html, write_xlsx
from inventory.query import LIST_KINDS
from inventory.scope import Scope
from tests.console.apptest import PAGES
from tests.console.scope_estate import COUNTY, DEPARTMENT, OTHER, ScopeEstate, build, forbidden, leaks

pytestmark = pytest.mark.xdist_group("scope_leak")

VIEWERS = {"county": (COUNTY,), "department": (DEPARTMENT,)}
PAGE_FILES = sorted(p for p in PAGES.glob("*.py") if p.name != "__init__.py")


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScopeEstate]:
    built = build(tmp_path_factory.mktemp("scope"))
    yield built
    built.store.dispose()


def _viewer(departments: tuple[str, ...]) -> Viewer:
    return Viewer(f"acct-{departments[0]}", "admin", Scope.of(departments))


# --------------------------------------------------------------------------- what a page sent


def _arrow_text(blob: bytes) -> str:
    try:
        table = pa.ipc.open_stream(blob).read_all()
    except (pa.ArrowInvalid, OSError):
        return ""
    return table.to_pandas().to_csv()


def _proto_text(message: Message) -> Iterator[str]:
    for _descriptor, value in message.ListFields():
        if isinstance(value, int | float):
            continue
        # Repeated fields iterate (by index: their containers have no __iter__ to test for).
        values = [value] if isinstance(value, str | bytes | Message) else list(value)
        for item in values:
            if isinstance(item, Message):
                yield from _proto_text(item)
            elif isinstance(item, bytes):
                yield _arrow_text(item)
            elif isinstance(item, str):
                yield item


def _page_text(at: AppTest) -> str:
    parts: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if isinstance(proto, Message):
            parts.extend(_proto_text(proto))
        value = getattr(node, "value", None) if type(node).__name__ == "Dataframe" else None
        if isinstance(value, pd.DataFrame):
            parts.append(value.to_csv())
        children = getattr(node, "children", None)
        for child in children.values() if isinstance(children, dict) else children or ():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def _app(estate: ScopeEstate, page: Path, departments: tuple[str, ...]) -> AppTest:
    at = AppTest.from_file(str(page), default_timeout=120)
    at.session_state["ganyun_config"] = estate.config
    identity = Identity(f"acct-{departments[0]}", "admin", "", "local", Scope.of(departments))
    at.session_state["user"] = sessions.start(identity, clock.now())
    return at


def _renderings(estate: ScopeEstate, page: Path, departments: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """The page as first shown, then after each choice that changes what it reads."""
    at = _app(estate, page, departments).run()
    assert not at.exception, at.exception
    yield "first run", _page_text(at)
    keys = {getattr(w, "key", None) for w in at.selectbox}
    if "inv_kind" in keys:
        for kind in LIST_KINDS:
            at.selectbox(key="inv_kind").select(kind).run()
            assert not at.exception, at.exception
            yield f"kind {kind}", _page_text(at)
        at.selectbox(key="inv_kind").select("nodes").run()
        picks = at.selectbox(key="inv_node").options
        if len(picks) > 1:
            at.selectbox(key="inv_node").select(picks[1]).run()
            yield "node detail", _page_text(at)
    if "mig_run" in keys:
        for run in at.selectbox(key="mig_run").options:
            at.selectbox(key="mig_run").select(run).run()
            yield f"run {run}", _page_text(at)
    if any(b.key == "cap_headroom" for b in at.button):
        at.text_area(key="cap_where").input("pool=legacy")
        next(b for b in at.button if b.key == "cap_headroom").click().run()
        assert not at.exception, at.exception
        yield "headroom", _page_text(at)


@pytest.mark.parametrize("who", sorted(VIEWERS))
@pytest.mark.parametrize("page", PAGE_FILES, ids=lambda p: p.stem)
def test_no_page_shows_another_departments_data(estate: ScopeEstate, page: Path, who: str) -> None:
    departments = VIEWERS[who]
    banned = forbidden(estate, departments)
    for step, text in _renderings(estate, page, departments):
        assert not leaks(text, banned), f"{page.stem} ({step}) shows {leaks(text, banned)[:10]}"


@pytest.mark.parametrize("who", sorted(VIEWERS))
def test_pages_show_the_viewers_own_data(estate: ScopeEstate, who: str) -> None:
    """The leak test must be able to fail: each viewer's own things are on the pages."""
    departments = VIEWERS[who]
    department = departments[0]
    shown = {p.stem: "\n".join(text for _step, text in _renderings(estate, p, departments)) for p in PAGE_FILES}
    assert any(name in shown["inventory"] for name in estate.nodes[department])
    assert department in shown["capacity"]
    assert any(cn in shown["certificates"] for cn in estate.certificates[department])
    assert estate.drills[department] in shown["dr"]
    assert department in shown["compliance"] and any(k in shown["compliance"] for k in estate.findings[department])
    assert any(name in shown["migration"] for name in estate.nodes[department])
    # The audit log stays with city-wide accounts.
    assert "仅限全市" in shown["audit"]


def test_a_city_wide_account_sees_every_department(estate: ScopeEstate) -> None:
    at = AppTest.from_file(str(PAGES / "inventory.py"), default_timeout=120)
    at.session_state["ganyun_config"] = estate.config
    at.session_state["user"] = sessions.start(Identity("city", "admin", "", "local", Scope.city_wide()), clock.now())
    text = _page_text(at.run())
    assert COUNTY in text and DEPARTMENT in text and OTHER in text


# --------------------------------------------------------------------------- exports


def _xlsx_text(blob: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(blob))
    return "\n".join(str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row if c)


def _exports(estate: ScopeEstate, viewer: Viewer) -> Iterator[tuple[str, str]]:
    from console.app_pages import inventory as inventory_page

    url = estate.config.database_url
    for kind in ("nodes", "hosts"):
        csv = inventory_page.export_rows(viewer, url, kind, (), "", "name", False, "csv").decode("utf-8-sig")
        yield f"inventory {kind} csv", csv
        yield f"inventory {kind} xlsx", _xlsx_text(inventory_page.export_rows(viewer, url, kind, (), "", "name",
                                                                               False, "xlsx"))  # fmt: skip
    for kind in (*LIST_KINDS, "certificates"):
        yield f"inventory list {kind}", json.dumps(inventory.records(estate.store, viewer, kind), ensure_ascii=False,
                                                   default=str)  # fmt: skip
    report = capacity.report(estate.store, viewer, estate.config, headroom_filters={})
    yield "capacity json", json.dumps(report, ensure_ascii=False, default=str)
    with tempfile.TemporaryDirectory() as tmp:
        yield "capacity xlsx", _xlsx_text(write_xlsx(report, Path(tmp) / "c.xlsx").read_bytes())
        yield "capacity html", write_html(report, Path(tmp) / "c.html").read_text(encoding="utf-8")
    for fmt in ("json", "csv", "html"):
        yield f"compliance {fmt}", compliance.render(estate.store, viewer, estate.audit, fmt).decode("utf-8-sig")
    yield "compliance xlsx", _xlsx_text(compliance.render(estate.store, viewer, estate.audit, "xlsx"))
    plan = migration.build_plan(estate.store, viewer, estate.config, "xinchuang", {}, wave_size=20, lang="zh-CN")
    yield "migration plan", plan.plan.model_dump_json()
    yield "migration runs", json.dumps(migration.runs(estate.store, viewer), ensure_ascii=False, default=str)
    for run in migration.runs(estate.store, viewer):
        detail = migration.run_detail(estate.store, viewer, run["run_id"])
        yield f"migration run {run['run_id']}", json.dumps(detail, ensure_ascii=False, default=str)
    for run_id in estate.drills.values():
        yield f"drill report {run_id}", json.dumps(drills.report(estate.store, viewer, run_id), ensure_ascii=False)
    yield "endpoints", json.dumps(certificates.endpoints(estate.store, viewer), ensure_ascii=False)


@pytest.mark.parametrize("who", sorted(VIEWERS))
def test_no_export_holds_another_departments_data(estate: ScopeEstate, who: str) -> None:
    departments = VIEWERS[who]
    viewer = _viewer(departments)
    banned = forbidden(estate, departments)
    seen = ""
    for name, text in _exports(estate, viewer):
        assert not leaks(text, banned), f"{name} holds {leaks(text, banned)[:10]}"
        seen += text
    own = departments[0]
    assert own in seen and any(n in seen for n in estate.nodes[own])
    assert any(cn in seen for cn in estate.certificates[own])
    assert estate.drills[own] in seen
