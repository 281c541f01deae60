"""The drill report as HTML. Labels come from the caller (the console's i18n), both languages."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

LABEL_KEYS = (
    "report_title",
    "scenario",
    "status",
    "run_id",
    "primary_before",
    "primary_after",
    "checks",
    "check",
    "target",
    "measured",
    "met",
    "measurements",
    "verification",
    "center",
    "role",
    "rows",
    "files",
    "steps",
    "stage",
    "task",
    "duration",
    "systems",
    "yes",
    "no",
)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict | list):
        return html.escape(json.dumps(value, ensure_ascii=False))
    return html.escape(str(value))


def _table(head: list[str], rows: list[list[Any]]) -> str:
    out = ["<table><tr>", *[f"<th>{h}</th>" for h in head], "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


def render_html(report: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """One self-contained page; `labels[key]` is e.g. "场景 / Scenario"."""

    def lab(key: str) -> str:
        return html.escape(labels.get(key, key))

    yes, no = labels.get("answer_yes", "yes"), labels.get("answer_no", "no")
    checks = [[c["name"], c["target"], c["measured"], yes if c["met"] else no] for c in report.get("checks", [])]
    meas = [[k, v] for k, v in report.get("measurements", {}).items() if k != "lost_ids"]
    centers = report.get("verification", {}).get("centers", {})
    ver = [
        [
            c,
            e.get("role"),
            (e.get("heartbeat") or {}).get("rows", "-"),
            (e.get("heartbeat") or {}).get("md5", "-"),
            e.get("appdata_sm3", "-"),
        ]
        for c, e in centers.items()
    ]
    steps = [[s["seq"], s["stage"], s["task"], s["status"], s["duration_s"]] for s in report.get("steps", [])]
    systems = [
        [s["name"], s["rto_target_s"], s["rpo_target_s"], yes if s["met"] else no] for s in report.get("systems", [])
    ]
    status_class = "ok" if report.get("passed") else "bad"
    return "".join(
        [
            "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
            f"<title>{lab('report_title')} {html.escape(str(report.get('run_id', '')))}</title>",
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
            "td,th{border:1px solid #999;padding:4px 8px;text-align:left}.ok{color:#070}.bad{color:#b00}</style>",
            "</head><body>",
            f"<h1>{lab('report_title')}</h1>",
            _table(
                [lab("run_id"), lab("scenario"), lab("status"), lab("primary_before"), lab("primary_after")],
                [
                    [
                        report.get("run_id"),
                        report.get("scenario"),
                        report.get("status"),
                        report.get("primary_before"),
                        report.get("primary_after"),
                    ]
                ],
            ),
            f"<p class='{status_class}'>{html.escape(str(report.get('status')))}"
            f" {html.escape(str(report.get('message') or ''))}</p>",
            f"<h2>{lab('checks')}</h2>",
            _table([lab("check"), lab("target"), lab("measured"), lab("met")], checks),
            f"<h2>{lab('measurements')}</h2>",
            _table([lab("measurements"), lab("measured")], meas),
            f"<h2>{lab('verification')}</h2>",
            _table([lab("center"), lab("role"), lab("rows"), "md5", lab("files") + " (SM3)"], ver),
            f"<h2>{lab('systems')}</h2>",
            _table([lab("systems"), "RTO (s)", "RPO (s)", lab("met")], systems),
            f"<h2>{lab('steps')}</h2>",
            _table(["#", lab("stage"), lab("task"), lab("status"), lab("duration")], steps),
            "</body></html>\n",
        ]
    )
