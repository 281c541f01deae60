"""`ganyun capacity`: the capacity report (table, JSON, xlsx, HTML) and migration headroom."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from console.commands import CommandSpec
from console.context import state
from console.i18n import t
from console.services.viewer import Viewer
from inventory import query
from inventory.store import open_store
from providers.errors import ConfigError

app = typer.Typer(no_args_is_help=True)
GIB = 1024


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    xlsx = "xlsx"
    html = "html"


class Method(StrEnum):
    ets = "ets"
    linear = "linear"


class Level(StrEnum):
    conservative = "conservative"
    moderate = "moderate"
    aggressive = "aggressive"


def label(key: str) -> str:
    return t(f"capacity.{key}")


def _report(ctx: typer.Context, where: list[str] | None, level: Level, method: Method, horizon: int,
            forecast: bool = True) -> dict[str, Any]:  # fmt: skip
    from console.services import capacity

    config = state(ctx).config()
    if not config.providers:
        raise ConfigError(t("capacity.no_providers"))
    filters = query.parse_filters(where) if where is not None else None
    store = open_store(config.database_url)
    err = Console(stderr=True)
    with err.status(t("capacity.computing")):
        # The OS user runs the CLI as a city-wide operator.
        return capacity.report(store, Viewer.operator(), config, headroom_filters=filters,
                               rightsizing_level=level.value, method=method.value, horizon_weeks=horizon,
                               forecast=forecast)  # fmt: skip


@app.command("report", help="Capacity report: pools, centers, racks, showback, Xinchuang share, forecasts.")
def report(
    ctx: typer.Context,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="table, json, xlsx or html.")] = ReportFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default capacity-report.<format>).")
    ] = None,
    where: Annotated[
        list[str] | None, typer.Option("--where", help="Legacy nodes for migration headroom, KEY=VALUE (repeatable).")
    ] = None,
    level: Annotated[Level, typer.Option("--level", help="Rightsizing level.")] = Level.moderate,
    method: Annotated[Method, typer.Option("--method", help="Forecast model: ets (Holt) or linear.")] = Method.ets,
    horizon: Annotated[int, typer.Option("--horizon-weeks", min=4, max=520, help="Forecast horizon.")] = 104,
) -> None:
    if output is not None and fmt is ReportFormat.table:
        raise ConfigError(t("capacity.output_needs_format"))
    data = _report(ctx, where, level, method, horizon)
    if fmt is ReportFormat.json:
        text = json.dumps(data, ensure_ascii=False, default=str, indent=1)
        if output:
            output.write_text(text + "\n", encoding="utf-8")
            Console(stderr=True).print(t("capacity.written", path=str(output)))
        else:
            sys.stdout.write(text + "\n")
    elif fmt in (ReportFormat.xlsx, ReportFormat.html):
        from inventory.capacity.api import write_html, write_xlsx

        path = output or Path(f"capacity-report.{fmt.value}")
        (write_xlsx if fmt is ReportFormat.xlsx else write_html)(data, path, label)
        Console(stderr=True).print(t("capacity.written", path=str(path)))
    else:
        print_report(data)
    if data["stale"]:
        Console(stderr=True).print(f"[red]{t('capacity.stale_banner')}: "
                                   f"{', '.join(s['provider'] for s in data['stale'])}[/]")  # fmt: skip


@app.command("headroom", help="Can each Xinchuang pool take the selected legacy nodes now, and until when?")
def headroom(
    ctx: typer.Context,
    where: Annotated[list[str] | None, typer.Option("--where", help="Filter KEY=VALUE (repeatable).")] = None,
    method: Annotated[Method, typer.Option("--method", help="Forecast model.")] = Method.ets,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    data = _report(ctx, where or [], Level.moderate, method, 104)
    section = {"stale": data["stale"], **data["headroom"]}
    if as_json:
        sys.stdout.write(json.dumps(section, ensure_ascii=False, default=str) + "\n")
        return
    print_headroom(section)


def _table(title: str, head: list[str], rows: list[list[Any]], limit: int = 50) -> Table:
    table = Table(title=title)
    for key in head:
        table.add_column(label(f"col_{key}"))
    for row in rows[:limit]:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def print_report(data: dict[str, Any]) -> None:
    from inventory.capacity.api import export as ex

    out = Console()
    if data["stale"]:
        out.print(f"[bold red]{t('capacity.stale_banner')}[/]")
        for s in data["stale"]:
            out.print(f"[red]  {s['provider']}: {s['status']} — {label('last_success')} {s['last_success'] or '-'}[/]")
    summary = Table(title=label("report_title"), show_header=False)
    for key, value in ex.summary_rows(data):
        summary.add_row(label(f"col_{key}"), "" if value is None else str(value))
    out.print(summary)
    out.print(_table(label("sheet_pools"), *ex.pool_overview_rows(data), limit=500))
    out.print(_table(label("sheet_centers"), *ex.rollup_rows(data["centers"], "center")))
    out.print(_table(label("sheet_racks"), *ex.rack_rows(data)))
    out.print(_table(label("sheet_departments"), *ex.department_rows(data), limit=20))
    out.print(_table(label("sheet_xinchuang"), *ex.xinchuang_rows(data, "department"), limit=20))
    out.print(_table(label("noncompliant_title"), *ex.noncompliant_rows(data, label), limit=50))
    out.print(_table(label("sheet_forecast"), *ex.runout_rows(data), limit=200))
    out.print(_table(label("sheet_rightsizing"), *ex.rightsizing_level_rows(data, label)))
    if "headroom" in data:
        print_headroom({"stale": data["stale"], **data["headroom"]})


def print_headroom(section: dict[str, Any]) -> None:
    from inventory.capacity.api import export as ex

    demand = section["demand"]
    out = Console()
    title = t("capacity.headroom_title", nodes=demand["nodes"], vcpus=demand["vcpus"], ram_gb=demand["ram_mb"] // GIB)
    if not demand["nodes"]:
        out.print(f"[yellow]{t('capacity.headroom_none')}[/]")
    out.print(_table(title, *ex.headroom_rows({"headroom": section})))


COMMAND = CommandSpec("capacity", "capacity.command_help", app)
