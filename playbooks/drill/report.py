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
    "timeline",
    "write_gap",
    "rows_lost",
)
ROLE_COLORS = {"primary": "#d62728", "standby": "#1f77b4", "unreachable": "#999999"}


def timeline_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The drill's role segments in seconds from its start, one row each (for charts)."""
    t0 = float(report.get("started_at") or 0.0)
    rows = []
    for seg in (report.get("timeline") or {}).get("segments", []):
        # A segment seen once still spans one sampling interval on the chart.
        end = max(float(seg["end"]), float(seg["start"]) + 0.1)
        rows.append(
            {
                "center": seg["center"],
                "role": seg["role"],
                "timeline": seg.get("timeline"),
                "start_s": round(float(seg["start"]) - t0, 3),
                "end_s": round(end - t0, 3),
            }
        )
    return rows


def write_gap(report: Mapping[str, Any]) -> tuple[float, float] | None:
    """The interval without any acknowledged write, in seconds from the drill's start."""
    gap = (report.get("measurements") or {}).get("write_gap")
    if not gap:
        return None
    t0 = float(report.get("started_at") or 0.0)
    return round(float(gap[0]) - t0, 3), round(float(gap[1]) - t0, 3)


def timeline_svg(report: Mapping[str, Any], width: int = 900) -> str:
    """Roles over time, one lane per center, the write gap shaded: a self-contained SVG."""
    rows = timeline_rows(report)
    if not rows:
        return ""
    centers = sorted({r["center"] for r in rows})
    span = max(r["end_s"] for r in rows) or 1.0
    left, lane, top = 90, 26, 10
    height = top + lane * len(centers) + 24

    def x(sec: float) -> float:
        return left + (width - left - 10) * sec / span

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>"]
    gap = write_gap(report)
    if gap is not None:
        parts.append(
            f"<rect x='{x(gap[0]):.1f}' y='0' width='{max(1.0, x(gap[1]) - x(gap[0])):.1f}'"
            f" height='{height - 20}' fill='#ffdd57' opacity='0.5'><title>write gap</title></rect>"
        )
    for i, center in enumerate(centers):
        y = top + i * lane
        parts.append(f"<text x='4' y='{y + 15}' font-size='12'>{html.escape(center)}</text>")
        for r in (r for r in rows if r["center"] == center):
            color = ROLE_COLORS.get(r["role"], "#cccccc")
            tip = html.escape(f"{r['role']} TL{r['timeline']} {r['start_s']}-{r['end_s']} s")
            parts.append(
                f"<rect x='{x(r['start_s']):.1f}' y='{y}' width='{max(1.0, x(r['end_s']) - x(r['start_s'])):.1f}'"
                f" height='{lane - 6}' fill='{color}'><title>{tip}</title></rect>"
            )
    parts.append(
        f"<text x='{left}' y='{height - 4}' font-size='11'>0 s</text>"
        f"<text x='{width - 60}' y='{height - 4}' font-size='11'>{span:.1f} s</text></svg>"
    )
    return "".join(parts)


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
            f"<h2>{lab('timeline')}</h2>",
            timeline_svg(report),
            f"<p>{lab('write_gap')}: {_cell(report.get('measurements', {}).get('write_gap_s'))} s;"
            f" {lab('rows_lost')}: {_cell(report.get('measurements', {}).get('rows_lost'))}</p>",
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
