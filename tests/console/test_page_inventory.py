from __future__ import annotations

import io

import openpyxl
from streamlit.testing.v1 import AppTest

from console.services.viewer import Viewer
from inventory.scope import Scope
from tests.console.estate import PAGES, session_for


def _run(estate):
    at = AppTest.from_file(str(PAGES / "inventory.py"), default_timeout=60)
    session_for(at, estate, "auditor")
    return at.run()


def test_table_filtered_by_pool_and_sorted(estate):
    at = _run(estate)
    assert not at.exception
    assert len(at.dataframe[0].value) == 14
    at.selectbox(key="inv_f_nodes_pool").select("xinchuang").run()
    table = at.dataframe[0].value
    assert set(table["云平台"]) == {"xc-pool"} and len(table) == 3
    assert list(table["架构"]) == ["aarch64"] * 3
    at.selectbox(key="inv_f_nodes_pool").select("").run()
    at.selectbox(key="inv_sort_nodes").select("vcpus").run()
    at.toggle(key="inv_desc_nodes").set_value(True).run()
    first = at.dataframe[0].value.iloc[0]
    assert (first["云平台"], first["vCPU"]) == ("hw-gov", 8)


def test_pagination_cuts_in_the_database(tmp_path):
    from tests.console.estate import build_estate

    estate = build_estate(tmp_path, nodes_per_cloud=60)  # 60 + 30 + 2 + 3 VMs
    at = _run(estate)
    assert len(at.dataframe[0].value) == 25
    at.number_input(key="inv_nodes_page").set_value(4).run()
    assert len(at.dataframe[0].value) == 95 - 75
    assert any("第 4 / 4 页，共 95 行" in c.value for c in at.caption)


def test_node_detail_shows_change_history(estate):
    at = _run(estate)
    at.selectbox(key="inv_f_nodes_provider").select("hw-gov").run()
    label = next(o for o in at.selectbox(key="inv_node").options if "hw-gov-n0" in o)
    at.selectbox(key="inv_node").select(label).run()
    assert not at.exception
    assert any("虚拟机详情" in s.value for s in at.subheader)
    history = at.dataframe[-1].value
    # The first sync is the baseline (no "added" events); the resize of the second sync shows.
    assert list(history["变更"]) == ["changed"]
    assert "vcpus" in history["变更字段"].iloc[0]


def test_exports_csv_and_xlsx_hold_the_filtered_rows(estate):
    at = _run(estate)
    at.selectbox(key="inv_f_nodes_provider").select("xc-pool").run()
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["导出 CSV", "导出 Excel"]
    from console.app_pages import inventory as page

    url, city = estate.config.database_url, Viewer("planner", "planner", Scope.city_wide())
    key = (("provider", "xc-pool"),)
    csv = page.export_rows(city, url, "nodes", key, "", "name", False, "csv").decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("云平台,名称") and len(csv.splitlines()) == 4
    book = openpyxl.load_workbook(io.BytesIO(page.export_rows(city, url, "nodes", key, "", "name", False, "xlsx")))
    rows = list(book.active.iter_rows(values_only=True))
    assert len(rows) == 4 and {r[0] for r in rows[1:]} == {"xc-pool"}
