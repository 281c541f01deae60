"""`ganyun users`: console accounts, their roles and department scope.

Passwords never come from the command line (it shows in `ps` and shell history): they are
read from stdin with --password-stdin, or generated and printed once. Every command,
reading ones included, is written to the audit log with the OS user as actor.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from console import accounts
from console.actions import record_action
from console.commands import CommandSpec
from console.context import state
from console.i18n import t
from console.passwords import generate_password
from inventory.config import GanyunConfig
from inventory.scope import Scope
from inventory.store import Store, open_store
from providers.errors import ConfigError

app = typer.Typer(no_args_is_help=True)

CityOption = Annotated[bool, typer.Option("--city", help="The account sees the whole city.")]
ScopeOption = Annotated[
    list[str] | None,
    typer.Option("--scope", help="A department (单位, county or district) the account sees; repeatable."),
]
StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from stdin instead of generating one.")
]


@contextmanager
def _store(config: GanyunConfig) -> Iterator[Store]:
    store = open_store(config.database_url)
    try:
        yield store
    finally:
        store.dispose()


def _audit(config: GanyunConfig, action: str, details: dict[str, Any]) -> None:
    record_action(config, f"users.{action}", details)


def _scope(city: bool, departments: list[str] | None) -> Scope:
    if city and departments:
        raise ConfigError(t("users.scope_both"))
    if city:
        return Scope.city_wide()
    if not departments:
        raise ConfigError(t("users.scope_missing"))
    return Scope.of(departments)


def _warn_unknown_departments(store: Store, scope: Scope) -> None:
    """A typo in a department name gives an account that sees nothing: say so, but allow it
    (the department may simply not have been synced yet)."""
    from inventory.query import count_by

    with store.session() as session:
        known = set(count_by(session, "department"))
    missing = [d for d in scope.departments if d not in known]
    if known and missing:
        typer.echo(t("users.unknown_departments", names=", ".join(missing)), err=True)


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated)."""
    if not from_stdin:
        return generate_password(), True
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    password = password.removesuffix("\r")
    if not password:
        raise ConfigError(t("users.empty_password"))
    return password, False


def _show_password(name: str, password: str) -> None:
    typer.echo(t("users.generated_password", name=name))
    typer.echo(password)


def _describe(scope: Scope) -> str:
    if scope.city:
        return t("users.scope_city")
    return ", ".join(scope.departments) if scope.departments else t("users.scope_none")


@app.command("add", help="Create a local account; --city or at least one --scope is required.")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(accounts.ROLES)}.")],
    city: CityOption = False,
    scope: ScopeOption = None,
    display_name: Annotated[str, typer.Option("--display-name", help="Name shown in the console.")] = "",
    password_stdin: StdinOption = False,
) -> None:
    config = state(ctx).config()
    wanted = _scope(city, scope)
    accounts.check_name(name)
    accounts.check_role(role)
    password, generated = _password(password_stdin)
    with _store(config) as store:
        account = accounts.save_local(store, name, role, wanted, password, display_name=display_name)
        _warn_unknown_departments(store, wanted)
    _audit(config, "add", {"name": name, "role": role, "scope": wanted.to_dict()})
    typer.echo(t("users.added", name=name, role=role, scope=_describe(account.scope)))
    if generated:
        _show_password(name, password)


@app.command("list", help="Every account with its role, scope and state.")
def list_users(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    config = state(ctx).config()
    with _store(config) as store:
        rows = accounts.list_accounts(store)
    _audit(config, "list", {"count": len(rows)})
    if as_json:
        typer.echo(json.dumps([a.to_dict() for a in rows], ensure_ascii=False, indent=2))
        return
    table = Table(title=t("users.list_title"))
    for column in ("name", "role", "scope", "source", "state", "last_login"):
        table.add_column(t(f"users.col_{column}"))
    for a in rows:
        table.add_row(
            a.name,
            a.role,
            _describe(a.scope),
            a.source,
            t("users.active") if a.active else t("users.disabled"),
            a.last_login.isoformat(timespec="seconds") if a.last_login else "",
        )
    Console().print(table)


@app.command("set-role", help="Change an account's role; its sessions use it from their next run.")
def set_role(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help=f"One of {', '.join(accounts.ROLES)}.")],
) -> None:
    config = state(ctx).config()
    with _store(config) as store:
        before = accounts.get_account(store, name)
        accounts.set_role(store, name, role)
    _audit(config, "set_role", {"name": name, "role": role, "was": before.role if before else ""})
    typer.echo(t("users.role_set", name=name, role=role))


@app.command("set-scope", help="Change what an account sees: --city, or one --scope per department.")
def set_scope(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    city: CityOption = False,
    scope: ScopeOption = None,
) -> None:
    config = state(ctx).config()
    wanted = _scope(city, scope)
    with _store(config) as store:
        before = accounts.get_account(store, name)
        accounts.set_scope(store, name, wanted)
        _warn_unknown_departments(store, wanted)
    _audit(
        config,
        "set_scope",
        {"name": name, "scope": wanted.to_dict(), "was": before.scope.to_dict() if before else None},
    )
    typer.echo(t("users.scope_set", name=name, scope=_describe(wanted)))


@app.command("disable", help="Disable an account; its open sessions end on their next run.")
def disable(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    config = state(ctx).config()
    with _store(config) as store:
        accounts.set_active(store, name, False)
    _audit(config, "disable", {"name": name})
    typer.echo(t("users.disabled_one", name=name))


@app.command("enable", help="Enable a disabled account again.")
def enable(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    config = state(ctx).config()
    with _store(config) as store:
        accounts.set_active(store, name, True)
    _audit(config, "enable", {"name": name})
    typer.echo(t("users.enabled_one", name=name))


@app.command("reset-password", help="Set a new password (generated, or from stdin); open sessions end.")
def reset_password(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    password_stdin: StdinOption = False,
) -> None:
    config = state(ctx).config()
    password, generated = _password(password_stdin)
    with _store(config) as store:
        accounts.reset_password(store, name, password)
    _audit(config, "reset_password", {"name": name, "generated": generated})
    typer.echo(t("users.password_reset", name=name))
    if generated:
        _show_password(name, password)


COMMAND = CommandSpec("users", "users.command_help", app)
