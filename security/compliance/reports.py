"""Audit reports: JSON (machines), CSV (findings), Excel (summary + findings + requirements
sheets) and a bilingual self-contained HTML page for an assessor (no CDN, no scripts)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from inventory.tenant_text import inert_cell, inert_workbook
from security.compliance.engine import AuditReport

FORMATS = ("json", "html", "xlsx", "csv")
FINDING_COLUMNS = (
    "check_id", "severity", "status", "resource_type", "resource_key", "resource_name", "provider", "center",
    "department", "system", "mlps_level", "first_seen", "last_seen", "evidence",
)  # fmt: skip
_TEMPLATES = Path(__file__).with_name("templates")
_REQUIREMENT_HEADER = (
    "标准 Framework", "条款 Clause", "要求 Requirement", "Requirement", "强度 Strength", "状态 Status",
    "检查 Checks", "证据 Evidence",
)  # fmt: skip
_STATUS_ZH = {"PASS": "符合", "FAIL": "不符合", "MANUAL": "人工核查", "WAIVED": "已豁免", "N/A": "不适用"}


def _cell(value: Any) -> Any:
    """A spreadsheet cell: structures as JSON text, text made inert (resource names are a tenant's)."""
    if isinstance(value, dict | list):
        return inert_cell(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return "" if value is None else inert_cell(value)


def to_json(report: AuditReport) -> bytes:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2).encode("utf-8")


def to_csv(report: AuditReport) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("title_zh", "title_en", *FINDING_COLUMNS))
    for f in report.findings:
        writer.writerow((_cell(f["title"]["zh"]), _cell(f["title"]["en"]), *(_cell(f.get(c)) for c in FINDING_COLUMNS)))
    # BOM: Excel opens UTF-8 CSV with Chinese text correctly only with it
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(report: AuditReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    bold = Font(bold=True)
    fills = {"FAIL": PatternFill("solid", fgColor="F8D7DA"), "PASS": PatternFill("solid", fgColor="D4EDDA")}
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总 Summary"
    rows: list[tuple[Any, ...]] = [
        ("商用密码应用合规审计 Compliance audit", ""),
        ("标准 Framework", report.framework.get("title", {}).get("zh", "")),
        ("等级 Level", report.level),
        ("审计编号 Audit", report.audit_id),
        ("时间 Time", report.started_at),
        ("得分 Score", report.score),
        ("", ""),
        ("状态 Status", "数量 Count"),
        *((f"{_STATUS_ZH.get(k, k)} {k}", v) for k, v in report.counts.items()),
        ("", ""),
        ("不符合项严重程度 Failed by severity", ""),
        *report.failed_by_severity.items(),
    ]
    for dim, label in (("department", "单位 Department"), ("system", "业务系统 System"), ("center", "中心 Center")):
        rows += [("", ""), (label, "得分 Score"), *report.scores.get(dim, {}).items()]
    for row in rows:
        ws.append(list(row))
    for cell in ws["A"]:
        cell.font = bold
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 60

    fs = wb.create_sheet("问题清单 Findings")
    fs.append(["检查项 Title (zh)", "Title (en)", *FINDING_COLUMNS])
    for f in report.findings:
        fs.append([f["title"]["zh"], f["title"]["en"], *(_cell(f.get(c)) for c in FINDING_COLUMNS)])
        fill = fills.get(f["status"])
        if fill is not None:
            fs.cell(row=fs.max_row, column=5).fill = fill
    for cell in fs[1]:
        cell.font = bold
    fs.freeze_panes = "A2"
    fs.auto_filter.ref = fs.dimensions

    rs = wb.create_sheet("要求 Requirements")
    rs.append(list(_REQUIREMENT_HEADER))
    for r in report.requirements:
        rs.append([r["framework"], r["id"], r["title"]["zh"], r["title"]["en"], r["strength"], r["status"],
                   ", ".join(r["checks"]) or "MANUAL", r["evidence"]])  # fmt: skip
    for cell in rs[1]:
        cell.font = bold
    inert_workbook(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_html(report: AuditReport) -> bytes:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    failing = [f for f in report.findings if f["status"] == "FAIL"]
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    failing.sort(key=lambda f: (order.get(f["severity"], 9), f["check_id"], f["resource_key"]))
    html = env.get_template("report.html.j2").render(
        r=report.to_dict(), failing=failing, status_zh=_STATUS_ZH,
        waived=[f for f in report.findings if f["status"] == "WAIVED"],
    )  # fmt: skip
    return html.encode("utf-8")


def render(report: AuditReport, fmt: str) -> bytes:
    return {"json": to_json, "html": to_html, "xlsx": to_xlsx, "csv": to_csv}[fmt](report)
