"""Capacity report exports: an xlsx workbook with native Excel charts, and a self-contained
HTML page with the same charts (Plotly, its JavaScript inlined once: no network needed).

Texts come from a `label(key) -> str` callable so that the console's i18n stays in console/
(inventory never imports console).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from inventory.tenant_text import inert_workbook

Label = Callable[[str], str]
GIB = 1024
_RED = PatternFill("solid", fgColor="FFC7CE")
_HEAD = PatternFill("solid", fgColor="DDEBF7")


def default_label(key: str) -> str:
    return key.replace("_", " ")


# --------------------------------------------------------------------------- rows per section


def pool_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    head = ["name", "center", "pool_type", "hosts", "nodes", "phys_vcpus", "cap_vcpus", "alloc_vcpus", "free_vcpus",
            "used_vcpus_pct", "phys_ram_gb", "alloc_ram_gb", "free_ram_gb", "used_ram_pct", "phys_disk_gb",
            "alloc_disk_gb", "free_disk_gb", "used_disk_pct", "free_vm_units", "stale"]  # fmt: skip
    rows = [
        [p["name"], p["center"], p["pool"], p["hosts"], p["nodes"], p["physical"]["vcpus"], p["capacity"]["vcpus"],
         p["allocated"]["vcpus"], p["free"]["vcpus"], p["used_pct"]["vcpus"], p["physical"]["ram_mb"] // GIB,
         p["allocated"]["ram_mb"] // GIB, round(p["free"]["ram_mb"] / GIB, 1), p["used_pct"]["ram_mb"],
         p["physical"]["disk_gb"], p["allocated"]["disk_gb"], p["free"]["disk_gb"], p["used_pct"]["disk_gb"],
         p["free_vm_units"], "!" if p["stale"] else ""]
        for p in report["pools"]
    ]  # fmt: skip
    return head, rows


def pool_overview_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The pools at a glance (the CLI table and the console page): usage and free units."""
    head = ["name", "center", "pool_type", "nodes", "alloc_vcpus", "cap_vcpus", "used_vcpus_pct", "used_ram_pct",
            "used_disk_pct", "free_vm_units", "stale"]  # fmt: skip
    rows = [[p["name"], p["center"], p["pool"], p["nodes"], p["allocated"]["vcpus"], p["capacity"]["vcpus"],
             p["used_pct"]["vcpus"], p["used_pct"]["ram_mb"], p["used_pct"]["disk_gb"], p["free_vm_units"],
             "!" if p["stale"] else ""] for p in report["pools"]]  # fmt: skip
    return head, rows


def rollup_rows(groups: Iterable[dict[str, Any]], key: str) -> tuple[list[str], list[list[Any]]]:
    head = ["pool_type" if key == "pool" else key, "providers", "hosts", "nodes", "cap_vcpus", "alloc_vcpus",
            "used_vcpus_pct", "alloc_ram_gb",
            "used_ram_pct", "free_vm_units"]  # fmt: skip
    rows = [[g[key], g["providers"], g["hosts"], g["nodes"], g["capacity"]["vcpus"], g["allocated"]["vcpus"],
             g["used_pct"]["vcpus"], g["allocated"]["ram_mb"] // GIB, g["used_pct"]["ram_mb"], g["free_vm_units"]]
            for g in groups]  # fmt: skip
    return head, rows


def host_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    head = ["provider", "host", "center", "rack", "nodes", "phys_vcpus", "alloc_vcpus", "used_vcpus_pct",
            "phys_ram_gb", "alloc_ram_gb", "used_ram_pct"]  # fmt: skip
    rows = [[h["provider"], h["host"], h["center"], h["rack"], h["nodes"], h["physical"]["vcpus"],
             h["allocated"]["vcpus"], h["used_pct"]["vcpus"], h["physical"]["ram_mb"] // GIB,
             h["allocated"]["ram_mb"] // GIB, h["used_pct"]["ram_mb"]] for h in report["hosts"]]  # fmt: skip
    return head, rows


def rack_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    head = [
        "rack_id",
        "center",
        "rack",
        "hosts",
        "design_hosts",
        "fill_pct",
        "kw",
        "design_kw",
        "kw_fill_pct",
        "providers",
    ]
    rows = [[f"{r['center']}/{r['rack'] or '-'}", r["center"], r["rack"] or "-", r["hosts"], r["design_hosts"],
             r["fill_pct"], r["kw"], r["design_kw"], r["kw_fill_pct"], ", ".join(r["providers"])]
            for r in report["racks"]]  # fmt: skip
    return head, rows


def department_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    head = ["department", "nodes", "vcpus", "ram_gb", "disk_gb", "xc_vcpus", "xc_share"]
    rows = [[d["department"] or "-", d["nodes"], d["vcpus"], d["ram_mb"] // GIB, d["disk_gb"], d["xc_vcpus"],
             d["xc_share"]] for d in report["departments"]]  # fmt: skip
    return head, rows


def system_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    head = ["department", "system", "nodes", "vcpus", "ram_gb", "disk_gb", "xc_share", "providers"]
    rows = [[s["department"] or "-", s["system"] or "-", s["nodes"], s["vcpus"], s["ram_mb"] // GIB, s["disk_gb"],
             s["xc_share"], ", ".join(s["providers"])] for s in report["systems"]]  # fmt: skip
    return head, rows


def runout_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    head = ["pool", "center", "pool_type", "resource", "status", "current", "capacity", "runout", "earliest", "latest"]
    rows = []
    for f in report.get("forecast", []):
        for r, res in f["resources"].items():
            out = res.get("runout") or {}
            rows.append([f["pool"], f["center"], f["pool_type"], r, res["status"], res["current"], res["capacity"],
                         out.get("date"), out.get("earliest"), out.get("latest")])  # fmt: skip
    return head, rows


def rightsizing_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    head = ["provider", "name", "department", "system", "vcpus", "suggested_vcpus", "ram_gb", "suggested_ram_gb",
            "cpu_avg_pct", "cpu_p95_pct", "ram_avg_pct", "idle"]  # fmt: skip
    rows = [[s["provider"], s["name"], s["department"], s["system"], s["vcpus"], s["suggested_vcpus"],
             s["ram_mb"] // GIB, s["suggested_ram_mb"] // GIB, s["cpu_avg_pct"], s["cpu_p95_pct"], s["ram_avg_pct"],
             "Y" if s["idle"] else ""] for s in report.get("rightsizing", {}).get("top", [])]  # fmt: skip
    return head, rows


def rightsizing_level_rows(report: dict[str, Any], label: Label) -> tuple[list[str], list[list[Any]]]:
    """What each rightsizing level would take back; the level names through `label`."""
    head = ["level", "oversized", "vcpus_reclaimable", "ram_gb_reclaimable"]
    levels = (report.get("rightsizing") or {}).get("levels", {})
    rows = [[label(f"level_{k}"), v["oversized"], v["vcpus_reclaimable"], v["ram_mb_reclaimable"] // GIB]
            for k, v in levels.items()]  # fmt: skip
    return head, rows


def xinchuang_rows(report: dict[str, Any], by: str) -> tuple[list[str], list[list[Any]]]:
    """The Xinchuang share now, by "center" or by "department"; by department also the share
    the 信创 policy counts (domestic CPU and OS, inventory/capacity/xinchuang_compliance.py)."""
    head = [by, "vcpus", "xc_vcpus", "xc_share", "xc_node_share"]
    groups = report["xinchuang"][f"by_{by}"]
    rows = [[g[by] or "-", g["vcpus"], g["xc_vcpus"], g["share"], g["node_share"]] for g in groups]
    if by == "department":
        head += ["compliant_vcpus", "compliant_share", "noncompliant_pool_nodes"]
        for row, g in zip(rows, groups, strict=True):
            row += [g.get("compliant_vcpus", 0), g.get("compliant_share", 0.0), g.get("noncompliant_pool_nodes", 0)]
    return head, rows


def noncompliant_rows(report: dict[str, Any], label: Label) -> tuple[list[str], list[list[Any]]]:
    """Workloads in Xinchuang pools that the policy does not count (a foreign OS on domestic CPUs)."""
    head = ["department", "system", "provider", "name", "cpu_vendor", "os_family", "vcpus", "why"]
    listed = (report["xinchuang"].get("noncompliant_in_pool") or {}).get("listed", [])
    rows = [[r["department"] or "-", r["system"] or "-", r["provider"], r["name"], r["cpu_vendor"] or "-",
             r["os_family"] or "-", r["vcpus"], ", ".join(label(f"why_{w}") for w in r["why"])]
            for r in listed]  # fmt: skip
    return head, rows


def headroom_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    head = ["pool", "center", "fits_now", "short_vcpus", "short_ram_gb", "short_disk_gb", "until", "earliest"]
    rows = []
    for tg in report.get("headroom", {}).get("targets", []):
        until = tg["until"] or {}
        rows.append([tg["pool"], tg["center"], "Y" if tg["fits_now"] else "N", tg["shortfall"]["vcpus"],
                     round(tg["shortfall"]["ram_mb"] / GIB, 1), tg["shortfall"]["disk_gb"], until.get("date"),
                     until.get("earliest")])  # fmt: skip
    return head, rows


def summary_rows(report: dict[str, Any]) -> list[tuple[str, Any]]:
    totals = report.get("totals") or {}
    xc = report["xinchuang"]
    runouts = [f for f in report.get("forecast", []) if f["runout_date"]]
    first = min(runouts, key=lambda f: f["runout_date"]) if runouts else None
    return [
        ("generated_at", report["generated_at"]),
        ("providers", len(report["providers"])),
        ("stale_providers", len(report["stale"])),
        ("nodes", totals.get("nodes", 0)),
        ("hosts", totals.get("hosts", 0)),
        ("alloc_vcpus", (totals.get("allocated") or {}).get("vcpus", 0)),
        ("cap_vcpus", (totals.get("capacity") or {}).get("vcpus", 0)),
        ("used_vcpus_pct", (totals.get("used_pct") or {}).get("vcpus")),
        ("free_vm_units", totals.get("free_vm_units", 0)),
        ("xc_share", xc["share"]),
        ("xc_node_share", xc["node_share"]),
        ("compliant_share", xc.get("compliant_share", 0.0)),
        ("noncompliant_pool_nodes", (xc.get("noncompliant_in_pool") or {}).get("nodes", 0)),
        ("rack_fill_pct", report["rack_summary"]["fill_pct"]),
        ("first_runout", f"{first['pool']} {first['runout_resource']} {first['runout_date']}" if first else "-"),
    ]


# --------------------------------------------------------------------------- xlsx


def _write_table(ws: Worksheet, head: Sequence[str], rows: Sequence[Sequence[Any]], label: Label, row: int = 1) -> int:
    for col, key in enumerate(head, start=1):
        cell = ws.cell(row=row, column=col, value=label(f"col_{key}"))
        cell.font = Font(bold=True)
        cell.fill = _HEAD
        ws.column_dimensions[get_column_letter(col)].width = max(12, min(40, len(str(cell.value)) * 2 + 2))
    for r, values in enumerate(rows, start=row + 1):
        for col, value in enumerate(values, start=1):
            ws.cell(row=r, column=col, value=value)
    ws.freeze_panes = ws.cell(row=row + 1, column=1)
    return row + len(rows)


def _bar(ws: Worksheet, title: str, cats: tuple[int, int, int], cols: Sequence[int], first: int, last: int,
         anchor: str, percent: bool = False) -> None:  # fmt: skip
    """A clustered bar chart over columns `cols` (header in row first-1) and category column."""
    if last < first:
        return
    chart = BarChart()
    chart.title = title
    chart.height, chart.width = 8, 18
    for col in cols:
        chart.add_data(Reference(ws, min_col=col, min_row=first - 1, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=cats[0], min_row=cats[1], max_row=cats[2]))
    if percent:
        chart.y_axis.title = "%"
    ws.add_chart(chart, anchor)


def _stale_banner(ws: Worksheet, report: dict[str, Any], label: Label, row: int) -> int:
    if not report["stale"]:
        return row
    cell = ws.cell(row=row, column=1, value=label("stale_banner"))
    cell.font = Font(bold=True, color="9C0006")
    cell.fill = _RED
    for s in report["stale"]:
        row += 1
        text = f"{s['provider']}: {s['status']} — {label('last_success')} {s['last_success'] or '-'}"
        c = ws.cell(row=row, column=1, value=text)
        c.fill = _RED
    return row + 2


def write_xlsx(report: dict[str, Any], path: Path, label: Label = default_label) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = label("sheet_summary")[:31]
    ws.cell(row=1, column=1, value=label("report_title")).font = Font(bold=True, size=14)
    row = _stale_banner(ws, report, label, 3)
    for key, value in summary_rows(report):
        ws.cell(row=row, column=1, value=label(f"col_{key}")).font = Font(bold=True)
        ws.cell(row=row, column=2, value=value)
        row += 1
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 36
    # Summary chart: allocated against capacity per pool (vCPU), from a small block beside it.
    block = row + 2
    head, prow = ["name", "cap_vcpus", "alloc_vcpus"], [[p["name"], p["capacity"]["vcpus"], p["allocated"]["vcpus"]]
                                                         for p in report["pools"]]  # fmt: skip
    end = _write_table(ws, head, prow, label, block)
    ws.freeze_panes = None
    _bar(ws, label("chart_pool_vcpus"), (1, block + 1, end), (2, 3), block + 1, end, "D3")

    sheet = wb.create_sheet(label("sheet_pools")[:31])
    head, rows = pool_rows(report)
    end = _write_table(sheet, head, rows, label)
    _bar(sheet, label("chart_pool_used"), (1, 2, end), (10, 14, 18), 2, end, f"A{end + 3}", percent=True)

    sheet = wb.create_sheet(label("sheet_centers")[:31])
    head, rows = rollup_rows(report["centers"], "center")
    end = _write_table(sheet, head, rows, label)
    _bar(sheet, label("chart_center_used"), (1, 2, end), (7, 9), 2, end, "L2", percent=True)
    _write_table(sheet, *rollup_rows(report["pool_types"], "pool"), label, end + 3)
    sheet.freeze_panes = "A2"

    sheet = wb.create_sheet(label("sheet_hosts")[:31])
    _write_table(sheet, *host_rows(report), label)

    sheet = wb.create_sheet(label("sheet_racks")[:31])
    head, rows = rack_rows(report)
    end = _write_table(sheet, head, rows, label)
    _bar(sheet, label("chart_rack_fill"), (1, 2, end), (6,), 2, end, "L2", percent=True)

    sheet = wb.create_sheet(label("sheet_departments")[:31])
    head, rows = department_rows(report)
    end = _write_table(sheet, head, rows, label)
    _bar(sheet, label("chart_departments"), (1, 2, min(end, 21)), (3, 6), 2, min(end, 21), "I2")

    sheet = wb.create_sheet(label("sheet_systems")[:31])
    _write_table(sheet, *system_rows(report), label)

    sheet = wb.create_sheet(label("sheet_xinchuang")[:31])
    trend = report["xinchuang"]["trend"]["overall"]
    end = _write_table(sheet, ["day", "vcpus", "xc_vcpus", "xc_share"],
                       [[p["day"], p["vcpus"], p["xc_vcpus"], p["share"]] for p in trend], label)  # fmt: skip
    if trend:
        line = LineChart()
        line.title = label("chart_xc_trend")
        line.height, line.width = 8, 18
        line.add_data(Reference(sheet, min_col=4, min_row=1, max_row=end), titles_from_data=True)
        line.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=end))
        sheet.add_chart(line, "F2")
    end = _write_table(sheet, *xinchuang_rows(report, "center"), label, max(end, 20) + 3)
    end = _write_table(sheet, *xinchuang_rows(report, "department"), label, end + 3)
    _write_table(sheet, *noncompliant_rows(report, label), label, end + 3)
    sheet.freeze_panes = "A2"

    _forecast_sheet(wb.create_sheet(label("sheet_forecast")[:31]), report, label)

    sheet = wb.create_sheet(label("sheet_rightsizing")[:31])
    end = _write_table(sheet, *rightsizing_level_rows(report, label), label)
    _bar(sheet, label("chart_rightsizing"), (1, 2, end), (3,), 2, end, "F2")
    _write_table(sheet, *rightsizing_rows(report), label, max(end, 18) + 3)

    if "headroom" in report:
        _write_table(wb.create_sheet(label("sheet_headroom")[:31]), *headroom_rows(report), label)
    # Department, system and VM names are a tenant's text: no cell may become a formula.
    inert_workbook(wb)
    wb.save(path)
    return path


def _forecast_sheet(sheet: Worksheet, report: dict[str, Any], label: Label) -> None:
    head, rows = runout_rows(report)
    end = _write_table(sheet, head, rows, label)
    # One line chart per pool (vCPU): history-free forecast mean, bounds and capacity.
    col = len(head) + 2
    anchor_row = 2
    for f in report.get("forecast", []):
        res = f["resources"]["vcpus"]
        if not res["points"]:
            continue
        top = end + 3
        sheet.cell(row=top, column=col, value=f"{f['pool']} vCPU")
        header = ["week", "mean", "lower", "upper", "capacity"]
        for i, key in enumerate(header):
            sheet.cell(row=top + 1, column=col + i, value=label(f"col_{key}"))
        for j, (day, mean, lo, hi) in enumerate(res["points"], start=top + 2):
            for i, value in enumerate((day, mean, lo, hi, res["capacity"])):
                sheet.cell(row=j, column=col + i, value=value)
        last = top + 1 + len(res["points"])
        line = LineChart()
        line.title = f"{f['pool']} — {label('chart_forecast')}"
        line.height, line.width = 7, 16
        line.add_data(Reference(sheet, min_col=col + 1, max_col=col + 4, min_row=top + 1, max_row=last),
                      titles_from_data=True)  # fmt: skip
        line.set_categories(Reference(sheet, min_col=col, min_row=top + 2, max_row=last))
        sheet.add_chart(line, f"{get_column_letter(col + 6)}{anchor_row}")
        anchor_row += 16
        col += 6


# --------------------------------------------------------------------------- html


def _html_table(head: Sequence[str], rows: Sequence[Sequence[Any]], label: Label, limit: int = 200) -> str:
    th = "".join(f"<th>{html.escape(label('col_' + h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r) + "</tr>"
        for r in rows[:limit]
    )
    more = f"<p class='more'>… {len(rows) - limit}</p>" if len(rows) > limit else ""
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>{more}"


def figures(report: dict[str, Any], label: Label) -> dict[str, Any]:
    """The Plotly figures of the report, by section (also used by the console page)."""
    import plotly.graph_objects as go

    figs: dict[str, Any] = {}
    pools = report["pools"]
    names = [p["name"] for p in pools]
    figs["pools"] = go.Figure(
        [go.Bar(name=label("col_cap_vcpus"), x=names, y=[p["capacity"]["vcpus"] for p in pools]),
         go.Bar(name=label("col_alloc_vcpus"), x=names, y=[p["allocated"]["vcpus"] for p in pools])],
        layout={"title": label("chart_pool_vcpus"), "barmode": "group"},
    )  # fmt: skip
    centers = report["centers"]
    figs["centers"] = go.Figure(
        [go.Bar(name=label("col_used_vcpus_pct"), x=[c["center"] for c in centers],
                y=[c["used_pct"]["vcpus"] for c in centers]),
         go.Bar(name=label("col_used_ram_pct"), x=[c["center"] for c in centers],
                y=[c["used_pct"]["ram_mb"] for c in centers])],
        layout={"title": label("chart_center_used"), "barmode": "group", "yaxis": {"title": "%"}},
    )  # fmt: skip
    racks = report["racks"]
    figs["racks"] = go.Figure(
        [go.Bar(x=[f"{r['center']}/{r['rack'] or '-'}" for r in racks], y=[r["fill_pct"] for r in racks])],
        layout={"title": label("chart_rack_fill"), "yaxis": {"title": "%"}},
    )
    depts = report["departments"][:20]
    figs["departments"] = go.Figure(
        [go.Bar(name=label("col_vcpus"), x=[d["department"] for d in depts], y=[d["vcpus"] for d in depts]),
         go.Bar(name=label("col_xc_vcpus"), x=[d["department"] for d in depts], y=[d["xc_vcpus"] for d in depts])],
        layout={"title": label("chart_departments"), "barmode": "group"},
    )  # fmt: skip
    trend = report["xinchuang"]["trend"]["overall"]
    figs["xinchuang"] = go.Figure(
        [go.Scatter(x=[p["day"] for p in trend], y=[p["share"] for p in trend], mode="lines")],
        layout={"title": label("chart_xc_trend"), "yaxis": {"tickformat": ".0%"}},
    )
    for f in report.get("forecast", []):
        res = f["resources"]["vcpus"]
        if not res["points"]:
            continue
        days = [p[0] for p in res["points"]]
        figs[f"forecast:{f['pool']}"] = go.Figure(
            [go.Scatter(x=days, y=[p[3] for p in res["points"]], mode="lines", line={"width": 0}, showlegend=False),
             go.Scatter(x=days, y=[p[2] for p in res["points"]], mode="lines", line={"width": 0}, fill="tonexty",
                        name=label("col_interval")),
             go.Scatter(x=days, y=[p[1] for p in res["points"]], mode="lines", name=label("col_mean")),
             go.Scatter(x=days, y=[res["capacity"]] * len(days), mode="lines", name=label("col_capacity"),
                        line={"dash": "dash"})],
            layout={"title": f"{f['pool']} vCPU — {label('chart_forecast')}"},
        )  # fmt: skip
    levels = (report.get("rightsizing") or {}).get("levels", {})
    figs["rightsizing"] = go.Figure(
        [go.Bar(x=[label(f"level_{k}") for k in levels], y=[v["vcpus_reclaimable"] for v in levels.values()])],
        layout={"title": label("chart_rightsizing")},
    )
    return figs


_CSS = """body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0 24px;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#ddebf7}.stale{background:#ffc7ce;color:#9c0006;padding:12px;border:2px solid #9c0006;font-weight:bold}
h2{border-bottom:2px solid #1f4e79;color:#1f4e79}"""


def write_html(report: dict[str, Any], path: Path, label: Label = default_label) -> Path:
    figs = figures(report, label)
    parts: list[str] = []
    first = True

    def chart(key: str) -> None:
        nonlocal first
        fig = figs.get(key)
        if fig is None:
            return
        # The Plotly bundle goes inline with the first chart only; no CDN, machines are offline.
        parts.append(fig.to_html(full_html=False, include_plotlyjs=first))
        first = False

    parts.append(f"<h1>{html.escape(label('report_title'))}</h1>")
    if report["stale"]:
        items = "".join(
            f"<li>{html.escape(s['provider'])}: {html.escape(s['status'])} — {html.escape(label('last_success'))} "
            f"{html.escape(s['last_success'] or '-')}</li>"
            for s in report["stale"]
        )
        parts.append(f"<div class='stale' id='stale'>{html.escape(label('stale_banner'))}<ul>{items}</ul></div>")
    parts.append(_html_table(["key", "value"], [[label(f"col_{k}"), v] for k, v in summary_rows(report)], label))
    chart("pools")
    parts.append(f"<h2>{html.escape(label('sheet_pools'))}</h2>" + _html_table(*pool_rows(report), label))
    parts.append(f"<h2>{html.escape(label('sheet_centers'))}</h2>")
    chart("centers")
    parts.append(_html_table(*rollup_rows(report["centers"], "center"), label)
                 + _html_table(*rollup_rows(report["pool_types"], "pool"), label))  # fmt: skip
    parts.append(f"<h2>{html.escape(label('sheet_racks'))}</h2>")
    chart("racks")
    parts.append(_html_table(*rack_rows(report), label))
    parts.append(f"<h2>{html.escape(label('sheet_departments'))}</h2>")
    chart("departments")
    parts.append(_html_table(*department_rows(report), label))
    parts.append(f"<h2>{html.escape(label('sheet_xinchuang'))}</h2>")
    chart("xinchuang")
    parts.append(_html_table(*xinchuang_rows(report, "department"), label))
    parts.append(f"<h3>{html.escape(label('noncompliant_title'))}</h3>")
    parts.append(_html_table(*noncompliant_rows(report, label), label))
    parts.append(f"<h2>{html.escape(label('sheet_forecast'))}</h2>" + _html_table(*runout_rows(report), label))
    for key in [k for k in figs if k.startswith("forecast:")]:
        chart(key)
    parts.append(f"<h2>{html.escape(label('sheet_rightsizing'))}</h2>")
    chart("rightsizing")
    parts.append(_html_table(*rightsizing_rows(report), label))
    if "headroom" in report:
        parts.append(f"<h2>{html.escape(label('sheet_headroom'))}</h2>" + _html_table(*headroom_rows(report), label))
    page = (f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><title>"
            f"{html.escape(label('report_title'))}</title><style>{_CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>")  # fmt: skip
    path.write_text(page, encoding="utf-8")
    return path
