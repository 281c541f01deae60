"""`ganyun api`: serve the REST API, and make, list and revoke its tokens.

A token is printed once, when it is made; the database keeps only its hash. Making and
revoking tokens is written to the audit log with the OS user as actor.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from console import clock
from console.actions import record_action
from console.api import tokens
from console.commands import CommandSpec
from console.commands.console_cmd import check_tls, reserve_port
from console.context import state
from console.i18n import t
from console.settings import console_settings
from inventory.config import GanyunConfig
from inventory.store import Store, open_store

app = typer.Typer(no_args_is_help=True)
token_app = typer.Typer(no_args_is_help=True)
app.add_typer(token_app, name="token", help="API access tokens: create, list, revoke.")


@contextmanager
def _store(config: GanyunConfig) -> Iterator[Store]:
    store = open_store(config.database_url)
    try:
        yield store
    finally:
        store.dispose()


@app.command("serve", help="Serve the REST API (/api/v1/, OpenAPI document at /openapi.json).")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0 picks a free one).", min=0, max=65535)] = 8600,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate (chain): serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")] = None,
) -> None:
    import uvicorn

    from console.api.app import create_app

    config = state(ctx).config()  # a bad config fails here with exit 2
    console_settings(config)
    tls = check_tls(tls_cert, tls_key)
    port = reserve_port(host, port)
    api = create_app(config)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(t("api.serving", url=f"{'https' if tls else 'http'}://{shown}:{port}/api/v1/"))
    sys.stdout.flush()
    server = uvicorn.Server(uvicorn.Config(
        api, host=host, port=port, log_level="warning", server_header=False, proxy_headers=False,
        ssl_certfile=str(tls[0]) if tls else None, ssl_keyfile=str(tls[1]) if tls else None,
    ))  # fmt: skip
    server.run()


@token_app.command("create", help="Create a token for an account: shown only this once, only its hash is stored.")
def create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="The account the token acts as.")],
    expires_days: Annotated[
        int, typer.Option("--expires-days", help="Days until the token expires.", min=1, max=tokens.MAX_DAYS)
    ] = tokens.DEFAULT_DAYS,
) -> None:
    config = state(ctx).config()
    with _store(config) as store:
        info, token = tokens.create(store, user, expires_days)
    expires = info.expires_at.isoformat(timespec="seconds")
    record_action(config, "api.token.create", {"id": info.id, "user": user, "expires_at": expires})
    typer.echo(t("api.token_created", user=user, id=info.id, expires=info.expires_at.date().isoformat()), err=True)
    typer.echo(token)


@token_app.command("list", help="List tokens (never the tokens themselves).")
def list_tokens(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this account's tokens.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    config = state(ctx).config()
    with _store(config) as store:
        found = tokens.list_tokens(store, user)
    now = clock.now()
    if as_json:
        typer.echo(json.dumps([i.to_dict(now) for i in found], ensure_ascii=False, indent=2))
        return
    table = Table(title=t("api.token_list_title"))
    for column in ("id", "user", "state", "created_at", "expires_at", "last_used"):
        table.add_column(t(f"api.col_{column}"))
    for info in found:
        row = info.to_dict(now)
        table.add_row(*(str(row[c] or "") for c in ("id", "user")), t(f"api.state_{info.state(now)}"),
                      *(str(row[c] or "") for c in ("created_at", "expires_at", "last_used")))  # fmt: skip
    Console().print(table)


@token_app.command("revoke", help="Revoke a token by its id.")
def revoke(
    ctx: typer.Context, token_id: Annotated[str, typer.Argument(help="The token's id (see `api token list`).")]
) -> None:
    config = state(ctx).config()
    with _store(config) as store:
        info = tokens.revoke(store, token_id)
    record_action(config, "api.token.revoke", {"id": info.id, "user": info.user})
    typer.echo(t("api.token_revoked", id=info.id, user=info.user))


COMMAND = CommandSpec("api", "api.command_help", app)
