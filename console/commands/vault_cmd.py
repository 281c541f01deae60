"""`ganyun vault`: credentials encrypted at rest (SM4-GCM). Secrets are read, never printed."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from console.actions import record_action
from console.commands import CommandSpec
from console.context import state
from console.i18n import t
from providers.errors import ConfigError
from security.vault import Vault

app = typer.Typer(no_args_is_help=True)


@app.command("set", help="Store a credential (the secret is read from a hidden prompt or stdin).")
def set_entry(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Entry name, referred to as vault:NAME in the config.")],
    key: Annotated[str, typer.Option("--key", help="User name / access key.")],
    secret_stdin: Annotated[bool, typer.Option("--secret-stdin", help="Read the secret from stdin.")] = False,
) -> None:
    config = state(ctx).config()
    secret = (
        sys.stdin.readline().rstrip("\n") if secret_stdin else typer.prompt(t("vault.secret_prompt"), hide_input=True)
    )
    if not secret:
        raise ConfigError(t("vault.empty_secret"))
    vault = Vault.open(config, create=True)
    vault.set(name, key, secret)
    record_action(config, "vault.set", {"name": name})
    typer.echo(t("vault.stored", name=name))


@app.command("get", help="Show an entry's key; the secret is only confirmed, never shown.")
def get_entry(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    vault = Vault.open(state(ctx).config())
    try:
        key, secret = vault.get(name)
    except KeyError:
        raise ConfigError(t("vault.no_entry", name=name)) from None
    data = {"name": name, "key": key, "secret_set": bool(secret)}
    typer.echo(json.dumps(data, ensure_ascii=False) if as_json else f"{name}: {key} ({t('vault.secret_hidden')})")


@app.command("list", help="Entry names and keys.")
def list_entries(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    vault = Vault.open(state(ctx).config())
    infos = vault.info()
    if as_json:
        typer.echo(json.dumps([i.__dict__ for i in infos], ensure_ascii=False))
        return
    table = Table(title=t("vault.list_title"))
    for column in ("name", "key", "updated_at"):
        table.add_column(t(f"vault.col_{column}"))
    for info in infos:
        table.add_row(info.name, info.key, info.updated_at)
    Console().print(table)


@app.command("rotate", help="Re-encrypt every entry under a new key (written to the key file).")
def rotate(ctx: typer.Context) -> None:
    config = state(ctx).config()
    vault = Vault.open(config)
    vault.rotate()
    record_action(config, "vault.rotate", {"entries": len(vault.names())})
    typer.echo(t("vault.rotated", count=len(vault.names())))


COMMAND = CommandSpec("vault", "vault.command_help", app)
