"""`ganyun audit`: verify the tamper-evident log, list and search it."""

from __future__ import annotations

import json
from datetime import datetime
from types import ModuleType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from console.commands import CommandSpec
from console.context import state
from console.i18n import t
from providers.errors import ConfigError

app = typer.Typer(no_args_is_help=True)


def _audit() -> ModuleType:
    # Imported when a command runs: keeps `ganyun --help` and other commands fast.
    from security import audit

    return audit


@app.command(
    "verify",
    help="Check the SM3 chain, SM2 checkpoints, head file and witness; exit 1 naming the first entry not vouched for.",
)
def verify(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    full: Annotated[bool, typer.Option("--all-signatures", help="Verify every checkpoint signature.")] = False,
) -> None:
    config = state(ctx).config()
    result = _audit().verify_config(config, all_signatures=full)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    elif result.ok:
        typer.echo(t("audit.verify_ok", entries=result.entries, checkpoints=result.checkpoints))
        if result.witnessed:
            typer.echo(t("audit.verify_witness", count=result.witnessed))
    if not as_json:
        for warning in result.warnings:
            typer.echo(t("audit.warning", text=warning), err=True)
    if not result.ok:
        if not as_json:
            typer.echo(
                t("audit.verify_bad", seq=result.first_bad, problem=result.problem, message=result.message), err=True
            )
        raise typer.Exit(1)


def _print(total: int, rows: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"total": total, "entries": rows}, ensure_ascii=False, indent=2))
        return
    table = Table(title=t("audit.list_title"))
    for column in ("seq", "at", "actor", "action", "details"):
        table.add_column(t(f"audit.col_{column}"))
    for row in rows:
        details = json.dumps(row["details"], ensure_ascii=False)
        table.add_row(str(row["seq"]), str(row["at"])[:19], str(row["actor"]), str(row["action"]), details[:120])
    Console().print(table)
    typer.echo(t("audit.shown", total=total, shown=len(rows)))


@app.command("list", help="The newest entries first.")
def list_entries(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    audit = _audit()
    total, rows = audit.search(audit.store_for(state(ctx).config()), limit=limit)
    _print(total, rows, as_json)


@app.command("search", help="Entries whose action, actor or details contain TEXT.")
def search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Text to look for.")] = "",
    action: Annotated[str, typer.Option("--action", help="Action prefix, e.g. comply.")] = "",
    actor: Annotated[str, typer.Option("--actor")] = "",
    since: Annotated[str, typer.Option("--since", help="ISO 8601 date or time.")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    if since:
        try:
            datetime.fromisoformat(since)
        except ValueError:
            raise ConfigError(t("audit.bad_since", value=since)) from None
    audit = _audit()
    store = audit.store_for(state(ctx).config())
    total, rows = audit.search(store, text=text, action=action, actor=actor, since=since, limit=limit)
    _print(total, rows, as_json)


COMMAND = CommandSpec("audit", "audit.command_help", app)
