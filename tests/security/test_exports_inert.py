"""Issue 13, item 6: exports are inert (OWASP CSV injection) and HTML exports escape.

A tenant of the lab renames and re-tags its VMs with formula payloads through its cloud's
Nova API. After a sync, every CSV and XLSX ganyun writes from them (inventory list, compliance
audit, capacity report, the console's inventory downloads) is read back: no cell is a formula,
every payload comes back with the OWASP leading quote, and numeric columns are still numbers.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from inventory import query
from inventory.config import load_config
from inventory.store import open_store
from inventory.tenant_text import inert_cell, inert_workbook
from lab import control
from tests.security.tenant import Tenant

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("exports-inert-lab")]
GANYUN = str(Path(sys.executable).with_name("ganyun"))
FORMULAS = ['=HYPERLINK("http://x","y")', "+1", "-cmd", "@SUM(A1)", "\t=1", "\r=1", "-5", "=1+2"]
HTML = "<img src=x onerror=alert(1)>"
DEPARTMENT = "市人社局"


class Lab:
    def __init__(self, lab_dir: Path, config: Path) -> None:
        self.dir = lab_dir
        self.config = config
        self.env = {**os.environ, "GANYUN_CONFIG": str(config), "GANYUN_LANG": "en"}
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"

    def run(self, *args: str) -> bytes:
        proc = subprocess.run([GANYUN, *args], env=self.env, cwd=self.dir, capture_output=True, timeout=600)
        assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])
        return proc.stdout


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab_dir = tmp_path_factory.mktemp("exportlab").resolve()
    config = Path(control.up(lab_dir, "small"))
    try:
        lab = Lab(lab_dir, config)
        lab.run("sync")
        store = open_store(load_config(config).database_url)
        with store.session() as session:
            nodes = sorted(query.iter_records(session, "nodes", {"department": DEPARTMENT}), key=lambda n: n["name"])
        store.dispose()
        tenants: dict[str, Tenant] = {}
        for i, payload in enumerate(FORMULAS):
            node = nodes[i]
            tenant = tenants.setdefault(node["provider"], Tenant(config, node["provider"]))
            tenant.rename(node["id"], payload)
            tenant.tag(node["id"], {"department": FORMULAS[(i + 1) % len(FORMULAS)],
                                    "system": FORMULAS[(i + 2) % len(FORMULAS)], "owner": payload})  # fmt: skip
        node = nodes[len(FORMULAS)]
        tenants.setdefault(node["provider"], Tenant(config, node["provider"])).tag(
            node["id"], {"department": HTML, "system": HTML}
        )
        lab.run("sync")
        yield lab
    finally:
        control.down(lab_dir)


def _payload_of(text: str) -> str | None:
    """The payload a neutralized cell holds, if any (openpyxl reads \\r back as \\n)."""
    for payload in FORMULAS:
        if text in ("'" + payload, "'" + payload.replace("\r", "\n"), payload, payload.replace("\r", "\n")):
            return payload
    return None


def _check_cells(cells: list[Any]) -> set[str]:
    """Every payload cell is quoted; returns the payloads seen (so an export without any fails)."""
    seen = set()
    for value in cells:
        if isinstance(value, str) and (payload := _payload_of(value)) is not None:
            assert value.startswith("'"), repr(value)
            seen.add(payload)
        if isinstance(value, str):
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), repr(value)
    return seen


def _xlsx_cells(data: bytes) -> tuple[list[Any], list[openpyxl.cell.cell.Cell]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"], "formula cells in the workbook"
    return [c.value for c in cells], cells


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_inventory_csv(lab: Lab) -> None:
    rows = _csv_rows(lab.run("inventory", "list", "--format", "csv"))
    assert len(rows) >= 200
    seen = _check_cells([v for row in rows for v in row.values()])
    assert seen == set(FORMULAS)
    by_name = {_payload_of(r["name"]): r for r in rows if _payload_of(r["name"])}
    assert set(by_name) == set(FORMULAS)
    for row in rows:
        # Numbers stay numbers: written as plain digits, read back as integers.
        assert int(row["vcpus"]) > 0 and int(row["ram_mb"]) > 0 and int(row["disk_gb"]) >= 0
    assert by_name["-5"]["name"] == "'-5"  # a tenant's numeric-looking name is text


def test_compliance_xlsx_and_csv(lab: Lab) -> None:
    xlsx = lab.dir / "audit.xlsx"
    lab.run("comply", "audit", "--format", "xlsx", "--output", str(xlsx))
    values, _ = _xlsx_cells(xlsx.read_bytes())
    assert _check_cells(values) & set(FORMULAS)  # the tenant's departments reach the report
    book = openpyxl.load_workbook(xlsx)
    findings = book.worksheets[1]
    head = [c.value for c in findings[1]]
    levels = [row[head.index("mlps_level")] for row in findings.iter_rows(min_row=2, values_only=True)]
    assert any(isinstance(v, int) for v in levels)  # MLPS levels stay numeric cells
    score = next(row[1] for row in book.worksheets[0].iter_rows(values_only=True) if row[0] == "得分 Score")
    assert isinstance(score, int | float)

    rows = _csv_rows(lab.run("comply", "audit", "--format", "csv"))
    assert _check_cells([v for row in rows for v in row.values()]) & set(FORMULAS)
    assert all(r["mlps_level"] == "" or r["mlps_level"].isdigit() for r in rows)


def test_capacity_xlsx(lab: Lab) -> None:
    path = lab.dir / "capacity.xlsx"
    lab.run("capacity", "report", "--format", "xlsx", "--output", str(path))
    values, _ = _xlsx_cells(path.read_bytes())
    assert _check_cells(values) & set(FORMULAS)
    book = openpyxl.load_workbook(path)
    departments = book.worksheets[5]  # summary, pools, centers, hosts, racks, departments
    numeric = [row[1] for row in departments.iter_rows(min_row=2, values_only=True) if row[1] is not None]
    assert numeric and all(isinstance(v, int) for v in numeric)  # node counts stay numbers


def test_console_inventory_downloads(lab: Lab) -> None:
    from console.app_pages import inventory as page
    from console.services.viewer import Viewer
    from inventory.scope import Scope

    url, city = load_config(lab.config).database_url, Viewer("planner", "planner", Scope.city_wide())
    for fmt in ("csv", "xlsx"):
        data = page.export_rows(city, url, "nodes", (), "", "name", False, fmt)
        if fmt == "csv":
            values: list[Any] = [v for row in _csv_rows(data) for v in row.values()]
        else:
            values, cells = _xlsx_cells(data)
            vcpus = [c for c in cells if c.column == 4 and c.row > 1]  # NODE_COLUMNS: vcpus is the 4th
            assert len(vcpus) >= 200 and all(c.data_type == "n" and isinstance(c.value, int) for c in vcpus)
        assert _check_cells(values) == set(FORMULAS)


def test_html_exports_escape(lab: Lab) -> None:
    compliance = lab.dir / "audit.html"
    lab.run("comply", "audit", "--format", "html", "--output", str(compliance))
    capacity = lab.dir / "capacity.html"
    lab.run("capacity", "report", "--format", "html", "--output", str(capacity))
    for page in (compliance, capacity):
        text = page.read_text(encoding="utf-8")
        assert HTML not in text
        assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_inert_cell_rule() -> None:
    assert [inert_cell(v) for v in FORMULAS] == ["'" + v for v in FORMULAS]
    assert [inert_cell(v) for v in (5, -5, 2.5, -0.5, True, None, "web-01", "'=x", "赣服通")] == [
        5, -5, 2.5, -0.5, True, None, "web-01", "'=x", "赣服通",
    ]  # fmt: skip
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["=1+2", -3, "ok"])
    assert sheet["A1"].data_type == "f"
    inert_workbook(book)
    assert (sheet["A1"].value, sheet["A1"].data_type) == ("'=1+2", "s")
    assert (sheet["B1"].value, sheet["B1"].data_type) == (-3, "n")


def test_console_tables_have_no_raw_csv_download() -> None:
    """st.dataframe's own toolbar download does not neutralize cells: the console turns it off."""
    from streamlit import config

    from console.commands.console_cmd import streamlit_argv

    argv = streamlit_argv("127.0.0.1", 8501, None)
    assert argv[argv.index("--client.disableDataExport") + 1] == "true"
    assert "client.disableDataExport" in config._config_options_template  # a real Streamlit option
