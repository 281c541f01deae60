"""`ganyun inventory`: list records, show one node's history, the dynamic Ansible inventory."""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from console.commands import CommandSpec
from console.context import state
from console.i18n import t
from console.services import inventory as services_inventory
from console.services.viewer import Viewer
from inventory import ansible as ansible_inventory
from inventory import query
from inventory.store import open_store
from inventory.tenant_text import inert_cell
from providers.errors import ConfigError

app = typer.Typer(no_args_is_help=True)

_TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "nodes": (
        "provider",
        "name",
        "state",
        "vcpus",
        "ram_mb",
        "arch",
        "cpu_vendor",
        "os_family",
        "department",
        "system",
        "mlps_level",
    ),
    "hosts": (
        "provider",
        "name",
        "state",
        "vcpus",
        "vcpus_used",
        "ram_mb",
        "ram_mb_used",
        "arch",
        "cpu_vendor",
        "rack",
    ),
    "certificates": ("subject", "issuer", "key_type", "signature_algorithm", "not_after", "where"),
}
_DEFAULT_COLUMNS = ("provider", "kind", "name", "state", "id")


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@app.command("list", help="List inventory records (nodes, hosts, volumes, images, certificates, ...).")
def list_records(
    ctx: typer.Context,
    kind: Annotated[
        str,
        typer.Option(
            "--kind", help="nodes|hosts|volumes|images|sizes|snapshots|networks|security_groups|clusters|certificates"
        ),
    ] = "nodes",
    where: Annotated[list[str] | None, typer.Option("--where", help="Filter KEY=VALUE (repeatable).")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")] = OutputFormat.table,
    limit: Annotated[int, typer.Option("--limit", help="Rows shown in table format (0: all).")] = 200,
) -> None:
    config = state(ctx).config()
    filters = query.parse_filters(where or [])
    # The OS user runs the CLI as a city-wide operator.
    records = services_inventory.records(open_store(config.database_url), Viewer.operator(), kind, filters)
    if fmt is OutputFormat.json:
        json.dump(records, sys.stdout, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    elif fmt is OutputFormat.csv:
        _write_csv(records)
    else:
        _print_table(kind, records, limit)


def _write_csv(records: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns]
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for record in records:
        # Names, tags and certificate fields are a tenant's text: inert for spreadsheets.
        writer.writerow(
            {
                k: inert_cell(json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v)
                for k, v in record.items()
            }
        )


def _print_table(kind: str, records: list[dict[str, Any]], limit: int) -> None:
    columns = _TABLE_COLUMNS.get(kind, _DEFAULT_COLUMNS)
    shown = records if limit <= 0 else records[:limit]
    table = Table(title=t("inventory.list_title", kind=kind, shown=len(shown), total=len(records)))
    for column in columns:
        table.add_column(t(f"inventory.col_{column}"))
    for record in shown:
        style = "red" if record.get("stale") else None
        table.add_row(*(_cell(record.get(c)) for c in columns), style=style)
    Console().print(table)
    if any(r.get("stale") for r in records):
        Console(stderr=True).print(f"[red]{t('inventory.stale_note')}[/]")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


@app.command("show", help="One node with its change history.")
def show(
    ctx: typer.Context,
    provider: Annotated[str, typer.Argument(help="Provider name.")],
    node_id: Annotated[str, typer.Argument(help="Node id or name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    config = state(ctx).config()
    store, operator = open_store(config.database_url), Viewer.operator()
    nodes = services_inventory.records(store, operator, "nodes", {"provider": provider})
    matches = [r for r in nodes if node_id in (r["id"], r["name"])]
    if not matches:
        raise ConfigError(t("inventory.node_not_found", provider=provider, node=node_id))
    record = matches[0]
    record["history"] = services_inventory.node_history(store, operator, provider, record["id"]) or []
    if as_json:
        typer.echo(json.dumps(record, ensure_ascii=False, indent=2, default=str))
        return
    console = Console()
    table = Table(show_header=False)
    for key, value in record.items():
        if key != "history":
            table.add_row(key, _cell(value))
    console.print(table)
    events = Table(title=t("inventory.history_title"))
    for column in ("at", "change", "fields"):
        events.add_column(t(f"inventory.col_{column}"))
    for event in record["history"]:
        events.add_row(str(event["at"]), event["change"], json.dumps(event["fields"], ensure_ascii=False))
    console.print(events)


@app.command("ansible", help="Dynamic Ansible inventory: --list or --host NAME.")
def ansible(
    ctx: typer.Context,
    list_all: Annotated[bool, typer.Option("--list", help="Every host with _meta.hostvars.")] = False,
    host: Annotated[str | None, typer.Option("--host", help="Variables of one host.")] = None,
    include_stale: Annotated[
        bool, typer.Option("--include-stale", help="Also terminated nodes and nodes of providers whose sync failed.")
    ] = False,
) -> None:
    if not list_all and not host:
        raise ConfigError(t("inventory.ansible_usage"))
    config = state(ctx).config()
    store = open_store(config.database_url)
    with store.session() as session:
        if list_all:
            data, warnings = ansible_inventory.build_inventory(session, include_stale)
            for warning in warnings:
                typer.echo(t("inventory.ansible_collision", name=warning.name, count=warning.count), err=True)
        else:
            found = ansible_inventory.host_vars(session, host or "", include_stale)
            data = found if found is not None else {}
    json.dump(data, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    if not list_all and found is None:
        typer.echo(t("inventory.ansible_no_host", name=host or ""), err=True)
        raise typer.Exit(1)


COMMAND = CommandSpec("inventory", "inventory.command_help", app)
