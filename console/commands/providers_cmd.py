"""`ganyun providers test [NAME]...`: credentials, reachability and listable kinds, one line each."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from console.commands import CommandSpec
from console.context import state
from console.i18n import t
from inventory.provider_check import ProviderCheck, check_provider
from providers.errors import ConfigError
from security.vault import VaultCredentials

app = typer.Typer(no_args_is_help=True)


def _line(check: ProviderCheck) -> str:
    if not check.ok:
        return t(
            "providers.line_failed", name=check.name, stage=t(f"providers.stage_{check.status}"), reason=check.reason
        )
    refused = "; ".join(f"{kind} ({reason})" for kind, reason in check.refused.items())
    line = t("providers.line_ok", name=check.name, kinds=", ".join(check.listable))
    return line + (t("providers.line_refused", refused=refused) if refused else "")


@app.command("test", help="Check each provider's credentials, reachability and which kinds it may list.")
def test(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Providers to check (default: every one).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    config = state(ctx).config()
    wanted = list(names or [])
    unknown = sorted(set(wanted) - {p.name for p in config.providers})
    if unknown:
        raise ConfigError(t("providers.unknown", names=", ".join(unknown)))
    chosen = [p for p in config.providers if not wanted or p.name in wanted]
    if not chosen:
        raise ConfigError(t("providers.none"))
    vault = VaultCredentials(config)
    checks = [check_provider(pc, vault) for pc in chosen]
    if as_json:
        typer.echo(json.dumps([c.to_dict() for c in checks], ensure_ascii=False, indent=2))
    else:
        for check in checks:
            typer.echo(_line(check))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


COMMAND = CommandSpec("providers", "providers.command_help", app)
